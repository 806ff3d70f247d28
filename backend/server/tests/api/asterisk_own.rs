//! A company's own Asterisk, registered over GraphQL: a worker connects to it (its link shows
//! on the company's record) and the company's click-to-calls go through it.
use crate::asterisk_calls::{ARI_PASSWORD, agent_online, asterisk_app, prefix, start_asterisk};
use crate::sip_edge::{KERIO_ANSWERS, baresip, free_media_port, free_port, newest_call_becomes, sipp_media, tone_pcap};
use crm_testkit::wait_for;
use serde_json::json;
use std::time::Duration;

const SIP: &str = "127.0.0.1:5165";
const ARI: &str = "127.0.0.1:8193";

#[tokio::test]
async fn a_companys_own_asterisk_carries_its_click_to_calls() {
    if prefix().is_none() {
        return;
    }
    let app = asterisk_app(SIP, ARI).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let kerio_port = free_port("127.0.0.2");
    crate::sip_edge::kerio_trunk(&api, json!({ "qualify": false, "address": format!("127.0.0.2:{kerio_port}") })).await;
    let customer = api
        .ok("mutation { createCustomer(input: { name: \"Bob\", phones: [\"+998901234567\"] }) { id } }", json!({}))
        .await["createCustomer"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (user, password) = crate::sip_edge::sip_login(&api, &owner.user_id).await;
    let server = json!({ "i": { "name": "Office PBX", "ariUrl": format!("http://{ARI}"), "username": "crm", "password": ARI_PASSWORD, "app": "crm-acme" } });
    api.ok("mutation($i: AsteriskServerInput!) { addAsteriskServer(input: $i) { id } }", server).await;
    let asterisk = start_asterisk(&app, &owner.company_id).await.unwrap();

    // Its worker connects and says so on the company's record.
    wait_for("the company's Asterisk connected", Duration::from_secs(40), || {
        let api = api.clone();
        async move {
            let servers = api.ok("{ asteriskServers { status { connected error since } } }", json!({})).await;
            let status = servers["asteriskServers"][0]["status"].clone();
            (status["connected"] == true && status["error"].is_null() && !status["since"].is_null()).then_some(())
        }
    })
    .await;

    let listen = format!("127.0.0.7:{}", free_port("127.0.0.7"));
    let _agent = baresip(SIP.parse().unwrap(), &user, &password, &listen, 1000.0);
    agent_online(ARI, &user).await;

    // Kerio answers the customer's leg, checks the number and the trunk's caller ID (Asterisk
    // may add a display name), plays its tone and hangs up after 4 s.
    let dir = tempfile::tempdir().unwrap();
    tone_pcap(&dir.path().join("trunk.pcap"), 440.0, 8, 4);
    let scenario = KERIO_ANSWERS.replace("From: &lt;sip:", "From: [^&lt;]*&lt;sip:");
    let kerio = {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move {
            sipp_media(&dir, None, &scenario, ("127.0.0.2", kerio_port), free_media_port("127.0.0.2"), "x").await
        })
    };
    wait_for("Kerio listening", Duration::from_secs(10), || async {
        std::net::UdpSocket::bind(("127.0.0.2", kerio_port)).is_err().then_some(())
    })
    .await;

    let dial = "mutation($c: ID!) { dial(customerId: $c) { id direction status toNumber fromNumber } }";
    let placed = api.ok(dial, json!({ "c": customer })).await["dial"].clone();
    assert_eq!(placed["direction"], "OUTBOUND");
    assert_eq!(placed["status"], "RINGING");
    assert_eq!(placed["fromNumber"], "+998712000000");
    assert!(kerio.await.unwrap(), "Kerio was asked for the customer's number with the trunk's caller ID");
    newest_call_becomes(
        &api,
        "status hangupBy direction userId",
        json!({ "status": "COMPLETED", "hangupBy": "CUSTOMER", "direction": "OUTBOUND", "userId": owner.user_id }),
    )
    .await;
    let call = crate::sip_edge::newest_recorded_call(&api, "customer { name }").await;
    assert_eq!(call["customer"]["name"], "Bob");
    asterisk.assert_recorded_sides(&app, call["recordingUrl"].as_str().unwrap(), 4000..12000, "the call's start").await;
    asterisk.assert_media_passed_through();
}
