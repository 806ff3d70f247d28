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
pub(crate) fn register_request(user: &str, cseq: u32, auth: &str) -> String {
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

pub(crate) fn register(user: &str, password: &str, expect: u16) -> String {
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

pub(crate) fn free_port(ip: &str) -> u16 {
    std::net::UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

/// An even port on `ip` with the three above it free as well, for sipp's `-mp`: it binds audio
/// RTP there and video RTP two above. `free_media_port(ip)` checked neither port sipp binds, and a
/// concurrent test's socket on the video port failed a run ("Unable to bind video RTP socket").
pub(crate) fn free_media_port(ip: &str) -> u16 {
    for _ in 0..100 {
        let first = free_port(ip) & !1;
        let Some(last) = first.checked_add(3) else { continue };
        let held: Vec<_> = (first..=last).filter_map(|port| std::net::UdpSocket::bind((ip, port)).ok()).collect();
        if held.len() == 4 {
            return first;
        }
    }
    panic!("no four free ports in a row on {ip}");
}

/// Runs one sipp call of `scenario` from `local_ip` (UDP, or TCP with `tcp`); true when it passed.
pub(crate) async fn sipp(edge: std::net::SocketAddr, scenario: &str, local_ip: &str, service: &str, tcp: bool) -> bool {
    sipp_from(edge, scenario, local_ip, free_port(local_ip), service, tcp).await
}

pub(crate) async fn sipp_from(
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
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
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

/// A generated SIP login for `user_id`: (username, password).
pub(crate) async fn sip_login(api: &crm_testkit::Gql, user_id: &str) -> (String, String) {
    let query = "mutation($u: ID!) { createSipExtension(userId: $u) { password extension { username } } }";
    let created = api.ok(query, json!({ "u": user_id })).await["createSipExtension"].clone();
    (created["extension"]["username"].as_str().unwrap().to_owned(), created["password"].as_str().unwrap().to_owned())
}

/// The company's Kerio trunk: calls from 127.0.0.2 to +998712000000, plus `extra` settings.
pub(crate) async fn kerio_trunk(api: &crm_testkit::Gql, extra: serde_json::Value) {
    let mut input = json!({ "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000000"] });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", json!({ "i": input })).await;
}

async fn metrics(app: &TestApp) -> String {
    app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

fn counter(metrics: &str, name: &str) -> f64 {
    metrics.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

/// Waits until the newest call reads `expected` (the edge closes calls just after the SIP exchange).
pub(crate) async fn newest_call_becomes(api: &crm_testkit::Gql, fields: &str, expected: serde_json::Value) {
    let query = format!("{{ calls(first: 1) {{ edges {{ node {{ {fields} }} }} }} }}");
    let mut last = serde_json::Value::Null;
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            last = api.ok(&query, json!({})).await["calls"]["edges"][0]["node"].clone();
            if last == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "the newest call is {last}, expected {expected}");
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
    kerio_trunk(&api, json!({})).await;

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
    let (user, password) = sip_login(&api, &owner.user_id).await;
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

/// A pcap of `seconds` of a `freq` tone as G.711 RTP (`payload_type` 0 or 8), for sipp to play.
pub(crate) fn tone_pcap(path: &std::path::Path, freq: f64, payload_type: u8, seconds: u32) {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        if v == 0x0004_0002 {
            out.extend_from_slice(&2u16.to_le_bytes());
            out.extend_from_slice(&4u16.to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    for n in 0..seconds * 50 {
        let payload: Vec<u8> = (0..160)
            .map(|i| {
                let s = (9000.0 * (2.0 * std::f64::consts::PI * freq * f64::from(n * 160 + i) / 8000.0).sin()) as i16;
                if payload_type == 0 {
                    crm_recording::g711::linear_to_ulaw(s)
                } else {
                    crm_recording::g711::linear_to_alaw(s)
                }
            })
            .collect();
        let mut rtp = vec![0x80, payload_type];
        rtp.extend_from_slice(&(n as u16).to_be_bytes());
        rtp.extend_from_slice(&(n * 160).to_be_bytes());
        rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
            127,
            0,
            0,
            1,
            127,
            0,
            0,
            1,
        ]);
        frame.extend_from_slice(&[0x13, 0x88, 0x13, 0x88, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
        frame.extend_from_slice(&rtp);
        let micros = u64::from(n) * 20_000;
        out.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

pub(crate) const AGENT_ANSWERS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent's phone answers">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Length: 0
  ]]></send>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP LAW
      a=rtpmap:LAW CODEC/8000
  ]]></send>
  <recv request="ACK" crlf="true"/>
  <nop><action><exec play_pcap_audio="agent.pcap"/></action></nop>
  <recv request="BYE"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
</scenario>"#;

pub(crate) const TRUNK_CALLS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Kerio sends a call">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      CSeq: 1 INVITE
      Contact: <sip:kerio@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP LAW 101
      a=rtpmap:LAW CODEC/8000
      a=rtpmap:101 telephone-event/8000
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: 1 ACK
      Content-Length: 0
  ]]></send>
  <nop><action><exec play_pcap_audio="trunk.pcap"/></action></nop>
  <pause milliseconds="4000"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: 2 BYE
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>"#;

/// sipp with its media on `media_port`, run in `dir` (where its pcap is).
pub(crate) async fn sipp_media(
    dir: &std::path::Path,
    target: Option<std::net::SocketAddr>,
    scenario: &str,
    local: (&str, u16),
    media_port: u16,
    service: &str,
) -> bool {
    let file = dir.join(format!("{}.xml", local.1));
    std::fs::write(&file, scenario).unwrap();
    let mut command = tokio::process::Command::new("sipp");
    if let Some(target) = target {
        command.arg(target.to_string());
    }
    command
        .args(["-sf", file.to_str().unwrap(), "-s", service, "-i", local.0, "-p", &local.1.to_string()])
        .args([
            "-mi",
            local.0,
            "-mp",
            &media_port.to_string(),
            "-m",
            "1",
            "-timeout",
            "40s",
            "-timeout_error",
            "-nostdin",
        ])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let output =
        tokio::time::timeout(Duration::from_secs(60), command.output()).await.expect("sipp ends").expect("sipp runs");
    if !output.status.success() {
        eprintln!("sipp failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}

/// Waits until the newest call has its recording linked, and returns it with `fields`.
pub(crate) async fn newest_recorded_call(api: &crm_testkit::Gql, fields: &str) -> serde_json::Value {
    let query = format!("{{ calls(first: 1) {{ edges {{ node {{ recordingUrl {fields} }} }} }} }}");
    crm_testkit::wait_for("the recording", Duration::from_secs(40), || {
        let (api, query) = (api.clone(), query.clone());
        async move {
            let c = api.ok(&query, json!({})).await["calls"]["edges"][0]["node"].clone();
            (!c["recordingUrl"].is_null()).then_some(c)
        }
    })
    .await
}

/// Asserts that the stored stereo recording at `url` holds the customer's tone (440 Hz) on the
/// left and the agent's (1000 Hz) on the right over `frames`.
pub(crate) async fn assert_recorded_sides(app: &TestApp, url: &str, frames: std::ops::Range<usize>, what: &str) {
    let (left, right) = stereo_recording(&app.http, app.addr, url).await;
    assert_sides(&left, &right, frames, what);
}

/// Asserts the customer's tone (440 Hz) on `left` and the agent's (1000 Hz) on `right` over
/// `frames`. A failure shows where each side sounds over the whole recording, so a late start, a
/// gap or an early end can be told apart.
pub(crate) fn assert_sides(left: &[i16], right: &[i16], frames: std::ops::Range<usize>, what: &str) {
    assert!(
        frames.end <= left.len() && frames.end <= right.len(),
        "{what}: the recording is too short: {}",
        sound_maps(left, right)
    );
    let (l, r) = (frequency(&left[frames.clone()]), frequency(&right[frames.clone()]));
    assert!(
        (l - 440.0).abs() < 15.0 && (r - 1000.0).abs() < 15.0,
        "{what}: over samples {frames:?}, left (customer) is {l} Hz, right (agent) {r} Hz; {}",
        sound_maps(left, right)
    );
}

/// Each side's tone per 250 ms: its frequency in hundreds of Hz as one base-36 digit ('4' for
/// 440 Hz, 'a' for 1000 Hz), '.' where it is silent.
fn sound_maps(left: &[i16], right: &[i16]) -> String {
    let map = |samples: &[i16]| -> String {
        samples
            .chunks(2000)
            .map(|block| {
                let hundreds = (frequency(block) / 100.0).round() as u32;
                if hundreds == 0 { '.' } else { char::from_digit(hundreds.min(35), 36).unwrap_or('?') }
            })
            .collect()
    };
    format!("left {}, right {}", map(left), map(right))
}

/// Downloads the recording at `url` from the server at `addr`: (left, right) samples.
pub(crate) async fn stereo_recording(
    http: &reqwest::Client,
    addr: impl std::fmt::Display,
    url: &str,
) -> (Vec<i16>, Vec<i16>) {
    let wav = http.get(format!("http://{addr}{url}")).send().await.unwrap().bytes().await.unwrap();
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).unwrap();
    assert_eq!(reader.spec().channels, 2, "recordings are stereo");
    let all: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    (all.iter().step_by(2).copied().collect(), all.iter().skip(1).step_by(2).copied().collect())
}

/// The tone's frequency, from zero crossings over the 20 ms blocks that carry sound: a short
/// dropout (a busy machine, a late packet) does not pull the estimate down.
pub(crate) fn frequency(samples: &[i16]) -> f64 {
    // A block sounds when its mean level is near the loudest block's (a block cut by a dropout
    // is left out, so its missing crossings do not count against the tone).
    let levels: Vec<f64> = samples
        .chunks(160)
        .map(|block| block.iter().map(|s| f64::from(s.unsigned_abs())).sum::<f64>() / block.len() as f64)
        .collect();
    let loudest = levels.iter().copied().fold(0.0, f64::max);
    let loud: Vec<bool> = levels.iter().map(|level| loudest > 500.0 && *level >= loudest * 0.8).collect();
    let (mut crossings, mut pairs) = (0usize, 0usize);
    for (i, w) in samples.windows(2).enumerate() {
        if loud[i / 160] && loud[(i + 1) / 160] {
            pairs += 1;
            crossings += usize::from((w[0] < 0) != (w[1] < 0));
        }
    }
    crossings as f64 / 2.0 / (pairs.max(1) as f64 / 8000.0)
}

#[tokio::test]
async fn a_trunk_call_rings_the_responsible_manager_and_both_sides_are_recorded() {
    for (law, codec) in [(8u8, "PCMA"), (0, "PCMU")] {
        let app = TestApp::spawn_with(|c| {
            c.sip_addr = "127.0.0.1:0".into();
            c.sip_rtp_ports = if law == 8 { "42000-42998".into() } else { "43000-43998".into() };
        })
        .await;
        let sip = app.running.sip.as_ref().unwrap();
        let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
        let api = app.gql().with_token(&owner.access);
        kerio_trunk(&api, json!({})).await;
        let customer =
            json!({ "i": { "name": "Bob Caller", "phones": ["+998901234567"], "responsibleUserId": owner.user_id } });
        api.ok("mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", customer).await;
        let (user, password) = sip_login(&api, &owner.user_id).await;

        // The agent's phone registers, then waits for calls on the same address.
        let dir = tempfile::tempdir().unwrap();
        tone_pcap(&dir.path().join("trunk.pcap"), 440.0, law, 3);
        tone_pcap(&dir.path().join("agent.pcap"), 1000.0, law, 3);
        let phone_port = free_port("127.0.0.3");
        assert!(sipp_from(sip.addr, &register(&user, &password, 200), "127.0.0.3", phone_port, "x", false).await);
        let agent_scenario = AGENT_ANSWERS.replace("LAW", &law.to_string()).replace("CODEC", codec);
        let agent_dir = dir.path().to_path_buf();
        let agent = tokio::spawn(async move {
            sipp_media(&agent_dir, None, &agent_scenario, ("127.0.0.3", phone_port), free_media_port("127.0.0.3"), "x")
                .await
        });
        let mut events =
            app.subscribe(&owner.access, "subscription { callEvents { id status customer { name } } }").await;

        let trunk_scenario = TRUNK_CALLS.replace("LAW", &law.to_string()).replace("CODEC", codec);
        let trunk_ok = sipp_media(
            dir.path(),
            Some(sip.addr),
            &trunk_scenario,
            ("127.0.0.2", free_port("127.0.0.2")),
            free_media_port("127.0.0.2"),
            "+998712000000",
        )
        .await;
        assert!(trunk_ok, "the trunk's call goes through ({codec})");
        assert!(agent.await.unwrap(), "the agent's phone rang, answered and was hung up on");

        let ringing = events.next_data().await;
        assert_eq!(ringing["callEvents"]["status"], "RINGING");
        assert_eq!(ringing["callEvents"]["customer"]["name"], "Bob Caller", "the pop-up carries the card");
        assert_eq!(events.next_data().await["callEvents"]["status"], "ANSWERED");
        assert_eq!(events.next_data().await["callEvents"]["status"], "COMPLETED");

        let id = ringing["callEvents"]["id"].as_str().unwrap().to_owned();
        let query = "query($id: ID!) { call(id: $id) { status hangupBy userId answeredAt endedAt recordingUrl recordingDurationSeconds } }";
        let call = crm_testkit::wait_for("the recording", Duration::from_secs(20), || {
            let api = api.clone();
            let id = id.clone();
            async move {
                let c = api.ok(query, json!({ "id": id })).await["call"].clone();
                (!c["recordingUrl"].is_null()).then_some(c)
            }
        })
        .await;
        assert_eq!(call["status"], "COMPLETED");
        assert_eq!(call["hangupBy"], "CUSTOMER");
        assert_eq!(call["userId"], owner.user_id.as_str());
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(call[k].as_str().unwrap()).unwrap();
        let talk = (at("endedAt") - at("answeredAt")).num_milliseconds() as f64 / 1000.0;
        let recorded = call["recordingDurationSeconds"].as_f64().unwrap();
        assert!((recorded - talk).abs() <= 0.5, "recording {recorded} s vs talk {talk} s");

        // The middle of the 3 s both sides talked.
        assert_recorded_sides(&app, call["recordingUrl"].as_str().unwrap(), 8000..16000, codec).await;
    }
}

/// The trunk's INVITE (fixed branch, so CANCEL can match it), then what `rest` says.
fn trunk_invite(rest: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Kerio call, not answered">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-inv-[call_number]-[pid]
      Max-Forwards: 70
      Call-ID: [call_id]
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
      m=audio 40000 RTP/AVP 8
  ]]></send>
  <recv response="100" optional="true"/>
  {rest}
</scenario>"#
    )
}

fn trunk_ack() -> &'static str {
    r#"<send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-inv-[call_number]-[pid]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: 1 ACK
      Content-Length: 0
  ]]></send>"#
}

pub(crate) fn trunk_gets(code: u16) -> String {
    trunk_invite(&format!(
        "<recv response=\"180\" optional=\"true\"/>\n  <recv response=\"{code}\"/>\n  {}",
        trunk_ack()
    ))
}

fn trunk_cancels() -> String {
    trunk_invite(&format!(
        r#"<recv response="180"/>
  <pause milliseconds="500"/>
  <send><![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-inv-[call_number]-[pid]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      CSeq: 1 CANCEL
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
  <recv response="487"/>
  {}"#,
        trunk_ack()
    ))
}

pub(crate) const AGENT_BUSY: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent's phone is busy">
  <recv request="INVITE"/>
  <send><![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
  <recv request="ACK"/>
</scenario>"#;

const AGENT_RINGS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent's phone rings until cancelled">
  <recv request="INVITE">
    <action><ereg regexp="CSeq: *[0-9]+ INVITE" search_in="msg" assign_to="invite_cseq"/></action>
  </recv>
  <send><![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
  <recv request="CANCEL"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
  <send><![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [$invite_cseq]
      Content-Length: 0
  ]]></send>
  <recv request="ACK"/>
</scenario>"#;

#[tokio::test]
async fn unanswered_trunk_calls_are_missed_as_a_pbx_user_expects() {
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = "127.0.0.1:0".into();
        c.sip_rtp_ports = "44000-44998".into();
    })
    .await;
    let sip = app.running.sip.as_ref().unwrap();
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    kerio_trunk(&api, json!({})).await;
    let fields = "status hangupBy sipCause";

    // Nobody's phone is registered: the caller hears "unavailable".
    assert!(sipp(sip.addr, &trunk_gets(480), "127.0.0.2", "+998712000000", false).await);
    newest_call_becomes(&api, fields, json!({ "status": "MISSED", "hangupBy": "SYSTEM", "sipCause": 480 })).await;

    let (user, password) = sip_login(&api, &owner.user_id).await;
    let phone_port = free_port("127.0.0.3");
    assert!(sipp_from(sip.addr, &register(&user, &password, 200), "127.0.0.3", phone_port, "x", false).await);
    let dir = tempfile::tempdir().unwrap();
    let phone = |scenario: &'static str| {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move {
            sipp_media(&dir, None, scenario, ("127.0.0.3", phone_port), free_media_port("127.0.0.3"), "x").await
        })
    };

    // The agent is busy: the caller hears busy.
    let agent = phone(AGENT_BUSY);
    assert!(sipp(sip.addr, &trunk_gets(486), "127.0.0.2", "+998712000000", false).await);
    assert!(agent.await.unwrap());
    newest_call_becomes(&api, fields, json!({ "status": "MISSED", "hangupBy": "AGENT", "sipCause": 486 })).await;

    // The caller gives up while the phone rings: the phone stops ringing.
    let agent = phone(AGENT_RINGS);
    assert!(sipp(sip.addr, &trunk_cancels(), "127.0.0.2", "+998712000000", false).await);
    assert!(agent.await.unwrap(), "the agent's phone was cancelled");
    newest_call_becomes(&api, fields, json!({ "status": "MISSED", "hangupBy": "CUSTOMER", "sipCause": 487 })).await;
}

/// The trunk's call is answered, put on hold and resumed by re-INVITEs, then hung up.
fn trunk_holds() -> String {
    let reinvite = |cseq: u32, direction: &str, expect: &str| {
        format!(
            r#"<send retrans="500"><![CDATA[
      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: {cseq} INVITE
      Contact: <sip:kerio@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 {cseq} IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio 40002 RTP/AVP 8
      a={direction}
  ]]></send>
  <recv response="200">
    <action><ereg regexp="a={expect}" search_in="body" check_it="true" assign_to="dir{cseq}"/><log message="[$dir{cseq}]"/></action>
  </recv>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: {cseq} ACK
      Content-Length: 0
  ]]></send>"#
        )
    };
    let scenario = TRUNK_CALLS.replace("LAW", "8").replace("CODEC", "PCMA");
    let scenario = scenario.replace(
        r#"<nop><action><exec play_pcap_audio="trunk.pcap"/></action></nop>
  <pause milliseconds="4000"/>"#,
        &format!(
            "{}\n  <pause milliseconds=\"500\"/>\n  {}",
            reinvite(2, "sendonly", "recvonly"),
            reinvite(3, "sendrecv", "sendrecv")
        ),
    );
    scenario.replace("CSeq: 2 BYE", "CSeq: 4 BYE")
}

#[tokio::test]
async fn hold_and_resume_by_re_invite_keep_the_call() {
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = "127.0.0.1:0".into();
        c.sip_rtp_ports = "45000-45998".into();
    })
    .await;
    let sip = app.running.sip.as_ref().unwrap();
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    kerio_trunk(&api, json!({})).await;
    let (user, password) = sip_login(&api, &owner.user_id).await;
    let phone_port = free_port("127.0.0.3");
    assert!(sipp_from(sip.addr, &register(&user, &password, 200), "127.0.0.3", phone_port, "x", false).await);
    let dir = tempfile::tempdir().unwrap();
    tone_pcap(&dir.path().join("agent.pcap"), 1000.0, 8, 1);
    let agent_scenario = AGENT_ANSWERS.replace("LAW", "8").replace("CODEC", "PCMA");
    let agent_dir = dir.path().to_path_buf();
    let agent = tokio::spawn(async move {
        sipp_media(&agent_dir, None, &agent_scenario, ("127.0.0.3", phone_port), free_media_port("127.0.0.3"), "x")
            .await
    });
    let trunk_ok = sipp_media(
        dir.path(),
        Some(sip.addr),
        &trunk_holds(),
        ("127.0.0.2", free_port("127.0.0.2")),
        free_media_port("127.0.0.2"),
        "+998712000000",
    )
    .await;
    assert!(trunk_ok, "hold is answered recvonly, resume sendrecv, and the call carries on");
    assert!(agent.await.unwrap());
    newest_call_becomes(&api, "status hangupBy", json!({ "status": "COMPLETED", "hangupBy": "CUSTOMER" })).await;
}

/// An agent of the company with a registered phone at `ip`; returns (user id, phone port).
async fn agent_with_phone(
    app: &TestApp,
    api: &crm_testkit::Gql,
    edge: std::net::SocketAddr,
    email: &str,
    ip: &str,
) -> (String, u16) {
    let invited = api
        .ok(
            "mutation($e: String!) { inviteUser(email: $e, name: \"Agent\", role: AGENT) { user { id } inviteToken } }",
            json!({ "e": email }),
        )
        .await;
    let user_id = invited["inviteUser"]["user"]["id"].as_str().unwrap().to_owned();
    let token = invited["inviteUser"]["inviteToken"].as_str().unwrap();
    app.gql()
        .ok(
            "mutation($t: String!) { acceptInvite(inviteToken: $t, password: \"agent's password\") { accessToken } }",
            json!({ "t": token }),
        )
        .await;
    let (user, password) = sip_login(api, &user_id).await;
    let port = free_port(ip);
    assert!(sipp_from(edge, &register(&user, &password, 200), ip, port, "x", false).await);
    (user_id, port)
}

#[tokio::test]
async fn without_the_responsible_manager_every_agent_rings_and_the_first_to_answer_takes_it() {
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = "127.0.0.1:0".into();
        c.sip_rtp_ports = "46000-46998".into();
    })
    .await;
    let sip = app.running.sip.as_ref().unwrap();
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    kerio_trunk(&api, json!({})).await;
    // The customer's manager (the owner) has no phone registered.
    let customer =
        json!({ "i": { "name": "Bob Caller", "phones": ["+998901234567"], "responsibleUserId": owner.user_id } });
    api.ok("mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", customer).await;
    let (_busy_agent, busy_port) = agent_with_phone(&app, &api, sip.addr, "busy@acme.test", "127.0.0.3").await;
    let (free_agent, free_port_) = agent_with_phone(&app, &api, sip.addr, "free@acme.test", "127.0.0.4").await;

    let dir = tempfile::tempdir().unwrap();
    tone_pcap(&dir.path().join("agent.pcap"), 1000.0, 8, 1);
    tone_pcap(&dir.path().join("trunk.pcap"), 440.0, 8, 1);
    let run = |scenario: String, ip: &'static str, port: u16| {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move { sipp_media(&dir, None, &scenario, (ip, port), free_media_port(ip), "x").await })
    };
    let busy = run(AGENT_BUSY.to_owned(), "127.0.0.3", busy_port);
    let answers = run(AGENT_ANSWERS.replace("LAW", "8").replace("CODEC", "PCMA"), "127.0.0.4", free_port_);
    let trunk_ok = sipp_media(
        dir.path(),
        Some(sip.addr),
        &TRUNK_CALLS.replace("LAW", "8").replace("CODEC", "PCMA"),
        ("127.0.0.2", free_port("127.0.0.2")),
        free_media_port("127.0.0.2"),
        "+998712000000",
    )
    .await;
    assert!(trunk_ok);
    assert!(busy.await.unwrap(), "the busy agent's phone rang too");
    assert!(answers.await.unwrap());
    newest_call_becomes(&api, "status userId", json!({ "status": "COMPLETED", "userId": free_agent })).await;

    // When every phone is busy, the caller hears busy.
    let busy = run(AGENT_BUSY.to_owned(), "127.0.0.3", busy_port);
    let also_busy = run(AGENT_BUSY.to_owned(), "127.0.0.4", free_port_);
    assert!(sipp(sip.addr, &trunk_gets(486), "127.0.0.2", "+998712000000", false).await);
    assert!(busy.await.unwrap() && also_busy.await.unwrap());
    newest_call_becomes(&api, "status sipCause", json!({ "status": "MISSED", "sipCause": 486 })).await;
}

/// Kerio Control answering an outbound call, checking what it was asked to dial and with which
/// caller ID; the customer hangs up after 4 s.
pub(crate) const KERIO_ANSWERS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Kerio takes an outbound call">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp="INVITE sip:\+998901234567@" search_in="msg" check_it="true" assign_to="dialed"/>
      <ereg regexp="From: &lt;sip:\+998712000000@" search_in="msg" check_it="true" assign_to="caller_id"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="local"/>
      <log message="[$dialed] [$caller_id]"/>
    </action>
  </recv>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:kerio@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
  ]]></send>
  <recv request="ACK" crlf="true"/>
  <nop><action><exec play_pcap_audio="trunk.pcap"/></action></nop>
  <pause milliseconds="4000"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: [$local];tag=[pid]SIPpTag02[call_number]
      To: [$remote]
      [last_Call-ID:]
      CSeq: 100 BYE
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>"#;

#[tokio::test]
async fn click_to_call_rings_the_agent_then_the_customer_and_records_both() {
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = "127.0.0.1:0".into();
        c.sip_rtp_ports = "48000-48998".into();
    })
    .await;
    let sip = app.running.sip.as_ref().unwrap();
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let kerio_port = free_port("127.0.0.2");
    let trunk = json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000000"], "address": format!("127.0.0.2:{kerio_port}") } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;
    let customer = api
        .ok("mutation { createCustomer(input: { name: \"Bob\", phones: [\"90 123 45 67\"] }) { id } }", json!({}))
        .await;
    let customer_id = customer["createCustomer"]["id"].as_str().unwrap().to_owned();

    // Without a registered phone there is nobody to connect.
    let dial = "mutation($c: ID!) { dial(customerId: $c) { id direction status toNumber fromNumber } }";
    assert_eq!(api.code(dial, json!({ "c": customer_id })).await, "CONFLICT");

    let (user, password) = sip_login(&api, &owner.user_id).await;
    let phone_port = free_port("127.0.0.3");
    assert!(sipp_from(sip.addr, &register(&user, &password, 200), "127.0.0.3", phone_port, "x", false).await);

    let dir = tempfile::tempdir().unwrap();
    tone_pcap(&dir.path().join("trunk.pcap"), 440.0, 8, 3);
    tone_pcap(&dir.path().join("agent.pcap"), 1000.0, 8, 3);
    let run = |scenario: String, ip: &'static str, port: u16| {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move { sipp_media(&dir, None, &scenario, (ip, port), free_media_port(ip), "x").await })
    };
    let agent = run(AGENT_ANSWERS.replace("LAW", "8").replace("CODEC", "PCMA"), "127.0.0.3", phone_port);
    let kerio = run(KERIO_ANSWERS.to_owned(), "127.0.0.2", kerio_port);
    // Give both sipp processes their sockets before the call goes out.
    crm_testkit::wait_for("sipp listening", Duration::from_secs(10), || async {
        let busy = |ip: &str, port: u16| std::net::UdpSocket::bind((ip, port)).is_err();
        (busy("127.0.0.3", phone_port) && busy("127.0.0.2", kerio_port)).then_some(())
    })
    .await;

    let placed = api.ok(dial, json!({ "c": customer_id })).await["dial"].clone();
    assert_eq!(placed["direction"], "OUTBOUND");
    assert_eq!(placed["toNumber"], "+998901234567");
    assert_eq!(placed["fromNumber"], "+998712000000");
    assert!(agent.await.unwrap(), "the agent's phone rang and answered");
    assert!(kerio.await.unwrap(), "the trunk was asked for the customer's number with the trunk's caller ID");
    newest_call_becomes(
        &api,
        "status hangupBy direction",
        json!({ "status": "COMPLETED", "hangupBy": "CUSTOMER", "direction": "OUTBOUND" }),
    )
    .await;

    let id = placed["id"].as_str().unwrap().to_owned();
    let query = "query($id: ID!) { call(id: $id) { customer { name } userId recordingUrl } }";
    let call = crm_testkit::wait_for("the recording", Duration::from_secs(20), || {
        let (api, id) = (api.clone(), id.clone());
        async move {
            let c = api.ok(query, json!({ "id": id })).await["call"].clone();
            (!c["recordingUrl"].is_null()).then_some(c)
        }
    })
    .await;
    assert_eq!(call["customer"]["name"], "Bob");
    assert_eq!(call["userId"], owner.user_id.as_str());
    assert_recorded_sides(&app, call["recordingUrl"].as_str().unwrap(), 8000..16000, "a click-to-call").await;
}

/// baresip, the agent's softphone: registered with its password, answering automatically and
/// playing `tone` as its microphone. Killed when dropped.
pub(crate) struct Baresip {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

pub(crate) fn baresip(edge: std::net::SocketAddr, user: &str, password: &str, listen: &str, tone: f64) -> Baresip {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("mic.wav");
    let spec =
        hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    for n in 0..8000 * 30 {
        writer
            .write_sample((9000.0 * (2.0 * std::f64::consts::PI * tone * f64::from(n) / 8000.0).sin()) as i16)
            .unwrap();
    }
    writer.finalize().unwrap();
    let config = format!(
        "sip_listen {listen}\naudio_source aufile,{}\naudio_player aubridge,nil\naudio_alert aubridge,nil\naudio_srate 8000\naudio_channels 1\n\
         module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule account.so\nmodule menu.so\n\
         rtp_ports 49000-49998\n",
        wav.display()
    );
    std::fs::write(dir.path().join("config"), config).unwrap();
    let account = format!(
        "<sip:{user}@{edge};transport=udp>;auth_pass={password};answermode=auto;regint=300;audio_codecs=PCMA,PCMU\n"
    );
    std::fs::write(dir.path().join("accounts"), account).unwrap();
    let child = tokio::process::Command::new("baresip")
        .args(["-f", dir.path().to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("baresip runs: install Debian's baresip-core (e2e/run does)");
    Baresip { _child: child, _dir: dir }
}

#[tokio::test]
async fn baresip_answers_a_trunk_call_and_both_sides_are_recorded() {
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = "127.0.0.1:0".into();
        c.sip_rtp_ports = "38000-38998".into();
    })
    .await;
    let sip = app.running.sip.as_ref().unwrap();
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    kerio_trunk(&api, json!({})).await;
    let (user, password) = sip_login(&api, &owner.user_id).await;
    let listen = format!("127.0.0.6:{}", free_port("127.0.0.6"));
    let _phone = baresip(sip.addr, &user, &password, &listen, 1000.0);
    crm_testkit::wait_for("baresip to register", Duration::from_secs(20), || {
        let api = api.clone();
        async move {
            let listed = api.ok("{ sipExtensions { registrations { userAgent } } }", json!({})).await;
            (!listed["sipExtensions"][0]["registrations"].as_array()?.is_empty()).then_some(())
        }
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    tone_pcap(&dir.path().join("trunk.pcap"), 440.0, 8, 3);
    let trunk_ok = sipp_media(
        dir.path(),
        Some(sip.addr),
        &TRUNK_CALLS.replace("LAW", "8").replace("CODEC", "PCMA"),
        ("127.0.0.2", free_port("127.0.0.2")),
        free_media_port("127.0.0.2"),
        "+998712000000",
    )
    .await;
    assert!(trunk_ok, "baresip answered the trunk's call");
    let call = newest_recorded_call(&api, "status").await;
    assert_eq!(call["status"], "COMPLETED");
    let url = call["recordingUrl"].as_str().unwrap();
    assert_recorded_sides(&app, url, 8000..16000, "the trunk's tone and baresip's microphone").await;
}

/// The agent answers, then hangs up first after 1.5 s.
const AGENT_HANGS_UP: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent hangs up">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="local"/>
    </action>
  </recv>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag03[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio 40004 RTP/AVP 8
  ]]></send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="1500"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: [$local];tag=[pid]SIPpTag03[call_number]
      To: [$remote]
      [last_Call-ID:]
      CSeq: 100 BYE
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>"#;

/// The trunk's call is answered, and the other side hangs up.
fn trunk_is_hung_up_on() -> String {
    trunk_invite(&format!(
        r#"<recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  {}
  <recv request="BYE"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>"#,
        trunk_ack().replace("ACK sip:[service]@[remote_ip]:[remote_port]", "ACK [next_url]")
    ))
}

#[tokio::test]
async fn phones_stop_ringing_after_the_ring_timeout_and_an_agent_can_hang_up_first() {
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = "127.0.0.1:0".into();
        c.sip_rtp_ports = "37000-37998".into();
        c.sip_ring_timeout_secs = 2;
    })
    .await;
    let sip = app.running.sip.as_ref().unwrap();
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    kerio_trunk(&api, json!({})).await;
    let (user, password) = sip_login(&api, &owner.user_id).await;
    let phone_port = free_port("127.0.0.3");
    assert!(sipp_from(sip.addr, &register(&user, &password, 200), "127.0.0.3", phone_port, "x", false).await);
    let dir = tempfile::tempdir().unwrap();
    let phone = |scenario: &'static str| {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move {
            sipp_media(&dir, None, scenario, ("127.0.0.3", phone_port), free_media_port("127.0.0.3"), "x").await
        })
    };

    // Nobody picks up: after the ring timeout the phone is cancelled and the caller hears 480.
    let ringing = phone(AGENT_RINGS);
    assert!(sipp(sip.addr, &trunk_gets(480), "127.0.0.2", "+998712000000", false).await);
    assert!(ringing.await.unwrap(), "the phone was cancelled");
    newest_call_becomes(
        &api,
        "status hangupBy sipCause",
        json!({ "status": "MISSED", "hangupBy": "SYSTEM", "sipCause": 480 }),
    )
    .await;

    // The agent answers and hangs up first: the trunk gets our BYE.
    let agent = phone(AGENT_HANGS_UP);
    assert!(sipp(sip.addr, &trunk_is_hung_up_on(), "127.0.0.2", "+998712000000", false).await);
    assert!(agent.await.unwrap());
    newest_call_becomes(&api, "status hangupBy", json!({ "status": "COMPLETED", "hangupBy": "AGENT" })).await;
}

const KERIO_ANSWERS_OPTIONS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Kerio answers keep-alives">
  <recv request="OPTIONS"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag04[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
</scenario>"#;

#[tokio::test]
async fn trunks_are_kept_alive_and_their_reachability_is_shown() {
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = "127.0.0.1:0".into();
        c.sip_qualify_secs = 1;
    })
    .await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let kerio_port = free_port("127.0.0.2");
    let dir = tempfile::tempdir().unwrap();
    let kerio = {
        let dir = dir.path().to_path_buf();
        tokio::spawn(async move {
            sipp_media(&dir, None, KERIO_ANSWERS_OPTIONS, ("127.0.0.2", kerio_port), free_media_port("127.0.0.2"), "x")
                .await
        })
    };
    let up = json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000000"], "address": format!("127.0.0.2:{kerio_port}") } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", up).await;
    // Nobody listens at this one.
    let down = json!({ "i": { "name": "Gone", "sources": ["127.0.0.7"], "numbers": ["+998712000009"], "address": format!("127.0.0.7:{}", free_port("127.0.0.7")) } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", down).await;

    // Each trunk as the next check shows it. Kerio's sipp answers one OPTIONS and ends, so
    // it is up from that answer until the next check a second later.
    let checked = |name: &'static str, up: bool| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                let trunks = api.ok("{ trunks { name reachable latencyMs } }", json!({})).await["trunks"].clone();
                let trunk = trunks.as_array()?.iter().find(|t| t["name"] == name)?.clone();
                (trunk["reachable"] == up).then_some(trunk)
            }
        }
    };
    let kerio_trunk = crm_testkit::wait_for("Kerio reachable", Duration::from_secs(15), checked("Kerio", true)).await;
    assert!(kerio_trunk["latencyMs"].as_u64().is_some(), "{kerio_trunk}");
    let gone = crm_testkit::wait_for("the other checked", Duration::from_secs(15), checked("Gone", false)).await;
    assert!(gone["latencyMs"].is_null(), "{gone}");
    assert!(kerio.await.unwrap(), "Kerio received our OPTIONS");
}

/// Kerio sends its call, is challenged (407), and sends it again with `password`.
fn trunk_authenticates(password: &str, expect: u16) -> String {
    let invite = |cseq: u32, auth: &str| {
        format!(
            r#"<send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      CSeq: {cseq} INVITE
      Contact: <sip:kerio@[local_ip]:[local_port]>
      {auth}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio 40000 RTP/AVP 8
  ]]></send>"#
        )
    };
    let ack = |cseq: u32| {
        format!(
            r#"<send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-1]
      Max-Forwards: 70
      Call-ID: [call_id]
      From: "Kerio" <sip:+998901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: {cseq} ACK
      Content-Length: 0
  ]]></send>"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Kerio authenticates">
  {}
  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>
  {}
  {}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="{expect}"/>
  {}
</scenario>"#,
        invite(1, ""),
        ack(1),
        invite(2, &format!("[authentication username=kerio password={password}]")),
        ack(2)
    )
}

#[tokio::test]
async fn a_trunk_with_credentials_must_present_them() {
    let app = app_with_edge().await;
    let sip = app.running.sip.as_ref().unwrap();
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    kerio_trunk(&api, json!({ "username": "kerio", "password": "trunk-secret-1" })).await;
    let listed = api.ok("{ trunks { username } }", json!({})).await;
    assert_eq!(listed["trunks"][0]["username"], "kerio");
    assert!(!listed.to_string().contains("trunk-secret-1"), "the password is never shown");

    // Wrong password: challenged again. Right password: the call goes on (no phone → 480).
    assert!(sipp(sip.addr, &trunk_authenticates("wrong-password", 407), "127.0.0.2", "+998712000000", false).await);
    assert!(sipp(sip.addr, &trunk_authenticates("trunk-secret-1", 480), "127.0.0.2", "+998712000000", false).await);
    newest_call_becomes(&api, "status sipCause", json!({ "status": "MISSED", "sipCause": 480 })).await;
    let calls = api.ok("{ calls(first: 10) { totalCount } }", json!({})).await;
    assert_eq!(calls["calls"]["totalCount"], 1, "challenged INVITEs leave no call record");
}
