import { useState } from "react";
import { Link } from "react-router";
import { useQuery, useSubscription } from "../api/hooks";
import { BarChart } from "../components/BarChart";
import { Empty, ErrorBox, Loading } from "../components/States";
import { graphql } from "../gql";
import type { DashboardFieldsFragment } from "../gql/graphql";
import { useI18n } from "../i18n";
import { dayIn } from "../lib/format";
import { useMe } from "../me";

const Fields = graphql(`
  fragment DashboardFields on Dashboard {
    from to timeZone
    calls { total inbound outbound answered missed failed answeredRate averageWaitSeconds averageTalkSeconds }
    agents { userId calls { total answered missed averageTalkSeconds } }
    days { date messagesIn messagesOut calls { answered missed failed } }
    missedNotCalledBack openConversations unreadConversations firstResponses averageFirstResponseSeconds
  }
`);
void Fields;

const DashboardDoc = graphql(`
  query Dashboard($from: NaiveDate, $to: NaiveDate) {
    dashboard(from: $from, to: $to) { ...DashboardFields }
    users { id name }
    tasks(open: true) { id kind title customerId dueAt overdue assigneeId }
  }
`);

const DashboardLive = graphql(`
  subscription DashboardLive($from: NaiveDate, $to: NaiveDate) {
    dashboardUpdates(from: $from, to: $to) { ...DashboardFields }
  }
`);

const RANGES = [0, 6, 29] as const;

export default function Dashboard() {
  const me = useMe();
  const { t, number, percent, duration, dateTime } = useI18n();
  const [range, setRange] = useState<(typeof RANGES)[number]>(0);
  const vars = { from: dayIn(me.company.timeZone, range), to: dayIn(me.company.timeZone) };
  const query = useQuery(DashboardDoc, vars);
  const [live, setLive] = useState<DashboardFieldsFragment | null>(null);
  useSubscription(DashboardLive, vars, (data) => {
    setLive(data.dashboardUpdates);
    query.reload();
  });
  if (!query.data) return query.error ? <ErrorBox error={query.error} retry={query.reload} /> : <Loading />;
  const board = live && live.from === vars.from && live.to === vars.to ? live : query.data.dashboard;
  const names = new Map(query.data.users.map((u) => [u.id, u.name]));
  const tasks = query.data.tasks;
  const callbacks = tasks.filter((task) => task.kind === "callback");
  const overdue = tasks.filter((task) => task.overdue);
  const c = board.calls;
  const figures: [string, string][] = [
    [t("dash.calls"), number(c.total)],
    [t("dash.inbound"), number(c.inbound)],
    [t("dash.outbound"), number(c.outbound)],
    [t("dash.answered"), number(c.answered)],
    [t("dash.missed"), number(c.missed)],
    [t("dash.answeredRate"), percent(c.answeredRate)],
    [t("dash.avgWait"), duration(c.averageWaitSeconds)],
    [t("dash.avgTalk"), duration(c.averageTalkSeconds)],
    [t("dash.missedNotCalledBack"), number(board.missedNotCalledBack)],
    [t("dash.openChats"), number(board.openConversations)],
    [t("dash.unreadChats"), number(board.unreadConversations)],
    [t("dash.firstResponse"), duration(board.averageFirstResponseSeconds)],
  ];
  return (
    <section className="page">
      <div className="page-head">
        <h1>{t("nav.dashboard")}</h1>
        <div className="tabs" role="group" aria-label={t("dash.range")}>
          {RANGES.map((r) => (
            <button key={r} type="button" aria-pressed={range === r} onClick={() => setRange(r)}>
              {t(`dash.range${r}`)}
            </button>
          ))}
        </div>
      </div>
      <div className="figures">
        {figures.map(([label, value]) => (
          <div className="figure" key={label} role="group" aria-label={label}>
            <span className="figure-value">{value}</span>
            <span className="figure-label">{label}</span>
          </div>
        ))}
      </div>
      <div className="columns">
        <BarChart
          title={t("dash.callsByDay")}
          days={board.days.map((d) => d.date)}
          series={[
            { label: t("dash.answered"), className: "s-answered", values: board.days.map((d) => d.calls.answered) },
            { label: t("dash.missed"), className: "s-missed", values: board.days.map((d) => d.calls.missed) },
          ]}
        />
        <BarChart
          title={t("dash.messagesByDay")}
          days={board.days.map((d) => d.date)}
          series={[
            { label: t("dash.messagesIn"), className: "s-in", values: board.days.map((d) => d.messagesIn) },
            { label: t("dash.messagesOut"), className: "s-out", values: board.days.map((d) => d.messagesOut) },
          ]}
        />
      </div>
      <h2>{t("dash.agents")}</h2>
      <table>
        <thead>
          <tr>
            <th>{t("dash.agent")}</th>
            <th>{t("dash.calls")}</th>
            <th>{t("dash.answered")}</th>
            <th>{t("dash.missed")}</th>
            <th>{t("dash.avgTalk")}</th>
          </tr>
        </thead>
        <tbody>
          {board.agents.map((a) => (
            <tr key={a.userId}>
              <td>{names.get(a.userId) ?? "—"}</td>
              <td>{number(a.calls.total)}</td>
              <td>{number(a.calls.answered)}</td>
              <td>{number(a.calls.missed)}</td>
              <td>{duration(a.calls.averageTalkSeconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="columns">
        <div>
          <h2>{t("dash.toCallBack")}</h2>
          {callbacks.length === 0 ? (
            <Empty text={t("dash.noCallbacks")} />
          ) : (
            <ul className="list">
              {callbacks.map((task) => (
                <li key={task.id}>
                  {task.customerId ? <Link to={`/customers/${task.customerId}`}>{task.title}</Link> : task.title} ·{" "}
                  <time>{dateTime(task.dueAt)}</time>
                </li>
              ))}
            </ul>
          )}
        </div>
        <div>
          <h2>{t("dash.overdue")}</h2>
          {overdue.length === 0 ? (
            <Empty text={t("dash.noOverdue")} />
          ) : (
            <ul className="list">
              {overdue.map((task) => (
                <li key={task.id} className="overdue">
                  {task.customerId ? <Link to={`/customers/${task.customerId}`}>{task.title}</Link> : task.title} ·{" "}
                  {task.assigneeId ? names.get(task.assigneeId) : t("tasks.queue")} · <time>{dateTime(task.dueAt)}</time>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </section>
  );
}
