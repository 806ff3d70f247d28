//! Inbox throughput on Postgres: webhook ingest (accepted updates per second and the time to
//! acknowledge each) beside a baseline of the same rows inserted straight into Postgres, and
//! the outbox draining replies to a local platform server beside a baseline of the same sends
//! posted straight to that server. Prints a Markdown table.
//!
//! Usage: crm-bench-inbox <crm base URL> <admin database URL> <platform address to listen on>
//! (e2e/bench/inbox sets everything up and calls this.)
use anyhow::{Context, Result, bail};
use axum::routing::post;
use futures::StreamExt;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const UPDATES: usize = 20_000;
const CHATS: usize = 5_000;
const INGEST_CLIENTS: usize = 64;
/// The target rate, offered at a steady pace (as platforms deliver a busy day).
const PACED_RATE: f64 = 2_000.0;
const REPLIES: usize = 5_000;
const SEND_CLIENTS: usize = 16;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, admin_url, platform_addr] = args.as_slice() else {
        bail!("usage: crm-bench-inbox <crm base URL> <admin database URL> <platform address>");
    };
    let sent = Arc::new(AtomicU64::new(0));
    let platform = start_platform(platform_addr, sent.clone()).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(INGEST_CLIENTS).build()?;
    let admin = Database::connect(admin_url.as_str()).await.context("admin database")?;

    let graphql = format!("{base}/graphql");
    let signed = gql(&http, &graphql, None, "mutation { signUp(input: { company: \"Bench\", name: \"Ann\", email: \"ann@bench.test\", password: \"a long bench password\", defaultCountry: \"UZ\" }) { accessToken } }").await?;
    let token = signed["signUp"]["accessToken"].as_str().context("sign-up")?.to_owned();
    let channel = gql(
        &http,
        &graphql,
        Some(&token),
        "mutation { connectTelegram(name: \"Bench\", botToken: \"123:bench\") { id webhookPath } }",
    )
    .await?;
    let path = channel["connectTelegram"]["webhookPath"].as_str().context("connect")?.to_owned();
    let secret = platform.secret.lock().unwrap_or_else(|e| e.into_inner()).clone().context("setWebhook")?;

    // Baseline: the same payloads inserted straight into Postgres, one statement each.
    admin.execute_unprepared("CREATE TABLE bench_ingest (key TEXT PRIMARY KEY, payload TEXT NOT NULL)").await?;
    let baseline = run(UPDATES, INGEST_CLIENTS, |n| {
        let admin = admin.clone();
        async move {
            let sql = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO bench_ingest (key, payload) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [n.to_string().into(), update(n).to_string().into()],
            );
            admin.execute_raw(sql).await.map(drop).map_err(Into::into)
        }
    })
    .await?;
    let baseline_paced = paced(UPDATES, PACED_RATE, |n| {
        let admin = admin.clone();
        async move {
            let sql = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO bench_ingest (key, payload) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [(UPDATES + n).to_string().into(), update(UPDATES + n).to_string().into()],
            );
            admin.execute_raw(sql).await.map(drop).map_err(Into::into)
        }
    })
    .await?;
    let url = format!("{base}{path}");
    let deliver = |n: usize| {
        let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
        async move {
            let response = http
                .post(&url)
                .header("x-telegram-bot-api-secret-token", secret)
                .header("content-type", "application/json")
                .body(update(n).to_string())
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("webhook answered {}", response.status());
            }
            Ok(())
        }
    };
    let started = Instant::now();
    let ingest = run(UPDATES, INGEST_CLIENTS, deliver).await?;
    // Then the target rate, steadily, while the burst above is still being filed.
    let ingest_paced = paced(UPDATES, PACED_RATE, |n| deliver(UPDATES + n)).await?;
    let filed = wait_count(&admin, "SELECT count(*) AS n FROM messages", 2 * UPDATES as i64).await?;
    let filing_rate = 2.0 * UPDATES as f64 / (filed - started).as_secs_f64();

    // Outbox: replies queued in one go (as sendMessage queues them), drained to the platform.
    let send_baseline = run(REPLIES, SEND_CLIENTS, |n| {
        let (http, url) = (http.clone(), format!("http://{platform_addr}/bot123:bench/sendMessage"));
        async move {
            http.post(url).json(&json!({ "chat_id": (1000 + n % CHATS).to_string(), "text": "hi" })).send().await?;
            Ok(())
        }
    })
    .await?;
    sent.store(0, Ordering::SeqCst);
    let queued = Instant::now();
    admin
        .execute_unprepared(&format!(
            "WITH picked AS (
                SELECT c.tenant_id, c.id AS conversation_id, c.connection_id, c.assignee_id, g.n
                FROM conversations c CROSS JOIN generate_series(1, {per}) AS g(n)
             ), inserted AS (
                INSERT INTO messages (tenant_id, id, conversation_id, connection_id, direction, text, attachments,
                                      external_id, sender_user_id, status, error, fetch_pending, created_at)
                SELECT tenant_id, gen_random_uuid(), conversation_id, connection_id, 'outbound', 'reply ' || n, '[]',
                       NULL, assignee_id, 'queued', NULL, false, now() FROM picked
                RETURNING tenant_id, id, conversation_id
             )
             INSERT INTO outbox (tenant_id, message_id, conversation_id, attempts, next_attempt_at)
             SELECT tenant_id, id, conversation_id, 0, now() FROM inserted",
            per = REPLIES / CHATS
        ))
        .await?;
    while (sent.load(Ordering::SeqCst) as usize) < REPLIES {
        if queued.elapsed() > Duration::from_secs(300) {
            bail!("the outbox sent only {} of {REPLIES} in 5 minutes", sent.load(Ordering::SeqCst));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_rate = REPLIES as f64 / queued.elapsed().as_secs_f64();

    println!("| measure | through the CRM | baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| webhook ingest, accepted updates/s ({INGEST_CLIENTS} clients) | {:.0} | {:.0} (INSERT straight to Postgres) | {:.2} |",
        ingest.rate,
        baseline.rate,
        ingest.rate / baseline.rate
    );
    println!(
        "| ingest p50 / p99 acknowledgement, ms | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} (p99) |",
        ingest.p50,
        ingest.p99,
        baseline.p50,
        baseline.p99,
        ingest.p99 / baseline.p99
    );
    println!(
        "| ingest at a steady {PACED_RATE:.0}/s: achieved/s, p50 / p99 ms | {:.0}, {:.1} / {:.1} | {:.0}, {:.1} / {:.1} | {:.2} (p99) |",
        ingest_paced.rate,
        ingest_paced.p50,
        ingest_paced.p99,
        baseline_paced.rate,
        baseline_paced.p50,
        baseline_paced.p99,
        ingest_paced.p99 / baseline_paced.p99
    );
    println!("| filed into conversations, messages/s (end to end) | {filing_rate:.0} | | |");
    println!(
        "| outbox drained, sends/s | {drain_rate:.0} | {:.0} (posted straight to the platform, {SEND_CLIENTS} clients) | {:.2} |",
        send_baseline.rate,
        drain_rate / send_baseline.rate
    );
    Ok(())
}

/// A private message from one of `CHATS` customers.
fn update(n: usize) -> Value {
    let chat = 1000 + n % CHATS;
    json!({ "update_id": n, "message": { "message_id": n, "date": 1441645532, "text": format!("message {n}"),
        "chat": { "id": chat, "type": "private", "first_name": format!("Customer {chat}") },
        "from": { "id": chat, "is_bot": false, "first_name": format!("Customer {chat}") } } })
}

struct Measured {
    rate: f64,
    p50: f64,
    p99: f64,
}

impl Measured {
    fn of(latencies: &mut [f64], elapsed: Duration) -> Self {
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        Self { rate: latencies.len() as f64 / elapsed.as_secs_f64(), p50: at(0.50), p99: at(0.99) }
    }
}

/// Runs `op(0..count)` with `clients` at a time; throughput and latency percentiles (ms).
async fn run<F, Fut>(count: usize, clients: usize, op: F) -> Result<Measured>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let started = Instant::now();
    let mut latencies: Vec<f64> = futures::stream::iter(0..count)
        .map(|n| {
            let call = op(n);
            async move {
                let at = Instant::now();
                call.await.map(|()| at.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(clients)
        .collect::<Vec<Result<f64>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    Ok(Measured::of(&mut latencies, started.elapsed()))
}

/// Starts `op(n)` at `start + n / per_second` whatever the earlier ones are doing (an open
/// loop); each latency counts from its scheduled start, so falling behind shows as latency.
async fn paced<F, Fut>(count: usize, per_second: f64, op: F) -> Result<Measured>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let start = tokio::time::Instant::now();
    let mut latencies: Vec<f64> = futures::stream::iter(0..count)
        .map(|n| {
            let at = start + Duration::from_secs_f64(n as f64 / per_second);
            let call = op(n);
            async move {
                tokio::time::sleep_until(at).await;
                call.await.map(|()| at.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(4096)
        .collect::<Vec<Result<f64>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    Ok(Measured::of(&mut latencies, start.elapsed()))
}

async fn wait_count(db: &DatabaseConnection, sql: &str, want: i64) -> Result<Instant> {
    let started = Instant::now();
    loop {
        let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await?.context("count")?;
        if row.try_get::<i64>("", "n")? >= want {
            return Ok(Instant::now());
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {} of {want} filed in 10 minutes", row.try_get::<i64>("", "n")?);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn gql(http: &reqwest::Client, url: &str, token: Option<&str>, query: &str) -> Result<Value> {
    let mut request = http.post(url).json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request.send().await?.json().await?;
    if body["errors"].is_array() {
        bail!("{}", body["errors"]);
    }
    Ok(body["data"].clone())
}

struct Platform {
    secret: std::sync::Mutex<Option<String>>,
}

/// The Bot API methods the server calls, answered at once; sends are counted.
async fn start_platform(addr: &str, sent: Arc<AtomicU64>) -> Result<Arc<Platform>> {
    let platform = Arc::new(Platform { secret: std::sync::Mutex::default() });
    let p = platform.clone();
    let app = axum::Router::new().route(
        "/{bot}/{method}",
        post(
            move |axum::extract::Path((_, method)): axum::extract::Path<(String, String)>, body: axum::Json<Value>| {
                let (p, sent) = (p.clone(), sent.clone());
                async move {
                    let result = match method.as_str() {
                        "getMe" => json!({ "id": 42, "is_bot": true, "first_name": "Bench", "username": "bench_bot" }),
                        "setWebhook" => {
                            *p.secret.lock().unwrap_or_else(|e| e.into_inner()) =
                                body["secret_token"].as_str().map(str::to_owned);
                            json!(true)
                        }
                        "sendMessage" => {
                            let n = sent.fetch_add(1, Ordering::SeqCst);
                            json!({ "message_id": n, "date": 0, "chat": { "id": 1, "type": "private" } })
                        }
                        _ => json!(true),
                    };
                    axum::Json(json!({ "ok": true, "result": result }))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listen on {addr}"))?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(platform)
}
