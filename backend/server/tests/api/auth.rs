use crm_testkit::TestApp;
use serde_json::json;

const ME: &str = "{ me { user { id email role } company { id name } } }";
const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }";

#[tokio::test]
async fn sign_up_creates_company_and_owner_who_can_log_in() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let me = gql.with_token(&owner.access).ok(ME, json!({})).await;
    assert_eq!(me["me"]["user"]["email"], "ann@acme.test");
    assert_eq!(me["me"]["user"]["role"], "OWNER");
    assert_eq!(me["me"]["company"]["name"], "Acme");

    // Emails are case-insensitive.
    let login = gql.ok(LOGIN, json!({ "e": "ANN@acme.test", "p": "correct horse battery" })).await;
    let token = login["login"]["accessToken"].as_str().unwrap();
    let me2 = gql.with_token(token).ok(ME, json!({})).await;
    assert_eq!(me2["me"]["user"]["id"], me["me"]["user"]["id"]);
}

#[tokio::test]
async fn bad_sign_ups_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    gql.sign_up("Acme", "ann@acme.test").await;
    let sign_up = "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }";
    let input = |email: &str, password: &str, country: &str| json!({ "input": { "company": "Other", "name": "X", "email": email, "password": password, "defaultCountry": country } });
    assert_eq!(gql.code(sign_up, input("ANN@acme.test", "another long password", "US")).await, "CONFLICT");
    assert_eq!(gql.code(sign_up, input("not-an-email", "another long password", "US")).await, "BAD_USER_INPUT");
    assert_eq!(gql.code(sign_up, input("bob@other.test", "short", "US")).await, "BAD_USER_INPUT");
    assert_eq!(gql.code(sign_up, input("bob@other.test", "another long password", "ZZ")).await, "BAD_USER_INPUT");
    // None of the refused sign-ups left an account behind.
    assert_eq!(
        gql.code(LOGIN, json!({ "e": "bob@other.test", "p": "another long password" })).await,
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn wrong_password_is_unauthenticated_and_attempts_are_rate_limited() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    gql.sign_up("Acme", "ann@acme.test").await;
    for _ in 0..5 {
        assert_eq!(gql.code(LOGIN, json!({ "e": "ann@acme.test", "p": "wrong password!" })).await, "UNAUTHENTICATED");
    }
    // Past the limit even the right password is refused until the window passes.
    let body = gql.run(LOGIN, json!({ "e": "ann@acme.test", "p": "correct horse battery" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().unwrap() > 0);
    // Unknown accounts count against the address too.
    for i in 0..20 {
        let code = gql.code(LOGIN, json!({ "e": format!("nobody{i}@acme.test"), "p": "whatever password" })).await;
        assert!(code == "UNAUTHENTICATED" || code == "RATE_LIMITED");
    }
    assert_eq!(gql.code(LOGIN, json!({ "e": "someone@else.test", "p": "whatever password" })).await, "RATE_LIMITED");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_session() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;

    let first = gql.ok(REFRESH, json!({ "t": owner.refresh })).await;
    let rotated = first["refreshSession"]["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(rotated, owner.refresh);
    let access = first["refreshSession"]["accessToken"].as_str().unwrap().to_owned();
    gql.with_token(&access).ok(ME, json!({})).await;

    // The old token again: theft is assumed, the whole session ends.
    assert_eq!(gql.code(REFRESH, json!({ "t": owner.refresh })).await, "UNAUTHENTICATED");
    assert_eq!(gql.code(REFRESH, json!({ "t": rotated })).await, "UNAUTHENTICATED");
    assert_eq!(gql.with_token(&access).code(ME, json!({})).await, "UNAUTHENTICATED");

    assert_eq!(gql.code(REFRESH, json!({ "t": "crm_rt_garbage" })).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let me = gql.with_token(&owner.access);
    // Checked just before, so the process has this session's answer at hand.
    me.ok(ME, json!({})).await;
    me.ok("mutation { logout }", json!({})).await;
    assert_eq!(me.code(ME, json!({})).await, "UNAUTHENTICATED");
    assert_eq!(gql.code(REFRESH, json!({ "t": owner.refresh })).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn tampered_and_expired_access_tokens_are_refused() {
    let app = TestApp::spawn_with(|c| c.access_token_ttl_secs = 1).await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let mut parts: Vec<String> = owner.access.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert_eq!(gql.with_token(&parts.join(".")).code(ME, json!({})).await, "UNAUTHENTICATED");
    assert_eq!(gql.with_token("nonsense").code(ME, json!({})).await, "UNAUTHENTICATED");
    assert_eq!(gql.code(ME, json!({})).await, "UNAUTHENTICATED");

    // A token signed with another installation's key.
    let other =
        TestApp::spawn_with(|c| c.secret_key = Some("another-installation-secret-key-0123456789".to_owned().into()))
            .await;
    let foreign = other.gql().sign_up("Other", "x@other.test").await;
    assert_eq!(gql.with_token(&foreign.access).code(ME, json!({})).await, "UNAUTHENTICATED");

    crm_testkit::wait_for("the access token to expire", std::time::Duration::from_secs(5), || {
        let client = gql.with_token(&owner.access);
        async move {
            (client.run(ME, json!({})).await["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED").then_some(())
        }
    })
    .await;
    // The refresh token still gets a fresh one.
    gql.ok(REFRESH, json!({ "t": owner.refresh })).await;
}
