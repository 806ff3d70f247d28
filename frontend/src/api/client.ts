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

/** Sends a file from the user's computer; answers the public link to attach to a reply. */
export async function uploadFile(file: File): Promise<string> {
  const send = async (token: string | null) => {
    try {
      return await fetch("/uploads", {
        method: "POST",
        headers: {
          "content-type": file.type || "application/octet-stream",
          "x-file-name": encodeURIComponent(file.name),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: file,
      });
    } catch {
      throw new ApiError("The server cannot be reached. Check your connection and retry.", "NETWORK");
    }
  };
  let response = await send(await accessToken());
  if (response.status === 401) response = await send((await refreshSession())?.accessToken ?? null);
  if (response.status === 413) throw new ApiError("The file is too large: up to 20 MB can be sent.", "BAD_USER_INPUT");
  const body = (await response.json().catch(() => ({}))) as GraphQLResponse<never> & { url?: string };
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.message, error.extensions?.code ?? "INTERNAL", error.extensions?.field);
  if (!body.url) throw new ApiError(`The upload failed (${response.status}). Retry in a moment.`, "INTERNAL");
  return body.url;
}
