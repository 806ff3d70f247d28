use crm_testkit::TestApp;
use serde_json::json;

const CREATE: &str = "mutation($n: String!, $s: [String!]!) { createApiToken(name: $n, scopes: $s) { secret apiToken { id preview scopes lastUsedAt } } }";
const REVOKE: &str = "mutation($id: ID!) { revokeApiToken(id: $id) { id revokedAt } }";
const LIST: &str = "{ customers(first: 5) { totalCount } }";

#[tokio::test]
async fn api_tokens_work_until_revoked_and_are_stored_hashed() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let as_owner = gql.with_token(&owner.access);
    let created = as_owner.ok(CREATE, json!({ "n": "Zapier", "s": ["customers:read", "customers:write"] })).await;
    let secret = created["createApiToken"]["secret"].as_str().unwrap().to_owned();
    let id = created["createApiToken"]["apiToken"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("crm_pat_"), "recognisable by its prefix");
    let preview = created["createApiToken"]["apiToken"]["preview"].as_str().unwrap();
    assert!(preview.starts_with("crm_pat_…") && secret.ends_with(&preview["crm_pat_…".len()..]), "{preview}");
    assert!(created["createApiToken"]["apiToken"]["lastUsedAt"].is_null());

    let integration = gql.with_token(&secret);
    integration.ok("mutation { createCustomer(input: { name: \"From Zapier\" }) { id } }", json!({})).await;
    assert_eq!(integration.ok(LIST, json!({})).await["customers"]["totalCount"], 1);

    // The list never shows the secret again, and records use.
    let tokens = as_owner.ok("{ apiTokens { id name preview lastUsedAt revokedAt } }", json!({})).await;
    assert!(!tokens.to_string().contains(&secret));
    assert!(tokens["apiTokens"][0]["lastUsedAt"].is_string());

    // Scopes: this token may not read the team; and tokens cannot manage tokens.
    assert_eq!(integration.code("{ users { id } }", json!({})).await, "FORBIDDEN");
    assert_eq!(integration.code(CREATE, json!({ "n": "x", "s": ["customers:read"] })).await, "FORBIDDEN");

    let revoked = as_owner.ok(REVOKE, json!({ "id": id })).await;
    assert!(revoked["revokeApiToken"]["revokedAt"].is_string());
    assert_eq!(integration.code(LIST, json!({})).await, "UNAUTHENTICATED");

    // A forged token with the right shape does not work.
    let forged = format!("{}{}", &secret[..secret.len() - 4], "AAAA");
    assert_eq!(gql.with_token(&forged).code(LIST, json!({})).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn bad_token_requests_are_typed_errors() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let as_owner = gql.with_token(&owner.access);
    assert_eq!(as_owner.code(CREATE, json!({ "n": "x", "s": ["everything"] })).await, "BAD_USER_INPUT");
    assert_eq!(as_owner.code(CREATE, json!({ "n": "x", "s": [] })).await, "BAD_USER_INPUT");
    assert_eq!(as_owner.code(CREATE, json!({ "n": "", "s": ["customers:read"] })).await, "BAD_USER_INPUT");
    assert_eq!(as_owner.code(REVOKE, json!({ "id": uuid::Uuid::now_v7().to_string() })).await, "NOT_FOUND");
    assert_eq!(as_owner.code(REVOKE, json!({ "id": "1" })).await, "BAD_USER_INPUT");
    let tokens = as_owner.ok("{ apiTokens { id } }", json!({})).await;
    assert_eq!(tokens["apiTokens"].as_array().unwrap().len(), 0, "nothing was created by the refused calls");
}
