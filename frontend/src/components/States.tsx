import type { ApiError } from "../api/client";
import { useI18n } from "../i18n";

export function Loading() {
  const { t } = useI18n();
  return (
    <div className="loading" role="status" aria-live="polite">
      {t("common.loading")}
    </div>
  );
}

/** A failed request: what happened, and a way to try again. */
export function ErrorBox({ error, retry }: { error: ApiError | undefined; retry?: () => void }) {
  const { t } = useI18n();
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <span>{error.code === "NETWORK" ? t("error.network") : error.message}</span>
      {retry && (
        <button type="button" onClick={retry}>
          {t("common.retry")}
        </button>
      )}
    </div>
  );
}

export function Empty({ text }: { text: string }) {
  return <p className="empty">{text}</p>;
}
