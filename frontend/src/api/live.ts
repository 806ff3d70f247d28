// Subscriptions over graphql-transport-ws. The token goes in `connection_init`. When the
// session is refreshed, a new socket is opened with the new token and every subscription
// moves to it before the old socket (whose token is about to expire) is closed: no gap.
import { createClient, type Client } from "graphql-ws";
import type { TypedDocumentString } from "../gql/graphql";
import { currentSession, onSessionChange } from "./session";

interface Active {
  query: string;
  variables: Record<string, unknown>;
  onData: (data: unknown) => void;
  stop: () => void;
}

const active = new Set<Active>();
let client: Client | null = null;
let token: string | null = null;

function open(): Client {
  return createClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql/ws`,
    connectionParams: () => ({ token: currentSession()?.accessToken }),
    lazy: true,
    retryAttempts: Infinity,
    shouldRetry: () => currentSession() !== null,
    retryWait: (retries) => new Promise((r) => setTimeout(r, Math.min(250 * 2 ** retries, 10_000))),
  });
}

function start(on: Client, sub: Active): () => void {
  return on.subscribe(
    { query: sub.query, variables: sub.variables },
    { next: (result) => result.data && sub.onData(result.data), error: () => {}, complete: () => {} },
  );
}

onSessionChange((session) => {
  if (!session) {
    closeLive();
    return;
  }
  if (!client || session.accessToken === token) return;
  token = session.accessToken;
  const old = client;
  const next = open();
  client = next;
  for (const sub of active) {
    const stopOld = sub.stop;
    sub.stop = start(next, sub);
    // Both sockets deliver for a moment; the screens treat events as idempotent updates.
    next.on("connected", () => stopOld());
  }
  next.on("connected", () => setTimeout(() => void old.dispose(), 1_000));
});

/** Closes the socket (on sign-out, so the next person gets their own). */
export function closeLive(): void {
  for (const sub of active) sub.stop();
  active.clear();
  void client?.dispose();
  client = null;
}

export function subscribe<T, V>(document: TypedDocumentString<T, V>, variables: V, onData: (data: T) => void): () => void {
  if (!client) {
    client = open();
    token = currentSession()?.accessToken ?? null;
  }
  const sub: Active = {
    query: document.toString(),
    variables: (variables ?? {}) as Record<string, unknown>,
    onData: onData as (data: unknown) => void,
    stop: () => {},
  };
  sub.stop = start(client, sub);
  active.add(sub);
  return () => {
    sub.stop();
    active.delete(sub);
  };
}
