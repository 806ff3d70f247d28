import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { request } from "../api/client";
import { useQuery, useSubscription } from "../api/hooks";
import { usePagedList } from "../api/paged";
import { CallEventsDoc } from "../components/CallPopup";
import { PhoneLink } from "../components/PhoneLink";
import { RecordingPlayer } from "../components/RecordingPlayer";
import { Empty, ErrorBox, Loading } from "../components/States";
import { VirtualList } from "../components/VirtualList";
import { graphql } from "../gql";
import type { CallDirection, CallFilterInput, CallRowFragment, CallStatus } from "../gql/graphql";
import { useI18n } from "../i18n";
import { upsertFirst } from "../lib/paging";

const CallsDoc = graphql(`
  query Calls($first: Int!, $after: String, $filter: CallFilterInput) {
    calls(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...CallRow }
    }
  }
`);
const CallDoc = graphql(`query Call($id: ID!) { call(id: $id) { ...CallRow } }`);
const UsersDoc = graphql(`query CallUsers { users { id name } }`);

const DIRECTIONS: CallDirection[] = ["INBOUND", "OUTBOUND"];
const STATUSES: CallStatus[] = ["RINGING", "ANSWERED", "COMPLETED", "MISSED", "FAILED", "INTERRUPTED"];

function matches(call: CallRowFragment, filter: CallFilterInput): boolean {
  return (
    (!filter.direction || call.direction === filter.direction) &&
    (!filter.status || call.status === filter.status) &&
    (!filter.userId || call.userId === filter.userId)
  );
}

export default function Calls() {
  const { id } = useParams();
  const { t, dateTime, duration, number } = useI18n();
  const users = useQuery(UsersDoc);
  const names = new Map(users.data?.users.map((u) => [u.id, u.name]));
  const [filter, setFilter] = useState<CallFilterInput>({});
  const list = usePagedList(JSON.stringify(filter), async (after) =>
    (await request(CallsDoc, { first: 50, after, filter })).calls,
  );
  const selected = useQuery(CallDoc, { id: id ?? "" }, !id);
  const reloadSelected = selected.reload;
  const shown = selected.data?.call;
  useSubscription(CallEventsDoc, {}, ({ callEvents }) => {
    if (callEvents.id === id) reloadSelected();
    list.update((rows) => upsertFirst(rows, callEvents, matches(callEvents, filter)));
  });
  // The recording is linked a moment after the call ends: look again until it is there.
  const waiting = !!shown?.endedAt && !shown.recordingUrl && !shown.recordingDeletedAt;
  const [tries, setTries] = useState(0);
  useEffect(() => {
    if (!waiting || tries > 20) return;
    const timer = setTimeout(() => {
      setTries((n) => n + 1);
      reloadSelected();
    }, 1500);
    return () => clearTimeout(timer);
  }, [waiting, tries, reloadSelected]);

  return (
    <section className="page split">
      <div className="pane">
        <div className="page-head">
          <h1>{t("nav.calls")}</h1>
          <span className="hint">{t("calls.total", { n: number(list.total) })}</span>
        </div>
        <div className="filters">
          <label>
            {t("calls.direction")}
            <select
              value={filter.direction ?? ""}
              onChange={(e) => setFilter({ ...filter, direction: (e.target.value || null) as CallDirection | null })}
            >
              <option value="">{t("common.all")}</option>
              {DIRECTIONS.map((d) => (
                <option key={d} value={d}>
                  {t(`direction.${d}`)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t("calls.status")}
            <select
              value={filter.status ?? ""}
              onChange={(e) => setFilter({ ...filter, status: (e.target.value || null) as CallStatus | null })}
            >
              <option value="">{t("common.all")}</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {t(`callStatus.${s}`)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t("calls.agent")}
            <select value={filter.userId ?? ""} onChange={(e) => setFilter({ ...filter, userId: e.target.value || null })}>
              <option value="">{t("common.all")}</option>
              {users.data?.users.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.name}
                </option>
              ))}
            </select>
          </label>
        </div>
        <ErrorBox error={list.error} retry={list.reload} />
        {list.rows.length === 0 && !list.loading && !list.error && <Empty text={t("calls.none")} />}
        <VirtualList
          label={t("nav.calls")}
          items={list.rows}
          rowHeight={56}
          hasMore={list.hasMore}
          loadMore={list.loadMore}
          render={(call) => (
            <Link to={`/calls/${call.id}`} className={`row call-row status-${call.status.toLowerCase()}`} aria-current={call.id === id}>
              <span className="row-main">
                <span className="badge">{t(`direction.${call.direction}`)}</span>{" "}
                {call.customer?.name ?? (call.direction === "INBOUND" ? call.fromNumber : call.toNumber)}
              </span>
              <span className="row-meta">
                {t(`callStatus.${call.status}`)} · {call.userId ? names.get(call.userId) ?? "" : ""} · {duration(call.talkSeconds)} ·{" "}
                {dateTime(call.startedAt)}
              </span>
            </Link>
          )}
        />
        {list.loading && <Loading />}
      </div>
      <div className="pane detail">
        {!id && <Empty text={t("calls.pick")} />}
        {id && !shown && (selected.error ? <ErrorBox error={selected.error} retry={selected.reload} /> : <Loading />)}
        {shown && (
          <article className="call-detail" aria-label={t("calls.detail")}>
            <h2>
              {shown.customer ? <Link to={`/customers/${shown.customer.id}`}>{shown.customer.name}</Link> : t("popup.unknown")}
            </h2>
            <dl>
              <dt>{t("calls.status")}</dt>
              <dd data-testid="call-status">{t(`callStatus.${shown.status}`)}</dd>
              <dt>{t("calls.direction")}</dt>
              <dd>{t(`direction.${shown.direction}`)}</dd>
              <dt>{t("calls.from")}</dt>
              <dd>
                <PhoneLink number={shown.fromNumber} customerId={shown.customerId ?? undefined} />
              </dd>
              <dt>{t("calls.to")}</dt>
              <dd>{shown.toNumber}</dd>
              <dt>{t("calls.agent")}</dt>
              <dd>{shown.userId ? names.get(shown.userId) : "—"}</dd>
              <dt>{t("calls.started")}</dt>
              <dd>{dateTime(shown.startedAt)}</dd>
              <dt>{t("calls.answered")}</dt>
              <dd>{dateTime(shown.answeredAt)}</dd>
              <dt>{t("calls.ended")}</dt>
              <dd>{dateTime(shown.endedAt)}</dd>
              <dt>{t("dash.avgWait")}</dt>
              <dd>{duration(shown.waitSeconds)}</dd>
              <dt>{t("calls.talk")}</dt>
              <dd>{duration(shown.talkSeconds)}</dd>
            </dl>
            {shown.recordingUrl ? (
              <RecordingPlayer url={shown.recordingUrl} />
            ) : (
              <p className="hint">{shown.recordingDeletedAt ? t("calls.recordingDeleted") : t("calls.noRecording")}</p>
            )}
          </article>
        )}
      </div>
    </section>
  );
}
