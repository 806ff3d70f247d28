// Locale- and time-zone-aware formatting; pure, so it is unit-tested.
export type Locale = "en" | "ru" | "uz";
export const LOCALES: Locale[] = ["en", "ru", "uz"];

/** The BCP 47 tag Intl uses for each language the app speaks (Uzbek in Latin script). */
export function intlTag(locale: Locale): string {
  return { en: "en-GB", ru: "ru-RU", uz: "uz-Latn-UZ" }[locale];
}

/** Seconds as m:ss or h:mm:ss (how phones and PBX reports show call lengths). */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function formatDateTime(iso: string | null | undefined, locale: Locale, timeZone: string): string {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(intlTag(locale), { dateStyle: "medium", timeStyle: "short", timeZone }).format(
    new Date(iso),
  );
}

export function formatTime(iso: string, locale: Locale, timeZone: string): string {
  return new Intl.DateTimeFormat(intlTag(locale), { timeStyle: "short", timeZone }).format(new Date(iso));
}

/** A calendar date (YYYY-MM-DD, already in the company's zone) as the locale writes it. */
export function formatDay(date: string, locale: Locale): string {
  const [y, m, d] = date.split("-").map(Number);
  return new Intl.DateTimeFormat(intlTag(locale), { day: "numeric", month: "short", timeZone: "UTC" }).format(
    new Date(Date.UTC(y, m - 1, d)),
  );
}

export function formatNumber(value: number, locale: Locale): string {
  return new Intl.NumberFormat(intlTag(locale)).format(value);
}

export function formatPercent(rate: number | null | undefined, locale: Locale): string {
  if (rate == null) return "—";
  return new Intl.NumberFormat(intlTag(locale), { style: "percent", maximumFractionDigits: 1 }).format(rate);
}

export function formatBytes(bytes: number, locale: Locale): string {
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${new Intl.NumberFormat(intlTag(locale), { maximumFractionDigits: 1 }).format(value)} ${units[unit]}`;
}

/** Today's date (YYYY-MM-DD) in `timeZone`, and the date `days` before it. */
export function dayIn(timeZone: string, daysBack = 0, now = new Date()): string {
  const shifted = new Date(now.getTime() - daysBack * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(
    shifted,
  );
}

/** Fills `{name}` placeholders. */
export function interpolate(template: string, values: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in values ? String(values[key]) : whole));
}
