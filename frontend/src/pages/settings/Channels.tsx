import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { Empty, ErrorBox, Loading } from "../../components/States";
import { graphql } from "../../gql";
import type { InstagramLogin } from "../../gql/graphql";
import { useI18n } from "../../i18n";

const ChannelsDoc = graphql(`
  query ChannelSettings { channels { id kind name externalName webhookPath createdAt } cannedReplies { id title text } }
`);
const Telegram = graphql(`mutation ConnectTelegram($name: String!, $token: String!) { connectTelegram(name: $name, botToken: $token) { id } }`);
const Messenger = graphql(`mutation ConnectMessenger($input: MessengerInput!) { connectMessenger(input: $input) { id } }`);
const Instagram = graphql(`mutation ConnectInstagram($input: InstagramInput!) { connectInstagram(input: $input) { id } }`);
const Disconnect = graphql(`mutation Disconnect($id: ID!) { disconnectChannel(id: $id) }`);
const AddCanned = graphql(`mutation AddCanned($title: String!, $text: String!) { createCannedReply(title: $title, text: $text) { id } }`);
const DeleteCanned = graphql(`mutation DeleteCanned($id: ID!) { deleteCannedReply(id: $id) }`);

type Kind = "telegram" | "messenger" | "instagram";
const EMPTY = { name: "", token: "", pageId: "", appSecret: "", verifyToken: "", login: "FACEBOOK" as InstagramLogin };

export function Channels() {
  const { t, dateTime } = useI18n();
  const data = useQuery(ChannelsDoc);
  const telegram = useMutation(Telegram);
  const messenger = useMutation(Messenger);
  const instagram = useMutation(Instagram);
  const disconnect = useMutation(Disconnect);
  const addCanned = useMutation(AddCanned);
  const deleteCanned = useMutation(DeleteCanned);
  const [kind, setKind] = useState<Kind>("telegram");
  const [form, setForm] = useState(EMPTY);
  const [canned, setCanned] = useState({ title: "", text: "" });
  if (!data.data) return data.error ? <ErrorBox error={data.error} retry={data.reload} /> : <Loading />;
  const set = (key: keyof typeof EMPTY) => (e: { target: { value: string } }) => setForm({ ...form, [key]: e.target.value });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const meta = { name: form.name, appSecret: form.appSecret, verifyToken: form.verifyToken };
    const done =
      kind === "telegram"
        ? await telegram.run({ name: form.name, token: form.token })
        : kind === "messenger"
          ? await messenger.run({ input: { ...meta, pageId: form.pageId, pageAccessToken: form.token } })
          : await instagram.run({ input: { ...meta, accountId: form.pageId, accessToken: form.token, login: form.login } });
    if (done) {
      setForm(EMPTY);
      data.reload();
    }
  };
  const origin = window.location.origin;
  return (
    <div className="settings">
      <h2>{t("settings.channels")}</h2>
      {data.data.channels.length === 0 && <Empty text={t("ch.none")} />}
      <table>
        <tbody>
          {data.data.channels.map((c) => (
            <tr key={c.id}>
              <td>{t(`channel.${c.kind}`)}</td>
              <td>
                {c.name}
                {c.externalName && ` (${c.externalName})`}
              </td>
              <td>
                {c.kind !== "TELEGRAM" && (
                  <span className="hint">
                    {t("ch.callback")}: <code>{origin + c.webhookPath}</code>
                  </span>
                )}
              </td>
              <td>{dateTime(c.createdAt)}</td>
              <td>
                <button
                  type="button"
                  onClick={async () => {
                    if (window.confirm(t("ch.confirmDisconnect", { name: c.name })) && (await disconnect.run({ id: c.id })))
                      data.reload();
                  }}
                >
                  {t("ch.disconnect")}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="form" onSubmit={submit} aria-label={t("ch.connect")}>
        <h3>{t("ch.connect")}</h3>
        <div className="tabs" role="group" aria-label={t("chats.channel")}>
          {(["telegram", "messenger", "instagram"] as Kind[]).map((k) => (
            <button key={k} type="button" aria-pressed={kind === k} onClick={() => setKind(k)}>
              {t(`channel.${k.toUpperCase() as "TELEGRAM"}`)}
            </button>
          ))}
        </div>
        <label>
          {t("tel.name")}
          <input required value={form.name} onChange={set("name")} />
        </label>
        {kind !== "telegram" && (
          <label>
            {t(kind === "messenger" ? "ch.pageId" : "ch.accountId")}
            <input required value={form.pageId} onChange={set("pageId")} />
          </label>
        )}
        <label>
          {t(kind === "telegram" ? "ch.botToken" : "ch.accessToken")}
          <input required type="password" autoComplete="off" value={form.token} onChange={set("token")} />
        </label>
        {kind !== "telegram" && (
          <>
            <label>
              {t("ch.appSecret")}
              <input required type="password" autoComplete="off" value={form.appSecret} onChange={set("appSecret")} />
            </label>
            <label>
              {t("ch.verifyToken")}
              <input required value={form.verifyToken} onChange={set("verifyToken")} />
            </label>
          </>
        )}
        {kind === "instagram" && (
          <label>
            {t("ch.login")}
            <select value={form.login} onChange={set("login")}>
              <option value="FACEBOOK">{t("ch.loginFacebook")}</option>
              <option value="INSTAGRAM">{t("ch.loginInstagram")}</option>
            </select>
          </label>
        )}
        <ErrorBox error={telegram.error ?? messenger.error ?? instagram.error ?? disconnect.error} />
        <button type="submit" disabled={telegram.pending || messenger.pending || instagram.pending}>
          {t("ch.connect")}
        </button>
      </form>

      <h2>{t("ch.canned")}</h2>
      <ul className="list">
        {data.data.cannedReplies.map((c) => (
          <li key={c.id}>
            <strong>{c.title}</strong>: {c.text}{" "}
            <button
              type="button"
              onClick={async () => {
                if (await deleteCanned.run({ id: c.id })) data.reload();
              }}
            >
              {t("common.delete")}
            </button>
          </li>
        ))}
      </ul>
      <form
        className="inline-form"
        aria-label={t("ch.addCanned")}
        onSubmit={async (e) => {
          e.preventDefault();
          if (await addCanned.run(canned)) {
            setCanned({ title: "", text: "" });
            data.reload();
          }
        }}
      >
        <input
          required
          placeholder={t("ch.cannedTitle")}
          aria-label={t("ch.cannedTitle")}
          value={canned.title}
          onChange={(e) => setCanned({ ...canned, title: e.target.value })}
        />
        <input
          required
          placeholder={t("ch.cannedText")}
          aria-label={t("ch.cannedText")}
          value={canned.text}
          onChange={(e) => setCanned({ ...canned, text: e.target.value })}
        />
        <button type="submit">{t("ch.addCanned")}</button>
      </form>
      <ErrorBox error={addCanned.error ?? deleteCanned.error} />
    </div>
  );
}
