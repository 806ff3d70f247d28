//! `customers(first: 50)` and `me` over HTTP against a running `crm serve`, beside a baseline:
//! the same listing SQL issued straight to Postgres. Prints a Markdown table.
//!
//! Usage: crm-bench <crm base URL> <admin database URL of that server's database>
//! (e2e/bench/customers sets everything up and calls this.)
use anyhow::{Context, Result, bail};
use crm_bench::{Load, measure, post, sign_up};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use std::time::Duration;

const TENANTS: usize = 10;
const CUSTOMERS_PER_TENANT: usize = 10_000;
const CLIENTS: usize = 50;
const RUN: Duration = Duration::from_secs(15);
const LOAD: Load = Load { clients: CLIENTS, warmup: Duration::from_secs(3), run: RUN };

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, admin_url, app_url] = args.as_slice() else {
        bail!("usage: crm-bench <crm base URL> <admin database URL> <app database URL>");
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let graphql = format!("{base}/graphql");
    let admin = Database::connect(admin_url.as_str()).await.context("admin database")?;

    eprintln!("seeding {TENANTS} tenants x {CUSTOMERS_PER_TENANT} customers");
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        let (token, tenant) = sign_up(&http, &graphql, i).await?;
        seed_customers(&admin, &tenant).await?;
        tenants.push((token, tenant));
    }
    // As autovacuum would have by now: statistics, and visibility maps for index-only scans.
    admin.execute_unprepared("VACUUM ANALYZE").await?;

    let list = json!({ "query": "{ customers(first: 50) { totalCount edges { cursor node { id name phones responsibleUserId createdAt } } pageInfo { hasNextPage endCursor } } }" });
    let me = json!({ "query": "{ me { user { id email name role } company { id name } } }" });
    // The same pool size as the server's (`crm_bench::pool_size`).
    let mut options = sea_orm::ConnectOptions::new(app_url.as_str());
    let pool = crm_bench::pool_size();
    options.max_connections(pool).sqlx_logging(false);
    let app_db = Database::connect(options).await.context("app database")?;

    let tenants = std::sync::Arc::new(tenants);
    let mut rows = Vec::new();
    let t = tenants.clone();
    let baseline = measure("baseline: listing SQL straight to Postgres", LOAD, move |n| {
        let (db, tenant) = (app_db.clone(), t[n % TENANTS].1.clone());
        async move { list_sql(&db, &tenant).await }
    })
    .await?;
    let over_http = |body: Value| {
        let (http, url, tenants) = (http.clone(), graphql.clone(), tenants.clone());
        move |n: usize| {
            let (http, url, token, body) = (http.clone(), url.clone(), tenants[n % TENANTS].0.clone(), body.clone());
            async move { post(&http, &url, &token, &body).await }
        }
    };
    let customers = measure("customers(first: 50) over HTTP", LOAD, over_http(list)).await?;
    let me_row = measure("me over HTTP", LOAD, over_http(me)).await?;
    rows.push((baseline.clone(), 1.0));
    rows.push((customers.clone(), customers.throughput / baseline.throughput));
    rows.push((me_row.clone(), me_row.throughput / baseline.throughput));

    println!(
        "| workload ({CLIENTS} concurrent clients, {}s each) | requests/s | p50 ms | p99 ms | errors | throughput vs baseline |",
        RUN.as_secs()
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (r, ratio) in rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.2} |",
            r.name, r.throughput, r.p50_ms, r.p99_ms, r.errors, ratio
        );
    }
    Ok(())
}

async fn seed_customers(db: &DatabaseConnection, tenant: &str) -> Result<()> {
    let sql = format!(
        "WITH ids AS (
             SELECT g, uuid_generate_v7_fallback(g) AS id FROM generate_series(1, {CUSTOMERS_PER_TENANT}) g
         ), c AS (
             INSERT INTO customers (tenant_id, id, name, created_at, updated_at)
             SELECT '{tenant}'::uuid, id, 'Customer ' || g, now(), now() FROM ids RETURNING id
         )
         INSERT INTO customer_phones (tenant_id, customer_id, position, e164)
         SELECT '{tenant}'::uuid, id, 0, '+99890' || lpad((random() * 9999999)::int::text, 7, '0') FROM c"
    );
    let txn = db.begin().await?;
    txn.execute_unprepared(
        "CREATE OR REPLACE FUNCTION pg_temp.uuid_generate_v7_fallback(n int) RETURNS uuid LANGUAGE sql AS
         $$ SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
                    || '7' || substr(md5(random()::text || n), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid $$",
    )
    .await?;
    txn.execute_unprepared(&sql.replace("uuid_generate_v7_fallback", "pg_temp.uuid_generate_v7_fallback")).await?;
    txn.commit().await?;
    Ok(())
}

/// What the server runs for the listing itself (its authentication queries not included).
async fn list_sql(db: &DatabaseConnection, tenant: &str) -> Result<()> {
    let pg = DbBackend::Postgres;
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        pg,
        "SELECT set_config('app.tenant_id', $1, true)",
        [tenant.into()],
    ))
    .await?;
    let tenant_id: uuid::Uuid = tenant.parse()?;
    txn.query_one_raw(Statement::from_sql_and_values(
        pg,
        "SELECT count(*) FROM customers WHERE tenant_id = $1",
        [tenant_id.into()],
    ))
    .await?;
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            pg,
            "SELECT tenant_id, id, name, responsible_user_id, created_at, updated_at FROM customers WHERE tenant_id = $1 ORDER BY id DESC LIMIT 51",
            [tenant_id.into()],
        ))
        .await?;
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.try_get("", "id")).collect::<Result<_, _>>()?;
    let placeholders: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
    let mut values: Vec<sea_orm::Value> = vec![tenant_id.into()];
    values.extend(ids.into_iter().map(Into::into));
    txn.query_all_raw(Statement::from_sql_and_values(
        pg,
        format!(
            "SELECT tenant_id, customer_id, position, e164 FROM customer_phones WHERE tenant_id = $1 AND customer_id IN ({}) ORDER BY position",
            placeholders.join(", ")
        ),
        values,
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}
