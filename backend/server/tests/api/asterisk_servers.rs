//! Companies register their own Asterisk over GraphQL: validated, admins only, the ARI password
//! sealed at rest and never returned, each company seeing its own.
use crm_testkit::TestApp;
use serde_json::json;

const ADD: &str = "mutation($i: AsteriskServerInput!) { addAsteriskServer(input: $i) { id name ariUrl username app status { connected error } } }";

fn server(ari_url: &str, app: &str) -> serde_json::Value {
    json!({ "i": { "name": "Office PBX", "ariUrl": ari_url, "username": "crm", "password": "s3cret-ari", "app": app } })
}

#[tokio::test]
async fn a_company_registers_its_asterisk_and_the_password_never_comes_back() {
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let a = gql.sign_up("Acme", "ann@acme.test").await;
    let b = gql.sign_up("Globex", "gus@globex.test").await;
    let (as_a, as_b) = (gql.with_token(&a.access), gql.with_token(&b.access));

    // Bad input: a typed error naming the field, and nothing stored.
    for (input, field) in [
        (server("ftp://10.0.0.5:8088", "crm"), "ariUrl"),
        (server("http://user:pw@10.0.0.5:8088", "crm"), "ariUrl"),
        (server("http://10.0.0.5:8088/ari/../x", "crm"), "ariUrl"),
        (server("http://10.0.0.5:8088", "crm app;x"), "app"),
    ] {
        let errors = as_a.run(ADD, input).await["errors"].clone();
        assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{errors}");
        assert_eq!(errors[0]["extensions"]["field"], field, "{errors}");
    }
    assert_eq!(as_a.ok("{ asteriskServers { id } }", json!({})).await["asteriskServers"], json!([]));

    let added = as_a.ok(ADD, server("http://10.0.0.5:8088/", "crm-acme")).await["addAsteriskServer"].clone();
    assert_eq!(added["ariUrl"], "http://10.0.0.5:8088");
    assert_eq!(added["app"], "crm-acme");
    assert_eq!(added["status"]["connected"], false, "no worker has connected yet");
    assert_eq!(as_a.code(ADD, server("http://10.0.0.5:8088", "crm-acme")).await, "CONFLICT");

    // The password is not part of the API at all.
    let asked = as_a.run("{ asteriskServers { password } }", json!({})).await;
    assert!(asked["errors"].is_array(), "{asked}");
    // At rest it is sealed, bound to its company and server.
    let targets = app.running.app.services.pbx_server_targets().await.unwrap();
    assert_eq!(targets.len(), 1);
    let sealed = &targets[0].server.sealed_password;
    assert!(sealed.starts_with("v1:") && !sealed.contains("s3cret"), "{sealed}");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&targets[0].password), "s3cret-ari");

    // Another company sees none of it and cannot remove it.
    assert_eq!(as_b.ok("{ asteriskServers { id } }", json!({})).await["asteriskServers"], json!([]));
    let remove = "mutation($id: ID!) { removeAsteriskServer(id: $id) }";
    assert_eq!(as_b.code(remove, json!({ "id": added["id"] })).await, "NOT_FOUND");
    assert_eq!(as_a.ok("{ asteriskServers { name } }", json!({})).await["asteriskServers"][0]["name"], "Office PBX");

    // A company with its own Asterisk renders its dialplan for its own ARI application.
    let config = as_a.ok("{ asteriskConfig { path content } }", json!({})).await["asteriskConfig"].clone();
    let dialplan =
        config.as_array().unwrap().iter().find(|f| f["path"].as_str().unwrap().starts_with("crm/extensions"));
    assert!(dialplan.unwrap()["content"].as_str().unwrap().contains("Stasis(crm-acme,"));

    as_a.ok(remove, json!({ "id": added["id"] })).await;
    assert_eq!(as_a.ok("{ asteriskServers { id } }", json!({})).await["asteriskServers"], json!([]));
    assert!(app.running.app.services.pbx_server_targets().await.unwrap().is_empty());
}
