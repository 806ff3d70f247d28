import { useState, type FormEvent } from "react";
import { useMutation } from "../../api/hooks";
import { ErrorBox } from "../../components/States";
import { graphql } from "../../gql";
import { useI18n } from "../../i18n";
import { useMe, useReloadMe } from "../../me";
import { COUNTRIES } from "../Auth";

const UpdateDoc = graphql(`
  mutation UpdateCompany($name: String, $country: String, $zone: String, $retention: Int) {
    updateCompany(name: $name, defaultCountry: $country, timeZone: $zone, recordingRetentionDays: $retention) { id }
  }
`);

export function Company() {
  const me = useMe();
  const reload = useReloadMe();
  const { t } = useI18n();
  const update = useMutation(UpdateDoc);
  const c = me.company;
  const [form, setForm] = useState({
    name: c.name,
    country: c.defaultCountry,
    zone: c.timeZone,
    retention: c.recordingRetentionDays?.toString() ?? "",
  });
  const [saved, setSaved] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const done = await update.run({
      name: form.name,
      country: form.country,
      zone: form.zone,
      retention: form.retention ? Number(form.retention) : 0,
    });
    if (done) {
      setSaved(true);
      reload();
    }
  };
  return (
    <form className="form" onSubmit={submit} aria-label={t("settings.company")}>
      <label>
        {t("auth.company")}
        <input required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
      </label>
      <label>
        {t("auth.country")}
        <select value={form.country} onChange={(e) => setForm({ ...form, country: e.target.value })}>
          {[...new Set([form.country, ...COUNTRIES])].map((x) => (
            <option key={x}>{x}</option>
          ))}
        </select>
      </label>
      <label>
        {t("auth.timeZone")}
        <input required value={form.zone} onChange={(e) => setForm({ ...form, zone: e.target.value })} />
      </label>
      <label>
        {t("settings.retention")}
        <input
          type="number"
          min={0}
          value={form.retention}
          placeholder={t("settings.keepForever")}
          onChange={(e) => setForm({ ...form, retention: e.target.value })}
        />
      </label>
      <ErrorBox error={update.error} />
      {saved && <p role="status">{t("settings.savedOk")}</p>}
      <button type="submit" disabled={update.pending}>
        {t("common.save")}
      </button>
    </form>
  );
}
