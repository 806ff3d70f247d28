// GraphQL over HTTP with the session's token; errors come back typed by `extensions.code`.
import type { TypedDocumentString } from "../gql/graphql";
import { accessToken, refreshSession, setSession } from "./session";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

async function post<T>(query: string, variables: unknown, token: string | null): Promise<[number, GraphQLResponse<T>]> {
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("The server cannot be reached. Check your connection and retry.", "NETWORK");
  }
  const body = (await response.json().catch(() => ({}))) as GraphQLResponse<T>;
  return [response.status, body];
}

export async function request<T, V>(document: TypedDocumentString<T, V>, variables?: V): Promise<T> {
  const query = document.toString();
  let [status, body] = await post<T>(query, variables ?? {}, await accessToken());
  const unauthenticated = () => status === 401 || body.errors?.[0]?.extensions?.code === "UNAUTHENTICATED";
  if (unauthenticated()) {
    const refreshed = await refreshSession();
    if (refreshed) [status, body] = await post<T>(query, variables ?? {}, refreshed.accessToken);
    if (unauthenticated() && refreshed) setSession(null);
  }
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.message, error.extensions?.code ?? "INTERNAL", error.extensions?.field);
  if (!body.data) throw new ApiError(`The server answered ${status} without data. Retry in a moment.`, "INTERNAL");
  return body.data;
}

/** Posts a file from the user's computer to `path` with the session's token (refreshed once on 401). */
async function sendFile(path: string, file: File, headers: Record<string, string>): Promise<Response> {
  const send = async (token: string | null) => {
    try {
      return await fetch(path, {
        method: "POST",
        headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: file,
      });
    } catch {
      throw new ApiError("The server cannot be reached. Check your connection and retry.", "NETWORK");
    }
  };
  const response = await send(await accessToken());
  if (response.status !== 401) return response;
  return send((await refreshSession())?.accessToken ?? null);
}

/** The JSON a file endpoint answered; its error (GraphQL's shape) thrown as an ApiError. */
async function fileAnswer<T>(response: Response): Promise<Partial<T>> {
  const body = (await response.json().catch(() => ({}))) as GraphQLResponse<never> & Partial<T>;
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.message, error.extensions?.code ?? "INTERNAL", error.extensions?.field);
  return body;
}

/** Sends a file from the user's computer; answers the public link to attach to a reply. */
export async function uploadFile(file: File): Promise<string> {
  const response = await sendFile("/uploads", file, {
    "content-type": file.type || "application/octet-stream",
    "x-file-name": encodeURIComponent(file.name),
  });
  if (response.status === 413) throw new ApiError("The file is too large: up to 20 MB can be sent.", "BAD_USER_INPUT");
  const body = await fileAnswer<{ url: string }>(response);
  if (!body.url) throw new ApiError(`The upload failed (${response.status}). Retry in a moment.`, "INTERNAL");
  return body.url;
}

/** Starts importing customers from a CSV file (larger than a GraphQL request may be); answers the import's id. */
export async function importFile(args: {
  file: File;
  mapping: { column: string; target: string }[];
  dryRun: boolean;
}): Promise<string> {
  const query = new URLSearchParams(args.mapping.map((m) => [`map.${m.column}`, m.target]));
  if (args.dryRun) query.set("dryRun", "true");
  const response = await sendFile(`/imports/customers?${query}`, args.file, { "content-type": "text/csv" });
  if (response.status === 413) {
    throw new ApiError("The file is too large: up to 32 MB can be imported at once. Split it and retry.", "BAD_USER_INPUT");
  }
  const body = await fileAnswer<{ id: string }>(response);
  if (!body.id) throw new ApiError(`The import did not start (${response.status}). Retry in a moment.`, "INTERNAL");
  return body.id;
}
