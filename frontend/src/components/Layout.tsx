import type { ReactNode } from "react";
import { NavLink, useNavigate } from "react-router";
import { request } from "../api/client";
import { useMutation } from "../api/hooks";
import { closeLive } from "../api/live";
import { setSession } from "../api/session";
import { graphql } from "../gql";
import { useI18n } from "../i18n";
import { LOCALES, type Locale } from "../lib/format";
import { isAdmin, useMe, useReloadMe } from "../me";
import { CallPopup } from "./CallPopup";

const Logout = graphql(`mutation Logout { logout }`);
const SetAway = graphql(`mutation SetAway($away: Boolean!) { setAway(away: $away) { id away } }`);

export function LanguageSwitch() {
  const { locale, setLocale, t } = useI18n();
  return (
    <label className="language">
      <span className="sr-only">{t("nav.language")}</span>
      <select value={locale} aria-label={t("nav.language")} onChange={(e) => setLocale(e.target.value as Locale)}>
        {LOCALES.map((l) => (
          <option key={l} value={l}>
            {{ en: "English", ru: "Русский", uz: "Oʻzbekcha" }[l]}
          </option>
        ))}
      </select>
    </label>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const me = useMe();
  const reloadMe = useReloadMe();
  const { t } = useI18n();
  const navigate = useNavigate();
  const away = useMutation(SetAway);
  const signOut = async () => {
    await request(Logout).catch(() => {});
    closeLive();
    setSession(null);
    navigate("/login");
  };
  return (
    <div className="shell">
      <header className="topbar">
        <strong className="brand">{me.company.name}</strong>
        <nav aria-label={t("nav.main")}>
          <NavLink to="/" end>
            {t("nav.dashboard")}
          </NavLink>
          <NavLink to="/calls">{t("nav.calls")}</NavLink>
          <NavLink to="/chats">{t("nav.chats")}</NavLink>
          <NavLink to="/customers">{t("nav.customers")}</NavLink>
          {isAdmin(me) && <NavLink to="/settings">{t("nav.settings")}</NavLink>}
        </nav>
        <div className="who">
          <LanguageSwitch />
          <label className="away">
            <input
              type="checkbox"
              checked={me.user.away}
              onChange={async (e) => {
                await away.run({ away: e.target.checked });
                reloadMe();
              }}
            />
            {t("nav.away")}
          </label>
          <span className="user" title={me.user.email}>
            {me.user.name} · <span className="role">{t(`role.${me.user.role}`)}</span>
          </span>
          <button type="button" onClick={signOut}>
            {t("nav.logout")}
          </button>
        </div>
      </header>
      <main>{children}</main>
      <CallPopup />
    </div>
  );
}
