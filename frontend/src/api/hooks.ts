import { useCallback, useEffect, useRef, useState } from "react";
import type { TypedDocumentString } from "../gql/graphql";
import { ApiError, request } from "./client";
import { subscribe } from "./live";

export interface QueryState<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs a query when `variables` change; `reload` runs it again (after an error, or live). */
export function useQuery<T, V>(document: TypedDocumentString<T, V>, variables?: V, skip = false): QueryState<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: !skip });
  const [tick, setTick] = useState(0);
  const key = JSON.stringify(variables ?? {});
  useEffect(() => {
    if (skip) return;
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    request(document, variables)
      .then((data) => live && setState({ data, loading: false }))
      .catch((error: unknown) => live && setState((s) => ({ data: s.data, error: asApiError(error), loading: false })));
    return () => {
      live = false;
    };
  }, [document, key, tick, skip]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(String(error), "INTERNAL");
}

/** A mutation with its pending state and last error. */
export function useMutation<T, V>(document: TypedDocumentString<T, V>) {
  return useAction(useCallback((variables: V) => request(document, variables), [document]));
}

/** Runs `action` on demand, with its pending state and its error (`undefined` from `run` when it failed). */
export function useAction<A, T>(action: (args: A) => Promise<T>) {
  const [state, setState] = useState<{ pending: boolean; error?: ApiError }>({ pending: false });
  const run = useCallback(
    async (args: A): Promise<T | undefined> => {
      setState({ pending: true });
      try {
        const data = await action(args);
        setState({ pending: false });
        return data;
      } catch (error) {
        setState({ pending: false, error: asApiError(error) });
        return undefined;
      }
    },
    [action],
  );
  return { run, pending: state.pending, error: state.error };
}

/** Calls `onData` for every event of a subscription while the component is mounted. */
export function useSubscription<T, V>(document: TypedDocumentString<T, V>, variables: V, onData: (data: T) => void) {
  const handler = useRef(onData);
  handler.current = onData;
  const key = JSON.stringify(variables ?? {});
  useEffect(
    () => subscribe(document, variables, (data) => handler.current(data)),
    [document, key],
  );
}
