//! Several nodes on one machine: three `crm serve` API nodes behind nginx, one SIP edge and two
//! ARI workers, sharing Postgres, Redis and (when given) the S3 server. Subscribers connect
//! through nginx and so spread over the API nodes; messages arrive as Telegram webhooks through
//! nginx and calls through the SIP edge, so every event is made on another node than most of
//! its subscribers. In the middle of the load one API node is killed with SIGKILL.
//!
//! Fails (exit 1) when an acknowledged webhook or mutation is missing afterwards, when a
//! subscriber whose node stayed up missed an event, or when a subscriber of the killed node did
//! not reconnect and get the message sent after the load. Prints the delivery latency and the rates it ran at.
//!
//! Usage: crm-bench-cluster CRM_BINARY ADMIN_DB_URL APP_DB_URL REDIS_URL [S3_ENDPOINT]
//! Settings: CLUSTER_SUBSCRIBERS (200), CLUSTER_RATE (events/s, 200), CLUSTER_SECONDS (10).
use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const SECRET_KEY: &str = "cluster-test-secret-key-0123456789-abcdefghij";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A child process killed when dropped.
struct Node {
    name: String,
    child: Child,
    http: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `crm serve` with `settings`; returns once it says where it listens. Its log goes to
/// `logs/<name>.log`.
fn start_node(crm: &Path, logs: &Path, name: &str, settings: &[(&str, String)]) -> Result<Node> {
    let mut command = Command::new(crm);
    command
        .arg("serve")
        .env("CRM_HTTP_ADDR", "127.0.0.1:0")
        .env("CRM_SECRET_KEY", SECRET_KEY)
        .env("CRM_LOG_FORMAT", "json")
        .env("CRM_LOG_LEVEL", "info")
        .env("CRM_EDGE_ID", name)
        .env("CRM_DATA_DIR", logs.join(format!("{name}-data")))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in settings {
        command.env(key, value);
    }
    let mut child = command.spawn().context("crm starts")?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut log = std::fs::File::create(logs.join(format!("{name}.log")))?;
    let http = loop {
        let line = lines.next().context("crm exited before listening (see its log)")??;
        writeln!(log, "{line}")?;
        let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
        if entry["message"] == "listening" {
            break entry["addr"].as_str().context("addr")?.to_owned();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
        }
    });
    Ok(Node { name: name.to_owned(), child, http })
}

/// nginx in front of the API nodes: round robin, WebSockets upgraded, a dead node skipped.
fn start_nginx(dir: &Path, port: u16, api: &[&Node]) -> Result<Child> {
    let upstreams: String =
        api.iter().map(|n| format!("    server {} max_fails=1 fail_timeout=30s;\n", n.http)).collect();
    let conf = format!(
        "daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
           fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
           map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
           upstream api {{\n{upstreams}    keepalive 64;\n  }}\n\
           server {{\n    listen 127.0.0.1:{port};\n\
             proxy_next_upstream error timeout http_502;\n    proxy_connect_timeout 1s;\n\
             location = /graphql/ws {{ proxy_pass http://api; proxy_http_version 1.1;\n\
               proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;\n\
               proxy_read_timeout 1h; }}\n\
             location / {{ proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n\
           }}\n}}\n",
        dir = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    Command::new("nginx")
        .args(["-p", &dir.display().to_string(), "-c", &path.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("nginx runs (apt install nginx-light)")
}

/// Stops nginx as its documentation says (SIGTERM to the master), so no worker is left behind.
fn stop_nginx(nginx: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &nginx.id().to_string()]).status();
    let _ = nginx.wait();
}

/// Telegram's Bot API, as much as connecting a bot needs; keeps setWebhook's body.
async fn telegram() -> Result<(String, Arc<Mutex<Option<Value>>>)> {
    use axum::routing::post;
    let hook = Arc::new(Mutex::new(None));
    let kept = hook.clone();
    let app = axum::Router::new().route(
        "/{bot}/{method}",
        post(move |axum::extract::Path((_, method)): axum::extract::Path<(String, String)>, body: String| {
            let kept = kept.clone();
            async move {
                let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| {
                    // setWebhook may come as a form; keep its fields.
                    json!(
                        body.split('&')
                            .filter_map(|kv| kv.split_once('='))
                            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                            .collect::<serde_json::Map<_, _>>()
                    )
                });
                let result = match method.as_str() {
                    "getMe" => json!({ "id": 42, "is_bot": true, "first_name": "Cluster", "username": "cluster_bot" }),
                    "setWebhook" => {
                        *kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
                        json!(true)
                    }
                    _ => json!(true),
                };
                axum::Json(json!({ "ok": true, "result": result }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, hook))
}

async fn graphql(http: &reqwest::Client, url: &str, token: Option<&str>, query: &str, vars: Value) -> Result<Value> {
    let mut request = http.post(url).json(&json!({ "query": query, "variables": vars }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request.send().await?.json().await?;
    if body.get("errors").is_some() {
        bail!("GraphQL errors: {body}");
    }
    Ok(body["data"].clone())
}

/// What one subscriber saw: when each message (by its sequence number) and call event arrived.
#[derive(Default)]
struct Seen {
    messages: HashMap<u64, Instant>,
    calls: HashSet<String>,
    connections: usize,
}

/// How many calls some subscriber saw end, and the fewest ends a subscriber that never lost its
/// connection saw.
fn call_ends(seen: &[Arc<Mutex<Seen>>]) -> (usize, usize) {
    let ends = |s: &Seen| s.calls.iter().filter(|c| c.ends_with(":MISSED")).cloned().collect::<HashSet<_>>();
    let locked: Vec<_> = seen.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner())).collect();
    let all: HashSet<String> = locked.iter().flat_map(|s| ends(s)).collect();
    let unbroken = locked.iter().filter(|s| s.connections == 1).map(|s| ends(s).len()).min().unwrap_or(0);
    (all.len(), unbroken)
}

/// A subscriber that reconnects (through nginx, so to a live node) whenever its socket ends.
fn subscriber(url: String, token: String, seen: Arc<Mutex<Seen>>, ready: Arc<AtomicUsize>, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            // Whatever ended the socket (its node died), connect again through nginx.
            let _ = subscribe_once(&url, &token, &seen, &ready).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

async fn subscribe_once(url: &str, token: &str, seen: &Mutex<Seen>, ready: &AtomicUsize) -> Result<()> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    // tungstenite zeroes its whole read buffer (128 KiB by default) on every read: the 200
    // clients share the cores with the servers, so they read with a smaller one.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8192);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), false).await?;
    let init = json!({ "type": "connection_init", "payload": { "token": token } });
    socket.send(Message::text(init.to_string())).await?;
    let mut acked = false;
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message? else { continue };
        let now = Instant::now();
        let value: Value = serde_json::from_str(&text)?;
        match value["type"].as_str() {
            Some("connection_ack") => {
                for (id, query) in [
                    ("m", "subscription { inboxEvents { message { text } } }"),
                    ("c", "subscription { callEvents { id status } }"),
                ] {
                    let start = json!({ "id": id, "type": "subscribe", "payload": { "query": query } });
                    socket.send(Message::text(start.to_string())).await?;
                }
                acked = true;
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                seen.connections += 1;
                if seen.connections == 1 {
                    ready.fetch_add(1, Ordering::SeqCst);
                }
            }
            Some("ping") => socket.send(Message::text(json!({ "type": "pong" }).to_string())).await?,
            Some("next") => {
                let data = &value["payload"]["data"];
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(seq) = data["inboxEvents"]["message"]["text"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("m-"))
                    .and_then(|s| s.parse().ok())
                {
                    seen.messages.entry(seq).or_insert(now);
                }
                if let (Some(id), Some(status)) =
                    (data["callEvents"]["id"].as_str(), data["callEvents"]["status"].as_str())
                {
                    seen.calls.insert(format!("{id}:{status}"));
                }
            }
            _ => {}
        }
    }
    if !acked {
        bail!("closed before the ack");
    }
    bail!("the socket ended")
}

/// One sipp call from the trunk's address to the company's number, unanswered (no phones).
fn sipp_call(edge: &str, dir: &Path) -> Child {
    let scenario = dir.join("call.xml");
    let _ = std::fs::write(&scenario, UNANSWERED_CALL);
    Command::new("sipp")
        .args([edge, "-sf", &scenario.display().to_string(), "-s", "+998712000000", "-i", "127.0.0.2", "-p", "0"])
        .args(["-m", "1", "-timeout", "20s", "-nostdin"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs (apt install sip-tester)")
}

/// Kerio's trunk places a call that nobody answers (the edge refuses it with 480).
const UNANSWERED_CALL: &str = include_str!("../../../../e2e/sipp/unanswered-call.xml");

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        bail!("usage: crm-bench-cluster CRM_BINARY ADMIN_DB_URL APP_DB_URL REDIS_URL [S3_ENDPOINT]");
    }
    let (crm, admin_db, app_db, redis) = (PathBuf::from(&args[1]), &args[2], &args[3], &args[4]);
    let s3 = args.get(5);
    let subscribers = setting("CLUSTER_SUBSCRIBERS", 200);
    let rate = setting("CLUSTER_RATE", 200);
    let seconds = setting("CLUSTER_SECONDS", 10);
    let dir = std::env::temp_dir().join(format!("crm-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    eprintln!("logs and nginx in {}", dir.display());

    let (telegram_url, hook) = telegram().await?;
    let lb_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let lb = format!("127.0.0.1:{lb_port}");
    let sip_port = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut shared = vec![
        ("CRM_DATABASE_URL", app_db.clone()),
        ("CRM_DATABASE_ADMIN_URL", admin_db.clone()),
        ("CRM_DATABASE_MAX_CONNECTIONS", "5".to_owned()),
        ("CRM_REDIS_URL", redis.clone()),
        ("CRM_TELEGRAM_API_URL", telegram_url),
        ("CRM_PUBLIC_URL", format!("http://{lb}")),
    ];
    if let Some(endpoint) = s3 {
        shared.extend([
            ("CRM_S3_ENDPOINT", endpoint.clone()),
            ("CRM_S3_BUCKET", format!("crm-cluster-{}", std::process::id())),
            ("CRM_S3_ACCESS_KEY_ID", "test".to_owned()),
            ("CRM_S3_SECRET_ACCESS_KEY", "test".to_owned()),
        ]);
    }
    let with = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        shared.iter().cloned().chain(extra.iter().cloned()).collect()
    };
    let off = [("CRM_SIP_ADDR", "off".to_owned())];
    // The first node migrates the database; the others find it done.
    let mut api = vec![start_node(&crm, &dir, "api-1", &with(&off))?];
    for name in ["api-2", "api-3"] {
        api.push(start_node(&crm, &dir, name, &with(&off))?);
    }
    let edge = start_node(
        &crm,
        &dir,
        "sip-edge",
        &with(&[
            ("CRM_SIP_ADDR", format!("127.0.0.1:{sip_port}")),
            ("CRM_SIP_RTP_PORTS", "42000-42998".to_owned()),
            ("CRM_SIP_RING_TIMEOUT_SECS", "1".to_owned()),
        ]),
    )?;
    let workers = ["worker-1", "worker-2"]
        .iter()
        .map(|name| start_node(&crm, &dir, name, &with(&[off[0].clone(), ("CRM_ASTERISK_WORKER", "true".to_owned())])))
        .collect::<Result<Vec<_>>>()?;
    let mut nginx = start_nginx(&dir, lb_port, &api.iter().collect::<Vec<_>>())?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let gql = format!("http://{lb}/graphql");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(format!("http://{lb}/readyz")).send().await.map(|r| !r.status().is_success()).unwrap_or(true) {
        if Instant::now() > deadline {
            bail!("nginx did not reach the API nodes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "nodes: {} API ({}), SIP edge {} (SIP 127.0.0.1:{sip_port}), {} workers, nginx {lb}",
        api.len(),
        api.iter().map(|n| n.http.as_str()).collect::<Vec<_>>().join(", "),
        edge.http,
        workers.len()
    );

    // A company with a trunk on the SIP edge and a Telegram bot.
    let signup = "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken companyId } }";
    let input = json!({ "i": { "company": "Cluster", "name": "Ann", "email": "ann@cluster.test", "password": "cluster password", "defaultCountry": "UZ" } });
    let company = graphql(&http, &gql, None, signup, input).await?["signUp"].clone();
    let token = company["accessToken"].as_str().context("token")?.to_owned();
    let tenant = company["companyId"].as_str().context("company")?.to_owned();
    let trunk = json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000000"] } });
    graphql(&http, &gql, Some(&token), "mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await?;
    let connect = "mutation { connectTelegram(name: \"Support\", botToken: \"42:cluster-token\") { id } }";
    graphql(&http, &gql, Some(&token), connect, json!({})).await?;
    let hook = hook.lock().unwrap_or_else(|e| e.into_inner()).clone().context("setWebhook was called")?;
    let (webhook_url, secret) = (
        hook["url"].as_str().context("webhook url")?.to_owned(),
        hook["secret_token"].as_str().context("secret")?.to_owned(),
    );

    // Subscribers, through nginx.
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let seen: Vec<Arc<Mutex<Seen>>> = (0..subscribers).map(|_| Arc::default()).collect();
    for s in &seen {
        subscriber(format!("ws://{lb}/graphql/ws"), token.clone(), s.clone(), ready.clone(), stop.clone());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::SeqCst) < subscribers {
        if Instant::now() > deadline {
            bail!("only {} of {subscribers} subscribers connected", ready.load(Ordering::SeqCst));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Subscriptions start right after the ack: give the last ones a moment to be registered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut spread = Vec::new();
    for node in &api {
        let metrics = http.get(format!("http://{}/metrics", node.http)).send().await?.text().await?;
        let gauge = |name: &str| {
            metrics
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .and_then(|l| l.split_whitespace().last())
                .unwrap_or("?")
                .to_owned()
        };
        let (shared, streams) = (gauge("crm_shared_subscribers"), gauge("crm_event_subscribers"));
        spread.push(format!("{}: {shared} over {streams}", node.name));
    }
    eprintln!("subscriptions per API node, over its event streams (2 per subscriber, shared): {}", spread.join(", "));

    // The load: `rate` webhook deliveries a second, a customer created every 100 ms, a call
    // every 2 s; one API node killed at 40 % of the run.
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let acked: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let customers: Arc<Mutex<Vec<String>>> = Arc::default();
    let total = (rate * seconds) as u64;
    let started = Instant::now();
    let kill_at = started + Duration::from_secs_f64(seconds as f64 * 0.4);
    let mut killed_at = None;
    let mut calls = Vec::new();
    let mut posts = Vec::new();
    let mut next_customer = started;
    let mut next_call = started + Duration::from_millis(500);
    for seq in 0..total {
        let at = started + Duration::from_secs_f64(seq as f64 / rate as f64);
        tokio::time::sleep_until(at.into()).await;
        if killed_at.is_none() && Instant::now() >= kill_at {
            let victim = api.remove(1);
            eprintln!("killing {} (SIGKILL) at {:.1} s", victim.name, started.elapsed().as_secs_f64());
            drop(victim);
            killed_at = Some((seq, Instant::now()));
        }
        if Instant::now() >= next_call {
            next_call += Duration::from_secs(2);
            calls.push(sipp_call(&format!("127.0.0.1:{sip_port}"), &dir));
        }
        if Instant::now() >= next_customer {
            next_customer += Duration::from_millis(100);
            let (http, gql, token, customers) = (http.clone(), gql.clone(), token.clone(), customers.clone());
            posts.push(tokio::spawn(async move {
                let name = format!("Lead {}", uuid::Uuid::new_v4().simple());
                let query = "mutation($n: String!) { createCustomer(input: { name: $n }) { id } }";
                if let Ok(data) = graphql(&http, &gql, Some(&token), query, json!({ "n": name })).await {
                    customers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(data["createCustomer"]["id"].as_str().unwrap_or_default().to_owned());
                }
            }));
        }
        let update = json!({ "update_id": 10_000 + seq, "message": {
            "message_id": 10_000 + seq, "date": 1_764_000_000, "text": format!("m-{seq}"),
            "chat": { "id": 5000 + seq % 50, "type": "private", "first_name": "Client" },
            "from": { "id": 5000 + seq % 50, "is_bot": false, "first_name": "Client" } } });
        let (http, url, secret, sent, acked) =
            (http.clone(), webhook_url.clone(), secret.clone(), sent.clone(), acked.clone());
        posts.push(tokio::spawn(async move {
            // As Telegram does: deliver again until it is acknowledged.
            for _ in 0..20 {
                sent.lock().unwrap_or_else(|e| e.into_inner()).entry(seq).or_insert_with(Instant::now);
                let response =
                    http.post(&url).header("x-telegram-bot-api-secret-token", &secret).json(&update).send().await;
                if response.is_ok_and(|r| r.status().is_success()) {
                    acked.lock().unwrap_or_else(|e| e.into_inner()).insert(seq);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    futures::future::join_all(posts).await;
    let offered = started.elapsed();
    for call in &mut calls {
        let _ = call.wait();
    }
    // One more message after the load: every subscriber must get it, those of the killed node
    // through the node they reconnected to.
    let last = json!({ "update_id": 10_000 + total, "message": {
        "message_id": 10_000 + total, "date": 1_764_000_000, "text": format!("m-{total}"),
        "chat": { "id": 5000, "type": "private", "first_name": "Client" },
        "from": { "id": 5000, "is_bot": false, "first_name": "Client" } } });
    let settle = Instant::now() + Duration::from_secs(30);
    let mut last_acked = false;
    while !last_acked && Instant::now() < settle {
        last_acked = http
            .post(&webhook_url)
            .header("x-telegram-bot-api-secret-token", &secret)
            .json(&last)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
    }
    sent.lock().unwrap_or_else(|e| e.into_inner()).insert(total, Instant::now());
    loop {
        let everyone = seen.iter().all(|s| s.lock().unwrap_or_else(|e| e.into_inner()).messages.contains_key(&total));
        if everyone || Instant::now() > settle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, killed) = killed_at.context("the kill happened")?;

    // Everything acknowledged is filed: each process files the payloads it stored, and those a
    // killed process stored are filed by the others a moment later.
    let mut failures = Vec::new();
    let db = Database::connect(admin_db.as_str()).await?;
    let stored_texts = || async {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT text FROM messages WHERE tenant_id = $1::uuid AND text LIKE 'm-%'",
                [tenant.clone().into()],
            ))
            .await?;
        anyhow::Ok(
            rows.iter()
                .filter_map(|row| row.try_get::<String>("", "text").ok())
                .filter_map(|t| t.strip_prefix("m-").and_then(|s| s.parse().ok()))
                .collect::<HashSet<u64>>(),
        )
    };
    let mut stored = stored_texts().await?;
    while !acked.lock().unwrap_or_else(|e| e.into_inner()).is_subset(&stored) && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stored = stored_texts().await?;
    }
    // And their events reach every subscriber that stayed connected.
    loop {
        // Every message, however its filing process ended: a live event left behind by a
        // killed node is published by another's relay once it is stale (5 s).
        let complete = seen.iter().all(|s| {
            let s = s.lock().unwrap_or_else(|e| e.into_inner());
            s.connections > 1 || (0..total).all(|seq| s.messages.contains_key(&seq))
        });
        let (all_ends, unbroken_ends) = call_ends(&seen);
        let complete = complete && all_ends >= calls.len() && unbroken_ends == all_ends;
        if complete || Instant::now() > settle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let lost: Vec<_> = acked.difference(&stored).collect();
    if !lost.is_empty() || acked.len() as u64 != total {
        failures.push(format!("{} of {total} webhooks acknowledged, {} of those not stored", acked.len(), lost.len()));
    }
    let created = customers.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let existing: HashSet<String> = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT id::text AS id FROM customers WHERE tenant_id = $1::uuid",
            [tenant.clone().into()],
        ))
        .await?
        .iter()
        .filter_map(|row| row.try_get::<String>("", "id").ok())
        .collect();
    let customers_lost = created.iter().filter(|id| !existing.contains(*id)).count();
    if customers_lost > 0 {
        failures.push(format!("{} customers acknowledged, {customers_lost} not stored", created.len()));
    }

    // Every subscriber got every message sent while the cluster was whole, and reconnected.
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut latencies = Vec::new();
    // Live events are staged with their message: one whose process died before publishing it
    // is published by another, so every message reaches the subscribers.
    let published: HashSet<u64> = seen
        .iter()
        .flat_map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).messages.keys().copied().collect::<Vec<_>>())
        .collect();
    let unpublished = (0..total).filter(|seq| !published.contains(seq)).count();
    if unpublished > 0 {
        failures.push(format!("{unpublished} messages reached no subscriber"));
    }
    let (mut unbroken, mut incomplete, mut reconnected, mut served_after) = (0, 0, 0, 0);
    for s in &seen {
        let s = s.lock().unwrap_or_else(|e| e.into_inner());
        if s.connections > 1 {
            reconnected += 1;
        } else {
            // A subscriber whose node stayed up got every message, wherever it was made.
            unbroken += 1;
            if (0..total).any(|seq| !s.messages.contains_key(&seq)) {
                incomplete += 1;
            }
        }
        if s.messages.contains_key(&total) {
            served_after += 1;
        }
        for (seq, at) in &s.messages {
            if let Some(sent) = sent.get(seq) {
                latencies.push(at.saturating_duration_since(*sent).as_secs_f64() * 1000.0);
            }
        }
    }
    if incomplete > 0 {
        failures.push(format!("{incomplete} of {unbroken} subscribers on surviving nodes missed messages"));
    }
    if reconnected == 0 {
        failures.push("no subscriber was on the killed node".to_owned());
    }
    if !last_acked || served_after < subscribers {
        failures.push(format!("{served_after} of {subscribers} subscribers got the message sent after the load"));
    }
    // Calls nobody answers end missed at once: each call's end reached the subscribers, and every
    // subscriber whose node stayed up saw them all (those of the killed node miss what was sent
    // while they reconnected: a live event is not sent again).
    let (all_ends, unbroken_ends) = call_ends(&seen);
    if all_ends < calls.len() {
        failures.push(format!("{all_ends} of the {} calls through the SIP edge were seen to end", calls.len()));
    }
    if unbroken_ends < all_ends {
        failures.push(format!("a subscriber on a surviving node saw {unbroken_ends} of the {all_ends} call ends"));
    }
    latencies.sort_by(f64::total_cmp);
    stop.store(true, Ordering::Relaxed);
    stop_nginx(&mut nginx);

    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| API nodes / SIP edges / workers | 3 / 1 / 2 (one API node killed at {:.1} s) |",
        (killed - started).as_secs_f64()
    );
    println!(
        "| subscribers, each with a message and a call subscription (subscriptions per API node over its event streams) | {subscribers} ({}) |",
        spread.join(", ")
    );
    println!(
        "| webhook deliveries offered | {total} in {:.1} s ({:.0}/s) |",
        offered.as_secs_f64(),
        total as f64 / offered.as_secs_f64()
    );
    println!(
        "| events delivered to subscribers | {} ({:.0}/s) |",
        latencies.len(),
        latencies.len() as f64 / offered.as_secs_f64()
    );
    println!(
        "| delivery, webhook sent to subscriber received: p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!("| subscribers that reconnected after the kill | {reconnected} |");
    println!("| acknowledged webhooks / customers missing afterwards | {} / {customers_lost} |", lost.len());
    println!("| messages stored that reached no subscriber | {unpublished} |");
    println!(
        "| calls through the SIP edge (ends seen by each subscriber on a surviving node) | {} ({unbroken_ends}) |",
        calls.len()
    );
    drop(workers);
    drop(edge);
    drop(api);
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("FAILED: {failure}");
        }
        std::process::exit(1);
    }
    eprintln!("cluster: every acknowledged write kept, every subscriber served and reconnected");
    Ok(())
}
