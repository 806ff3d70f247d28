//! The Asterisk path's configuration, rendered per company from its trunks and extensions.
use crm_testkit::TestApp;
use serde_json::json;

const QUERY: &str = "{ asteriskConfig { path content } }";

async fn company_with_trunk(app: &TestApp, name: &str) -> (crm_testkit::SignedUp, crm_testkit::Gql) {
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let trunk = json!({ "i": {
        "name": name, "sources": ["203.0.113.7"], "numbers": ["+998712000000"], "address": "203.0.113.7:5060",
        "registration": { "username": "trunkuser", "password": "pro;vider-pass", "domain": "provider.test" },
    } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;
    api.ok("mutation($u: ID!) { createSipExtension(userId: $u) { password } }", json!({ "u": owner.user_id })).await;
    (owner, api)
}

fn content<'a>(files: &'a serde_json::Value, prefix: &str) -> &'a str {
    files.as_array().unwrap().iter().find(|f| f["path"].as_str().unwrap().starts_with(prefix)).unwrap()["content"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn admins_download_their_asterisk_config_and_names_cannot_inject_lines() {
    let app = TestApp::spawn().await;
    let (owner, api) = company_with_trunk(&app, "Kerio\n[evil]\n#include /etc/passwd").await;
    let files = api.ok(QUERY, json!({})).await["asteriskConfig"].clone();
    let paths: Vec<&str> = files.as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    let tenant = owner.company_id.replace('-', "");
    assert!(paths.contains(&format!("crm/pjsip-{tenant}.conf").as_str()), "{paths:?}");
    assert!(!paths.contains(&"ari.conf"), "the installation's ARI password stays with the operator");
    let pjsip = content(&files, "crm/pjsip-");
    assert!(pjsip.contains("match = 203.0.113.7/32") && pjsip.contains("type = registration"));
    assert!(pjsip.contains("password = pro\\;vider-pass"), "the sealed password is opened and escaped");
    assert!(!pjsip.lines().any(|l| l.starts_with("[evil]") || l.starts_with("#include")), "{pjsip}");
    assert!(content(&files, "crm/extensions-").contains(&format!("Stasis(crm,{tenant},inbound,${{EXTEN}})")));

    // Agents may not, nor anyone signed out.
    let invite = "mutation { inviteUser(email: \"bob@acme.test\", name: \"Bob\", role: AGENT) { inviteToken } }";
    let token = api.ok(invite, json!({})).await["inviteUser"]["inviteToken"].as_str().unwrap().to_owned();
    let accept =
        "mutation($t: String!) { acceptInvite(inviteToken: $t, password: \"bob's long password\") { accessToken } }";
    let bob =
        app.gql().ok(accept, json!({ "t": token })).await["acceptInvite"]["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(app.gql().with_token(&bob).code(QUERY, json!({})).await, "FORBIDDEN");
    assert_eq!(app.gql().code(QUERY, json!({})).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_operator_command_writes_every_file_and_companies_share_one_folder() {
    let app = TestApp::spawn().await;
    let (first, _) = company_with_trunk(&app, "Kerio").await;
    let second = app.gql().sign_up("Beta", "bea@beta.test").await;
    let out = tempfile::tempdir().unwrap();
    for company in [&first.company_id, &second.company_id] {
        crm_server::asterisk_config::write(app.config.clone(), company, out.path()).await.unwrap();
    }
    for file in ["pjsip.conf", "extensions.conf", "ari.conf", "http.conf", "rtp.conf"] {
        assert!(out.path().join(file).is_file(), "{file}");
    }
    let own: Vec<_> = std::fs::read_dir(out.path().join("crm")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(own.len(), 4, "pjsip and extensions per company: {own:?}");
    let ari = std::fs::read_to_string(out.path().join("ari.conf")).unwrap();
    assert!(ari.contains("[crm]") && ari.contains("password = "));
    let error = crm_server::asterisk_config::write(app.config.clone(), "not-a-company", out.path()).await.unwrap_err();
    assert!(error.to_string().contains("--tenant"), "{error}");
}
