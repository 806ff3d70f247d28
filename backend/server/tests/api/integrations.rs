//! Outbound webhooks as an integrator receives them: signed, queued with the change they
//! announce, retried, logged, replayable, switched off after persistent failure (with a notice)
//! and back on; and API token scopes gating them.
use crm_core::calls::HangupBy;
use crm_testkit::{TestApp, wait_for};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
struct Received {
    event: String,
    timestamp: String,
    signature: String,
    delivery: String,
    body: String,
}

/// A receiver that answers each request with the next scripted status (200 when none is left).
#[derive(Clone, Default)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start() -> Self {
        let mut receiver = Receiver::default();
        let state = receiver.clone();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                state.got.lock().unwrap().push(Received {
                    event: header("x-crm-event"),
                    timestamp: header("x-crm-timestamp"),
                    signature: header("x-crm-signature"),
                    delivery: header("x-crm-delivery"),
                    body,
                });
                let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        receiver.url = format!("http://{}/hooks/crm", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    async fn wait(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        wait_for(what, Duration::from_secs(20), || async {
            let got = self.got();
            pred(&got).then_some(got)
        })
        .await
    }
}

fn verify(secret: &str, r: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", r.timestamp, r.body).as_bytes());
    r.signature == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

const CREATE: &str = "mutation($u: String!, $e: [String!]!) { createWebhookEndpoint(url: $u, events: $e) { secret endpoint { id url events enabled } } }";
const LOG: &str = "{ webhookEndpoints { id enabled failures disabledReason deliveries { id event status attempts responseCode error } } }";

#[tokio::test]
async fn a_receiver_gets_signed_retried_replayable_deliveries_and_a_failing_one_is_switched_off() {
    let app = TestApp::spawn_with(|c| c.webhook_retry_secs = 1).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let receiver = Receiver::start().await;

    // Bad input is refused with the field named; API tokens need webhooks:manage.
    let bad = api.run(CREATE, json!({ "u": receiver.url, "e": ["call.exploded"] })).await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "events", "{bad}");
    assert_eq!(api.code(CREATE, json!({ "u": "ftp://x", "e": ["call.started"] })).await, "BAD_USER_INPUT");
    let token = "mutation($s: [String!]!) { createApiToken(name: \"zap\", scopes: $s) { secret } }";
    let reader =
        api.ok(token, json!({ "s": ["calls:read"] })).await["createApiToken"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.gql().with_token(&reader).code(LOG, json!({})).await, "FORBIDDEN");
    let manager = api.ok(token, json!({ "s": ["webhooks:manage"] })).await["createApiToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let integration = app.gql().with_token(&manager);

    // The integration subscribes; the secret is shown once.
    let events = ["call.started", "call.missed", "customer.created", "task.created"];
    let created =
        integration.ok(CREATE, json!({ "u": receiver.url, "e": events })).await["createWebhookEndpoint"].clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["endpoint"]["events"], json!(events));

    // A customer is created; the receiver fails twice, then takes it: retried, logged.
    receiver.answer(&[500, 503]);
    api.ok("mutation { createCustomer(input: { name: \"Dilnoza\", phones: [\"+998901234567\"] }) { id } }", json!({}))
        .await;
    let got = receiver.wait("three attempts", |g| g.len() >= 3).await;
    assert!(got.iter().all(|r| r.event == "customer.created" && verify(&secret, r)), "signed: {got:?}");
    assert!(got.iter().all(|r| r.delivery == got[0].delivery && r.body == got[0].body), "the same delivery each time");
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!((body["type"].as_str(), body["data"]["name"].as_str()), (Some("customer.created"), Some("Dilnoza")));
    assert_eq!(body["id"], got[0].delivery.as_str());
    let log = wait_for("delivered", Duration::from_secs(10), || async {
        let log = integration.ok(LOG, json!({})).await["webhookEndpoints"][0]["deliveries"][0].clone();
        (log["status"] == "DELIVERED").then_some(log)
    })
    .await;
    assert_eq!((log["attempts"].as_u64(), log["responseCode"].as_u64()), (Some(3), Some(200)));

    // A missed call: call.started, call.missed and the callback task, each once.
    let trunk = json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000000"] } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;
    let services = &app.running.app.services;
    let route = services.route_inbound("127.0.0.2".parse().unwrap(), "+998712000000").await.unwrap().unwrap();
    let (call, _) = services.start_inbound_call(&route, "+998901234567", "edge-a").await.unwrap();
    services.end_call(call.tenant_id, call.id, HangupBy::Customer, Some(487)).await.unwrap();
    let got = receiver.wait("the call's events", |g| g.len() >= 6).await;
    let mut kinds: Vec<&str> = got[3..].iter().map(|r| r.event.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["call.missed", "call.started", "task.created"]);
    let missed: Value = serde_json::from_str(&got.iter().find(|r| r.event == "call.missed").unwrap().body).unwrap();
    assert_eq!(missed["data"]["id"], call.id.to_string());
    assert_eq!(missed["data"]["status"], "missed");

    // Replay: the same delivery again, byte for byte.
    let first_id = log["id"].as_str().unwrap().to_owned();
    let replay = "mutation($id: ID!) { replayWebhookDelivery(id: $id) { status } }";
    assert_eq!(integration.ok(replay, json!({ "id": first_id })).await["replayWebhookDelivery"]["status"], "PENDING");
    let got = receiver.wait("the replay", |g| g.len() >= 7).await;
    assert_eq!((got[6].delivery.as_str(), got[6].body.as_str()), (got[0].delivery.as_str(), got[0].body.as_str()));

    // A receiver that keeps failing is switched off after 15 failures in a row, with a notice.
    receiver.answer(&[500; 15]);
    for n in 0..15 {
        let create = "mutation($n: String!) { createCustomer(input: { name: $n }) { id } }";
        api.ok(create, json!({ "n": format!("Lead {n}") })).await;
    }
    let endpoint = wait_for("switched off", Duration::from_secs(20), || async {
        let endpoint = integration.ok(LOG, json!({})).await["webhookEndpoints"][0].clone();
        (endpoint["enabled"] == false).then_some(endpoint)
    })
    .await;
    assert!(endpoint["disabledReason"].as_str().unwrap().contains("500"), "{endpoint}");
    let tasks = api.ok("{ tasks { title } }", json!({})).await["tasks"].clone();
    assert!(tasks.as_array().unwrap().iter().any(|t| t["title"].as_str().unwrap().contains(&receiver.url)), "{tasks}");
    let before = receiver.got().len();
    api.ok("mutation { createCustomer(input: { name: \"While off\" }) { id } }", json!({})).await;

    // Switched back on, everything queued is delivered (nothing was lost while it was off).
    let enable = "mutation($id: ID!) { updateWebhookEndpoint(id: $id, enabled: true) { enabled failures } }";
    let on = integration.ok(enable, json!({ "id": endpoint["id"] })).await["updateWebhookEndpoint"].clone();
    assert_eq!(on, json!({ "enabled": true, "failures": 0 }));
    let got = receiver
        .wait("the queue drained", |g| {
            let names: Vec<String> = g[before..]
                .iter()
                .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
                .filter_map(|b| b["data"]["name"].as_str().map(str::to_owned))
                .collect();
            (0..15).all(|n| names.contains(&format!("Lead {n}"))) && names.contains(&"While off".to_owned())
        })
        .await;
    assert!(got.iter().all(|r| verify(&secret, r)));
    // The receiver has answered 200 before the worker records it: wait for the log to catch up.
    wait_for("every delivery logged as delivered", Duration::from_secs(10), || async {
        let log = integration.ok(LOG, json!({})).await["webhookEndpoints"][0]["deliveries"].clone();
        log.as_array().unwrap().iter().all(|d| d["status"] == "DELIVERED").then_some(())
    })
    .await;
}
