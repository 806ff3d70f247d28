use crm_testkit::{Subscriber, TestApp};
use serde_json::json;
use std::time::Duration;

pub const CHANGES: &str = "subscription { customerChanged { kind customerId customer { name phones } } }";

#[tokio::test]
async fn subscribers_see_their_own_company_changes_live() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let a = gql.sign_up("Acme", "ann@acme.test").await;
    let b = gql.sign_up("Globex", "gus@globex.test").await;
    let mut sub = app.subscribe(&a.access, CHANGES).await;

    // B's change must not reach A; A's own change must, in order.
    gql.with_token(&b.access)
        .ok("mutation { createCustomer(input: { name: \"Globex client\" }) { id } }", json!({}))
        .await;
    let created = gql
        .with_token(&a.access)
        .ok("mutation { createCustomer(input: { name: \"Acme client\" }) { id } }", json!({}))
        .await;
    let id = created["createCustomer"]["id"].as_str().unwrap().to_owned();
    let event = sub.next_data().await;
    assert_eq!(event["customerChanged"]["kind"], "CREATED");
    assert_eq!(event["customerChanged"]["customerId"], id.as_str());
    assert_eq!(event["customerChanged"]["customer"]["name"], "Acme client");

    gql.with_token(&a.access).ok("mutation($id: ID!) { deleteCustomer(id: $id) { id } }", json!({ "id": id })).await;
    let event = sub.next_data().await;
    assert_eq!(event["customerChanged"]["kind"], "DELETED");
    assert!(event["customerChanged"]["customer"].is_null());
}

/// Sockets asking the same subscription share one execution per process (each event resolved
/// and serialised once): every socket still gets every event, companies never share, one
/// socket leaving ends nothing for the others, and a refused one is told so.
#[tokio::test]
async fn sockets_asking_the_same_share_one_execution_and_leave_it_on_their_own() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let a = gql.sign_up("Acme", "ann@acme.test").await;
    let b = gql.sign_up("Globex", "gus@globex.test").await;
    let (bus, feeds) = (app.running.app.services.bus().clone(), app.running.app.feeds.clone());
    let mut first = app.subscribe(&a.access, CHANGES).await;
    let streams = bus.subscribers();
    let mut second = app.subscribe(&a.access, CHANGES).await;
    assert_eq!((bus.subscribers(), feeds.subscribers()), (streams, 2), "the second socket joined the first's stream");
    let mut other = app.subscribe(&b.access, CHANGES).await;
    assert_eq!(bus.subscribers(), streams + 1, "another company has a stream of its own");

    let create = "mutation($n: String!) { createCustomer(input: { name: $n }) { id } }";
    gql.with_token(&a.access).ok(create, json!({ "n": "Acme client" })).await;
    gql.with_token(&b.access).ok(create, json!({ "n": "Globex client" })).await;
    for sub in [&mut first, &mut second] {
        assert_eq!(sub.next_data().await["customerChanged"]["customer"]["name"], "Acme client");
    }
    assert_eq!(other.next_data().await["customerChanged"]["customer"]["name"], "Globex client");

    // The second socket ends its subscription: told so, and the first goes on.
    second.send(json!({ "id": "1", "type": "complete" })).await;
    let done = second.next_json(Duration::from_secs(10)).await.unwrap();
    assert_eq!((done["type"].as_str(), done["id"].as_str()), (Some("complete"), Some("1")));
    gql.with_token(&a.access).ok(create, json!({ "n": "Second client" })).await;
    assert_eq!(first.next_data().await["customerChanged"]["customer"]["name"], "Second client");

    // The last socket of a shared stream leaves: the stream ends with it.
    drop((first, second));
    crm_testkit::wait_for("the shared stream to end", Duration::from_secs(10), || {
        let bus = bus.clone();
        async move { (bus.subscribers() == streams).then_some(()) }
    })
    .await;

    // A token without the scope is refused on every socket that asks, sharing or not.
    let token = "mutation { createApiToken(name: \"c\", scopes: [\"calls:read\"]) { secret } }";
    let secret =
        gql.with_token(&a.access).ok(token, json!({})).await["createApiToken"]["secret"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let mut refused = crm_testkit::Subscriber::connect(&app.ws_url(), Some(&secret), CHANGES).await;
        let answer = refused.next_json(Duration::from_secs(10)).await.unwrap();
        assert_eq!(answer["type"], "next", "got {answer}");
        assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN");
        let done = refused.next_json(Duration::from_secs(10)).await.unwrap();
        assert_eq!(done["type"], "complete");
    }
}

#[tokio::test]
async fn sockets_must_authenticate_promptly_and_close_when_the_token_expires() {
    let app = TestApp::spawn_with(|c| {
        c.ws_init_timeout_secs = 1;
        c.access_token_ttl_secs = 3;
    })
    .await;
    // Silent socket: closed with graphql-transport-ws's 4408.
    let mut silent = Subscriber::from_socket(crm_testkit_socket(&app).await);
    let closed = silent.next_json(Duration::from_secs(10)).await.unwrap_err();
    assert_eq!(closed.code, 4408);

    // Bad token: refused at connection_init.
    let mut bad = Subscriber::from_socket(crm_testkit_socket(&app).await);
    bad.send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nonsense" } })).await;
    let closed = bad.next_json(Duration::from_secs(10)).await.unwrap_err();
    assert_eq!(closed.code, 4403);

    // Good token: served, then closed once the token expires. Signed up just before, so the
    // token lives long enough for the subscription to start even on a loaded machine.
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let mut sub = app.subscribe(&owner.access, CHANGES).await;
    let closed = sub.next_json(Duration::from_secs(10)).await.unwrap_err();
    assert_eq!(closed.code, 4403);
    assert!(closed.reason.contains("expired"));
}

async fn crm_testkit_socket(app: &TestApp) -> crm_testkit::Socket {
    crm_testkit::open_socket(&app.ws_url()).await
}

/// Live events are staged with their change: one whose process died between the commit and
/// its publication is published by a process still running; one published as usual is
/// forgotten at once (so it is not published twice).
#[tokio::test]
async fn a_live_event_left_behind_by_a_dead_process_is_still_delivered() {
    use crm_core::events::{ChangeKind, Event, EventKind};
    use crm_core::ports::Database;
    let app = TestApp::spawn().await;
    let a = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&a.access);
    let mut sub = app.subscribe(&a.access, CHANGES).await;
    let db = app.running.app.db.clone();
    let nothing_staged = || {
        let db = db.clone();
        async move { db.stale_events(i64::MAX, 10).await.unwrap().is_empty().then_some(()) }
    };

    let create = "mutation($n: String!) { createCustomer(input: { name: $n }) { id } }";
    let id = api.ok(create, json!({ "n": "Published" })).await["createCustomer"]["id"].as_str().unwrap().to_owned();
    assert_eq!(sub.next_data().await["customerChanged"]["customer"]["name"], "Published");
    crm_testkit::wait_for("the published event to be forgotten", Duration::from_secs(10), nothing_staged).await;

    // What a process that died right after its commit leaves: an event staged, never published.
    let tenant: crm_core::TenantId = a.company_id.parse().unwrap();
    let kind = EventKind::CustomerChanged { customer_id: id.parse().unwrap(), change: ChangeKind::Updated };
    let mut tx = db.tenant(tenant).await.unwrap();
    let a_minute_ago = chrono::Utc::now().timestamp_millis() - 60_000;
    tx.stage_event(&Event::new(tenant, kind), a_minute_ago).await.unwrap();
    tx.commit().await.unwrap();
    let relayed = sub.next_data().await;
    assert_eq!(relayed["customerChanged"]["kind"], "UPDATED");
    assert_eq!(relayed["customerChanged"]["customerId"], id.as_str());
    crm_testkit::wait_for("the relayed event to be forgotten", Duration::from_secs(10), nothing_staged).await;

    // Delivered once: what comes next is the next change.
    api.ok(create, json!({ "n": "Next" })).await;
    assert_eq!(sub.next_data().await["customerChanged"]["customer"]["name"], "Next");
}
