import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useRef, type ReactNode } from "react";

/**
 * Renders only the rows in view, so a list of 100,000 calls scrolls as smoothly as one of 50;
 * asks for the next page when the last rows come into view.
 */
export function VirtualList<T>({
  items,
  rowHeight,
  render,
  hasMore,
  loadMore,
  label,
}: {
  items: T[];
  rowHeight: number;
  render: (item: T) => ReactNode;
  hasMore: boolean;
  loadMore: () => void;
  label: string;
}) {
  const parent = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: items.length,
    getScrollElement: () => parent.current,
    estimateSize: () => rowHeight,
    overscan: 10,
  });
  const rows = virtual.getVirtualItems();
  const last = rows[rows.length - 1];
  useEffect(() => {
    if (hasMore && last && last.index >= items.length - 5) loadMore();
  }, [hasMore, last, items.length, loadMore]);
  return (
    <div ref={parent} className="virtual" role="list" aria-label={label}>
      <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
        {rows.map((row) => (
          <div
            key={row.key}
            role="listitem"
            className="virtual-row"
            style={{ position: "absolute", top: 0, left: 0, right: 0, height: row.size, transform: `translateY(${row.start}px)` }}
          >
            {render(items[row.index])}
          </div>
        ))}
      </div>
    </div>
  );
}
