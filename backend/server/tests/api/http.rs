use crm_testkit::TestApp;
use serde_json::{Value, json};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().text().await.unwrap(), "ok");
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let checks: Value = ready.json().await.unwrap();
    assert_eq!(checks, json!({ "database": true, "events": true, "storage": true }));
    app.gql().run("{ me { user { id } } }", json!({})).await;
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("crm_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/graphql\""));
}

#[tokio::test]
async fn transport_errors_are_typed_and_state_changes_need_post() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 4096).await;
    let post = |body: String, content_type: &'static str| {
        app.http.post(app.url("/graphql")).header("content-type", content_type).body(body).send()
    };
    let code = |v: &Value| v["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned();

    let r = post("{\"query\": \"{ me { user { id } } }\"}".into(), "text/plain").await.unwrap();
    assert_eq!(r.status(), 415);
    let r = post("{not json".into(), "application/json").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().await.unwrap()), "BAD_USER_INPUT");
    let big = json!({ "query": format!("{{ me {{ user {{ id }} }} }} #{}", "x".repeat(10_000)) }).to_string();
    let r = post(big, "application/json").await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(code(&r.json().await.unwrap()), "BAD_USER_INPUT");
    let r = app.http.get(app.url("/graphql?query=mutation%7Blogout%7D")).send().await.unwrap();
    assert_eq!(r.status(), 405, "no GraphQL over GET");

    let gql = app.gql();
    assert_eq!(gql.code("{ me { ", json!({})).await, "BAD_USER_INPUT");
    assert_eq!(gql.code("{ nope }", json!({})).await, "BAD_USER_INPUT");
    // Nesting past the depth limit is refused before running.
    let too_deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(12),
        "} ".repeat(12)
    );
    let body = gql.run(&too_deep, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{body}");
}

#[tokio::test]
async fn errors_never_leak_internals() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    // Force a database failure under a request: close the pool, then ask.
    app.running.app.db.connection().clone().close().await.unwrap();
    let body = gql.with_token(&owner.access).run("{ customers(first: 5) { totalCount } }", json!({})).await;
    let text = body.to_string();
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL", "{text}");
    for leak in ["sql", "SQL", "pool", "sqlx", "Connection"] {
        assert!(!text.contains(leak), "leaked {leak:?}: {text}");
    }
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let on = TestApp::spawn().await;
    let body = on.gql().run("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query", "{body}");
    let off = TestApp::spawn_with(|c| c.graphql_introspection = false).await;
    let body = off.gql().run("{ __schema { queryType { name } } }", json!({})).await;
    assert!(body["data"]["__schema"].is_null(), "{body}");
}
