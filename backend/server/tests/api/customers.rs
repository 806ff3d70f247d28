use crm_testkit::TestApp;
use serde_json::json;

const CREATE: &str =
    "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id name phones responsibleUserId } }";
const UPDATE: &str = "mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id name phones responsibleUserId } }";
const PAGE: &str = "query($f: Int!, $a: String, $s: String) { customers(first: $f, after: $a, search: $s) {
    totalCount edges { cursor node { id name phones } } pageInfo { hasNextPage endCursor } } }";

#[tokio::test]
async fn customers_crud_with_normalised_phones() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let api = gql.with_token(&owner.access);
    let created = api
        .ok(CREATE, json!({ "i": { "name": "  Bob  ", "phones": ["90 123-45-67", "+998 (90) 1234567", "+1 202 555 0143"], "responsibleUserId": owner.user_id } }))
        .await;
    let c = &created["createCustomer"];
    assert_eq!(c["name"], "Bob");
    assert_eq!(c["phones"], json!(["+998901234567", "+12025550143"]), "E.164, duplicates folded");
    assert_eq!(c["responsibleUserId"], owner.user_id.as_str());
    let id = c["id"].as_str().unwrap().to_owned();

    let fetched = api.ok("query($id: ID!) { customer(id: $id) { name phones } }", json!({ "id": id })).await;
    assert_eq!(fetched["customer"]["phones"][0], "+998901234567");

    let updated = api.ok(UPDATE, json!({ "id": id, "i": { "name": "Robert", "responsibleUserId": null } })).await;
    assert_eq!(updated["updateCustomer"]["name"], "Robert");
    assert!(updated["updateCustomer"]["responsibleUserId"].is_null());
    assert_eq!(updated["updateCustomer"]["phones"].as_array().unwrap().len(), 2, "phones kept when not given");

    // Bad input changes nothing.
    assert_eq!(api.code(UPDATE, json!({ "id": id, "i": { "name": "X", "phones": ["12"] } })).await, "BAD_USER_INPUT");
    assert_eq!(
        api.code(UPDATE, json!({ "id": id, "i": { "responsibleUserId": uuid::Uuid::now_v7().to_string() } })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(api.code(CREATE, json!({ "i": { "name": "" } })).await, "BAD_USER_INPUT");
    assert_eq!(
        api.code(CREATE, json!({ "i": { "name": "Eve", "phones": ["call me maybe"] } })).await,
        "BAD_USER_INPUT"
    );
    let again = api.ok("query($id: ID!) { customer(id: $id) { name phones } }", json!({ "id": id })).await;
    assert_eq!(again["customer"]["name"], "Robert");
    assert_eq!(api.ok(PAGE, json!({ "f": 10 })).await["customers"]["totalCount"], 1);

    api.ok("mutation($id: ID!) { deleteCustomer(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(api.code("query($id: ID!) { customer(id: $id) { id } }", json!({ "id": id })).await, "NOT_FOUND");
    assert_eq!(
        api.code("mutation($id: ID!) { deleteCustomer(id: $id) { id } }", json!({ "id": id })).await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn customers_paginate_newest_first_and_search_by_name_or_any_phone_format() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let api = gql.with_token(&owner.access);
    for i in 0..7 {
        let phone = format!("+99890123450{i}");
        api.ok(CREATE, json!({ "i": { "name": format!("Customer {i}"), "phones": [phone] } })).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = api.ok(PAGE, json!({ "f": 3, "a": after })).await;
        let conn = &page["customers"];
        assert_eq!(conn["totalCount"], 7);
        for edge in conn["edges"].as_array().unwrap() {
            seen.push(edge["node"]["name"].as_str().unwrap().to_owned());
        }
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("Customer {i}")).collect();
    assert_eq!(seen, expected, "every customer once, newest first");

    // Without totalCount (nothing is counted), the page is the same.
    let uncounted =
        api.ok("{ customers(first: 2) { edges { node { name } } pageInfo { hasNextPage } } }", json!({})).await;
    assert_eq!(uncounted["customers"]["edges"][0]["node"]["name"], "Customer 6");
    assert_eq!(uncounted["customers"]["pageInfo"]["hasNextPage"], true);

    let by_name = api.ok(PAGE, json!({ "f": 10, "s": "customer 3" })).await;
    assert_eq!(by_name["customers"]["totalCount"], 1);
    // The same number typed locally, with punctuation.
    let by_phone = api.ok(PAGE, json!({ "f": 10, "s": "(90) 123-45-05" })).await;
    assert_eq!(by_phone["customers"]["edges"][0]["node"]["name"], "Customer 5");
    let none = api.ok(PAGE, json!({ "f": 10, "s": "100%_" })).await;
    assert_eq!(none["customers"]["totalCount"], 0, "LIKE wildcards are literal");

    assert_eq!(api.code(PAGE, json!({ "f": 0 })).await, "BAD_USER_INPUT");
    assert_eq!(api.code(PAGE, json!({ "f": 101 })).await, "BAD_USER_INPUT");
    assert_eq!(api.code(PAGE, json!({ "f": 5, "a": "not-a-cursor" })).await, "BAD_USER_INPUT");
}

#[tokio::test]
async fn agents_edit_customers_but_only_admins_delete() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let api = gql.with_token(&owner.access);
    let invite = "mutation { inviteUser(email: \"bob@acme.test\", name: \"Bob\", role: AGENT) { inviteToken } }";
    let token = api.ok(invite, json!({})).await["inviteUser"]["inviteToken"].as_str().unwrap().to_owned();
    let accept =
        "mutation($t: String!) { acceptInvite(inviteToken: $t, password: \"bob's long password\") { accessToken } }";
    let bob_token =
        gql.ok(accept, json!({ "t": token })).await["acceptInvite"]["accessToken"].as_str().unwrap().to_owned();
    let bob = gql.with_token(&bob_token);
    let id =
        bob.ok(CREATE, json!({ "i": { "name": "Lead" } })).await["createCustomer"]["id"].as_str().unwrap().to_owned();
    bob.ok(UPDATE, json!({ "id": id, "i": { "name": "Hot lead" } })).await;
    assert_eq!(
        bob.code("mutation($id: ID!) { deleteCustomer(id: $id) { id } }", json!({ "id": id })).await,
        "FORBIDDEN"
    );
    api.ok("mutation($id: ID!) { deleteCustomer(id: $id) { id } }", json!({ "id": id })).await;
}
