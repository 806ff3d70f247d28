//! The customer card, the calls list and the dashboard on a big seeded company, over HTTP at
//! 100 concurrent clients, each beside the same data fetched by its SQL alone (straight to
//! Postgres as the app's role). Prints a Markdown table.
//!
//! The seed: 100 companies; one has 200,000 customers, 1,000,000 calls over the last year and
//! 5,000,000 messages in 100,000 conversations; the other 99 have 100 customers and 1,000 calls
//! each. Usage: crm-bench-cards <crm base URL> <admin database URL> <app database URL>
//! (e2e/bench/cards sets everything up and calls this.)
use anyhow::{Context, Result, bail};
use crm_bench::{Load, Row, measure, post, sign_up};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value as Sql};
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The SQL statements (and their values) of one request, by request number.
type Queries = dyn Fn(usize) -> Vec<(&'static str, Vec<Sql>)> + Send + Sync;

const SMALL_TENANTS: usize = 99;
const CUSTOMERS: i64 = 200_000;
const CALLS: i64 = 1_000_000;
const CONVERSATIONS: i64 = 100_000;
const MESSAGES: i64 = 5_000_000;
const LOAD: Load = Load { clients: 100, warmup: Duration::from_secs(3), run: Duration::from_secs(10) };

/// A UUIDv7 for a moment (ordered by time, as the app's ids are) and a row number.
const V7: &str = "CREATE OR REPLACE FUNCTION pg_temp.v7(at timestamptz, n bigint) RETURNS uuid LANGUAGE sql AS
    $$ SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7' || substr(md5(n::text), 1, 3)
               || '8' || substr(md5(n::text || 'x'), 1, 15))::uuid $$";

const FIRST: &str = "ARRAY['Dilnoza','Aziz','Bekzod','Nodira','Laylo','Sardor','Olim','Malika','Jasur','Kamola',
    'Rustam','Zarina','Timur','Gulnora','Anvar','Shahlo','Umid','Feruza','Sanjar','Madina']";
const LAST: &str = "ARRAY['Karimov','Rashidova','Tursunov','Aliyeva','Yusupov','Nazarova','Ergashev','Saidova',
    'Qodirov','Mirzayeva','Hakimov','Usmonova','Xolmatov','Sobirova','Rahimov','Abdullayeva','Ismoilov','Jurayeva',
    'Normatov','Ortiqova']";

async fn seed_big(db: &DatabaseConnection, tenant: &str, user: &str) -> Result<()> {
    let started = Instant::now();
    let txn = db.begin().await?;
    txn.execute_unprepared(V7).await?;
    let steps = [
        (
            "customers",
            format!(
                "CREATE TEMP TABLE ids AS SELECT g, pg_temp.v7(now() - g * interval '150 seconds', g) AS id
             FROM generate_series(1, {CUSTOMERS}) g;
             INSERT INTO customers (tenant_id, id, name, responsible_user_id, created_at, updated_at, fields)
             SELECT '{tenant}', id, ({FIRST})[1 + g % 20] || ' ' || ({LAST})[1 + (g / 20) % 20] || ' ' || g, NULL,
                    now() - g * interval '150 seconds', now(), '{{}}' FROM ids;
             INSERT INTO customer_phones (tenant_id, customer_id, position, e164)
             SELECT '{tenant}', id, 0, '+99890' || lpad(g::text, 7, '0') FROM ids;
             {}",
                name_keys(tenant)
            ),
        ),
        (
            "calls",
            format!(
            "INSERT INTO calls (tenant_id, id, direction, status, from_number, to_number, customer_id, user_id, edge,
                                started_at, answered_at, ended_at, hangup_by)
             SELECT '{tenant}', pg_temp.v7(s, x.g), CASE WHEN x.g % 5 = 0 THEN 'outbound' ELSE 'inbound' END,
                    CASE WHEN x.g % 10 < 7 THEN 'completed' WHEN x.g % 10 < 9 THEN 'missed' ELSE 'failed' END,
                    '+99890' || lpad(c.g::text, 7, '0'), '+998712000000', c.id,
                    CASE WHEN x.g % 10 < 7 THEN '{user}'::uuid END, 'seed', s,
                    CASE WHEN x.g % 10 < 7 THEN s + interval '7 seconds' END, s + interval '95 seconds', 'customer'
             FROM (SELECT g, now() - g * interval '31.5 seconds' AS s FROM generate_series(1, {CALLS}) g) x
             JOIN ids c ON c.g = x.g % {CUSTOMERS} + 1"
        ),
        ),
        (
            "conversations",
            format!(
            "INSERT INTO conversations (tenant_id, id, connection_id, thread, customer_id, assignee_id, status, blocked,
                                        last_message_at, last_inbound_at, created_at)
             SELECT '{tenant}', pg_temp.v7(now() - s.n * interval '300 seconds', s.n),
                    '00000000-0000-7000-8000-000000000001', s.n::text, c.id, '{user}',
                    CASE WHEN s.n % 10 = 0 THEN 'open' ELSE 'closed' END, false, now() - s.n * interval '60 seconds',
                    now() - s.n * interval '60 seconds', now() - s.n * interval '300 seconds'
             FROM generate_series(1, {CONVERSATIONS}) AS s(n) JOIN ids c ON c.g = s.n * 2"
        ),
        ),
        (
            "messages",
            format!(
                "CREATE TEMP TABLE conv AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM conversations
             WHERE tenant_id = '{tenant}';
             INSERT INTO messages (tenant_id, id, conversation_id, connection_id, direction, text, attachments,
                                   external_id, sender_user_id, status, error, fetch_pending, created_at)
             SELECT '{tenant}', pg_temp.v7(now() - g * interval '6.3 seconds', g), conv.id,
                    '00000000-0000-7000-8000-000000000001',
                    CASE WHEN g % 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'message ' || g, '[]', g::text,
                    NULL, CASE WHEN g % 2 = 0 THEN 'received' ELSE 'sent' END, NULL, false,
                    now() - g * interval '6.3 seconds'
             FROM generate_series(1, {MESSAGES}) g JOIN conv ON conv.n = g % {CONVERSATIONS} + 1"
            ),
        ),
        (
            // What the app writes down as a conversation's first reply is sent.
            "first replies",
            format!(
                "UPDATE conversations c SET first_reply_at = f.at
             FROM (SELECT conversation_id, MIN(created_at) AS at FROM messages
                   WHERE tenant_id = '{tenant}' AND direction = 'outbound' GROUP BY 1) f
             WHERE c.tenant_id = '{tenant}' AND c.id = f.conversation_id"
            ),
        ),
    ];
    for (what, sql) in steps {
        eprintln!("seeding {what} ({:.0} s so far)", started.elapsed().as_secs_f64());
        txn.execute_unprepared(&sql).await.with_context(|| format!("seeding {what}"))?;
    }
    txn.commit().await?;
    Ok(())
}

/// The range of name keys a search reads.
fn key_range(search: &str) -> (String, String) {
    let from = crm_core::name_keys::normalize(search);
    let to = crm_core::name_keys::prefix_end(&from).unwrap_or_default();
    (from, to)
}

/// The name keys `crm_core::name_keys::keys` gives these names (words of letters and digits,
/// one space apart): the name from each word on, lower-cased, with its first word.
fn name_keys(tenant: &str) -> String {
    format!(
        "INSERT INTO customer_name_keys (tenant_id, customer_id, key, word)
         SELECT DISTINCT c.tenant_id, c.id, array_to_string(w.words[i:], ' '), w.words[i] FROM customers c
         CROSS JOIN LATERAL (SELECT string_to_array(lower(c.name), ' ') AS words) w
         CROSS JOIN LATERAL generate_series(1, cardinality(w.words)) i WHERE c.tenant_id = '{tenant}';"
    )
}

async fn seed_small(db: &DatabaseConnection, tenant: &str) -> Result<()> {
    let txn = db.begin().await?;
    txn.execute_unprepared(V7).await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO customers (tenant_id, id, name, created_at, updated_at, fields)
         SELECT '{tenant}', pg_temp.v7(now() - g * interval '1 hour', g), 'Customer ' || g, now(), now(), '{{}}'
         FROM generate_series(1, 100) g;
         {}
         INSERT INTO calls (tenant_id, id, direction, status, from_number, to_number, edge, started_at, ended_at)
         SELECT '{tenant}', pg_temp.v7(now() - g * interval '1 hour', g), 'inbound', 'missed', '+998901112233',
                '+998712000000', 'seed', now() - g * interval '1 hour', now() - g * interval '1 hour'
         FROM generate_series(1, 1000) g",
        name_keys(tenant)
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Runs `sql` (with `$n` placeholders) in a transaction scoped to `tenant`, as the app does.
async fn scoped(db: &DatabaseConnection, tenant: &str, queries: &[(&str, Vec<Sql>)]) -> Result<()> {
    let pg = DbBackend::Postgres;
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        pg,
        "SELECT set_config('app.tenant_id', $1, true)",
        [tenant.into()],
    ))
    .await?;
    for (sql, values) in queries {
        txn.query_all_raw(Statement::from_sql_and_values(pg, *sql, values.clone())).await?;
    }
    txn.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, admin_url, app_url] = args.as_slice() else {
        bail!("usage: crm-bench-cards <crm base URL> <admin database URL> <app database URL>");
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(LOAD.clients).build()?;
    let graphql = format!("{base}/graphql");
    let admin = Database::connect(admin_url.as_str()).await.context("admin database")?;

    // CARDS_REUSE=1 (set by e2e/bench/cards) measures a database seeded by an earlier run.
    let earlier = if std::env::var("CARDS_REUSE").is_ok_and(|v| v == "1") { seeded(&admin).await? } else { None };
    let (tenant, email) = match earlier {
        Some(found) => {
            eprintln!("reusing the seeded database");
            found
        }
        None => {
            let (token, tenant) = sign_up(&http, &graphql, 0).await?;
            let (user, email) = me(&http, &graphql, &token).await?;
            let seeding = Instant::now();
            seed_big(&admin, &tenant, &user).await?;
            for i in 1..=SMALL_TENANTS {
                let (_, small) = sign_up(&http, &graphql, i).await?;
                seed_small(&admin, &small).await?;
            }
            eprintln!("seeded in {:.0} s; VACUUM ANALYZE", seeding.elapsed().as_secs_f64());
            admin.execute_unprepared("VACUUM ANALYZE").await?;
            // Marks the seeding as complete, for a later run with CARDS_REUSE=1.
            let mark = "DO $$ BEGIN EXECUTE format('COMMENT ON DATABASE %I IS ''seeded''', current_database()); END $$";
            admin.execute_unprepared(mark).await?;
            (tenant, email)
        }
    };
    // A fresh token: seeding may have outlived the first one.
    let login = json!({ "query": "mutation($e: String!) { login(email: $e, password: \"benchmark password\") { accessToken } }",
        "variables": { "e": email } });
    let fresh: serde_json::Value = http.post(&graphql).json(&login).send().await?.json().await?;
    let token = fresh["data"]["login"]["accessToken"].as_str().context("login")?.to_owned();
    // CARDS_ONLY=<words> runs only the workloads whose label contains them.
    let only = std::env::var("CARDS_ONLY").unwrap_or_default();
    let wanted = move |label: &str| label.contains(only.as_str());

    let mut options = sea_orm::ConnectOptions::new(app_url.as_str());
    let pool = crm_bench::pool_size();
    // As the server's pool: a connection is checked as it comes back, and again only when idle.
    options.max_connections(pool).sqlx_logging(false).test_before_acquire_if_idle_for(Duration::from_secs(10));
    let app_db = Database::connect(options).await.context("app database")?;
    let tenant_id: uuid::Uuid = tenant.parse()?;
    let ids: Vec<uuid::Uuid> = app_db
        .transaction::<_, Vec<uuid::Uuid>, sea_orm::DbErr>(|txn| {
            let tenant = tenant.clone();
            Box::pin(async move {
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT set_config('app.tenant_id', $1, true)",
                    [tenant.into()],
                ))
                .await?;
                let rows = txn
                    .query_all_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT id FROM customers ORDER BY id DESC LIMIT 1000",
                    ))
                    .await?;
                rows.iter().map(|r| r.try_get("", "id")).collect()
            })
        })
        .await?;
    let ids = Arc::new(ids);

    let today = chrono::Utc::now().date_naive();
    let phone = |n: usize| format!("+99890{:07}", n * 97 % CUSTOMERS as usize + 1);
    let typed = |n: usize| {
        let digits = format!("{:07}", n * 97 % CUSTOMERS as usize + 1);
        format!("90 {} {} {}", &digits[..3], &digits[3..5], &digits[5..])
    };
    let names = ["Dilnoza Kar", "Aziz Rash", "Laylo Yus", "Sardor Erg", "Madina Hak"];
    let first_names = ["Dilnoza", "Aziz", "Laylo", "Sardor", "Madina"];

    let dashboard = |from: chrono::NaiveDate, to: chrono::NaiveDate| {
        json!({ "query": "query($f: NaiveDate, $t: NaiveDate) { dashboard(from: $f, to: $t) { calls { total answered answeredRate averageWaitSeconds averageTalkSeconds }
            agents { userId calls { total } } days { date calls { total answered missed } messagesIn messagesOut }
            missedNotCalledBack openConversations unreadConversations averageFirstResponseSeconds } }", "variables": { "f": from, "t": to } })
    };
    let calls = json!({ "query": "{ calls(first: 50, filter: { status: MISSED, direction: INBOUND }) { edges { node { id status fromNumber startedAt waitSeconds customerId } } pageInfo { hasNextPage endCursor } } }" });
    let search = "query($s: String) { customers(first: 20, search: $s) { edges { node { id name phones } } } }";
    let timeline = "query($id: ID!) { customer(id: $id) { timeline(first: 20) { edges { cursor node { __typename ... on Call { id status startedAt } ... on Message { id text createdAt } } } } } }";

    let over_http = |body: Arc<dyn Fn(usize) -> serde_json::Value + Send + Sync>| {
        let (http, url, token) = (http.clone(), graphql.clone(), token.clone());
        move |n: usize| {
            let (http, url, token, body) = (http.clone(), url.clone(), token.clone(), body(n));
            async move { post(&http, &url, &token, &body).await }
        }
    };
    let sql = |queries: Arc<Queries>| {
        let (db, tenant) = (app_db.clone(), tenant.clone());
        move |n: usize| {
            let (db, tenant, queries) = (db.clone(), tenant.clone(), queries(n));
            async move { scoped(&db, &tenant, &queries).await }
        }
    };
    let bounds = move |from: chrono::NaiveDate, to: chrono::NaiveDate| -> Vec<Sql> {
        // UTC days (the company's zone is UTC here), as the server groups them.
        let start = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let end = (to + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        vec![tenant_id.into(), start.into(), end.into()]
    };
    const CALL_GROUPS: &str = "SELECT date_trunc('day', started_at) AS day, direction, status, user_id, count(*),
        sum(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END),
        sum(CASE WHEN answered_at IS NOT NULL THEN extract(epoch FROM answered_at - started_at) ELSE 0 END),
        sum(CASE WHEN answered_at IS NOT NULL AND ended_at IS NOT NULL THEN extract(epoch FROM ended_at - answered_at) ELSE 0 END)
        FROM calls WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3 GROUP BY 1, 2, 3, 4";
    const MESSAGE_GROUPS: &str = "SELECT date_trunc('day', created_at), direction, count(*) FROM messages
        WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2";

    let mut rows: Vec<(Row, Row)> = Vec::new();
    // The same dashboard for everyone (served from the cache while nothing changes), then a
    // different 30-day window on every request (computed each time).
    type Range = fn(chrono::NaiveDate, usize) -> (chrono::NaiveDate, chrono::NaiveDate);
    let ranges: [(&str, Range); 3] = [
        ("dashboard, today", |today, _| (today, today)),
        ("dashboard, last 30 days", |today, _| (today - chrono::Duration::days(29), today)),
        ("dashboard, 30 days, a different window each request", |today, n| {
            let to = today - chrono::Duration::days(1 + (n % 300) as i64);
            (to - chrono::Duration::days(29), to)
        }),
    ];
    for (label, range) in ranges {
        if !wanted(label) {
            continue;
        }
        let api = quietly(
            &admin,
            label,
            LOAD,
            over_http(Arc::new(move |n| {
                let (from, to) = range(today, n);
                dashboard(from, to)
            })),
        )
        .await?;
        let base = quietly(
            &admin,
            label,
            LOAD,
            sql(Arc::new(move |n| {
                let (from, to) = range(today, n);
                let b = bounds(from, to);
                vec![(CALL_GROUPS, b.clone()), (MESSAGE_GROUPS, b)]
            })),
        )
        .await?;
        rows.push((api, base));
    }
    if wanted("calls(first: 50), missed inbound") {
        let body = calls.clone();
        let api = quietly(&admin, "calls(first: 50), missed inbound", LOAD, over_http(Arc::new(move |_| body.clone())))
            .await?;
        let base = quietly(&admin, "calls SQL", LOAD, sql(Arc::new(move |_| vec![(
            "SELECT * FROM calls WHERE tenant_id = $1 AND status = 'missed' AND direction = 'inbound' ORDER BY id DESC LIMIT 51",
            vec![tenant_id.into()],
        )]))).await?;
        rows.push((api, base));
    }
    if wanted("customers(search: a phone as typed)") {
        let api = quietly(
            &admin,
            "customers(search: a phone as typed)",
            LOAD,
            over_http(Arc::new(move |n| json!({ "query": search, "variables": { "s": typed(n) } }))),
        )
        .await?;
        let base = quietly(&admin,
            "phone SQL",
            LOAD,
            sql(Arc::new(move |n| {
                vec![(
                    "SELECT c.* FROM customers c WHERE c.tenant_id = $1 AND c.id IN
               (SELECT customer_id FROM customer_phones WHERE tenant_id = $1 AND e164 = $2) ORDER BY c.id DESC LIMIT 21",
                    vec![tenant_id.into(), phone(n).into()],
                )]
            })),
        )
        .await?;
        rows.push((api, base));
    }
    // A search that found nothing would measure nothing: each finds a whole page first.
    for term in names.iter().chain(&first_names) {
        let body = json!({ "query": search, "variables": { "s": term } });
        let found: serde_json::Value = http.post(&graphql).bearer_auth(&token).json(&body).send().await?.json().await?;
        let count = found["data"]["customers"]["edges"].as_array().map_or(0, Vec::len);
        if count != 20 {
            bail!("searching {term:?} found {count} customers, not a page of 20: {found}");
        }
    }
    if wanted("customers(search: a name's beginning)") {
        let api = quietly(
            &admin,
            "customers(search: a name's beginning)",
            LOAD,
            over_http(Arc::new(move |n| json!({ "query": search, "variables": { "s": names[n % names.len()] } }))),
        )
        .await?;
        let base = quietly(
            &admin,
            "name SQL",
            LOAD,
            sql(Arc::new(move |n| {
                let (from, to) = key_range(names[n % names.len()]);
                vec![(
                    // A first name and a surname's beginning match 1 in 400 customers: too few among
                    // the newest thousand, so the server reads the page's ids from the name keys.
                    "SELECT * FROM customers WHERE tenant_id = $1 AND id IN (SELECT customer_id FROM (
                       SELECT customer_id FROM customer_name_keys WHERE tenant_id = $1 AND key >= $2 AND key < $3
                       UNION SELECT customer_id FROM customer_emails WHERE tenant_id = $1 AND email = $2
                       UNION SELECT customer_id FROM customer_identities WHERE tenant_id = $1 AND lower(username) = $2
                     ) found ORDER BY customer_id DESC LIMIT 21) ORDER BY id DESC LIMIT 21",
                    vec![tenant_id.into(), from.into(), to.into()],
                )]
            })),
        )
        .await?;
        rows.push((api, base));
    }
    if wanted("customers(search: a first name)") {
        let api = quietly(
            &admin,
            "customers(search: a first name)",
            LOAD,
            over_http(Arc::new(
                move |n| json!({ "query": search, "variables": { "s": first_names[n % first_names.len()] } }),
            )),
        )
        .await?;
        let base = quietly(
            &admin,
            "first name SQL",
            LOAD,
            sql(Arc::new(move |n| {
                let (from, to) = key_range(first_names[n % first_names.len()]);
                vec![(
                    // A first name matches 1 in 20: the server finds a page among the newest thousand,
                    // by the word's index.
                    "WITH floor AS (SELECT id FROM customers WHERE tenant_id = $1 ORDER BY id DESC OFFSET 999 LIMIT 1)
                     SELECT * FROM customers WHERE tenant_id = $1 AND id >= (SELECT id FROM floor) AND id IN (
                       SELECT customer_id FROM (
                         SELECT customer_id FROM customer_name_keys WHERE tenant_id = $1 AND word = $2
                           AND customer_id >= (SELECT id FROM floor)
                         UNION SELECT customer_id FROM customer_name_keys WHERE tenant_id = $1 AND word > $2
                           AND word < $3 AND customer_id >= (SELECT id FROM floor)
                         UNION SELECT customer_id FROM customer_emails WHERE tenant_id = $1 AND email = $2
                           AND customer_id >= (SELECT id FROM floor)
                         UNION SELECT customer_id FROM customer_identities WHERE tenant_id = $1 AND lower(username) = $2
                           AND customer_id >= (SELECT id FROM floor)
                       ) found ORDER BY customer_id DESC LIMIT 21)
                     ORDER BY id DESC LIMIT 21",
                    vec![tenant_id.into(), from.into(), to.into()],
                )]
            })),
        )
        .await?;
        rows.push((api, base));
    }
    if wanted("customer.timeline(first: 20)") {
        let for_api = ids.clone();
        let api = quietly(
            &admin,
            "customer.timeline(first: 20)",
            LOAD,
            over_http(Arc::new(
                move |n| json!({ "query": timeline, "variables": { "id": for_api[n % for_api.len()].to_string() } }),
            )),
        )
        .await?;
        let base = quietly(&admin, "timeline SQL", LOAD, sql(Arc::new(move |n| {
            let values = vec![tenant_id.into(), ids[n % ids.len()].into()];
            vec![
                ("SELECT * FROM calls WHERE tenant_id = $1 AND customer_id = $2 ORDER BY started_at DESC, id DESC LIMIT 21", values.clone()),
                ("SELECT m.* FROM messages m WHERE m.tenant_id = $1 AND m.conversation_id IN
                    (SELECT id FROM conversations WHERE tenant_id = $1 AND customer_id = $2)
                  ORDER BY m.created_at DESC, m.id DESC LIMIT 21", values.clone()),
                ("SELECT * FROM notes WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC LIMIT 21", values.clone()),
                ("SELECT * FROM tasks WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC LIMIT 21", values),
            ]
        }))).await?;
        rows.push((api, base));
    }

    println!(
        "| workload ({} clients, {} s each) | over HTTP: req/s, p50 / p99 ms | its SQL alone: req/s, p50 / p99 ms | p99 ratio | errors | CPU µs per request over HTTP: server / Postgres / clients | its SQL alone: Postgres / clients |",
        LOAD.clients,
        LOAD.run.as_secs()
    );
    println!("|---|---|---|---:|---:|---|---|");
    for (api, base) in rows {
        println!(
            "| {} | {:.0}, {:.1} / {:.1} | {:.0}, {:.1} / {:.1} | {:.1} | {} | {:.0} / {:.0} / {:.0} | {:.0} / {:.0} |",
            api.name,
            api.throughput,
            api.p50_ms,
            api.p99_ms,
            base.throughput,
            base.p50_ms,
            base.p99_ms,
            api.p99_ms / base.p99_ms.max(0.001),
            api.errors + base.errors,
            api.cpu.server,
            api.cpu.postgres,
            api.cpu.client,
            base.cpu.postgres,
            base.cpu.client,
        );
    }
    Ok(())
}

/// Measures once no query of an earlier workload still runs: a client that stops waiting
/// does not stop Postgres, and a query left running would slow the next workload down.
async fn quietly<F, Fut>(admin: &DatabaseConnection, name: &str, load: Load, op: F) -> Result<Row>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let busy = admin
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity WHERE usename = 'crm_app' AND state = 'active'",
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if busy == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{busy} queries of an earlier workload still run after 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    measure(name, load, op).await
}

/// The big company and its owner's e-mail, if an earlier run seeded this database.
async fn seeded(admin: &DatabaseConnection) -> Result<Option<(String, String)>> {
    let row = admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT t.id::text AS tenant, a.email FROM tenants t JOIN memberships m ON m.tenant_id = t.id
             JOIN accounts a ON a.id = m.user_id WHERE t.name = 'Bench 0'
             AND shobj_description((SELECT oid FROM pg_database WHERE datname = current_database()), 'pg_database') = 'seeded'",
        ))
        .await?;
    Ok(match row {
        Some(row) => Some((row.try_get("", "tenant")?, row.try_get("", "email")?)),
        None => None,
    })
}

/// The signed-in person's id and e-mail.
async fn me(http: &reqwest::Client, url: &str, token: &str) -> Result<(String, String)> {
    let me: serde_json::Value = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { user { id email } } }" }))
        .send()
        .await?
        .json()
        .await?;
    let user = &me["data"]["me"]["user"];
    Ok((user["id"].as_str().context("me")?.to_owned(), user["email"].as_str().context("me")?.to_owned()))
}
