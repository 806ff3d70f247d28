import { useState } from "react";
import { useMutation } from "../api/hooks";
import { graphql } from "../gql";
import { useI18n } from "../i18n";

const Dial = graphql(`mutation Dial($number: String, $customerId: ID) { dial(number: $number, customerId: $customerId) { id status } }`);

/** A phone number with a click-to-call button: the CRM rings the user's phone, then the number. */
export function PhoneLink({ number, customerId }: { number: string; customerId?: string }) {
  const { t } = useI18n();
  const dial = useMutation(Dial);
  const [placed, setPlaced] = useState(false);
  return (
    <span className="phone">
      <span>{number}</span>
      <button
        type="button"
        className="call-button"
        aria-label={t("phone.call", { number })}
        title={t("phone.call", { number })}
        disabled={dial.pending}
        onClick={async () => setPlaced(!!(await dial.run({ number, customerId }))) }
      >
        ☎
      </button>
      {placed && <span className="hint">{t("phone.calling")}</span>}
      {dial.error && <span className="hint bad">{dial.error.message}</span>}
    </span>
  );
}
