import { useState, type FormEvent } from "react";
import { request, type ApiError } from "../../api/client";
import { asApiError, useMutation, useQuery } from "../../api/hooks";
import { Empty, ErrorBox, Loading } from "../../components/States";
import { graphql } from "../../gql";
import { useI18n } from "../../i18n";
import { ShownOnce } from "./Settings";

const TelephonyDoc = graphql(`
  query Telephony {
    trunks { id name sources numbers defaultCallerId qualify reachable latencyMs checkedAt registration { registered error } }
    sipExtensions { userId username realm registrations { contact source expiresAt userAgent } }
    users { id name }
    asteriskServers { id name ariUrl username app status { connected error since } }
  }
`);
const CreateTrunk = graphql(`mutation CreateTrunk($input: TrunkInput!) { createTrunk(input: $input) { id } }`);
const DeleteTrunk = graphql(`mutation DeleteTrunk($id: ID!) { deleteTrunk(id: $id) }`);
const CreateExtension = graphql(`
  mutation CreateExtension($userId: ID!) { createSipExtension(userId: $userId) { password extension { username realm } } }
`);
const AddAsterisk = graphql(`mutation AddAsterisk($input: AsteriskServerInput!) { addAsteriskServer(input: $input) { id } }`);
const RemoveAsterisk = graphql(`mutation RemoveAsterisk($id: ID!) { removeAsteriskServer(id: $id) }`);
const ConfigDoc = graphql(`query AsteriskConfig { asteriskConfig { path content } }`);

const split = (text: string) =>
  text
    .split(/[,\s]+/)
    .map((x) => x.trim())
    .filter(Boolean);

export function Telephony() {
  const { t, dateTime } = useI18n();
  const data = useQuery(TelephonyDoc);
  const createTrunk = useMutation(CreateTrunk);
  const deleteTrunk = useMutation(DeleteTrunk);
  const createExtension = useMutation(CreateExtension);
  const addAsterisk = useMutation(AddAsterisk);
  const removeAsterisk = useMutation(RemoveAsterisk);
  const [configError, setConfigError] = useState<ApiError>();
  const [trunk, setTrunk] = useState({ name: "", sources: "", numbers: "", callerId: "", address: "" });
  const [created, setCreated] = useState<{ username: string; realm: string; password: string } | null>(null);
  const [asterisk, setAsterisk] = useState({ name: "", ariUrl: "", username: "", password: "", app: "crm" });
  if (!data.data) return data.error ? <ErrorBox error={data.error} retry={data.reload} /> : <Loading />;
  const { trunks, sipExtensions, users, asteriskServers } = data.data;
  const names = new Map(users.map((u) => [u.id, u.name]));
  const submitTrunk = async (e: FormEvent) => {
    e.preventDefault();
    const done = await createTrunk.run({
      input: {
        name: trunk.name,
        sources: split(trunk.sources),
        numbers: split(trunk.numbers),
        defaultCallerId: trunk.callerId || null,
        address: trunk.address || null,
      },
    });
    if (done) {
      setTrunk({ name: "", sources: "", numbers: "", callerId: "", address: "" });
      data.reload();
    }
  };
  const withoutLogin = users.filter((u) => !sipExtensions.some((x) => x.userId === u.id));
  return (
    <div className="settings">
      <h2>{t("tel.trunks")}</h2>
      <p className="hint">{t("tel.trunksHelp")}</p>
      {trunks.length === 0 && <Empty text={t("tel.noTrunks")} />}
      <table>
        <thead>
          <tr>
            <th>{t("tel.name")}</th>
            <th>{t("tel.sources")}</th>
            <th>{t("tel.numbers")}</th>
            <th>{t("tel.reachability")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {trunks.map((x) => (
            <tr key={x.id}>
              <td>{x.name}</td>
              <td>{x.sources.join(", ")}</td>
              <td>{x.numbers.join(", ")}</td>
              <td data-testid="trunk-reachability">
                {!x.qualify
                  ? t("tel.notChecked")
                  : x.reachable == null
                    ? t("tel.checking")
                    : x.reachable
                      ? t("tel.reachable", { ms: x.latencyMs ?? 0 })
                      : t("tel.unreachable")}
                {x.registration && ` · ${x.registration.registered ? t("tel.registered") : x.registration.error ?? t("tel.notRegistered")}`}
              </td>
              <td>
                <button
                  type="button"
                  onClick={async () => {
                    if (window.confirm(t("tel.confirmDelete", { name: x.name })) && (await deleteTrunk.run({ id: x.id })))
                      data.reload();
                  }}
                >
                  {t("common.delete")}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="form" onSubmit={submitTrunk} aria-label={t("tel.addTrunk")}>
        <h3>{t("tel.addTrunk")}</h3>
        <label>
          {t("tel.name")}
          <input required value={trunk.name} onChange={(e) => setTrunk({ ...trunk, name: e.target.value })} />
        </label>
        <label>
          {t("tel.sourcesLabel")}
          <input
            required
            placeholder="203.0.113.10"
            value={trunk.sources}
            onChange={(e) => setTrunk({ ...trunk, sources: e.target.value })}
          />
        </label>
        <label>
          {t("tel.numbersLabel")}
          <input
            placeholder="+998712000000"
            value={trunk.numbers}
            onChange={(e) => setTrunk({ ...trunk, numbers: e.target.value })}
          />
        </label>
        <label>
          {t("tel.callerId")}
          <input value={trunk.callerId} onChange={(e) => setTrunk({ ...trunk, callerId: e.target.value })} />
        </label>
        <label>
          {t("tel.address")}
          <input
            placeholder="203.0.113.10:5060"
            value={trunk.address}
            onChange={(e) => setTrunk({ ...trunk, address: e.target.value })}
          />
        </label>
        <ErrorBox error={createTrunk.error ?? deleteTrunk.error} />
        <button type="submit" disabled={createTrunk.pending}>
          {t("tel.addTrunk")}
        </button>
      </form>

      <h2>{t("tel.extensions")}</h2>
      <p className="hint">{t("tel.extensionsHelp")}</p>
      {created && (
        <ShownOnce
          label={t("tel.password")}
          value={created.password}
          onDone={() => setCreated(null)}
        />
      )}
      {created && (
        <p>
          {t("tel.username")}: <code data-testid="sip-username">{created.username}</code> · {t("tel.realm")}:{" "}
          <code>{created.realm}</code>
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>{t("tel.user")}</th>
            <th>{t("tel.username")}</th>
            <th>{t("tel.registration")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {sipExtensions.map((x) => (
            <tr key={x.userId}>
              <td>{names.get(x.userId)}</td>
              <td>
                <code>{x.username}</code>
              </td>
              <td data-testid="registration">
                {x.registrations.length === 0
                  ? t("tel.offline")
                  : x.registrations.map((r) => (
                      <div key={r.contact}>
                        {t("tel.online")} · {r.userAgent ?? r.source} · {t("tel.until", { at: dateTime(r.expiresAt) })}
                      </div>
                    ))}
              </td>
              <td>
                <button
                  type="button"
                  onClick={async () => {
                    const made = await createExtension.run({ userId: x.userId });
                    if (made) {
                      setCreated({ ...made.createSipExtension.extension, password: made.createSipExtension.password });
                      data.reload();
                    }
                  }}
                >
                  {t("tel.newPassword")}
                </button>
              </td>
            </tr>
          ))}
          {withoutLogin.map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>—</td>
              <td>—</td>
              <td>
                <button
                  type="button"
                  onClick={async () => {
                    const made = await createExtension.run({ userId: u.id });
                    if (made) {
                      setCreated({ ...made.createSipExtension.extension, password: made.createSipExtension.password });
                      data.reload();
                    }
                  }}
                >
                  {t("tel.createLogin")}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorBox error={createExtension.error} />
      <button type="button" onClick={data.reload}>
        {t("common.refresh")}
      </button>

      <h2>{t("tel.asterisk")}</h2>
      <p className="hint">{t("tel.asteriskHelp")}</p>
      <ul className="list">
        {asteriskServers.map((s) => (
          <li key={s.id}>
            {s.name} · {s.ariUrl} · {s.status.connected ? t("tel.connected") : s.status.error ?? t("tel.disconnected")}{" "}
            <button
              type="button"
              onClick={async () => {
                if (await removeAsterisk.run({ id: s.id })) data.reload();
              }}
            >
              {t("common.delete")}
            </button>
          </li>
        ))}
      </ul>
      <form
        className="form"
        aria-label={t("tel.addAsterisk")}
        onSubmit={async (e) => {
          e.preventDefault();
          if (await addAsterisk.run({ input: asterisk })) {
            setAsterisk({ name: "", ariUrl: "", username: "", password: "", app: "crm" });
            data.reload();
          }
        }}
      >
        {(["name", "ariUrl", "username", "password", "app"] as const).map((key) => (
          <label key={key}>
            {t(`tel.ari.${key}`)}
            <input
              required
              type={key === "password" ? "password" : "text"}
              value={asterisk[key]}
              onChange={(e) => setAsterisk({ ...asterisk, [key]: e.target.value })}
            />
          </label>
        ))}
        <ErrorBox error={addAsterisk.error ?? removeAsterisk.error} />
        <button type="submit">{t("tel.addAsterisk")}</button>
      </form>
      <button
        type="button"
        onClick={async () => {
          setConfigError(undefined);
          const files = await request(ConfigDoc).then(
            (d) => d.asteriskConfig,
            (error: unknown) => {
              setConfigError(asApiError(error));
              return [];
            },
          );
          for (const file of files) {
            const link = document.createElement("a");
            link.href = URL.createObjectURL(new Blob([file.content], { type: "text/plain" }));
            link.download = file.path.split("/").pop() ?? file.path;
            link.click();
            URL.revokeObjectURL(link.href);
          }
        }}
      >
        {t("tel.downloadConfig")}
      </button>
      <ErrorBox error={configError} />
    </div>
  );
}
