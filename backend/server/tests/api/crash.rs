//! Kill -9 the server in the middle of a call: after a restart the call is closed as
//! interrupted, never left answered, and the audio spooled so far is repaired and uploaded.
use crate::sip_edge::{
    AGENT_ANSWERS, TRUNK_CALLS, assert_sides, free_media_port, free_port, kerio_trunk, register, sip_login, sipp_from,
    sipp_media, stereo_recording, tone_pcap,
};
use crate::two_processes::spawn_crm;
use crm_testkit::{Gql, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_killed_server_closes_its_calls_and_keeps_their_audio_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let sip_port = free_port("127.0.0.1").to_string();
    let sip_addr = format!("127.0.0.1:{sip_port}");
    let settings = [
        ("CRM_DATA_DIR", data.path().to_str().unwrap()),
        ("CRM_SIP_ADDR", sip_addr.as_str()),
        ("CRM_SIP_RTP_PORTS", "47000-47998"),
        ("CRM_EDGE_ID", "crash-test-edge"),
    ];
    let mut server = spawn_crm(&settings);
    let http = reqwest::Client::new();
    let gql = Gql::new(http.clone(), format!("http://{}/graphql", server.addr));
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let api = gql.with_token(&owner.access);
    kerio_trunk(&api, json!({})).await;
    let (user, password) = sip_login(&api, &owner.user_id).await;
    let edge: std::net::SocketAddr = sip_addr.parse().unwrap();
    let phone_port = free_port("127.0.0.3");
    assert!(sipp_from(edge, &register(&user, &password, 200), "127.0.0.3", phone_port, "x", false).await);

    // A long call: both sides talk for 10 s.
    let dir = tempfile::tempdir().unwrap();
    tone_pcap(&dir.path().join("trunk.pcap"), 440.0, 8, 10);
    tone_pcap(&dir.path().join("agent.pcap"), 1000.0, 8, 10);
    let agent_dir = dir.path().to_path_buf();
    let agent_scenario = AGENT_ANSWERS.replace("LAW", "8").replace("CODEC", "PCMA");
    let agent = tokio::spawn(async move {
        sipp_media(&agent_dir, None, &agent_scenario, ("127.0.0.3", phone_port), free_media_port("127.0.0.3"), "x")
            .await
    });
    let trunk_dir = dir.path().to_path_buf();
    let trunk_scenario = TRUNK_CALLS
        .replace("LAW", "8")
        .replace("CODEC", "PCMA")
        .replace("milliseconds=\"4000\"", "milliseconds=\"12000\"");
    let trunk = tokio::spawn(async move {
        let media = free_media_port("127.0.0.2");
        sipp_media(
            &trunk_dir,
            Some(edge),
            &trunk_scenario,
            ("127.0.0.2", free_port("127.0.0.2")),
            media,
            "+998712000000",
        )
        .await
    });

    // Once the call has been answered for 3 s, the server dies without any chance to clean up.
    let newest = |gql: Gql| async move {
        let query =
            "{ calls(first: 1) { edges { node { id status answeredAt recordingUrl recordingDurationSeconds } } } }";
        gql.ok(query, json!({})).await["calls"]["edges"][0]["node"].clone()
    };
    let answered: Value = wait_for("three seconds of talk", Duration::from_secs(30), || {
        let gql = api.clone();
        async move {
            let call = newest(gql).await;
            let at = chrono::DateTime::parse_from_rfc3339(call["answeredAt"].as_str()?).ok()?;
            (chrono::Utc::now().signed_duration_since(at) >= chrono::Duration::milliseconds(3000)).then_some(call)
        }
    })
    .await;
    assert_eq!(answered["status"], "ANSWERED");
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    trunk.abort();
    agent.abort();

    let restarted = spawn_crm(&settings);
    let api = Gql::new(http, format!("http://{}/graphql", restarted.addr)).with_token(&owner.access);
    let call = wait_for("the interrupted call's recording", Duration::from_secs(30), || {
        let gql = api.clone();
        async move {
            let call = newest(gql).await;
            (!call["recordingUrl"].is_null()).then_some(call)
        }
    })
    .await;
    assert_eq!(call["id"], answered["id"]);
    assert_eq!(call["status"], "INTERRUPTED", "never left answered");
    let seconds = call["recordingDurationSeconds"].as_f64().unwrap();
    assert!(seconds >= 2.0, "at least the checkpointed audio survives: {seconds} s");
    let url = call["recordingUrl"].as_str().unwrap();
    let (left, right) = stereo_recording(&reqwest::Client::new(), &restarted.addr, url).await;
    assert_sides(&left, &right, 4000..12000, "the audio before the crash");
}
