//! Outward registration: a provider (played by sipp) wants us to REGISTER with digest credentials.
use crate::sip_edge::{free_media_port, free_port, newest_call_becomes, sipp, sipp_media, trunk_gets};
use crm_testkit::{Gql, TestApp, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

fn reply(status: &str, extra: &str) -> String {
    format!(
        r#"<send><![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      {extra}Content-Length: 0
  ]]></send>"#
    )
}

/// One challenged REGISTER: 401, then the answer is checked against `password` (a wrong one gets
/// 403 and fails the scenario) and granted for `granted` seconds. `expect` must match the REGISTER.
fn challenged(round: u32, password: &str, expect: &str, granted: u32) -> String {
    format!(
        r#"<recv request="REGISTER"/>
  {challenge}
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="valid{round}" username="trunkuser" password="{password}"/>
      <ereg regexp="{expect}" search_in="msg" check_it="true" assign_to="seen{round}"/>
    </action>
  </recv>
  <Reference variables="seen{round}"/>
  <nop test="valid{round}" next="ok{round}"/>
  {forbidden}
  <recv request="NEVER" timeout="1000"/>
  <label id="ok{round}"/>
  {ok}"#,
        challenge = reply(
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"provider.test\", nonce=\"n0nce[call_number]x\", algorithm=MD5\n      "
        ),
        forbidden = reply("403 Forbidden", ""),
        ok = reply("200 OK", &format!("[last_Contact:]\n      Expires: {granted}\n      ")),
    )
}

/// The provider: a registration, its refresh, and the unregistration when the trunk goes.
fn provider(password: &str) -> String {
    let contact = "Contact: *&lt;sip:trunkuser@127\\.0\\.0\\.1:[0-9]+&gt;";
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="provider registrar">
  {}
  {}
  {}
</scenario>"#,
        challenged(1, password, contact, 2),
        challenged(2, password, contact, 3600),
        challenged(3, password, "Expires: *0", 0),
    )
}

async fn registration(api: &Gql) -> Value {
    api.ok("{ trunks { registration { username domain registered error expiresAt checkedAt } } }", json!({})).await
        ["trunks"][0]["registration"]
        .clone()
}

fn trunk_input(port: u16, password: &str) -> Value {
    json!({ "i": {
        "name": "Provider", "sources": ["127.0.0.4"], "numbers": ["+998712000000"],
        "address": format!("127.0.0.4:{port}"), "qualify": false,
        "registration": { "username": "trunkuser", "password": password, "domain": "provider.test", "expiresSecs": 120 },
    } })
}

async fn app() -> (TestApp, Gql) {
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = "127.0.0.1:0".into();
        c.sip_qualify_secs = 1;
    })
    .await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    (app, api)
}

#[tokio::test]
async fn we_register_to_the_provider_keep_it_alive_and_unregister_when_the_trunk_goes() {
    let (app, api) = app().await;
    let port = free_port("127.0.0.4");
    let dir = tempfile::tempdir().unwrap();
    let registrar = {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move {
            sipp_media(&dir, None, &provider("provider-pass"), ("127.0.0.4", port), free_media_port("127.0.0.4"), "x")
                .await
        })
    };
    let created = api
        .ok(
            "mutation($i: TrunkInput!) { createTrunk(input: $i) { id registration { username registered } } }",
            trunk_input(port, "provider-pass"),
        )
        .await["createTrunk"]
        .clone();
    assert_eq!(created["registration"], json!({ "username": "trunkuser", "registered": false }));

    let first = wait_for("registered", Duration::from_secs(15), || {
        let api = api.clone();
        async move { Some(registration(&api).await).filter(|r| r["registered"] == true) }
    })
    .await;
    assert_eq!(first["domain"], "provider.test");
    assert!(first["error"].is_null());
    // The provider granted 2 s: we come back before that runs out.
    wait_for("registration refreshed", Duration::from_secs(15), || {
        let api = api.clone();
        let before = first["expiresAt"].clone();
        async move { Some(registration(&api).await).filter(|r| r["registered"] == true && r["expiresAt"] != before) }
    })
    .await;

    // The password is needed in the clear for digest, so it is sealed, not hashed, at rest.
    let company =
        api.ok("{ me { company { id } } }", json!({})).await["me"]["company"]["id"].as_str().unwrap().parse().unwrap();
    let mut tx = crm_core::ports::Database::tenant(&app.running.app.db, company).await.unwrap();
    let stored = tx.trunks().await.unwrap().remove(0).registration.unwrap().sealed_password;
    tx.commit().await.unwrap();
    assert!(stored.starts_with("v1:") && !stored.contains("provider-pass"), "{stored}");

    api.ok("mutation($id: ID!) { deleteTrunk(id: $id) }", json!({ "id": created["id"] })).await;
    assert!(registrar.await.unwrap(), "the provider saw two valid registrations and the unregistration");
}

#[tokio::test]
async fn a_refused_registration_is_shown_with_the_registrars_answer() {
    let (_app, api) = app().await;
    let port = free_port("127.0.0.4");
    let dir = tempfile::tempdir().unwrap();
    let registrar = {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move {
            sipp_media(&dir, None, &provider("provider-pass"), ("127.0.0.4", port), free_media_port("127.0.0.4"), "x")
                .await
        })
    };
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk_input(port, "wrong-pass")).await;
    let refused = wait_for("the refusal shown", Duration::from_secs(15), || {
        let api = api.clone();
        async move { Some(registration(&api).await).filter(|r| !r["error"].is_null()) }
    })
    .await;
    assert_eq!(refused["registered"], false);
    assert_eq!(refused["error"], "403 Forbidden");
    assert!(!registrar.await.unwrap(), "the provider refused the wrong password");
}

#[tokio::test]
async fn registration_settings_are_checked() {
    let (_app, api) = app().await;
    let mutation = "mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }";
    let mut no_address = trunk_input(5060, "provider-pass");
    no_address["i"]["address"] = Value::Null;
    assert_eq!(api.code(mutation, no_address).await, "BAD_USER_INPUT");
    let mut injected = trunk_input(5060, "provider-pass");
    injected["i"]["registration"]["username"] = json!("user@evil>;x");
    assert_eq!(api.code(mutation, injected).await, "BAD_USER_INPUT");
    let mut domain = trunk_input(5060, "provider-pass");
    domain["i"]["registration"]["domain"] = json!("provider.test\r\nVia: x");
    assert_eq!(api.code(mutation, domain).await, "BAD_USER_INPUT");
    assert_eq!(api.ok("{ trunks { id } }", json!({})).await["trunks"], json!([]));
}

#[tokio::test]
async fn a_provider_calling_our_registered_contact_names_the_number_in_to() {
    let (app, api) = app().await;
    let edge = app.running.sip.as_ref().unwrap().addr;
    let mut input = trunk_input(free_port("127.0.0.4"), "provider-pass");
    input["i"]["registration"] = Value::Null;
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", input).await;
    // Request URI: our login at our Contact; To: the company's number. Nobody is registered: 480.
    let scenario = trunk_gets(480)
        .replace("sip:[service]@[remote_ip]:[remote_port] SIP/2.0", "sip:trunkuser@[remote_ip]:[remote_port] SIP/2.0");
    assert!(sipp(edge, &scenario, "127.0.0.4", "+998712000000", false).await);
    let fields = "status toNumber";
    newest_call_becomes(&api, fields, json!({ "status": "MISSED", "toNumber": "+998712000000" })).await;
}
