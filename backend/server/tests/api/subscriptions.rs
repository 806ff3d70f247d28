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
