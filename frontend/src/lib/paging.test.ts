import { describe, expect, it } from "vitest";
import { appendPage, mergeNewest, upsertFirst } from "./paging";

describe("paging", () => {
  it("appends a page without repeating rows already shown", () => {
    expect(appendPage([{ id: "a" }, { id: "b" }], [{ id: "b" }, { id: "c" }]).map((x) => x.id)).toEqual(["a", "b", "c"]);
  });

  it("updates a row in place or shows a new one first", () => {
    const list = [
      { id: "a", v: 1 },
      { id: "b", v: 1 },
    ];
    expect(upsertFirst(list, { id: "b", v: 2 })).toEqual([
      { id: "a", v: 1 },
      { id: "b", v: 2 },
    ]);
    expect(upsertFirst(list, { id: "c", v: 1 }).map((x) => x.id)).toEqual(["c", "a", "b"]);
    expect(upsertFirst(list, { id: "c", v: 1 }, false)).toBe(list);
  });

  it("keeps what live events brought before a slower load answered", () => {
    const loaded = [
      { id: "a", lastMessageAt: "2026-11-27T10:00:00Z" },
      { id: "b", lastMessageAt: "2026-11-27T09:00:00Z" },
    ];
    const live = [
      { id: "c", lastMessageAt: "2026-11-27T11:00:00Z" },
      { id: "b", lastMessageAt: "2026-11-27T12:00:00Z" },
    ];
    expect(mergeNewest(loaded, live).map((x) => x.id)).toEqual(["b", "c", "a"]);
    expect(mergeNewest(loaded, []).map((x) => x.id)).toEqual(["a", "b"]);
  });
});
