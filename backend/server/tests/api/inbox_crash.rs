//! The inbox survives `kill -9`: webhook payloads acknowledged before a crash are filed after
//! it, redeliveries of the unacknowledged ones change nothing, and replies waiting in the
//! outbox are sent once the platform and the server are back.
use crate::two_processes::{Server, spawn_crm};
use crm_testkit::platform::Platform;
use crm_testkit::{Gql, wait_for};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Where the server keeps its data: a folder, and on the Postgres run a fresh database.
struct Store {
    data: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl Store {
    async fn new() -> Self {
        let postgres = if crm_testkit::on_postgres() { Some(crm_testkit::postgres_database().await) } else { None };
        Self { data: tempfile::tempdir().unwrap(), postgres }
    }
}

fn start(store: &Store, platform: &Platform) -> Server {
    let mut settings = vec![
        ("CRM_DATA_DIR", store.data.path().to_str().unwrap()),
        ("CRM_SIP_ADDR", "off"),
        ("CRM_TELEGRAM_API_URL", &platform.url),
        ("CRM_PUBLIC_URL", "https://crm.acme.test"),
    ];
    if let Some((app, admin)) = &store.postgres {
        settings.extend([("CRM_DATABASE_URL", app.as_str()), ("CRM_DATABASE_ADMIN_URL", admin.as_str())]);
    }
    spawn_crm(&settings)
}

/// A company with a Telegram bot on `server`: (api, webhook path, secret).
async fn company(server: &Server, platform: &Platform) -> (Gql, String, String) {
    let http = reqwest::Client::new();
    let owner =
        Gql::new(http.clone(), format!("http://{}/graphql", server.addr)).sign_up("Acme", "ann@acme.test").await;
    let api = Gql::new(http, format!("http://{}/graphql", server.addr)).with_token(&owner.access);
    let connect = "mutation { connectTelegram(name: \"Bot\", botToken: \"123456789:AAE-secret\") { id webhookPath } }";
    let path = api.ok(connect, json!({})).await["connectTelegram"]["webhookPath"].as_str().unwrap().to_owned();
    let secret = platform.requests("setWebhook").pop().unwrap().body["secret_token"].as_str().unwrap().to_owned();
    (api, path, secret)
}

fn update(n: u64) -> Value {
    let chat = 5_000_000 + n % 10;
    json!({ "update_id": n, "message": { "message_id": n, "date": 1441645532, "text": format!("message {n}"),
        "chat": { "id": chat, "type": "private", "first_name": format!("Customer {}", n % 10) },
        "from": { "id": chat, "is_bot": false, "first_name": format!("Customer {}", n % 10) } } })
}

/// Every message text in every conversation.
async fn all_texts(api: &Gql) -> Vec<String> {
    let list = api.ok("{ conversations(first: 100) { messages(last: 200) { text } } }", json!({})).await;
    let mut texts = Vec::new();
    for conversation in list["conversations"].as_array().unwrap() {
        for message in conversation["messages"].as_array().unwrap() {
            texts.push(message["text"].as_str().unwrap().to_owned());
        }
    }
    texts
}

#[tokio::test]
async fn a_crash_during_a_burst_of_webhooks_loses_and_duplicates_nothing() {
    let platform = Platform::start().await;
    let store = Store::new().await;
    let mut server = start(&store, &platform);
    let (api, path, secret) = company(&server, &platform).await;
    let target = Arc::new(std::sync::RwLock::new(server.addr.clone()));
    let acked = Arc::new(AtomicUsize::new(0));

    // 1,000 updates, 16 at a time, each delivered until acknowledged, as Telegram does.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let next = Arc::new(AtomicUsize::new(1));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, target, acked, next, path, secret) =
            (http.clone(), target.clone(), acked.clone(), next.clone(), path.clone(), secret.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst) as u64;
                if n > 1000 {
                    return;
                }
                let body = update(n).to_string();
                loop {
                    let url = format!("http://{}{path}", target.read().unwrap());
                    let sent = http
                        .post(url)
                        .header("x-telegram-bot-api-secret-token", &secret)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().is_success()) {
                        acked.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    // The server is down: deliver again shortly (Telegram backs off too).
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    wait_for("300 deliveries acknowledged", Duration::from_secs(60), || async {
        (acked.load(Ordering::SeqCst) >= 300).then_some(())
    })
    .await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let killed_at = acked.load(Ordering::SeqCst);
    server = start(&store, &platform);
    *target.write().unwrap() = server.addr.clone();
    for sender in senders {
        sender.await.unwrap();
    }
    assert!(killed_at < 1000, "the crash came in the middle of the burst ({killed_at} acknowledged)");

    let api = api.at(&format!("http://{}/graphql", server.addr));
    let texts = wait_for("every update filed", Duration::from_secs(60), || async {
        let texts = all_texts(&api).await;
        (texts.len() >= 1000).then_some(texts)
    })
    .await;
    let unique: std::collections::HashSet<&String> = texts.iter().collect();
    assert_eq!(texts.len(), 1000, "none twice");
    assert_eq!(unique.len(), 1000, "none lost");
    let customers = api.ok("{ customers(first: 50) { totalCount } }", json!({})).await;
    assert_eq!(customers["customers"]["totalCount"], 10, "one customer per sender");
    drop(server);
}

#[tokio::test]
async fn a_reply_waiting_out_a_platform_outage_is_sent_after_a_crash() {
    let platform = Platform::start().await;
    let store = Store::new().await;
    let mut server = start(&store, &platform);
    let (api, path, secret) = company(&server, &platform).await;
    let http = reqwest::Client::new();
    let delivered = http
        .post(format!("http://{}{path}", server.addr))
        .header("x-telegram-bot-api-secret-token", &secret)
        .header("content-type", "application/json")
        .body(update(1).to_string())
        .send()
        .await
        .unwrap();
    assert!(delivered.status().is_success());
    let conversation = wait_for("the message filed", Duration::from_secs(20), || async {
        let list = api.ok("{ conversations { id } }", json!({})).await;
        list["conversations"][0]["id"].as_str().map(str::to_owned)
    })
    .await;

    // Telegram is down; the reply waits in the outbox while the server crashes.
    let down = json!({ "ok": false, "error_code": 502, "description": "Bad Gateway" });
    platform.then("sendMessage", 502, down.clone(), None);
    platform.then("sendMessage", 502, down, None);
    let send = "mutation($c: ID!) { sendMessage(conversationId: $c, text: \"We are on it\") { id } }";
    api.ok(send, json!({ "c": conversation })).await;
    platform.wait_requests("sendMessage", 1).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    server = start(&store, &platform);

    let api = api.at(&format!("http://{}/graphql", server.addr));
    let status = "query($c: ID!) { conversation(id: $c) { messages { direction status error } } }";
    wait_for("the reply sent after the restart", Duration::from_secs(60), || async {
        let messages = api.ok(status, json!({ "c": conversation })).await["conversation"]["messages"].clone();
        (messages[1]["status"] == "SENT").then_some(())
    })
    .await;
    let attempts = platform.requests("sendMessage");
    assert_eq!(attempts.len(), 3, "two refused by the outage, then one that went through");
    assert!(attempts.iter().all(|a| a.body["text"] == "We are on it"));
    drop(server);
}
