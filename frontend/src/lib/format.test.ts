import { describe, expect, it } from "vitest";
import { dayIn, formatDateTime, formatDuration, formatPercent, interpolate } from "./format";

describe("format", () => {
  it("shows call lengths as a phone does", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(65)).toBe("1:05");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(null)).toBe("—");
  });

  it("writes times in the company's zone, not the browser's", () => {
    const iso = "2026-03-01T20:30:00Z";
    expect(formatDateTime(iso, "en", "Asia/Tashkent")).toContain("01:30");
    expect(formatDateTime(iso, "en", "Asia/Tashkent")).toContain("2 Mar 2026");
    expect(formatDateTime(iso, "ru", "Europe/Moscow")).toContain("23:30");
  });

  it("knows the company's today across midnight", () => {
    const now = new Date("2026-03-01T20:30:00Z");
    expect(dayIn("Asia/Tashkent", 0, now)).toBe("2026-03-02");
    expect(dayIn("UTC", 0, now)).toBe("2026-03-01");
    expect(dayIn("Asia/Tashkent", 29, now)).toBe("2026-02-01");
  });

  it("formats rates per locale and fills placeholders", () => {
    expect(formatPercent(0.5, "en")).toBe("50%");
    expect(formatPercent(0.5, "ru")).toMatch(/^50\s?%$/);
    expect(interpolate("{n} calls from {who}", { n: 3, who: "Ann" })).toBe("3 calls from Ann");
    expect(interpolate("{missing}")).toBe("{missing}");
  });
});
