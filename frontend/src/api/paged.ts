import { useCallback, useEffect, useState } from "react";
import { appendPage } from "../lib/paging";
import type { ApiError } from "./client";
import { asApiError } from "./hooks";

/** One page of a cursor connection, as the list screens ask for it. */
export interface Page<T> {
  nodes: T[];
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
  totalCount: number;
}

export interface PagedList<T> {
  rows: T[];
  total: number;
  loading: boolean;
  error: ApiError | undefined;
  hasMore: boolean;
  /** The next page, unless one is loading or there is none. */
  loadMore: () => void;
  /** From the first page again (a new filter, or after an error). */
  reload: () => void;
  /** Edits the rows in place (live updates); rows it adds count into the total. */
  update: (edit: (rows: T[]) => T[]) => void;
}

/**
 * A cursor-paginated list: `fetch(after)` gives a page; `key` (the filter, serialised)
 * starts it over. Rows already shown are not repeated when pages overlap.
 */
export function usePagedList<T extends { id: string }>(
  key: string,
  fetch: (after: string | null) => Promise<Page<T>>,
): PagedList<T> {
  const [list, setList] = useState<{ rows: T[]; cursor: string | null; more: boolean; total: number }>({
    rows: [],
    cursor: null,
    more: true,
    total: 0,
  });
  const [state, setState] = useState<{ loading: boolean; error?: ApiError }>({ loading: true });
  const load = useCallback(
    async (after: string | null) => {
      setState({ loading: true });
      try {
        const page = await fetch(after);
        setList((l) => ({
          rows: after ? appendPage(l.rows, page.nodes) : page.nodes,
          cursor: page.pageInfo.endCursor ?? null,
          more: page.pageInfo.hasNextPage,
          total: page.totalCount,
        }));
        setState({ loading: false });
      } catch (error) {
        setState({ loading: false, error: asApiError(error) });
      }
    },
    // `fetch` changes with `key`, which is what matters.
    [key],
  );
  useEffect(() => {
    void load(null);
  }, [load]);
  const loadMore = useCallback(() => {
    if (!state.loading && list.more && !state.error) void load(list.cursor);
  }, [state.loading, state.error, list.more, list.cursor, load]);
  const reload = useCallback(() => void load(null), [load]);
  const update = useCallback(
    (edit: (rows: T[]) => T[]) =>
      setList((l) => {
        const rows = edit(l.rows);
        return { ...l, rows, total: l.total + Math.max(0, rows.length - l.rows.length) };
      }),
    [],
  );
  return {
    rows: list.rows,
    total: list.total,
    loading: state.loading,
    error: state.error,
    hasMore: list.more && !state.error,
    loadMore,
    reload,
    update,
  };
}
