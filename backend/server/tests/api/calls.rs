//! The call model as the call paths drive it and as people read it: lifecycle, live events
//! with the customer card, recordings through signed links, and recovery after a crash.
use crm_core::calls::HangupBy;
use crm_core::{CallId, TenantId};
use crm_recording::{RtpClock, Side};
use crm_testkit::{SignedUp, TestApp, wait_for};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CALL: &str = "query($id: ID!) { call(id: $id) { id direction status fromNumber toNumber customer { name } userId
    waitSeconds talkSeconds hangupBy sipCause recordingUrl recordingDurationSeconds recordingBytes } }";

/// A company with a trunk for +998712000000 from 127.0.0.2, and a customer who calls from +998901234567.
async fn company(app: &TestApp, name: &str, email: &str) -> SignedUp {
    let owner = app.gql().sign_up(name, email).await;
    let api = app.gql().with_token(&owner.access);
    let n = if name == "Acme" { "0" } else { "1" };
    let trunk = json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": [format!("+99871200000{n}")] } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;
    api.ok(
        "mutation { createCustomer(input: { name: \"Bob Caller\", phones: [\"+998901234567\"] }) { id } }",
        json!({}),
    )
    .await;
    owner
}

async fn ring(app: &TestApp, caller: &str, number: &str, edge: &str) -> (TenantId, CallId) {
    let services = &app.running.app.services;
    let route = services.route_inbound("127.0.0.2".parse().unwrap(), number).await.unwrap().unwrap();
    let (call, _) = services.start_inbound_call(&route, caller, edge).await.unwrap();
    (call.tenant_id, call.id)
}

async fn call(app: &TestApp, token: &str, id: CallId) -> Value {
    app.gql().with_token(token).ok(CALL, json!({ "id": id.to_string() })).await["call"].clone()
}

fn record_a_tone(spool: &crm_recording::Spool, call: CallId, tenant: TenantId, seconds: u64, finish: bool) {
    let key = format!("tenants/{tenant}/recordings/{call}.wav");
    let mut writer = spool.create(&call.to_string(), &key).unwrap();
    let start = Instant::now();
    let mut clocks = [RtpClock::new(start), RtpClock::new(start)];
    for p in 0..seconds * 50 {
        for (side, freq) in [(Side::Customer, 440.0), (Side::Agent, 1000.0)] {
            let pcm: Vec<i16> = (0..160)
                .map(|n| (8000.0 * (2.0 * std::f64::consts::PI * freq * (p * 160 + n) as f64 / 8000.0).sin()) as i16)
                .collect();
            let at = clocks[side as usize].frame(side as u32, (p * 160) as u32, start + Duration::from_millis(p * 20));
            writer.push(side, at, &pcm).unwrap();
        }
    }
    if finish {
        writer.finish(None).unwrap();
    } else {
        writer.checkpoint().unwrap();
        std::mem::forget(writer); // the process dies mid-call
    }
}

#[tokio::test]
async fn an_answered_call_rings_live_with_the_customer_card_and_keeps_its_recording() {
    let app = TestApp::spawn().await;
    let owner = company(&app, "Acme", "ann@acme.test").await;
    let other = company(&app, "Globex", "gus@globex.test").await;
    let mut events = app.subscribe(&owner.access, "subscription { callEvents { id status customer { name } } }").await;

    // The trunk sends the caller in local format; the customer is found by E.164.
    let (tenant, id) = ring(&app, "90 123 45 67", "+998712000000", "edge-a").await;
    let ringing = events.next_data().await;
    assert_eq!(ringing["callEvents"]["status"], "RINGING");
    assert_eq!(ringing["callEvents"]["customer"]["name"], "Bob Caller");

    let services = &app.running.app.services;
    let user = owner.user_id.parse().unwrap();
    services.answer_call(tenant, id, user).await.unwrap();
    assert_eq!(events.next_data().await["callEvents"]["status"], "ANSWERED");
    assert!(services.answer_call(tenant, id, user).await.is_err(), "answered once");
    services.end_call(tenant, id, HangupBy::Agent, None).await.unwrap();
    assert_eq!(events.next_data().await["callEvents"]["status"], "COMPLETED");

    record_a_tone(&app.running.app.spool, id, tenant, 2, true);
    let uploaded = app.running.app.spool.upload(&id.to_string()).await.unwrap();
    app.running.app.link_recording(&uploaded).await.unwrap();

    let c = call(&app, &owner.access, id).await;
    assert_eq!(c["direction"], "INBOUND");
    assert_eq!(c["fromNumber"], "+998901234567");
    assert_eq!(c["toNumber"], "+998712000000");
    assert_eq!(c["userId"], owner.user_id.as_str());
    assert_eq!(c["hangupBy"], "AGENT");
    assert!(c["talkSeconds"].as_i64().unwrap() >= 0 && c["waitSeconds"].as_i64().unwrap() >= 0);
    assert_eq!(c["recordingDurationSeconds"], 2.0);
    let wav = app.http.get(app.url(c["recordingUrl"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(wav.status(), 200);
    let body = wav.bytes().await.unwrap();
    assert_eq!(body.len() as u64, c["recordingBytes"].as_u64().unwrap());
    let reader = hound::WavReader::new(std::io::Cursor::new(body.to_vec())).unwrap();
    assert_eq!((reader.spec().channels, reader.spec().sample_rate), (2, 8000));

    // Another company sees neither the call nor its events.
    let query = "query($id: ID!) { call(id: $id) { id } }";
    assert_eq!(app.gql().with_token(&other.access).code(query, json!({ "id": id.to_string() })).await, "NOT_FOUND");
    let list = app.gql().with_token(&other.access).ok("{ calls(first: 10) { totalCount } }", json!({})).await;
    assert_eq!(list["calls"]["totalCount"], 0);
}

#[tokio::test]
async fn unanswered_calls_are_missed_and_lists_filter_them() {
    let app = TestApp::spawn().await;
    let owner = company(&app, "Acme", "ann@acme.test").await;
    let services = &app.running.app.services;
    let (tenant, cancelled) = ring(&app, "+998901234567", "+998712000000", "edge-a").await;
    services.end_call(tenant, cancelled, HangupBy::Customer, Some(487)).await.unwrap();
    let (_, unknown) = ring(&app, "anonymous", "998712000000", "edge-a").await;
    services.end_call(tenant, unknown, HangupBy::System, Some(480)).await.unwrap();
    // Ending twice changes nothing.
    services.end_call(tenant, unknown, HangupBy::Agent, None).await.unwrap();

    let c = call(&app, &owner.access, cancelled).await;
    assert_eq!(
        (c["status"].as_str(), c["hangupBy"].as_str(), c["sipCause"].as_u64()),
        (Some("MISSED"), Some("CUSTOMER"), Some(487))
    );
    assert!(c["talkSeconds"].is_null() && c["recordingUrl"].is_null());
    let u = call(&app, &owner.access, unknown).await;
    assert_eq!(u["fromNumber"], "anonymous");
    assert!(u["customer"].is_null(), "an unknown number has no card");
    assert_eq!(u["hangupBy"], "SYSTEM");

    let api = app.gql().with_token(&owner.access);
    let missed = api
        .ok(
            "{ calls(first: 10, filter: { status: MISSED, direction: INBOUND }) { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(missed["calls"]["totalCount"], 2);
    assert_eq!(missed["calls"]["edges"][0]["node"]["id"], unknown.to_string().as_str(), "newest first");
    let none = api.ok("{ calls(first: 10, filter: { status: COMPLETED }) { totalCount } }", json!({})).await;
    assert_eq!(none["calls"]["totalCount"], 0);
    assert_eq!(api.code("{ calls(first: 0) { totalCount } }", json!({})).await, "BAD_USER_INPUT");

    // Integrations need the calls:read scope.
    let token =
        api.ok("mutation { createApiToken(name: \"x\", scopes: [\"customers:read\"]) { secret } }", json!({})).await;
    let integration = app.gql().with_token(token["createApiToken"]["secret"].as_str().unwrap());
    assert_eq!(integration.code("{ calls(first: 5) { totalCount } }", json!({})).await, "FORBIDDEN");
}

#[tokio::test]
async fn after_a_crash_open_calls_are_interrupted_and_their_audio_is_kept() {
    let first = TestApp::spawn_with(|c| c.edge_id = "edge-x".into()).await;
    let owner = company(&first, "Acme", "ann@acme.test").await;
    let (tenant, id) = ring(&first, "+998901234567", "+998712000000", "edge-x").await;
    first.running.app.services.answer_call(tenant, id, owner.user_id.parse().unwrap()).await.unwrap();
    let (_, elsewhere) = ring(&first, "+998901234567", "+998712000000", "edge-y").await;

    // The process dies mid-call with 3 s of audio spooled; a new one starts on the same data.
    let data = tempfile::tempdir().unwrap();
    let spool = crm_recording::Spool::open(data.path().join("spool"), first.running.app.store.clone()).await.unwrap();
    record_a_tone(&spool, id, tenant, 3, false);
    let database_url =
        first.config.database_url.clone().unwrap_or_else(|| {
            format!("sqlite://{}?mode=rwc", first.config.data_dir.join("crm.sqlite").display()).into()
        });
    let config = first.config.clone();
    let second = TestApp::spawn_config(config, |c| {
        c.data_dir = data.path().to_path_buf();
        c.database_url = Some(database_url);
    })
    .await;

    let c = wait_for("the interrupted call's recording", Duration::from_secs(20), || {
        let (app, token) = (&second, owner.access.clone());
        async move {
            let c = call(app, &token, id).await;
            (!c["recordingUrl"].is_null()).then_some(c)
        }
    })
    .await;
    assert_eq!(c["status"], "INTERRUPTED");
    assert_eq!(c["hangupBy"], "SYSTEM");
    let seconds = c["recordingDurationSeconds"].as_f64().unwrap();
    assert!((2.5..=3.0).contains(&seconds), "{seconds}");
    let wav = second.http.get(second.url(c["recordingUrl"].as_str().unwrap())).send().await.unwrap();
    assert!(hound::WavReader::new(std::io::Cursor::new(wav.bytes().await.unwrap().to_vec())).is_ok());
    // Another edge's call is not this process's to close.
    assert_eq!(call(&second, &owner.access, elsewhere).await["status"], "RINGING");
}

#[tokio::test]
async fn a_missed_call_leaves_a_callback_task_that_closes_when_the_customer_is_reached() {
    let app = TestApp::spawn().await;
    let owner = company(&app, "Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let bob = api.ok("{ customers(first: 1) { edges { node { id } } } }", json!({})).await["customers"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(
        "mutation($id: ID!, $u: ID) { updateCustomer(id: $id, input: { responsibleUserId: $u }) { id } }",
        json!({ "id": bob, "u": owner.user_id }),
    )
    .await;
    let services = &app.running.app.services;
    let (tenant, missed) = ring(&app, "+998901234567", "+998712000000", "edge-a").await;
    services.end_call(tenant, missed, HangupBy::Customer, Some(487)).await.unwrap();
    let (_, stranger) = ring(&app, "+998935550000", "+998712000000", "edge-a").await;
    services.end_call(tenant, stranger, HangupBy::System, Some(480)).await.unwrap();

    let query = "{ tasks { kind title customerId callId assigneeId overdue doneAt } }";
    let tasks = api.ok(query, json!({})).await["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 2);
    let for_bob = tasks.iter().find(|t| t["customerId"] == bob.as_str()).unwrap();
    assert_eq!(for_bob["kind"], "callback");
    assert_eq!(for_bob["callId"], missed.to_string().as_str());
    assert_eq!(for_bob["assigneeId"], owner.user_id.as_str(), "the responsible manager calls back");
    assert!(for_bob["title"].as_str().unwrap().contains("Bob Caller"));
    assert_eq!(for_bob["overdue"], false);
    let for_stranger = tasks.iter().find(|t| t["customerId"].is_null()).unwrap();
    assert!(for_stranger["assigneeId"].is_null(), "an unknown caller goes to the company's queue");

    // Bob calls again and is answered: his callback is done; the stranger's is still open.
    let (_, again) = ring(&app, "+998901234567", "+998712000000", "edge-a").await;
    services.answer_call(tenant, again, owner.user_id.parse().unwrap()).await.unwrap();
    services.end_call(tenant, again, HangupBy::Agent, None).await.unwrap();
    let open = api.ok(query, json!({})).await["tasks"].as_array().unwrap().clone();
    assert_eq!(open.len(), 1);
    assert!(open[0]["customerId"].is_null());
    let all =
        api.ok("{ tasks(open: false) { customerId doneAt } }", json!({})).await["tasks"].as_array().unwrap().clone();
    assert!(all.iter().any(|t| t["customerId"] == bob.as_str() && t["doneAt"].is_string()));
}
