import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { request } from "../api/client";
import { useMutation, useQuery, useSubscription } from "../api/hooks";
import { usePagedList } from "../api/paged";
import { Empty, ErrorBox, Loading } from "../components/States";
import { VirtualList } from "../components/VirtualList";
import { graphql } from "../gql";
import { useI18n } from "../i18n";
import { isAdmin, useMe } from "../me";

const Row = graphql(`fragment CustomerRow on Customer { id name phones emails tags }`);
void Row;
const CustomersDoc = graphql(`
  query Customers($first: Int!, $after: String, $search: String, $tag: String) {
    customers(first: $first, after: $after, search: $search, tag: $tag) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...CustomerRow }
    }
  }
`);
const CreateDoc = graphql(`mutation CreateCustomer($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`);
const ExportDoc = graphql(`mutation ExportCustomers { exportCustomers }`);
const ChangedDoc = graphql(`subscription CustomerChanged { customerChanged { kind customerId } }`);
const DuplicatesDoc = graphql(`
  query Duplicates { duplicateCustomers(first: 20) { customer { id name } other { id name } reason value } }
`);

/** Waits for typing to pause before searching. */
function useDebounced<T>(value: T, ms = 250): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export default function Customers() {
  const me = useMe();
  const { t, number } = useI18n();
  const navigate = useNavigate();
  const [search, setSearch] = useState("");
  const [tag, setTag] = useState<string | null>(null);
  const duplicates = useQuery(DuplicatesDoc);
  const query = useDebounced(search.trim());
  const list = usePagedList(JSON.stringify([query, tag]), async (after) =>
    (await request(CustomersDoc, { first: 50, after, search: query || null, tag })).customers,
  );
  const reload = list.reload;
  useSubscription(ChangedDoc, {}, reload);
  const create = useMutation(CreateDoc);
  const exporter = useMutation(ExportDoc);
  const [draft, setDraft] = useState({ name: "", phone: "" });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const made = await create.run({ input: { name: draft.name, phones: draft.phone ? [draft.phone] : [] } });
    if (made) navigate(`/customers/${made.createCustomer.id}`);
  };
  return (
    <section className="page">
      <div className="page-head">
        <h1>{t("nav.customers")}</h1>
        <span className="hint">{t("customers.total", { n: number(list.total) })}</span>
        {isAdmin(me) && (
          <span className="actions">
            <Link to="/import">{t("customers.import")}</Link>
            <button
              type="button"
              onClick={async () => {
                const url = (await exporter.run({}))?.exportCustomers;
                if (url) window.location.assign(url);
              }}
            >
              {t("customers.export")}
            </button>
          </span>
        )}
      </div>
      <label className="search">
        <span className="sr-only">{t("customers.search")}</span>
        <input
          type="search"
          value={search}
          placeholder={t("customers.search")}
          aria-label={t("customers.search")}
          onChange={(e) => setSearch(e.target.value)}
        />
      </label>
      {tag && (
        <p>
          <span className="tag">
            {t("customers.taggedWith", { tag })}{" "}
            <button type="button" className="link" aria-label={t("customers.clearTag")} onClick={() => setTag(null)}>
              ×
            </button>
          </span>
        </p>
      )}
      {duplicates.data && duplicates.data.duplicateCustomers.length > 0 && (
        <details className="duplicates">
          <summary>{t("customers.duplicates", { n: duplicates.data.duplicateCustomers.length })}</summary>
          <ul className="list">
            {duplicates.data.duplicateCustomers.map((d) => (
              <li key={`${d.customer.id}-${d.other.id}`}>
                <Link to={`/customers/${d.customer.id}`}>{d.customer.name}</Link> ·{" "}
                <Link to={`/customers/${d.other.id}`}>{d.other.name}</Link> · {t("card.sameValue", { value: d.value })}
              </li>
            ))}
          </ul>
        </details>
      )}
      <form className="inline-form" onSubmit={submit} aria-label={t("customers.new")}>
        <input
          required
          placeholder={t("customers.name")}
          aria-label={t("customers.name")}
          value={draft.name}
          onChange={(e) => setDraft({ ...draft, name: e.target.value })}
        />
        <input
          placeholder={t("customers.phone")}
          aria-label={t("customers.phone")}
          value={draft.phone}
          onChange={(e) => setDraft({ ...draft, phone: e.target.value })}
        />
        <button type="submit" disabled={create.pending}>
          {t("customers.new")}
        </button>
      </form>
      <ErrorBox error={create.error ?? exporter.error} />
      <ErrorBox error={list.error} retry={list.reload} />
      {list.rows.length === 0 && !list.loading && !list.error && <Empty text={t("customers.none")} />}
      <VirtualList
        label={t("nav.customers")}
        items={list.rows}
        rowHeight={56}
        hasMore={list.hasMore}
        loadMore={list.loadMore}
        render={(c) => (
          <div className="row">
            <Link to={`/customers/${c.id}`} className="row-main">
              {c.name}
            </Link>
            <span className="row-meta">
              {[...c.phones, ...c.emails].join(", ")}
              {c.tags.map((x) => (
                <button key={x} type="button" className="tag" onClick={() => setTag(x)} title={t("customers.filterTag", { tag: x })}>
                  {x}
                </button>
              ))}
            </span>
          </div>
        )}
      />
      {list.loading && <Loading />}
    </section>
  );
}
