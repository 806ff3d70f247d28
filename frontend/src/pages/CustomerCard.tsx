import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { request } from "../api/client";
import { useMutation, useQuery, useSubscription } from "../api/hooks";
import { PhoneLink } from "../components/PhoneLink";
import { Empty, ErrorBox, Loading } from "../components/States";
import { TimelineEntry } from "../components/Timeline";
import { graphql } from "../gql";
import type { TimelineFieldsFragment } from "../gql/graphql";
import { useI18n } from "../i18n";

const CardDoc = graphql(`
  query CustomerCard($id: ID!) {
    customer(id: $id) {
      id name phones emails tags responsibleUserId createdAt
      identities { kind externalId username }
      customFields { key value }
      merges { id mergedName createdAt moved { calls conversations identities tasks notes } }
      duplicates { other { id name phones emails } reason value }
    }
    customFields { id key label kind choices }
    users { id name }
    tasks(open: true) { id title customerId dueAt overdue assigneeId }
  }
`);
const TimelineDoc = graphql(`
  query CustomerTimeline($id: ID!, $after: String) {
    customer(id: $id) {
      id
      timeline(first: 20, after: $after) { pageInfo { hasNextPage endCursor } nodes { ...TimelineFields } }
    }
  }
`);
const UpdateDoc = graphql(`
  mutation UpdateCustomer($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { id } }
`);
const NoteDoc = graphql(`mutation AddNote($id: ID!, $text: String!) { addNote(customerId: $id, text: $text) { id } }`);
const TaskDoc = graphql(`mutation CreateTask($input: CreateTaskInput!) { createTask(input: $input) { id } }`);
const DoneDoc = graphql(`mutation CompleteTask($id: ID!) { completeTask(id: $id) { id } }`);
const MergeDoc = graphql(`
  mutation Merge($kept: ID!, $merged: ID!) { mergeCustomers(keptId: $kept, mergedId: $merged) { id moved { calls conversations identities tasks notes } } }
`);
const ChangedDoc = graphql(`subscription CardChanged { customerChanged { kind customerId } }`);

const list = (text: string) =>
  text
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

export default function CustomerCard() {
  const { id = "" } = useParams();
  const { t, dateTime } = useI18n();
  const navigate = useNavigate();
  const card = useQuery(CardDoc, { id });
  const [timeline, setTimeline] = useState<{ items: TimelineFieldsFragment[]; cursor?: string | null; more: boolean }>({
    items: [],
    more: false,
  });
  const [timelineTick, setTimelineTick] = useState(0);
  useEffect(() => {
    let live = true;
    request(TimelineDoc, { id, after: null })
      .then((d) => {
        if (live)
          setTimeline({
            items: d.customer.timeline.nodes,
            cursor: d.customer.timeline.pageInfo.endCursor,
            more: d.customer.timeline.pageInfo.hasNextPage,
          });
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [id, timelineTick]);
  const refresh = () => {
    card.reload();
    setTimelineTick((n) => n + 1);
  };
  useSubscription(ChangedDoc, {}, ({ customerChanged }) => {
    if (customerChanged.customerId === id) {
      if (customerChanged.kind === "DELETED") navigate("/customers");
      else refresh();
    }
  });
  const update = useMutation(UpdateDoc);
  const note = useMutation(NoteDoc);
  const task = useMutation(TaskDoc);
  const done = useMutation(DoneDoc);
  const merge = useMutation(MergeDoc);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState({ name: "", phones: "", emails: "", tags: "", responsible: "", fields: {} as Record<string, string> });
  const [noteText, setNoteText] = useState("");
  const [taskDraft, setTaskDraft] = useState({ title: "", due: "" });

  if (!card.data) return card.error ? <ErrorBox error={card.error} retry={card.reload} /> : <Loading />;
  const { customer, customFields, users, tasks } = card.data;
  const names = new Map(users.map((u) => [u.id, u.name]));
  const values = new Map(customer.customFields.map((f) => [f.key, f.value]));
  const startEdit = () => {
    setDraft({
      name: customer.name,
      phones: customer.phones.join(", "),
      emails: customer.emails.join(", "),
      tags: customer.tags.join(", "),
      responsible: customer.responsibleUserId ?? "",
      fields: Object.fromEntries(customFields.map((f) => [f.key, values.get(f.key) ?? ""])),
    });
    setEditing(true);
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    const saved = await update.run({
      id,
      input: {
        name: draft.name,
        phones: list(draft.phones),
        emails: list(draft.emails),
        tags: list(draft.tags),
        responsibleUserId: draft.responsible || null,
        customFields: customFields.map((f) => ({ key: f.key, value: draft.fields[f.key] || null })),
      },
    });
    if (saved) {
      setEditing(false);
      refresh();
    }
  };
  const own = tasks.filter((x) => x.customerId === id);
  return (
    <section className="page card">
      <div className="page-head">
        <h1>{customer.name}</h1>
        {!editing && (
          <button type="button" onClick={startEdit}>
            {t("common.edit")}
          </button>
        )}
      </div>
      <div className="columns">
        <div>
          {editing ? (
            <form className="form" onSubmit={save} aria-label={t("common.edit")}>
              <label>
                {t("customers.name")}
                <input required value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
              </label>
              <label>
                {t("card.phones")}
                <input value={draft.phones} onChange={(e) => setDraft({ ...draft, phones: e.target.value })} />
              </label>
              <label>
                {t("card.emails")}
                <input value={draft.emails} onChange={(e) => setDraft({ ...draft, emails: e.target.value })} />
              </label>
              <label>
                {t("card.tags")}
                <input value={draft.tags} onChange={(e) => setDraft({ ...draft, tags: e.target.value })} />
              </label>
              <label>
                {t("card.responsible")}
                <select value={draft.responsible} onChange={(e) => setDraft({ ...draft, responsible: e.target.value })}>
                  <option value="">—</option>
                  {users.map((u) => (
                    <option key={u.id} value={u.id}>
                      {u.name}
                    </option>
                  ))}
                </select>
              </label>
              {customFields.map((f) => {
                const set = (value: string) => setDraft({ ...draft, fields: { ...draft.fields, [f.key]: value } });
                return (
                  <label key={f.id}>
                    {f.label}
                    {f.kind === "CHOICE" ? (
                      <select value={draft.fields[f.key] ?? ""} onChange={(e) => set(e.target.value)}>
                        <option value="">—</option>
                        {f.choices.map((c) => (
                          <option key={c}>{c}</option>
                        ))}
                      </select>
                    ) : (
                      <input
                        type={f.kind === "NUMBER" ? "number" : f.kind === "DATE" ? "date" : "text"}
                        value={draft.fields[f.key] ?? ""}
                        onChange={(e) => set(e.target.value)}
                      />
                    )}
                  </label>
                );
              })}
              <ErrorBox error={update.error} />
              <div className="actions">
                <button type="submit" disabled={update.pending}>
                  {t("common.save")}
                </button>
                <button type="button" onClick={() => setEditing(false)}>
                  {t("common.cancel")}
                </button>
              </div>
            </form>
          ) : (
            <dl className="facts">
              <dt>{t("card.phones")}</dt>
              <dd>
                {customer.phones.length
                  ? customer.phones.map((p) => <PhoneLink key={p} number={p} customerId={customer.id} />)
                  : "—"}
              </dd>
              <dt>{t("card.emails")}</dt>
              <dd>{customer.emails.join(", ") || "—"}</dd>
              <dt>{t("card.tags")}</dt>
              <dd>
                {customer.tags.length
                  ? customer.tags.map((tag) => (
                      <span key={tag} className="tag">
                        {tag}
                      </span>
                    ))
                  : "—"}
              </dd>
              <dt>{t("card.responsible")}</dt>
              <dd>{customer.responsibleUserId ? names.get(customer.responsibleUserId) : "—"}</dd>
              <dt>{t("card.identities")}</dt>
              <dd>
                {customer.identities.length
                  ? customer.identities.map((i) => (
                      <span key={i.kind + i.externalId} className="tag">
                        {i.kind}: {i.username ?? i.externalId}
                      </span>
                    ))
                  : "—"}
              </dd>
              {customFields.map((f) => (
                <div key={f.id} className="fact">
                  <dt>{f.label}</dt>
                  <dd>{values.get(f.key) ?? "—"}</dd>
                </div>
              ))}
              <dt>{t("card.since")}</dt>
              <dd>{dateTime(customer.createdAt)}</dd>
            </dl>
          )}
          <h2>{t("card.tasks")}</h2>
          {own.length === 0 && <Empty text={t("card.noTasks")} />}
          <ul className="list">
            {own.map((x) => (
              <li key={x.id} className={x.overdue ? "overdue" : ""}>
                <label>
                  <input
                    type="checkbox"
                    onChange={async () => {
                      await done.run({ id: x.id });
                      refresh();
                    }}
                  />{" "}
                  {x.title} · {x.assigneeId ? names.get(x.assigneeId) : t("tasks.queue")} · <time>{dateTime(x.dueAt)}</time>
                </label>
              </li>
            ))}
          </ul>
          <form
            className="inline-form"
            aria-label={t("card.newTask")}
            onSubmit={async (e) => {
              e.preventDefault();
              const made = await task.run({
                input: { title: taskDraft.title, customerId: id, dueAt: new Date(taskDraft.due).toISOString() },
              });
              if (made) {
                setTaskDraft({ title: "", due: "" });
                refresh();
              }
            }}
          >
            <input
              required
              placeholder={t("card.taskTitle")}
              aria-label={t("card.taskTitle")}
              value={taskDraft.title}
              onChange={(e) => setTaskDraft({ ...taskDraft, title: e.target.value })}
            />
            <input
              required
              type="datetime-local"
              aria-label={t("tasks.due")}
              value={taskDraft.due}
              onChange={(e) => setTaskDraft({ ...taskDraft, due: e.target.value })}
            />
            <button type="submit">{t("card.newTask")}</button>
          </form>
          <ErrorBox error={task.error ?? done.error} />
          {customer.duplicates.length > 0 && (
            <>
              <h2>{t("card.duplicates")}</h2>
              <ul className="list" aria-label={t("card.duplicates")}>
                {customer.duplicates.map((d) => (
                  <li key={d.other.id}>
                    <Link to={`/customers/${d.other.id}`}>{d.other.name}</Link> · {t("card.sameValue", { value: d.value })}{" "}
                    <button
                      type="button"
                      onClick={async () => {
                        if (!window.confirm(t("card.confirmMerge", { other: d.other.name, kept: customer.name }))) return;
                        if (await merge.run({ kept: id, merged: d.other.id })) refresh();
                      }}
                    >
                      {t("card.mergeHere")}
                    </button>
                  </li>
                ))}
              </ul>
              <ErrorBox error={merge.error} />
            </>
          )}
          {customer.merges.length > 0 && (
            <>
              <h2>{t("card.merges")}</h2>
              <ul className="list">
                {customer.merges.map((m) => (
                  <li key={m.id}>
                    {t("card.merged", {
                      name: m.mergedName,
                      calls: m.moved.calls,
                      chats: m.moved.conversations,
                      tasks: m.moved.tasks,
                      notes: m.moved.notes,
                    })}{" "}
                    · <time>{dateTime(m.createdAt)}</time>
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
        <div>
          <h2>{t("card.timeline")}</h2>
          <form
            className="inline-form"
            aria-label={t("card.addNote")}
            onSubmit={async (e) => {
              e.preventDefault();
              if (await note.run({ id, text: noteText })) {
                setNoteText("");
                refresh();
              }
            }}
          >
            <input
              required
              placeholder={t("card.note")}
              aria-label={t("card.note")}
              value={noteText}
              onChange={(e) => setNoteText(e.target.value)}
            />
            <button type="submit" disabled={note.pending}>
              {t("card.addNote")}
            </button>
          </form>
          <ErrorBox error={note.error} />
          {timeline.items.length === 0 && <Empty text={t("card.noHistory")} />}
          <ol className="timeline" aria-label={t("card.timeline")}>
            {timeline.items.map((item, i) => (
              <li key={i}>
                <TimelineEntry item={item} />
              </li>
            ))}
          </ol>
          {timeline.more && (
            <button
              type="button"
              onClick={async () => {
                const d = await request(TimelineDoc, { id, after: timeline.cursor });
                setTimeline((x) => ({
                  items: [...x.items, ...d.customer.timeline.nodes],
                  cursor: d.customer.timeline.pageInfo.endCursor,
                  more: d.customer.timeline.pageInfo.hasNextPage,
                }));
              }}
            >
              {t("common.more")}
            </button>
          )}
        </div>
      </div>
    </section>
  );
}
