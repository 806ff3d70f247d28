import { Link } from "react-router";
import { graphql } from "../gql";
import type { TimelineFieldsFragment } from "../gql/graphql";
import { useI18n } from "../i18n";
import { RecordingPlayer } from "./RecordingPlayer";

export const TimelineFields = graphql(`
  fragment TimelineFields on TimelineItem {
    __typename
    ... on Call { id callDirection: direction callStatus: status fromNumber toNumber startedAt talkSeconds recordingUrl }
    ... on Message { id messageDirection: direction messageText: text createdAt messageStatus: status error attachments { kind name url } conversationId }
    ... on Note { id noteText: text createdAt authorId }
    ... on Task { id title dueAt doneAt overdue kind }
  }
`);
void TimelineFields;

/** One entry of a customer's history: a call, a chat message, a note or a task. */
export function TimelineEntry({ item, compact = false }: { item: TimelineFieldsFragment; compact?: boolean }) {
  const { t, dateTime, duration } = useI18n();
  switch (item.__typename) {
    case "Call":
      return (
        <div className="entry entry-call">
          <span className="badge">{t(item.callDirection === "INBOUND" ? "timeline.callIn" : "timeline.callOut")}</span>{" "}
          <Link to={`/calls/${item.id}`}>{t(`callStatus.${item.callStatus}`)}</Link> · {duration(item.talkSeconds)} ·{" "}
          <time>{dateTime(item.startedAt)}</time>
          {!compact && item.recordingUrl && <RecordingPlayer url={item.recordingUrl} />}
        </div>
      );
    case "Message":
      return (
        <div className="entry entry-message">
          <span className="badge">{t(item.messageDirection === "INBOUND" ? "timeline.messageIn" : "timeline.messageOut")}</span>{" "}
          <Link to={`/chats/${item.conversationId}`}>{item.messageText ?? item.attachments.map((a) => a.name ?? a.kind).join(", ")}</Link>{" "}
          · <time>{dateTime(item.createdAt)}</time>
        </div>
      );
    case "Note":
      return (
        <div className="entry entry-note">
          <span className="badge">{t("timeline.note")}</span> {item.noteText} · <time>{dateTime(item.createdAt)}</time>
        </div>
      );
    case "Task":
      return (
        <div className={`entry entry-task${item.overdue ? " overdue" : ""}`}>
          <span className="badge">{t("timeline.task")}</span> {item.title} · {t("tasks.due")} <time>{dateTime(item.dueAt)}</time>
          {item.doneAt && ` · ${t("tasks.done")}`}
        </div>
      );
    default:
      return null;
  }
}
