//! Trunks and SIP logins over GraphQL, and the inbound routing decision they drive.
use crm_core::telephony::Refusal;
use crm_testkit::TestApp;
use serde_json::json;

const CREATE: &str =
    "mutation($i: TrunkInput!) { createTrunk(input: $i) { id name sources numbers defaultCallerId qualify } }";

#[tokio::test]
async fn admins_manage_trunks_and_numbers_route_to_their_company() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let a = gql.sign_up("Acme", "ann@acme.test").await;
    let b = gql.sign_up("Globex", "gus@globex.test").await;
    let (as_a, as_b) = (gql.with_token(&a.access), gql.with_token(&b.access));

    let input = json!({ "name": "Kerio office", "sources": ["127.0.0.2", "10.20.30.40/29"], "numbers": ["71 200 00 00", "+998712000001"], "defaultCallerId": "712000000" });
    let trunk = as_a.ok(CREATE, json!({ "i": input })).await["createTrunk"].clone();
    assert_eq!(trunk["sources"], json!(["127.0.0.2/32", "10.20.30.40/29"]));
    assert_eq!(trunk["numbers"], json!(["+998712000000", "+998712000001"]));
    assert_eq!(trunk["defaultCallerId"], "+998712000000");
    assert_eq!(trunk["qualify"], true);

    // A number belongs to one company; bad input is refused and changes nothing.
    let taken = json!({ "i": { "name": "Mine", "sources": ["127.0.0.3"], "numbers": ["+998712000001"] } });
    assert_eq!(gql.with_token(&b.access).code(CREATE, taken).await, "CONFLICT");
    for bad in [
        json!({ "name": "x", "sources": [] }),
        json!({ "name": "x", "sources": ["0.0.0.0/0"] }),
        json!({ "name": "x", "sources": ["kerio.example"] }),
        json!({ "name": "x", "sources": ["127.0.0.3"], "numbers": ["12"] }),
        json!({ "name": "", "sources": ["127.0.0.3"] }),
    ] {
        assert_eq!(as_b.code(CREATE, json!({ "i": bad })).await, "BAD_USER_INPUT");
    }
    assert_eq!(as_b.ok("{ trunks { id } }", json!({})).await["trunks"], json!([]));

    // Routing: the number picks the company, and the source must be its trunk's.
    let services = &app.running.app.services;
    let route = services.route_inbound("10.20.30.44".parse().unwrap(), "998712000000").await.unwrap().unwrap();
    assert_eq!(route.tenant_id.to_string(), a.company_id);
    assert_eq!(route.number, "+998712000000");
    let from_elsewhere = services.route_inbound("127.0.0.9".parse().unwrap(), "+998712000000").await.unwrap();
    assert_eq!(from_elsewhere.unwrap_err(), Refusal::UnknownSource);
    let unknown = services.route_inbound("127.0.0.2".parse().unwrap(), "+998719999999").await.unwrap();
    assert_eq!(unknown.unwrap_err(), Refusal::UnknownNumber);

    // Other companies cannot see or touch it; its owner can change and delete it.
    let id = trunk["id"].as_str().unwrap();
    let update = "mutation($id: ID!, $i: TrunkInput!) { updateTrunk(id: $id, input: $i) { numbers sources } }";
    let change = json!({ "id": id, "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000002"] } });
    assert_eq!(as_b.code(update, change.clone()).await, "NOT_FOUND");
    assert_eq!(as_a.ok(update, change).await["updateTrunk"]["numbers"], json!(["+998712000002"]));
    let old = services.route_inbound("127.0.0.2".parse().unwrap(), "+998712000000").await.unwrap();
    assert_eq!(old.unwrap_err(), Refusal::UnknownNumber, "released numbers stop routing");
    assert_eq!(as_b.code("mutation($id: ID!) { deleteTrunk(id: $id) }", json!({ "id": id })).await, "NOT_FOUND");
    as_a.ok("mutation($id: ID!) { deleteTrunk(id: $id) }", json!({ "id": id })).await;
    assert_eq!(as_a.ok("{ trunks { id } }", json!({})).await["trunks"], json!([]));
}

#[tokio::test]
async fn sip_logins_are_generated_shown_once_and_checked_by_digest() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let api = gql.with_token(&owner.access);
    let create =
        "mutation($u: ID!) { createSipExtension(userId: $u) { password extension { username realm userId } } }";
    let created = api.ok(create, json!({ "u": owner.user_id })).await["createSipExtension"].clone();
    let username = created["extension"]["username"].as_str().unwrap();
    let password = created["password"].as_str().unwrap();
    assert!(password.len() >= 20);
    let listed = api.ok("{ sipExtensions { username userId } }", json!({})).await;
    assert_eq!(listed["sipExtensions"][0]["username"], username);
    assert!(!listed.to_string().contains(password), "the password is never shown again");

    let login = app.running.app.services.sip_login(username).await.unwrap().unwrap();
    assert_eq!(login.ha1, crm_core::telephony::ha1(username, password));
    assert!(app.running.app.services.sip_login("nobody").await.unwrap().is_none());
    assert_eq!(api.code(create, json!({ "u": uuid::Uuid::now_v7().to_string() })).await, "NOT_FOUND");

    // A new login replaces the old one.
    let again = api.ok(create, json!({ "u": owner.user_id })).await;
    assert_ne!(again["createSipExtension"]["extension"]["username"], username);
    assert!(app.running.app.services.sip_login(username).await.unwrap().is_none());
}
