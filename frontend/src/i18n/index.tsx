import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import {
  formatDateTime,
  formatDay,
  formatDuration,
  formatNumber,
  formatPercent,
  formatTime,
  interpolate,
  LOCALES,
  type Locale,
} from "../lib/format";
import { en, type Key } from "./en";
import { ru } from "./ru";
import { uz } from "./uz";

const DICTIONARIES: Record<Locale, Record<Key, string>> = { en, ru, uz };
const KEY = "crm.locale";

function initialLocale(): Locale {
  const saved = localStorage.getItem(KEY) as Locale | null;
  if (saved && LOCALES.includes(saved)) return saved;
  const browser = navigator.language.slice(0, 2) as Locale;
  return LOCALES.includes(browser) ? browser : "en";
}

export interface I18n {
  locale: Locale;
  setLocale: (locale: Locale) => void;
  t: (key: Key, values?: Record<string, string | number>) => string;
  timeZone: string;
  setTimeZone: (zone: string) => void;
  dateTime: (iso: string | null | undefined) => string;
  time: (iso: string) => string;
  day: (date: string) => string;
  number: (value: number) => string;
  percent: (rate: number | null | undefined) => string;
  duration: (seconds: number | null | undefined) => string;
}

const Context = createContext<I18n | null>(null);

export function LocaleProvider({ children }: { children: ReactNode }) {
  const [locale, setLocaleState] = useState<Locale>(initialLocale);
  const [timeZone, setTimeZone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  const setLocale = useCallback((next: Locale) => {
    localStorage.setItem(KEY, next);
    document.documentElement.lang = next;
    setLocaleState(next);
  }, []);
  const value = useMemo<I18n>(() => {
    const dictionary = DICTIONARIES[locale];
    return {
      locale,
      setLocale,
      timeZone,
      setTimeZone,
      t: (key, values) => interpolate(dictionary[key], values),
      dateTime: (iso) => formatDateTime(iso, locale, timeZone),
      time: (iso) => formatTime(iso, locale, timeZone),
      day: (date) => formatDay(date, locale),
      number: (n) => formatNumber(n, locale),
      percent: (rate) => formatPercent(rate, locale),
      duration: formatDuration,
    };
  }, [locale, setLocale, timeZone]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(Context);
  if (!value) throw new Error("useI18n outside LocaleProvider");
  return value;
}
