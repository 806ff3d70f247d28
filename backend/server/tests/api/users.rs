use crm_testkit::TestApp;
use serde_json::json;

const INVITE: &str = "mutation($e: String!, $n: String!, $r: Role!) { inviteUser(email: $e, name: $n, role: $r) { user { id role active } inviteToken } }";
const ACCEPT: &str =
    "mutation($t: String!, $p: String!) { acceptInvite(inviteToken: $t, password: $p) { accessToken } }";
const ROLE: &str = "mutation($u: ID!, $r: Role!) { updateUserRole(userId: $u, role: $r) { id role } }";

#[tokio::test]
async fn invited_people_join_with_roles_that_are_enforced() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let as_owner = gql.with_token(&owner.access);

    let invited = as_owner.ok(INVITE, json!({ "e": "bob@acme.test", "n": "Bob", "r": "AGENT" })).await;
    let bob_id = invited["inviteUser"]["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(invited["inviteUser"]["user"]["active"], false);
    let token = invited["inviteUser"]["inviteToken"].as_str().unwrap();
    assert_eq!(gql.code(ACCEPT, json!({ "t": token, "p": "short" })).await, "BAD_USER_INPUT");
    let accepted = gql.ok(ACCEPT, json!({ "t": token, "p": "bob's long password" })).await;
    let bob = gql.with_token(accepted["acceptInvite"]["accessToken"].as_str().unwrap());
    // An invitation works once.
    assert_eq!(gql.code(ACCEPT, json!({ "t": token, "p": "bob's long password" })).await, "NOT_FOUND");

    let users = bob.ok("{ users { email role active } }", json!({})).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 2);

    // Agents cannot manage the team or tokens.
    assert_eq!(bob.code(INVITE, json!({ "e": "eve@acme.test", "n": "Eve", "r": "ADMIN" })).await, "FORBIDDEN");
    assert_eq!(bob.code(ROLE, json!({ "u": bob_id, "r": "ADMIN" })).await, "FORBIDDEN");
    assert_eq!(
        bob.code("mutation { createApiToken(name: \"x\", scopes: [\"customers:read\"]) { secret } }", json!({})).await,
        "FORBIDDEN"
    );
    assert_eq!(as_owner.code(INVITE, json!({ "e": "bob@acme.test", "n": "Bob", "r": "AGENT" })).await, "CONFLICT");

    // The owner promotes Bob; it applies on his next request.
    let promoted = as_owner.ok(ROLE, json!({ "u": bob_id, "r": "ADMIN" })).await;
    assert_eq!(promoted["updateUserRole"]["role"], "ADMIN");
    bob.ok(INVITE, json!({ "e": "eve@acme.test", "n": "Eve", "r": "AGENT" })).await;
    // Admins cannot touch owners, and the last owner cannot step down.
    assert_eq!(bob.code(ROLE, json!({ "u": owner.user_id, "r": "AGENT" })).await, "FORBIDDEN");
    assert_eq!(as_owner.code(ROLE, json!({ "u": owner.user_id, "r": "ADMIN" })).await, "BAD_USER_INPUT");
    assert_eq!(as_owner.code(ROLE, json!({ "u": uuid::Uuid::now_v7().to_string(), "r": "ADMIN" })).await, "NOT_FOUND");
}

#[tokio::test]
async fn a_person_can_belong_to_two_companies() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let a = gql.sign_up("Acme", "ann@acme.test").await;
    let b = gql.sign_up("Globex", "gus@globex.test").await;
    let invited = gql.with_token(&b.access).ok(INVITE, json!({ "e": "ann@acme.test", "n": "Ann", "r": "AGENT" })).await;
    assert!(invited["inviteUser"]["inviteToken"].is_null(), "existing accounts need no invitation token");
    let login = "mutation($c: ID) { login(email: \"ann@acme.test\", password: \"correct horse battery\", companyId: $c) { accessToken companyId } }";
    assert_eq!(gql.ok(login, json!({})).await["login"]["companyId"], a.company_id.as_str());
    let in_b = gql.ok(login, json!({ "c": b.company_id })).await;
    assert_eq!(in_b["login"]["companyId"], b.company_id.as_str());
    let me = gql
        .with_token(in_b["login"]["accessToken"].as_str().unwrap())
        .ok("{ me { user { role } company { name } } }", json!({}))
        .await;
    assert_eq!(me["me"]["company"]["name"], "Globex");
    assert_eq!(me["me"]["user"]["role"], "AGENT");
}
