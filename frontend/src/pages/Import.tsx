import { useEffect, useState } from "react";
import { Link } from "react-router";
import { importFile } from "../api/client";
import { useAction, useQuery } from "../api/hooks";
import { ErrorBox } from "../components/States";
import { graphql } from "../gql";
import { useI18n } from "../i18n";
import { csvHeader, guessTarget } from "../lib/csv";

const FieldsDoc = graphql(`query ImportFields { customFields { key label } }`);
const ProgressDoc = graphql(`
  query ImportProgress($id: ID!) {
    customerImport(id: $id) { id dryRun status total processed created rejected error rejections { row reason } }
  }
`);

export default function Import() {
  const { t, number } = useI18n();
  const fields = useQuery(FieldsDoc);
  const [csv, setCsv] = useState<{ file: File; columns: string[] } | null>(null);
  const [mapping, setMapping] = useState<string[]>([]);
  const [running, setRunning] = useState<string | null>(null);
  // The file goes as it is to its own endpoint: a GraphQL request would cap it at 1 MB.
  const start = useAction(importFile);
  const progress = useQuery(ProgressDoc, { id: running ?? "" }, !running);
  const status = progress.data?.customerImport;
  const reload = progress.reload;
  useEffect(() => {
    if (status?.status !== "RUNNING") return;
    const timer = setTimeout(reload, 500);
    return () => clearTimeout(timer);
  }, [status, reload]);
  const targets = [
    "name",
    "phone",
    "email",
    "tag",
    "responsible",
    ...(fields.data?.customFields.map((f) => `field:${f.key}`) ?? []),
    "skip",
  ];
  const run = async (dryRun: boolean) => {
    if (!csv) return;
    const id = await start.run({
      file: csv.file,
      dryRun,
      mapping: csv.columns.map((column, i) => ({ column, target: mapping[i] })),
    });
    if (id) setRunning(id);
  };
  return (
    <section className="page">
      <div className="page-head">
        <h1>{t("import.title")}</h1>
        <Link to="/customers">{t("nav.customers")}</Link>
      </div>
      <label>
        {t("import.file")}
        <input
          type="file"
          accept=".csv,text/csv"
          onChange={async (e) => {
            const file = e.target.files?.[0];
            if (!file) return;
            const text = await file.text();
            const columns = csvHeader(text);
            setCsv({ file, columns });
            setMapping(columns.map(guessTarget));
            setRunning(null);
          }}
        />
      </label>
      {csv && (
        <table className="mapping">
          <thead>
            <tr>
              <th>{t("import.column")}</th>
              <th>{t("import.target")}</th>
            </tr>
          </thead>
          <tbody>
            {csv.columns.map((column, i) => (
              <tr key={column + i}>
                <td>{column}</td>
                <td>
                  <select
                    aria-label={t("import.targetOf", { column })}
                    value={mapping[i]}
                    onChange={(e) => setMapping(mapping.map((m, j) => (j === i ? e.target.value : m)))}
                  >
                    {targets.map((target) => (
                      <option key={target} value={target}>
                        {target.startsWith("field:")
                          ? fields.data?.customFields.find((f) => `field:${f.key}` === target)?.label
                          : t(`import.to.${target}` as "import.to.name")}
                      </option>
                    ))}
                  </select>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {csv && (
        <div className="actions">
          <button type="button" disabled={start.pending} onClick={() => run(true)}>
            {t("import.dryRun")}
          </button>
          <button type="button" disabled={start.pending} onClick={() => run(false)}>
            {t("import.run")}
          </button>
        </div>
      )}
      <ErrorBox error={start.error ?? progress.error} retry={progress.error ? reload : undefined} />
      {status && (
        <div className="import-status" role="status" data-testid="import-status">
          <progress max={Math.max(1, status.total)} value={status.processed} />
          <p>
            {t(status.dryRun ? "import.checked" : "import.progress", {
              processed: number(status.processed),
              total: number(status.total),
              created: number(status.created),
              rejected: number(status.rejected),
            })}{" "}
            · {t(`importStatus.${status.status}`)}
          </p>
          {status.error && <p className="bad">{status.error}</p>}
          {status.rejections.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th>{t("import.row")}</th>
                  <th>{t("import.reason")}</th>
                </tr>
              </thead>
              <tbody>
                {status.rejections.map((r) => (
                  <tr key={r.row}>
                    <td>{r.row}</td>
                    <td>{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
