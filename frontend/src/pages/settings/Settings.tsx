import { NavLink, Navigate, Route, Routes } from "react-router";
import { useI18n } from "../../i18n";
import { Channels } from "./Channels";
import { Company } from "./Company";
import { Integrations } from "./Integrations";
import { Telephony } from "./Telephony";
import { Team } from "./Team";

export default function Settings() {
  const { t } = useI18n();
  return (
    <section className="page">
      <h1>{t("nav.settings")}</h1>
      <nav className="subnav" aria-label={t("nav.settings")}>
        <NavLink to="/settings/telephony">{t("settings.telephony")}</NavLink>
        <NavLink to="/settings/channels">{t("settings.channels")}</NavLink>
        <NavLink to="/settings/team">{t("settings.team")}</NavLink>
        <NavLink to="/settings/integrations">{t("settings.integrations")}</NavLink>
        <NavLink to="/settings/company">{t("settings.company")}</NavLink>
      </nav>
      <Routes>
        <Route path="telephony" element={<Telephony />} />
        <Route path="channels" element={<Channels />} />
        <Route path="team" element={<Team />} />
        <Route path="integrations" element={<Integrations />} />
        <Route path="company" element={<Company />} />
        <Route path="*" element={<Navigate to="telephony" replace />} />
      </Routes>
    </section>
  );
}

/** A secret the server shows once: displayed with a warning until dismissed. */
export function ShownOnce({ label, value, onDone }: { label: string; value: string; onDone: () => void }) {
  const { t } = useI18n();
  return (
    <div className="once" role="alert">
      <p>{t("settings.shownOnce")}</p>
      <label>
        {label}
        <input readOnly value={value} data-testid="secret" onFocus={(e) => e.target.select()} />
      </label>
      <button type="button" onClick={onDone}>
        {t("settings.saved")}
      </button>
    </div>
  );
}
