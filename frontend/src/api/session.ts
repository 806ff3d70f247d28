// The signed-in session: tokens kept in localStorage, refreshed before they expire so the
// user never notices, shared by every request and the live socket.

export interface Session {
  /** When this client received the token (its lifetime sets how early to refresh). */
  receivedAt?: number;
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshToken: string;
  userId: string;
  companyId: string;
}

const KEY = "crm.session";
type Listener = (session: Session | null) => void;
const listeners = new Set<Listener>();

export function currentSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function setSession(session: Session | null): void {
  const stored = session ? { ...session, receivedAt: session.receivedAt ?? Date.now() } : null;
  if (stored) localStorage.setItem(KEY, JSON.stringify(stored));
  else localStorage.removeItem(KEY);
  scheduleRefresh(stored);
  listeners.forEach((l) => l(stored));
}

let timer: ReturnType<typeof setTimeout> | undefined;

/** Refreshes ahead of expiry even when the app is idle, so the live socket never lapses. */
export function scheduleRefresh(session: Session | null = currentSession()): void {
  clearTimeout(timer);
  if (!session) return;
  const wait = Date.parse(session.accessTokenExpiresAt) - refreshMargin(session) - Date.now();
  timer = setTimeout(() => void refreshSession(), Math.max(0, wait));
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** How long before expiry to refresh: a minute, or a quarter of a short token's life. */
export function refreshMargin(session: Session): number {
  const life = Date.parse(session.accessTokenExpiresAt) - (session.receivedAt ?? Date.now());
  return Math.max(1_000, Math.min(60_000, life / 4));
}

/** True when the access token expires within the refresh margin (or already has). */
export function expiresSoon(session: Session, now = Date.now()): boolean {
  return Date.parse(session.accessTokenExpiresAt) - now < refreshMargin(session);
}

const REFRESH = `mutation Refresh($t: String!) { refreshSession(refreshToken: $t) {
  accessToken accessTokenExpiresAt refreshToken userId companyId } }`;

let refreshing: Promise<Session | null> | null = null;

/** One refresh at a time however many requests need it; null (and signed out) when refused. */
export function refreshSession(): Promise<Session | null> {
  const session = currentSession();
  if (!session) return Promise.resolve(null);
  refreshing ??= (async () => {
    try {
      const response = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: REFRESH, variables: { t: session.refreshToken } }),
      });
      const body = (await response.json()) as { data?: { refreshSession: Session }; errors?: unknown[] };
      if (body.data?.refreshSession) {
        setSession(body.data.refreshSession);
        return body.data.refreshSession;
      }
      setSession(null);
      return null;
    } catch {
      // Offline: keep the session, the next request tries again.
      return currentSession();
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** A valid access token, refreshed first when it is about to expire. */
export async function accessToken(): Promise<string | null> {
  const session = currentSession();
  if (!session) return null;
  if (expiresSoon(session)) return (await refreshSession())?.accessToken ?? null;
  return session.accessToken;
}
