//! The built-in SIP edge against a real SIP peer: sipp plays Kerio Control's trunk and a phone.
use crm_core::telephony::Presence;
use crm_testkit::TestApp;
use serde_json::json;
use std::time::Duration;

const HEADERS: &str = r#"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]"#;

fn invite(expect: u16) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="inbound INVITE">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {HEADERS}
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      CSeq: 1 INVITE
      Contact: <sip:kerio@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio 40000 RTP/AVP 0 8
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="{expect}"/>
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {HEADERS}
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: 1 ACK
      Content-Length: 0
  ]]></send>
</scenario>"#
    )
}

/// A REGISTER for `user` from sipp, with `auth` (sipp's [authentication ...] keyword) or none.
fn register_request(user: &str, cseq: u32, auth: &str) -> String {
    format!(
        r#"<send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      {HEADERS}
      From: <sip:{user}@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{user}@[remote_ip]>
      CSeq: {cseq} REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Expires: 300
      {auth}
      Content-Length: 0
  ]]></send>"#
    )
}

fn register(user: &str, password: &str, expect: u16) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="REGISTER with digest">
  {}
  <recv response="401" auth="true"/>
  {}
  <recv response="{expect}"/>
</scenario>"#,
        register_request(user, 1, ""),
        register_request(user, 2, &format!("[authentication username={user} password={password}]"))
    )
}

/// Any REGISTER from a blocked address is refused outright.
fn blocked(user: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="REGISTER from a blocked address">
  {}
  <recv response="403"/>
</scenario>"#,
        register_request(user, 1, "")
    )
}

/// A broken To header: the edge must answer 400, and nothing after it.
const MALFORMED: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="malformed INVITE">
  <send><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <<<not a uri
      CSeq: 1 INVITE
      Content-Length: 0
  ]]></send>
  <recv response="400"/>
  <pause milliseconds="1500"/>
</scenario>"#;

const OPTIONS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="keep-alive">
  <send retrans="500"><![CDATA[
      OPTIONS sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: <sip:kerio@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:crm@[remote_ip]>
      CSeq: 1 OPTIONS
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>"#;

fn free_port(ip: &str) -> u16 {
    std::net::UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

/// Runs one sipp call of `scenario` from `local_ip` (UDP, or TCP with `tcp`); true when it passed.
async fn sipp(edge: std::net::SocketAddr, scenario: &str, local_ip: &str, service: &str, tcp: bool) -> bool {
    sipp_from(edge, scenario, local_ip, free_port(local_ip), service, tcp).await
}

async fn sipp_from(
    edge: std::net::SocketAddr,
    scenario: &str,
    local_ip: &str,
    port: u16,
    service: &str,
    tcp: bool,
) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.xml");
    std::fs::write(&file, scenario).unwrap();
    let mut command = tokio::process::Command::new("sipp");
    command
        .arg(edge.to_string())
        .args(["-sf", file.to_str().unwrap(), "-s", service, "-i", local_ip, "-p", &port.to_string()])
        .args(["-m", "1", "-timeout", "15s", "-timeout_error", "-nostdin", "-trace_err"])
        .args(["-error_file", dir.path().join("errors.log").to_str().unwrap()])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if tcp {
        command.args(["-t", "t1"]);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("sipp finished in time")
        .expect("sipp runs: install Debian's sip-tester (e2e/run does)");
    if !output.status.success() {
        let errors = std::fs::read_to_string(dir.path().join("errors.log")).unwrap_or_default();
        eprintln!("sipp failed: {}\n{errors}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}

async fn metrics(app: &TestApp) -> String {
    app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

fn counter(metrics: &str, name: &str) -> f64 {
    metrics.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

async fn app_with_edge() -> TestApp {
    TestApp::spawn_with(|c| c.sip_addr = "127.0.0.1:0".into()).await
}

#[tokio::test]
async fn the_trunk_is_refused_from_unknown_addresses_and_for_unknown_numbers() {
    let app = app_with_edge().await;
    let edge = app.running.sip.as_ref().unwrap().addr;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let trunk = json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000000"] } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;

    // Metrics are per process and tests run side by side: compare growth, at least.
    let before = metrics(&app).await;
    assert!(sipp(edge, OPTIONS, "127.0.0.2", "crm", false).await, "OPTIONS keep-alives are answered");
    assert!(sipp(edge, &invite(403), "127.0.0.5", "+998712000000", false).await, "unknown source: 403");
    assert!(sipp(edge, &invite(403), "127.0.0.5", "+998712000000", true).await, "over TCP too");
    assert!(sipp(edge, &invite(404), "127.0.0.2", "+998719999999", false).await, "unknown number: 404");
    assert!(sipp(edge, &invite(404), "127.0.0.5", "sales", false).await, "not a number at all: 404");
    assert!(sipp(edge, MALFORMED, "127.0.0.2", "+998712000000", false).await, "malformed: a 400 and nothing else");

    // Refused calls leave nothing behind.
    let calls = api.ok("{ calls(first: 10) { totalCount } }", json!({})).await;
    assert_eq!(calls["calls"]["totalCount"], 0);
    let after = metrics(&app).await;
    let grew = |name: &str| counter(&after, name) - counter(&before, name);
    assert!(grew("crm_sip_inbound_refused_total{reason=\"unknown_source\"}") >= 2.0);
    assert!(grew("crm_sip_inbound_refused_total{reason=\"unknown_number\"}") >= 2.0);
    assert!(grew("crm_sip_malformed_total") >= 1.0);
}

#[tokio::test]
async fn phones_register_with_their_password_and_guessers_are_blocked() {
    let app = app_with_edge().await;
    let sip = app.running.sip.as_ref().unwrap();
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let created = api
        .ok(
            "mutation($u: ID!) { createSipExtension(userId: $u) { password extension { username } } }",
            json!({ "u": owner.user_id }),
        )
        .await;
    let user = created["createSipExtension"]["extension"]["username"].as_str().unwrap().to_owned();
    let password = created["createSipExtension"]["password"].as_str().unwrap().to_owned();
    let (tenant, user_id) = (owner.company_id.parse().unwrap(), owner.user_id.parse().unwrap());

    let phone_port = free_port("127.0.0.3");
    let phone =
        |scenario: String| async move { sipp_from(sip.addr, &scenario, "127.0.0.3", phone_port, "x", false).await };
    assert!(phone(register(&user, &password, 200)).await, "the right password registers");
    // Registration status is visible in the API.
    let listed = api.ok("{ sipExtensions { username registrations { contact source expiresAt } } }", json!({})).await;
    let registrations = listed["sipExtensions"][0]["registrations"].as_array().unwrap().clone();
    assert_eq!(registrations.len(), 1);
    assert_eq!(
        registrations[0]["source"],
        format!("127.0.0.3:{phone_port}"),
        "calls will go where the phone really is"
    );

    // Wrong passwords are challenged again, and after five the address is blocked.
    for _ in 0..5 {
        assert!(sipp(sip.addr, &register(&user, "not-the-password", 401), "127.0.0.4", "x", false).await);
    }
    assert!(sipp(sip.addr, &blocked(&user), "127.0.0.4", "x", false).await, "blocked address gets 403");
    assert!(phone(register(&user, &password, 200)).await, "others are not blocked");
    assert_eq!(sip.registrar.phones(tenant, user_id).len(), 1, "a refreshed contact is not duplicated");
}
