//! The Asterisk path when things go wrong: a busy agent, a recording that cannot be stored at
//! first, and Redis restarting in the middle of a call.
use crate::asterisk_calls::{agent_online, asterisk_app, link, link_becomes, prefix, start_asterisk};
use crate::sip_edge::{
    AGENT_BUSY, TRUNK_CALLS, baresip, free_media_port, free_port, newest_call_becomes, newest_recorded_call, register,
    sipp, sipp_from, sipp_media, tone_pcap, trunk_gets,
};
use crm_testkit::{TestApp, wait_for};
use serde_json::json;
use std::time::Duration;

/// A company with a Kerio trunk, a customer, and its owner's extension: (api, owner, user, password).
async fn company(app: &TestApp) -> (crm_testkit::Gql, crm_testkit::SignedUp, String, String) {
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    crate::sip_edge::kerio_trunk(&api, json!({ "qualify": false })).await;
    let customer =
        json!({ "i": { "name": "Bob Caller", "phones": ["+998901234567"], "responsibleUserId": owner.user_id } });
    api.ok("mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", customer).await;
    let (user, password) = crate::sip_edge::sip_login(&api, &owner.user_id).await;
    (api, owner, user, password)
}

/// The trunk calls for `seconds`, playing 440 Hz; true when the call went as planned.
fn trunk_call(sip: &str, seconds: u32) -> tokio::task::JoinHandle<bool> {
    let sip = sip.parse().unwrap();
    tokio::spawn(async move {
        let dir = tempfile::tempdir().unwrap();
        tone_pcap(&dir.path().join("trunk.pcap"), 440.0, 8, seconds);
        let scenario = TRUNK_CALLS
            .replace("LAW", "8")
            .replace("CODEC", "PCMA")
            .replace("\"4000\"", &format!("\"{}\"", seconds * 1000));
        let local = ("127.0.0.2", free_port("127.0.0.2"));
        sipp_media(dir.path(), Some(sip), &scenario, local, free_media_port("127.0.0.2"), "+998712000000").await
    })
}

#[tokio::test]
async fn a_busy_agent_behind_asterisk_gives_the_trunk_busy_and_leaves_a_callback() {
    if prefix().is_none() {
        return;
    }
    let (sip, ari) = ("127.0.0.1:5166", "127.0.0.1:8194");
    let app = asterisk_app(sip, ari).await;
    let (api, owner, user, password) = company(&app).await;
    let _asterisk = start_asterisk(&app, &owner.company_id).await.unwrap();
    link_becomes(&api, true).await;

    // The agent's phone registers with Asterisk, then answers the call "486 Busy Here".
    let phone_port = free_port("127.0.0.3");
    assert!(
        sipp_from(sip.parse().unwrap(), &register(&user, &password, 200), "127.0.0.3", phone_port, "x", false).await
    );
    agent_online(ari, &user).await;
    let dir = tempfile::tempdir().unwrap();
    let phone = {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move {
            sipp_media(&dir, None, AGENT_BUSY, ("127.0.0.3", phone_port), free_media_port("127.0.0.3"), "x").await
        })
    };
    wait_for("the phone listening", Duration::from_secs(10), || async {
        std::net::UdpSocket::bind(("127.0.0.3", phone_port)).is_err().then_some(())
    })
    .await;

    assert!(
        sipp(sip.parse().unwrap(), &trunk_gets(486), "127.0.0.2", "+998712000000", false).await,
        "the trunk hears 486 Busy Here"
    );
    assert!(phone.await.unwrap(), "the phone was rung and said busy");
    newest_call_becomes(
        &api,
        "status hangupBy sipCause",
        json!({ "status": "MISSED", "hangupBy": "AGENT", "sipCause": 486 }),
    )
    .await;
    let tasks = api.ok("{ tasks { kind assigneeId } }", json!({})).await["tasks"].clone();
    assert_eq!(tasks, json!([{ "kind": "callback", "assigneeId": owner.user_id }]));
}

#[tokio::test]
async fn a_recording_that_cannot_be_stored_yet_is_retried_until_it_is() {
    if prefix().is_none() {
        return;
    }
    let (sip, ari) = ("127.0.0.1:5167", "127.0.0.1:8195");
    let app = asterisk_app(sip, ari).await;
    let (api, owner, user, password) = company(&app).await;
    let asterisk = start_asterisk(&app, &owner.company_id).await.unwrap();
    link_becomes(&api, true).await;
    let listen = format!("127.0.0.7:{}", free_port("127.0.0.7"));
    let _agent = baresip(sip.parse().unwrap(), &user, &password, &listen, 1000.0);
    agent_online(ari, &user).await;

    // The spool cannot take files: its folder is replaced by a file.
    let spool = app.config.data_dir.join("spool");
    let aside = app.config.data_dir.join("spool-aside");
    std::fs::rename(&spool, &aside).unwrap();
    std::fs::write(&spool, b"").unwrap();

    assert!(trunk_call(sip, 4).await.unwrap());
    newest_call_becomes(&api, "status", json!({ "status": "COMPLETED" })).await;
    let services = &app.running.app.services;
    let key = format!("http://{ari}/crm");
    let failed = wait_for("a failed attempt written down", Duration::from_secs(40), || async {
        services.pbx_calls(&key).await.unwrap().into_iter().find(|r| r.attempts >= 1)
    })
    .await;
    assert!(failed.last_error.as_deref().is_some_and(|e| e.contains("spool")), "{failed:?}");
    let query = "{ calls(first: 1) { edges { node { recordingUrl } } } }";
    assert!(api.ok(query, json!({})).await["calls"]["edges"][0]["node"]["recordingUrl"].is_null());

    // Once the spool is back, a retry stores it, from Asterisk's copy.
    std::fs::remove_file(&spool).unwrap();
    std::fs::rename(&aside, &spool).unwrap();
    let call = newest_recorded_call(&api, "status").await;
    let url = call["recordingUrl"].as_str().unwrap();
    asterisk.assert_recorded_sides(&app, url, 4000..12000, "stored by the retry").await;
    wait_for("the job done", Duration::from_secs(10), || async {
        services.pbx_calls(&key).await.unwrap().is_empty().then_some(())
    })
    .await;
}

/// A Redis server of the test's own, so it can be restarted (it keeps nothing on disk).
struct Redis {
    child: tokio::process::Child,
    port: u16,
}

impl Redis {
    async fn start(port: u16) -> Self {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts");
        wait_for("Redis listening", Duration::from_secs(10), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(drop)
        })
        .await;
        Self { child, port }
    }
}

#[tokio::test]
async fn a_redis_restart_mid_call_loses_neither_the_call_nor_its_recording() {
    if prefix().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = Redis::start(port).await;
    let (sip, ari) = ("127.0.0.1:5168", "127.0.0.1:8196");
    let app = TestApp::spawn_with(|c| {
        c.asterisk_worker = true;
        c.asterisk_ari_addr = ari.parse().unwrap();
        c.asterisk_ari_password = Some(crate::asterisk_calls::ARI_PASSWORD.to_owned().into());
        c.asterisk_sip_addr = sip.parse().unwrap();
        c.asterisk_rtp_ports = "32000-32999".into();
        c.sip_local_nets = "127.0.0.0/8".into();
        c.redis_url = Some(format!("redis://127.0.0.1:{port}").into());
    })
    .await;
    let (api, owner, user, password) = company(&app).await;
    let _asterisk = start_asterisk(&app, &owner.company_id).await.unwrap();
    link_becomes(&api, true).await;
    let listen = format!("127.0.0.7:{}", free_port("127.0.0.7"));
    let _agent = baresip(sip.parse().unwrap(), &user, &password, &listen, 1000.0);
    agent_online(ari, &user).await;

    let trunk = trunk_call(sip, 20);
    newest_call_becomes(&api, "status", json!({ "status": "ANSWERED" })).await;
    // Redis goes away: the worker cannot renew its lease and lets the Asterisk go...
    redis.child.kill().await.unwrap();
    wait_for("the lease given up", Duration::from_secs(20), || {
        let api = api.clone();
        async move { link(&api).await["error"].as_str().is_some_and(|e| e.contains("Redis")).then_some(()) }
    })
    .await;
    // ...and takes it again when Redis is back, empty.
    let _redis = Redis::start(redis.port).await;
    link_becomes(&api, true).await;

    assert!(trunk.await.unwrap(), "the trunk's call went on to its own hang-up");
    let call = newest_recorded_call(&api, "status hangupBy").await;
    assert_eq!(call["status"], "COMPLETED");
    assert_eq!(call["hangupBy"], "CUSTOMER");
    let url = call["recordingUrl"].as_str().unwrap();
    let (left, right) = crate::sip_edge::stereo_recording(&app.http, app.addr, url).await;
    assert!(left.len() >= 18 * 8000, "the recording runs to the end of the call: {} s", left.len() / 8000);
    crate::sip_edge::assert_sides(&left, &right, 4000..12000, "the call's start");
    crate::sip_edge::assert_sides(&left, &right, left.len() - 8000..left.len(), "the call's last second");
}
