import { useEffect, useState } from "react";
import { Link, useNavigate } from "react-router";
import "../api/fragments";
import { useMutation, useQuery, useSubscription } from "../api/hooks";
import { graphql } from "../gql";
import type { CallEventsSubscription } from "../gql/graphql";
import { useI18n } from "../i18n";
import { useMe } from "../me";
import { TimelineEntry } from "./Timeline";

export const CallEventsDoc = graphql(`
  subscription CallEvents {
    callEvents { ...CallRow }
  }
`);

const PopupCustomer = graphql(`
  query PopupCustomer($id: ID!) {
    customer(id: $id) {
      id
      timeline(first: 3) { nodes { ...TimelineFields } }
    }
    conversations(scope: ALL, status: OPEN, first: 50) { id customerId channelId unread lastMessageAt }
  }
`);

const CreateFromNumber = graphql(`
  mutation CreateFromNumber($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }
`);

type PopupCall = CallEventsSubscription["callEvents"];

/** Timings of call events reaching the pop-up, for the browser test's latency measurement. */
declare global {
  interface Window {
    crmPopupTimings?: { callId: string; status: string; startedAt: string; shownAt: number }[];
  }
}

/** The card that pops up while a call rings for this user, and follows it until it ends. */
export function CallPopup() {
  const me = useMe();
  const [call, setCall] = useState<PopupCall | null>(null);
  useSubscription(CallEventsDoc, {}, ({ callEvents: event }) => {
    const forMe = event.direction === "INBOUND" && (event.userId == null || event.userId === me.user.id);
    setCall((shown) => {
      if (shown && shown.id === event.id) return event;
      if (event.status === "RINGING" && forMe) return event;
      return shown;
    });
    (window.crmPopupTimings ??= []).push({
      callId: event.id,
      status: event.status,
      startedAt: event.startedAt,
      shownAt: Date.now(),
    });
  });
  // An ended call's card stays a while (to open the customer), then gets out of the way.
  const ended = call && call.status !== "RINGING" && call.status !== "ANSWERED";
  useEffect(() => {
    if (!ended) return;
    const timer = setTimeout(() => setCall(null), 60_000);
    return () => clearTimeout(timer);
  }, [ended]);
  if (!call) return null;
  return <PopupCard call={call} onClose={() => setCall(null)} />;
}

function PopupCard({ call, onClose }: { call: PopupCall; onClose: () => void }) {
  const { t, duration } = useI18n();
  const navigate = useNavigate();
  const customerId = call.customer?.id;
  const details = useQuery(PopupCustomer, { id: customerId ?? "" }, !customerId);
  const create = useMutation(CreateFromNumber);
  const reloadDetails = details.reload;
  useEffect(() => {
    if (call.status !== "RINGING") reloadDetails();
  }, [call.status, reloadDetails]);
  const open = details.data?.conversations.filter((c) => c.customerId === customerId) ?? [];
  const ended = call.status !== "RINGING" && call.status !== "ANSWERED";
  return (
    <aside className={`popup popup-${call.status.toLowerCase()}`} role="dialog" aria-label={t("popup.title")}>
      <header>
        <span className="popup-status" data-testid="popup-status">
          {t(`callStatus.${call.status}`)}
          {call.status === "COMPLETED" && ` · ${duration(call.talkSeconds)}`}
        </span>
        <button type="button" className="link" onClick={onClose} aria-label={t("common.close")}>
          ×
        </button>
      </header>
      <div className="popup-number">{call.fromNumber}</div>
      {call.customer ? (
        <>
          <Link className="popup-name" to={`/customers/${call.customer.id}`} onClick={ended ? onClose : undefined}>
            {call.customer.name}
          </Link>
          {details.data && (
            <>
              <h4>{t("popup.lastInteractions")}</h4>
              <ul className="popup-list">
                {details.data.customer.timeline.nodes.map((item, i) => (
                  <li key={i}>
                    <TimelineEntry item={item} compact />
                  </li>
                ))}
              </ul>
              {open.length > 0 && (
                <Link to={`/chats/${open[0].id}`}>{t("popup.openConversations", { n: open.length })}</Link>
              )}
            </>
          )}
        </>
      ) : (
        <>
          <div className="popup-name">{t("popup.unknown")}</div>
          <button
            type="button"
            disabled={create.pending}
            onClick={async () => {
              const made = await create.run({ input: { name: call.fromNumber, phones: [call.fromNumber] } });
              if (made) navigate(`/customers/${made.createCustomer.id}`);
            }}
          >
            {t("popup.create")}
          </button>
        </>
      )}
    </aside>
  );
}
