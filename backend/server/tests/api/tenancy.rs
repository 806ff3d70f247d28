use crm_testkit::TestApp;
use serde_json::json;

const CREATE: &str =
    "mutation($n: String!) { createCustomer(input: { name: $n, phones: [\"+998901112233\"] }) { id } }";

#[tokio::test]
async fn companies_see_only_their_own_users_and_customers() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let a = gql.sign_up("Acme", "ann@acme.test").await;
    let b = gql.sign_up("Globex", "gus@globex.test").await;
    let (as_a, as_b) = (gql.with_token(&a.access), gql.with_token(&b.access));
    let a_customer =
        as_a.ok(CREATE, json!({ "n": "Acme's client" })).await["createCustomer"]["id"].as_str().unwrap().to_owned();
    as_b.ok(CREATE, json!({ "n": "Globex's client" })).await;

    let list = as_a.ok("{ customers(first: 50) { totalCount edges { node { name } } } }", json!({})).await;
    assert_eq!(list["customers"]["totalCount"], 1);
    assert_eq!(list["customers"]["edges"][0]["node"]["name"], "Acme's client");
    // Same phone in both companies: each search finds only its own.
    let search = as_b.ok("{ customers(first: 50, search: \"+998901112233\") { totalCount } }", json!({})).await;
    assert_eq!(search["customers"]["totalCount"], 1);

    let users = as_b.ok("{ users { email } }", json!({})).await;
    assert_eq!(users["users"], json!([{ "email": "gus@globex.test" }]));

    // B asking for A's customer by id: as if it did not exist.
    let get = "query($id: ID!) { customer(id: $id) { id } }";
    assert_eq!(as_b.code(get, json!({ "id": a_customer })).await, "NOT_FOUND");
    let update = "mutation($id: ID!) { updateCustomer(id: $id, input: { name: \"pwned\" }) { id } }";
    assert_eq!(as_b.code(update, json!({ "id": a_customer })).await, "NOT_FOUND");
    assert_eq!(
        as_b.code("mutation($id: ID!) { deleteCustomer(id: $id) { id } }", json!({ "id": a_customer })).await,
        "NOT_FOUND"
    );
    // B cannot change A's people either.
    let role = "mutation($u: ID!) { updateUserRole(userId: $u, role: AGENT) { id } }";
    assert_eq!(as_b.code(role, json!({ "u": a.user_id })).await, "NOT_FOUND");
    // B's API token is no better.
    let token =
        as_b.ok("mutation { createApiToken(name: \"t\", scopes: [\"customers:read\"]) { secret } }", json!({})).await;
    let b_token = gql.with_token(token["createApiToken"]["secret"].as_str().unwrap());
    assert_eq!(b_token.code(get, json!({ "id": a_customer })).await, "NOT_FOUND");

    let still = as_a.ok(get, json!({ "id": a_customer })).await;
    assert_eq!(still["customer"]["id"], a_customer.as_str());
    let name = as_a.ok("query($id: ID!) { customer(id: $id) { name } }", json!({ "id": a_customer })).await;
    assert_eq!(name["customer"]["name"], "Acme's client");
}
