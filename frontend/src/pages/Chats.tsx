import { useCallback, useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { request, uploadFile, type ApiError } from "../api/client";
import { asApiError, useMutation, useQuery, useSubscription } from "../api/hooks";
import { Empty, ErrorBox, Loading } from "../components/States";
import { VirtualList } from "../components/VirtualList";
import { graphql } from "../gql";
import type { ConversationRowFragment, ConversationScope, FileKind, MessageFieldsFragment } from "../gql/graphql";
import { useI18n } from "../i18n";
import { appendPage, mergeNewest, upsertFirst } from "../lib/paging";
import { useMe } from "../me";

const Fragments = graphql(`
  fragment ConversationRow on Conversation {
    id channelId customerId assigneeId status blocked lastMessageAt unread cursor
    customer { id name }
    replyWindow { open humanAgentOnly until }
  }
`);
const MessageFragment = graphql(`
  fragment MessageFields on Message {
    id conversationId direction text senderUserId status error createdAt
    attachments { kind name url error }
  }
`);
void Fragments;
void MessageFragment;

const InboxDoc = graphql(`
  query Inbox($scope: ConversationScope!) {
    conversations(scope: $scope, first: 100) { ...ConversationRow }
    channels { id kind name }
    users { id name }
    cannedReplies { id title text }
  }
`);
const MoreDoc = graphql(`
  query MoreConversations($scope: ConversationScope!, $after: String) {
    conversations(scope: $scope, first: 100, after: $after) { ...ConversationRow }
  }
`);
const PAGE = 100;
const ThreadDoc = graphql(`
  query Thread($id: ID!) {
    conversation(id: $id) { ...ConversationRow messages(last: 100) { ...MessageFields } }
  }
`);
const InboxLive = graphql(`
  subscription InboxLive { inboxEvents { conversation { ...ConversationRow } message { ...MessageFields } } }
`);
const Send = graphql(`
  mutation Send($id: ID!, $text: String, $file: FileInput) { sendMessage(conversationId: $id, text: $text, file: $file) { ...MessageFields } }
`);
const Assign = graphql(`mutation Assign($id: ID!, $userId: ID) { assignConversation(id: $id, userId: $userId) { ...ConversationRow } }`);
const Close = graphql(`mutation CloseChat($id: ID!) { closeConversation(id: $id) { ...ConversationRow } }`);
const Reopen = graphql(`mutation ReopenChat($id: ID!) { reopenConversation(id: $id) { ...ConversationRow } }`);
const MarkRead = graphql(`mutation MarkRead($id: ID!) { markConversationRead(id: $id) { ...ConversationRow } }`);

const SCOPES: ConversationScope[] = ["MINE", "UNASSIGNED", "ALL"];

const newestFirst = (a: ConversationRowFragment, b: ConversationRowFragment) =>
  b.lastMessageAt.localeCompare(a.lastMessageAt);

export default function Chats() {
  const { id } = useParams();
  const { t, dateTime } = useI18n();
  const [scope, setScope] = useState<ConversationScope>("ALL");
  const [channel, setChannel] = useState("");
  const inbox = useQuery(InboxDoc, { scope });
  const [list, setList] = useState<ConversationRowFragment[]>([]);
  const [more, setMore] = useState(false);
  const [loadingMore, setLoadingMore] = useState(false);
  useEffect(() => setList([]), [scope]);
  useEffect(() => {
    if (!inbox.data) return;
    // A live event may have come before this answer, which may have been read before it.
    const loaded = inbox.data.conversations;
    setList((live) => mergeNewest(loaded, live));
    setMore(loaded.length === PAGE);
  }, [inbox.data]);
  // Older conversations, a page at a time, when the list is scrolled to its end.
  const loadMore = useCallback(() => {
    const last = list[list.length - 1];
    if (!more || loadingMore || !last) return;
    setLoadingMore(true);
    request(MoreDoc, { scope, after: last.cursor })
      .then((page) => {
        setList((l) => appendPage(l, page.conversations));
        setMore(page.conversations.length === PAGE);
      })
      .catch(() => setMore(false))
      .finally(() => setLoadingMore(false));
  }, [list, more, loadingMore, scope]);
  const [liveMessage, setLiveMessage] = useState<MessageFieldsFragment | null>(null);
  const me = useMe();
  useSubscription(InboxLive, {}, ({ inboxEvents }) => {
    const c = inboxEvents.conversation;
    const fits = scope === "ALL" || (scope === "MINE" ? c.assigneeId === me.user.id : c.assigneeId == null);
    setList((l) => upsertFirst(l, c, fits).sort(newestFirst));
    if (inboxEvents.message) setLiveMessage(inboxEvents.message);
  });
  if (!inbox.data) return inbox.error ? <ErrorBox error={inbox.error} retry={inbox.reload} /> : <Loading />;
  const channels = new Map(inbox.data.channels.map((c) => [c.id, c]));
  const shown = list.filter((c) => !channel || c.channelId === channel);
  return (
    <section className="page split">
      <div className="pane">
        <div className="page-head">
          <h1>{t("nav.chats")}</h1>
        </div>
        <div className="filters">
          <div className="tabs" role="group" aria-label={t("chats.scope")}>
            {SCOPES.map((s) => (
              <button key={s} type="button" aria-pressed={scope === s} onClick={() => setScope(s)}>
                {t(`scope.${s}`)}
              </button>
            ))}
          </div>
          <label>
            {t("chats.channel")}
            <select value={channel} onChange={(e) => setChannel(e.target.value)}>
              <option value="">{t("common.all")}</option>
              {inbox.data.channels.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name} ({t(`channel.${c.kind}`)})
                </option>
              ))}
            </select>
          </label>
        </div>
        {shown.length === 0 && <Empty text={t("chats.none")} />}
        <VirtualList
          label={t("nav.chats")}
          items={shown}
          rowHeight={56}
          hasMore={more}
          loadMore={loadMore}
          render={(c) => (
            <Link to={`/chats/${c.id}`} className="row" aria-current={c.id === id}>
              <span className="row-main">
                {c.customer?.name ?? "—"}
                {c.unread > 0 && (
                  <span className="unread" aria-label={t("chats.unread", { n: c.unread })}>
                    {c.unread}
                  </span>
                )}
              </span>
              <span className="row-meta">
                {t(`channel.${channels.get(c.channelId)?.kind ?? "TELEGRAM"}`)} · {t(`chatStatus.${c.status}`)} ·{" "}
                {dateTime(c.lastMessageAt)}
              </span>
            </Link>
          )}
        />
      </div>
      <div className="pane detail">
        {id ? (
          <Thread
            key={id}
            id={id}
            users={inbox.data.users}
            canned={inbox.data.cannedReplies}
            liveMessage={liveMessage}
            onChange={(c) => setList((l) => upsertFirst(l, c, false))}
          />
        ) : (
          <Empty text={t("chats.pick")} />
        )}
      </div>
    </section>
  );
}

function Thread({
  id,
  users,
  canned,
  liveMessage,
  onChange,
}: {
  id: string;
  users: { id: string; name: string }[];
  canned: { id: string; title: string; text: string }[];
  liveMessage: MessageFieldsFragment | null;
  onChange: (c: ConversationRowFragment) => void;
}) {
  const { t, dateTime } = useI18n();
  const navigate = useNavigate();
  const thread = useQuery(ThreadDoc, { id });
  const [messages, setMessages] = useState<MessageFieldsFragment[]>([]);
  const [conversation, setConversation] = useState<ConversationRowFragment | null>(null);
  const markRead = useMutation(MarkRead);
  const assign = useMutation(Assign);
  const close = useMutation(Close);
  const reopen = useMutation(Reopen);
  const send = useMutation(Send);
  const [text, setText] = useState("");
  const [file, setFile] = useState<{ kind: FileKind; url: string; name?: string } | null>(null);
  const [uploading, setUploading] = useState(false);
  const [uploadError, setUploadError] = useState<ApiError>();

  useEffect(() => {
    if (!thread.data) return;
    const { messages: loaded, ...row } = thread.data.conversation;
    setMessages(loaded);
    setConversation(row);
    if (row.unread > 0)
      void markRead.run({ id }).then((d) => d && onChange(d.markConversationRead));
  }, [thread.data]);
  useEffect(() => {
    if (liveMessage?.conversationId === id) {
      setMessages((m) => upsertFirst([...m].reverse(), liveMessage).reverse());
      if (liveMessage.direction === "INBOUND") void markRead.run({ id }).then((d) => d && onChange(d.markConversationRead));
    }
  }, [liveMessage]);

  if (!conversation) return thread.error ? <ErrorBox error={thread.error} retry={thread.reload} /> : <Loading />;
  const update = (c: ConversationRowFragment | undefined) => {
    if (c) {
      setConversation(c);
      onChange(c);
    }
  };
  const window = conversation.replyWindow;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim() && !file) return;
    const sent = await send.run({ id, text: text.trim() || null, file });
    if (sent) {
      setMessages((m) => upsertFirst([...m].reverse(), sent.sendMessage).reverse());
      setText("");
      setFile(null);
    }
  };
  return (
    <article className="thread" aria-label={t("chats.thread")}>
      <header className="thread-head">
        <h2>
          {conversation.customer ? (
            <Link to={`/customers/${conversation.customer.id}`}>{conversation.customer.name}</Link>
          ) : (
            "—"
          )}
        </h2>
        <label>
          {t("chats.assignee")}
          <select
            value={conversation.assigneeId ?? ""}
            onChange={async (e) => update((await assign.run({ id, userId: e.target.value || null }))?.assignConversation)}
          >
            <option value="">{t("scope.UNASSIGNED")}</option>
            {users.map((u) => (
              <option key={u.id} value={u.id}>
                {u.name}
              </option>
            ))}
          </select>
        </label>
        {conversation.status === "CLOSED" ? (
          <button type="button" onClick={async () => update((await reopen.run({ id }))?.reopenConversation)}>
            {t("chats.reopen")}
          </button>
        ) : (
          <button
            type="button"
            onClick={async () => {
              update((await close.run({ id }))?.closeConversation);
              navigate("/chats");
            }}
          >
            {t("chats.close")}
          </button>
        )}
      </header>
      <ErrorBox error={assign.error ?? close.error ?? reopen.error} />
      <ol className="messages">
        {messages.map((m) => (
          <li key={m.id} className={`message ${m.direction === "INBOUND" ? "in" : "out"}`}>
            {m.text && <p>{m.text}</p>}
            {m.attachments.map((a, i) =>
              a.url ? (
                a.kind === "photo" || a.kind === "image" ? (
                  <img key={i} src={a.url} alt={a.name ?? t("chats.photo")} className="attachment-image" />
                ) : (
                  <a key={i} href={a.url} target="_blank" rel="noreferrer">
                    {a.name ?? a.kind}
                  </a>
                )
              ) : (
                <span key={i} className="hint">
                  {a.error ?? (m.direction === "OUTBOUND" ? `📎 ${a.name ?? a.kind}` : t("chats.attachmentPending"))}
                </span>
              ),
            )}
            <span className="message-meta">
              <time>{dateTime(m.createdAt)}</time>
              {m.direction === "OUTBOUND" && (
                <span className={`delivery delivery-${m.status.toLowerCase()}`} data-testid="delivery">
                  {" · "}
                  {t(`delivery.${m.status}`)}
                  {m.error && `: ${m.error}`}
                </span>
              )}
            </span>
          </li>
        ))}
      </ol>
      <form className="reply" onSubmit={submit}>
        <p className={`window ${window && !window.open ? "bad" : ""}`} data-testid="reply-window">
          {conversation.blocked
            ? t("chats.blocked")
            : !window
              ? t("chats.windowNone")
              : !window.open
                ? t("chats.windowClosed")
                : window.until
                  ? t(window.humanAgentOnly ? "chats.windowHuman" : "chats.windowUntil", { until: dateTime(window.until) })
                  : t("chats.windowNone")}
        </p>
        {canned.length > 0 && (
          <label>
            {t("chats.canned")}
            <select value="" onChange={(e) => setText((x) => (x ? `${x} ` : "") + e.target.value)}>
              <option value="">—</option>
              {canned.map((c) => (
                <option key={c.id} value={c.text}>
                  {c.title}
                </option>
              ))}
            </select>
          </label>
        )}
        <label className="grow">
          <span className="sr-only">{t("chats.reply")}</span>
          <textarea
            value={text}
            placeholder={t("chats.reply")}
            aria-label={t("chats.reply")}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey) void submit(e);
            }}
          />
        </label>
        <div className="attach">
          <label>
            {t("chats.attach")}
            <input
              type="file"
              disabled={uploading}
              onChange={async (e) => {
                const picked = e.target.files?.[0];
                e.target.value = "";
                if (!picked) return;
                setUploading(true);
                setUploadError(undefined);
                try {
                  const url = await uploadFile(picked);
                  setFile({ kind: picked.type.startsWith("image/") ? "IMAGE" : "DOCUMENT", url, name: picked.name });
                } catch (error) {
                  setUploadError(asApiError(error));
                } finally {
                  setUploading(false);
                }
              }}
            />
          </label>
          {uploading && <span className="hint">{t("chats.uploading")}</span>}
          {file && (
            <span className="attached" data-testid="attached">
              {file.name}{" "}
              <button type="button" onClick={() => setFile(null)} aria-label={t("chats.removeFile", { name: file.name ?? "" })}>
                ×
              </button>
            </span>
          )}
        </div>
        <ErrorBox error={uploadError} />
        <ErrorBox error={send.error} />
        <button type="submit" disabled={send.pending || uploading || conversation.blocked}>
          {t("chats.send")}
        </button>
      </form>
    </article>
  );
}
