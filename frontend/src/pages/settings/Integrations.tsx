import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { Empty, ErrorBox, Loading } from "../../components/States";
import { graphql } from "../../gql";
import type { CustomFieldKind } from "../../gql/graphql";
import { useI18n } from "../../i18n";
import { ShownOnce } from "./Settings";

const KINDS: CustomFieldKind[] = ["TEXT", "NUMBER", "DATE", "CHOICE"];

const IntegrationsDoc = graphql(`
  query Integrations {
    apiTokenScopes
    webhookEventTypes
    apiTokens { id name preview scopes createdAt lastUsedAt revokedAt }
    webhookEndpoints {
      id url events enabled failures disabledReason createdAt
      deliveries(first: 20) { id event status attempts responseCode error createdAt deliveredAt }
    }
    customFields { id key label kind choices }
  }
`);
const CreateToken = graphql(`mutation CreateToken($name: String!, $scopes: [String!]!) { createApiToken(name: $name, scopes: $scopes) { secret } }`);
const RevokeToken = graphql(`mutation RevokeToken($id: ID!) { revokeApiToken(id: $id) { id } }`);
const CreateHook = graphql(`mutation CreateHook($url: String!, $events: [String!]!) { createWebhookEndpoint(url: $url, events: $events) { secret } }`);
const ToggleHook = graphql(`mutation ToggleHook($id: ID!, $enabled: Boolean) { updateWebhookEndpoint(id: $id, enabled: $enabled) { id } }`);
const DeleteHook = graphql(`mutation DeleteHook($id: ID!) { deleteWebhookEndpoint(id: $id) }`);
const Replay = graphql(`mutation Replay($id: ID!) { replayWebhookDelivery(id: $id) { id } }`);
const CreateField = graphql(`
  mutation CreateField($key: String!, $label: String!, $kind: CustomFieldKind!, $choices: [String!]) {
    createCustomField(key: $key, label: $label, kind: $kind, choices: $choices) { id }
  }
`);
const DeleteField = graphql(`mutation DeleteField($id: ID!) { deleteCustomField(id: $id) }`);

function Checks({ options, value, onChange, label }: { options: string[]; value: string[]; onChange: (v: string[]) => void; label: string }) {
  return (
    <fieldset className="checks">
      <legend>{label}</legend>
      {options.map((o) => (
        <label key={o}>
          <input
            type="checkbox"
            checked={value.includes(o)}
            onChange={(e) => onChange(e.target.checked ? [...value, o] : value.filter((x) => x !== o))}
          />
          <code>{o}</code>
        </label>
      ))}
    </fieldset>
  );
}

export function Integrations() {
  const { t, dateTime } = useI18n();
  const data = useQuery(IntegrationsDoc);
  const createToken = useMutation(CreateToken);
  const revoke = useMutation(RevokeToken);
  const createHook = useMutation(CreateHook);
  const toggle = useMutation(ToggleHook);
  const deleteHook = useMutation(DeleteHook);
  const replay = useMutation(Replay);
  const createField = useMutation(CreateField);
  const deleteField = useMutation(DeleteField);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const [token, setToken] = useState({ name: "", scopes: ["calls:read"] });
  const [hook, setHook] = useState({ url: "", events: ["call.completed"] });
  const [field, setField] = useState({ key: "", label: "", kind: "TEXT" as CustomFieldKind, choices: "" });
  if (!data.data) return data.error ? <ErrorBox error={data.error} retry={data.reload} /> : <Loading />;
  const submitToken = async (e: FormEvent) => {
    e.preventDefault();
    const made = await createToken.run(token);
    if (made) {
      setSecret({ label: t("int.token"), value: made.createApiToken.secret });
      setToken({ name: "", scopes: ["calls:read"] });
      data.reload();
    }
  };
  const submitHook = async (e: FormEvent) => {
    e.preventDefault();
    const made = await createHook.run(hook);
    if (made) {
      setSecret({ label: t("int.signingSecret"), value: made.createWebhookEndpoint.secret });
      setHook({ url: "", events: ["call.completed"] });
      data.reload();
    }
  };
  const act = async (p: Promise<unknown>) => {
    if (await p) data.reload();
  };
  return (
    <div className="settings">
      {secret && <ShownOnce label={secret.label} value={secret.value} onDone={() => setSecret(null)} />}
      <h2>{t("int.tokens")}</h2>
      {data.data.apiTokens.length === 0 && <Empty text={t("int.noTokens")} />}
      <table>
        <tbody>
          {data.data.apiTokens.map((x) => (
            <tr key={x.id} className={x.revokedAt ? "muted" : ""}>
              <td>{x.name}</td>
              <td>
                <code>{x.preview}…</code>
              </td>
              <td>{x.scopes.join(", ")}</td>
              <td>{x.lastUsedAt ? t("int.lastUsed", { at: dateTime(x.lastUsedAt) }) : t("int.neverUsed")}</td>
              <td>
                {x.revokedAt ? (
                  t("int.revoked")
                ) : (
                  <button type="button" onClick={() => act(revoke.run({ id: x.id }))}>
                    {t("int.revoke")}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="form" onSubmit={submitToken} aria-label={t("int.newToken")}>
        <h3>{t("int.newToken")}</h3>
        <label>
          {t("tel.name")}
          <input required value={token.name} onChange={(e) => setToken({ ...token, name: e.target.value })} />
        </label>
        <Checks label={t("int.scopes")} options={data.data.apiTokenScopes} value={token.scopes} onChange={(scopes) => setToken({ ...token, scopes })} />
        <ErrorBox error={createToken.error ?? revoke.error} />
        <button type="submit">{t("int.newToken")}</button>
      </form>

      <h2>{t("int.webhooks")}</h2>
      {data.data.webhookEndpoints.length === 0 && <Empty text={t("int.noWebhooks")} />}
      {data.data.webhookEndpoints.map((w) => (
        <details key={w.id} className="webhook">
          <summary>
            <code>{w.url}</code> · {w.enabled ? t("int.enabled") : t("int.disabled")}
            {w.disabledReason && ` (${w.disabledReason})`} · {w.events.join(", ")}
          </summary>
          <div className="actions">
            <button type="button" onClick={() => act(toggle.run({ id: w.id, enabled: !w.enabled }))}>
              {w.enabled ? t("int.disable") : t("int.enable")}
            </button>
            <button type="button" onClick={() => window.confirm(t("int.confirmDelete")) && act(deleteHook.run({ id: w.id }))}>
              {t("common.delete")}
            </button>
          </div>
          <table>
            <thead>
              <tr>
                <th>{t("int.event")}</th>
                <th>{t("int.status")}</th>
                <th>{t("int.attempts")}</th>
                <th>{t("int.response")}</th>
                <th>{t("int.at")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {w.deliveries.map((d) => (
                <tr key={d.id}>
                  <td>{d.event}</td>
                  <td>{t(`hookStatus.${d.status}`)}</td>
                  <td>{d.attempts}</td>
                  <td>{d.responseCode ?? d.error ?? "—"}</td>
                  <td>{dateTime(d.createdAt)}</td>
                  <td>
                    <button type="button" onClick={() => act(replay.run({ id: d.id }))}>
                      {t("int.replay")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ))}
      <ErrorBox error={toggle.error ?? deleteHook.error ?? replay.error} />
      <form className="form" onSubmit={submitHook} aria-label={t("int.newWebhook")}>
        <h3>{t("int.newWebhook")}</h3>
        <label>
          URL
          <input type="url" required value={hook.url} onChange={(e) => setHook({ ...hook, url: e.target.value })} />
        </label>
        <Checks label={t("int.events")} options={data.data.webhookEventTypes} value={hook.events} onChange={(events) => setHook({ ...hook, events })} />
        <ErrorBox error={createHook.error} />
        <button type="submit">{t("int.newWebhook")}</button>
      </form>

      <h2>{t("int.fields")}</h2>
      <ul className="list">
        {data.data.customFields.map((f) => (
          <li key={f.id}>
            {f.label} (<code>{f.key}</code>, {t(`fieldKind.${f.kind}`)}
            {f.choices.length > 0 && `: ${f.choices.join(", ")}`}){" "}
            <button type="button" onClick={() => act(deleteField.run({ id: f.id }))}>
              {t("common.delete")}
            </button>
          </li>
        ))}
      </ul>
      <form
        className="inline-form"
        aria-label={t("int.newField")}
        onSubmit={async (e) => {
          e.preventDefault();
          const choices = field.kind === "CHOICE" ? field.choices.split(",").map((c) => c.trim()).filter(Boolean) : null;
          if (await createField.run({ key: field.key, label: field.label, kind: field.kind, choices })) {
            setField({ key: "", label: "", kind: "TEXT", choices: "" });
            data.reload();
          }
        }}
      >
        <input required placeholder={t("int.fieldKey")} aria-label={t("int.fieldKey")} value={field.key} onChange={(e) => setField({ ...field, key: e.target.value })} />
        <input required placeholder={t("int.fieldLabel")} aria-label={t("int.fieldLabel")} value={field.label} onChange={(e) => setField({ ...field, label: e.target.value })} />
        <select aria-label={t("int.fieldKind")} value={field.kind} onChange={(e) => setField({ ...field, kind: e.target.value as CustomFieldKind })}>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {t(`fieldKind.${k}`)}
            </option>
          ))}
        </select>
        {field.kind === "CHOICE" && (
          <input placeholder={t("int.choices")} aria-label={t("int.choices")} value={field.choices} onChange={(e) => setField({ ...field, choices: e.target.value })} />
        )}
        <button type="submit">{t("int.newField")}</button>
      </form>
      <ErrorBox error={createField.error ?? deleteField.error} />
    </div>
  );
}
