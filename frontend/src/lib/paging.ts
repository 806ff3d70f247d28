// Merging pages and live events into a list without duplicates, newest first.
export function appendPage<T extends { id: string }>(list: T[], page: T[]): T[] {
  const seen = new Set(list.map((x) => x.id));
  return [...list, ...page.filter((x) => !seen.has(x.id))];
}

/** A live update: replaces the item with the same id in place, or puts a new one first. */
export function upsertFirst<T extends { id: string }>(list: T[], item: T, isNew = true): T[] {
  const at = list.findIndex((x) => x.id === item.id);
  if (at >= 0) return list.map((x, i) => (i === at ? item : x));
  return isNew ? [item, ...list] : list;
}

/**
 * A freshly loaded list with what live events brought meanwhile: a row the load lacks, or
 * has older (`lastMessageAt`), is taken from the live list. Newest first.
 */
export function mergeNewest<T extends { id: string; lastMessageAt: string }>(loaded: T[], live: T[]): T[] {
  const rows = new Map(loaded.map((row) => [row.id, row]));
  for (const row of live) {
    const known = rows.get(row.id);
    if (!known || known.lastMessageAt < row.lastMessageAt) rows.set(row.id, row);
  }
  return [...rows.values()].sort((a, b) => b.lastMessageAt.localeCompare(a.lastMessageAt));
}
