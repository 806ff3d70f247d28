//! The Asterisk path on a real Asterisk (built from Debian's sources by infra/asterisk/build;
//! e2e/run sets CRM_TEST_ASTERISK to its install prefix). Asterisk is configured only from
//! `crm asterisk-config`'s output; sipp plays the Kerio trunk and baresip the agent.
use crate::sip_edge::{TRUNK_CALLS, baresip, free_media_port, free_port, newest_recorded_call, sipp_media, tone_pcap};
use crm_testkit::{TestApp, wait_for};
use serde_json::json;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ARI: &str = "127.0.0.1:8188";
const SIP: &str = "127.0.0.1:5160";
pub(crate) const ARI_PASSWORD: &str = "ari-test-password";

/// A running Asterisk in a folder of its own; killed when dropped.
pub(crate) struct Asterisk {
    pub child: tokio::process::Child,
    pub dir: tempfile::TempDir,
}

impl Drop for Asterisk {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Asterisk {
    /// Asterisk's log so far (verbosity 4, see `start_asterisk`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/messages.log")).unwrap_or_default()
    }

    /// Asserts, from Asterisk's log (verbosity 4), that the call was bridged and never relayed
    /// natively past Asterisk's core: the snoops that record it would hear silence meanwhile.
    pub fn assert_media_passed_through(&self) {
        let log = self.log();
        let bridging: Vec<&str> = log.lines().filter(|l| l.contains("bridge")).collect();
        assert!(bridging.iter().any(|l| l.contains("joined '")), "the log shows no call bridged: {bridging:#?}");
        let native = bridging.iter().filter(|l| l.contains("to native_rtp") || l.contains("RTP bridged"));
        assert_eq!(native.collect::<Vec<_>>(), Vec::<&&str>::new(), "the call's media passed through Asterisk");
    }

    /// `sip_edge::assert_recorded_sides`, printing the end of Asterisk's log when it fails (what
    /// Asterisk said of the call's channels, bridge and snoops): a side recorded silent cannot
    /// be told apart from the recording alone.
    pub async fn assert_recorded_sides(&self, app: &TestApp, url: &str, frames: Range<usize>, what: &str) {
        let (left, right) = crate::sip_edge::stereo_recording(&app.http, app.addr, url).await;
        let checked = std::panic::catch_unwind(|| crate::sip_edge::assert_sides(&left, &right, frames, what));
        if let Err(failure) = checked {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("the end of Asterisk's log:\n{}", lines[lines.len().saturating_sub(120)..].join("\n"));
            std::panic::resume_unwind(failure);
        }
    }
}

/// An Asterisk of an earlier run may still be letting go of its ports.
pub(crate) async fn ports_free(sip: &str, ari: &str) {
    wait_for("Asterisk's ports to be free", Duration::from_secs(15), || async move {
        let free = std::net::UdpSocket::bind(sip).is_ok() && std::net::TcpListener::bind(ari).is_ok();
        free.then_some(())
    })
    .await;
}

pub(crate) fn prefix() -> Option<PathBuf> {
    let prefix = crm_testkit::env("CRM_TEST_ASTERISK").map(PathBuf::from);
    if prefix.is_none() {
        eprintln!("skipped: needs CRM_TEST_ASTERISK (e2e/run builds Asterisk with infra/asterisk/build and sets it)");
    }
    prefix
}

/// The parts of Asterisk's own configuration that are not the CRM's (folders, modules, logs).
pub(crate) fn base_config(prefix: &Path, dir: &Path) {
    let d = |sub: &str| {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).unwrap();
        path.display().to_string()
    };
    let asterisk_conf = format!(
        "[directories]\nastetcdir => {etc}\nastmoddir => {lib}/usr/lib/asterisk/modules\nastvarlibdir => {var}\n\
         astdbdir => {var}\nastkeydir => {var}\nastdatadir => {lib}/var/lib/asterisk\nastagidir => {var}/agi-bin\n\
         astspooldir => {spool}\nastrundir => {run}\nastlogdir => {log}\nastsbindir => {lib}/usr/sbin\n\
         [options]\ntransmit_silence = no\n",
        etc = d("etc"),
        lib = prefix.display(),
        var = d("var"),
        spool = d("spool"),
        run = d("run"),
        log = d("log"),
    );
    d("spool/recording");
    std::fs::write(dir.join("etc/asterisk.conf"), asterisk_conf).unwrap();
    std::fs::write(
        dir.join("etc/modules.conf"),
        "[modules]\nautoload = yes\nnoload = chan_iax2.so\nnoload = res_pjsip_transport_websocket.so\n\
         noload = cdr_sqlite3_custom.so\nnoload = cel_sqlite3_custom.so\nnoload = res_phoneprov.so\n\
         noload = res_pjsip_phoneprov_provider.so\nnoload = chan_unistim.so\nnoload = chan_mgcp.so\nnoload = chan_skinny.so\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/logger.conf"), "[logfiles]\nmessages.log => notice,warning,error,verbose(4)\n")
        .unwrap();
}

pub(crate) fn spawn_asterisk(prefix: &Path, dir: tempfile::TempDir) -> Asterisk {
    let child = tokio::process::Command::new(prefix.join("usr/sbin/asterisk"))
        .args(["-f", "-n", "-C"])
        .arg(dir.path().join("etc/asterisk.conf"))
        .env("LD_LIBRARY_PATH", prefix.join("usr/lib"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("asterisk starts");
    Asterisk { child, dir }
}

/// Asterisk configured from `crm asterisk-config` for `company`, on the app's Asterisk settings.
pub(crate) async fn start_asterisk(app: &TestApp, company: &str) -> Option<Asterisk> {
    let prefix = prefix()?;
    ports_free(&app.config.asterisk_sip_addr.to_string(), &app.config.asterisk_ari_addr.to_string()).await;
    let dir = tempfile::tempdir().unwrap();
    base_config(&prefix, dir.path());
    crm_server::asterisk_config::write(app.config.clone(), company, &dir.path().join("etc")).await.unwrap();
    Some(spawn_asterisk(&prefix, dir))
}

pub(crate) async fn link(api: &crm_testkit::Gql) -> serde_json::Value {
    api.ok("{ asteriskStatus { connected error } }", json!({})).await["asteriskStatus"].clone()
}

/// Waits until the worker's link reads `connected`.
pub(crate) async fn link_becomes(api: &crm_testkit::Gql, connected: bool) {
    wait_for("the ARI link", Duration::from_secs(40), || async move {
        (link(api).await["connected"] == connected).then_some(())
    })
    .await;
}

/// The app with its ARI worker pointed at an Asterisk on these ports.
pub(crate) async fn asterisk_app(sip: &str, ari: &str) -> TestApp {
    let (sip, ari) = (sip.parse().unwrap(), ari.parse().unwrap());
    TestApp::spawn_with(|c| {
        c.asterisk_worker = true;
        c.asterisk_ari_addr = ari;
        c.asterisk_ari_password = Some(ARI_PASSWORD.to_owned().into());
        c.asterisk_sip_addr = sip;
        c.asterisk_rtp_ports = "32000-32999".into();
        c.sip_local_nets = "127.0.0.0/8".into();
    })
    .await
}

async fn ari_get(path: &str) -> Option<serde_json::Value> {
    ari_get_at(ARI, path).await
}

pub(crate) async fn ari_get_at(ari: &str, path: &str) -> Option<serde_json::Value> {
    let response = reqwest::Client::new()
        .get(format!("http://{ari}/ari{path}"))
        .basic_auth("crm", Some(ARI_PASSWORD))
        .send()
        .await
        .ok()?;
    response.status().is_success().then_some(())?;
    response.json().await.ok()
}

/// Waits until `user`'s phone is registered with the Asterisk whose ARI is at `ari`.
pub(crate) async fn agent_online(ari: &str, user: &str) {
    wait_for("the agent's phone to register with Asterisk", Duration::from_secs(20), || async move {
        (ari_get_at(ari, &format!("/endpoints/PJSIP/{user}")).await?["state"] == "online").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_trunk_call_through_asterisk_reaches_the_agent_and_both_sides_are_recorded() {
    if prefix().is_none() {
        return;
    }
    let app = asterisk_app(SIP, ARI).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    crate::sip_edge::kerio_trunk(&api, json!({ "qualify": false })).await;
    let customer =
        json!({ "i": { "name": "Bob Caller", "phones": ["+998901234567"], "responsibleUserId": owner.user_id } });
    api.ok("mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", customer).await;
    let (user, password) = crate::sip_edge::sip_login(&api, &owner.user_id).await;
    let asterisk = start_asterisk(&app, &owner.company_id).await.unwrap();

    link_becomes(&api, true).await;
    let listen = format!("127.0.0.7:{}", free_port("127.0.0.7"));
    let _agent = baresip(SIP.parse().unwrap(), &user, &password, &listen, 1000.0);
    agent_online(ARI, &user).await;

    let mut events = app.subscribe(&owner.access, "subscription { callEvents { id status customer { name } } }").await;
    let dir = tempfile::tempdir().unwrap();
    tone_pcap(&dir.path().join("trunk.pcap"), 440.0, 8, 3);
    let trunk_ok = sipp_media(
        dir.path(),
        Some(SIP.parse().unwrap()),
        &TRUNK_CALLS.replace("LAW", "8").replace("CODEC", "PCMA"),
        ("127.0.0.2", free_port("127.0.0.2")),
        free_media_port("127.0.0.2"),
        "+998712000000",
    )
    .await;
    if !trunk_ok {
        let log = asterisk.log();
        panic!("the trunk's call through Asterisk failed; Asterisk said:\n{log}");
    }
    let ringing = events.next_data().await;
    assert_eq!(ringing["callEvents"]["status"], "RINGING");
    assert_eq!(ringing["callEvents"]["customer"]["name"], "Bob Caller", "the pop-up carries the card");
    assert_eq!(events.next_data().await["callEvents"]["status"], "ANSWERED");

    let call = newest_recorded_call(&api, "status hangupBy userId").await;
    assert_eq!(call["status"], "COMPLETED");
    assert_eq!(call["hangupBy"], "CUSTOMER");
    assert_eq!(call["userId"], owner.user_id.as_str());
    asterisk.assert_recorded_sides(&app, call["recordingUrl"].as_str().unwrap(), 4000..12000, "the call's start").await;
    asterisk.assert_media_passed_through();
    // The worker told Asterisk which events it has no use for.
    let app_state = ari_get("/applications/crm").await.unwrap();
    assert!(app_state["events_disallowed"].as_array().unwrap().iter().any(|e| e["type"] == "ChannelVarset"));
    // Nothing is left behind on Asterisk.
    assert_eq!(ari_get("/recordings/stored").await.unwrap(), json!([]));
}

#[tokio::test]
async fn wrong_ari_credentials_are_shown_in_the_status() {
    if prefix().is_none() {
        return;
    }
    let app = TestApp::spawn_with(|c| {
        c.asterisk_worker = true;
        c.asterisk_ari_addr = "127.0.0.1:8189".parse().unwrap();
        c.asterisk_ari_password = Some("right-password".to_owned().into());
        c.asterisk_sip_addr = "127.0.0.1:5161".parse().unwrap();
    })
    .await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    // Asterisk's ari.conf is rendered with another password than the worker uses.
    let mut rendered = app.config.clone();
    rendered.asterisk_ari_password = Some("another-password".to_owned().into());
    let prefix = prefix().unwrap();
    ports_free("127.0.0.1:5161", "127.0.0.1:8189").await;
    let dir = tempfile::tempdir().unwrap();
    base_config(&prefix, dir.path());
    crm_server::asterisk_config::write(rendered, &owner.company_id, &dir.path().join("etc")).await.unwrap();
    let _asterisk = spawn_asterisk(&prefix, dir);
    let status = wait_for("the refusal shown", Duration::from_secs(40), || {
        let api = api.clone();
        async move {
            let s = api.ok("{ asteriskStatus { connected error } }", json!({})).await["asteriskStatus"].clone();
            s["error"].as_str().is_some_and(|e| e.contains("401")).then_some(s)
        }
    })
    .await;
    assert_eq!(status["connected"], false);
    assert!(status["error"].as_str().unwrap().contains("CRM_ASTERISK_ARI_PASSWORD"), "{status}");
}

#[tokio::test]
async fn the_worker_reconnects_when_asterisk_restarts() {
    if prefix().is_none() {
        return;
    }
    let app = asterisk_app("127.0.0.1:5162", "127.0.0.1:8190").await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let mut asterisk = start_asterisk(&app, &owner.company_id).await.unwrap();
    link_becomes(&api, true).await;

    asterisk.child.kill().await.unwrap();
    link_becomes(&api, false).await;
    assert!(link(&api).await["error"].as_str().is_some_and(|e| !e.is_empty()), "it says why");

    let dir = std::mem::replace(&mut asterisk.dir, tempfile::tempdir().unwrap());
    ports_free("127.0.0.1:5162", "127.0.0.1:8190").await;
    let _restarted = spawn_asterisk(&prefix().unwrap(), dir);
    link_becomes(&api, true).await;
    assert!(link(&api).await["error"].is_null());
}

#[tokio::test]
async fn with_no_agent_online_the_call_is_missed_and_leaves_a_callback_task() {
    if prefix().is_none() {
        return;
    }
    let app = asterisk_app("127.0.0.1:5163", "127.0.0.1:8191").await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    crate::sip_edge::kerio_trunk(&api, json!({ "qualify": false })).await;
    let customer =
        json!({ "i": { "name": "Bob Caller", "phones": ["+998901234567"], "responsibleUserId": owner.user_id } });
    api.ok("mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", customer).await;
    // The extension exists, but no phone is registered with it.
    crate::sip_edge::sip_login(&api, &owner.user_id).await;
    let _asterisk = start_asterisk(&app, &owner.company_id).await.unwrap();
    link_becomes(&api, true).await;
    assert!(
        crate::sip_edge::sipp(
            "127.0.0.1:5163".parse().unwrap(),
            &crate::sip_edge::trunk_gets(480),
            "127.0.0.2",
            "+998712000000",
            false
        )
        .await,
        "the trunk hears 480 Temporarily Unavailable"
    );
    crate::sip_edge::newest_call_becomes(&api, "status hangupBy", json!({ "status": "MISSED", "hangupBy": "SYSTEM" }))
        .await;
    let tasks = api.ok("{ tasks { kind assigneeId } }", json!({})).await["tasks"].clone();
    assert_eq!(tasks, json!([{ "kind": "callback", "assigneeId": owner.user_id }]));
}

/// Two `crm serve` processes with ARI workers for one Asterisk, sharing Postgres and Redis.
#[tokio::test]
async fn one_worker_serves_an_asterisk_and_another_takes_over_its_calls_when_it_dies() {
    let Some(prefix) = prefix() else { return };
    let Some(redis) = crm_testkit::env("CRM_TEST_REDIS_URL").filter(|_| crm_testkit::on_postgres()) else {
        eprintln!("skipped: needs CRM_TEST_DATABASE=postgres and CRM_TEST_REDIS_URL");
        return;
    };
    let (app_url, admin_url) = crm_testkit::postgres_database().await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let settings = [
        ("CRM_DATA_DIR", data_dir.as_str()),
        ("CRM_DATABASE_URL", app_url.as_str()),
        ("CRM_DATABASE_ADMIN_URL", admin_url.as_str()),
        ("CRM_REDIS_URL", redis.as_str()),
        ("CRM_SIP_ADDR", "off"),
        ("CRM_SIP_LOCAL_NETS", "127.0.0.0/8"),
        ("CRM_ASTERISK_WORKER", "true"),
        ("CRM_ASTERISK_ARI_ADDR", "127.0.0.1:8192"),
        ("CRM_ASTERISK_ARI_PASSWORD", ARI_PASSWORD),
        ("CRM_ASTERISK_SIP_ADDR", "127.0.0.1:5164"),
        ("CRM_ASTERISK_RTP_PORTS", "32000-32999"),
    ];
    let mut servers =
        [Some(crate::two_processes::spawn_crm(&settings)), Some(crate::two_processes::spawn_crm(&settings))];
    let http = reqwest::Client::new();
    let url = |n: usize| format!("http://{}/graphql", servers[n].as_ref().unwrap().addr);
    let owner = crm_testkit::Gql::new(http.clone(), url(0)).sign_up("Acme", "ann@acme.test").await;
    let apis = [0, 1].map(|n| crm_testkit::Gql::new(http.clone(), url(n)).with_token(&owner.access));
    crate::sip_edge::kerio_trunk(&apis[0], json!({ "qualify": false })).await;
    let (user, password) = crate::sip_edge::sip_login(&apis[0], &owner.user_id).await;

    // Asterisk, configured by the operator command against the same installation.
    ports_free("127.0.0.1:5164", "127.0.0.1:8192").await;
    let dir = tempfile::tempdir().unwrap();
    base_config(&prefix, dir.path());
    let mut render = std::process::Command::new(env!("CARGO_BIN_EXE_crm"));
    render.args(["asterisk-config", "--tenant", &owner.company_id, "--out"]).arg(dir.path().join("etc"));
    render.env("CRM_SECRET_KEY", crate::two_processes::SECRET_KEY).env("CRM_LOG_FORMAT", "json");
    for (name, value) in settings {
        render.env(name, value);
    }
    assert!(render.output().unwrap().status.success());
    let _asterisk = spawn_asterisk(&prefix, dir);

    // Exactly one serves it; the other stands by.
    let serving = wait_for("one worker to serve Asterisk", Duration::from_secs(40), || {
        let apis = apis.clone();
        async move {
            let [a, b] = [link(&apis[0]).await, link(&apis[1]).await];
            match (a["connected"] == true, b["connected"] == true) {
                (true, false) if b["error"].as_str()?.contains("standby") => Some(0),
                (false, true) if a["error"].as_str()?.contains("standby") => Some(1),
                _ => None,
            }
        }
    })
    .await;
    let survivor = apis[1 - serving].clone();

    // A call is answered, then the serving worker dies in the middle of it.
    let listen = format!("127.0.0.7:{}", free_port("127.0.0.7"));
    let _agent = baresip("127.0.0.1:5164".parse().unwrap(), &user, &password, &listen, 1000.0);
    agent_online("127.0.0.1:8192", &user).await;
    let media = tempfile::tempdir().unwrap();
    tone_pcap(&media.path().join("trunk.pcap"), 440.0, 8, 14);
    let trunk = {
        let dir = media.path().to_path_buf();
        let scenario = TRUNK_CALLS.replace("LAW", "8").replace("CODEC", "PCMA").replace("\"4000\"", "\"14000\"");
        tokio::spawn(async move {
            sipp_media(
                &dir,
                Some("127.0.0.1:5164".parse().unwrap()),
                &scenario,
                ("127.0.0.2", free_port("127.0.0.2")),
                free_media_port("127.0.0.2"),
                "+998712000000",
            )
            .await
        })
    };
    crate::sip_edge::newest_call_becomes(&survivor, "status", json!({ "status": "ANSWERED" })).await;
    drop(servers[serving].take());

    assert!(trunk.await.unwrap(), "the trunk's call went on to its own hang-up");
    let call = newest_recorded_call(&survivor, "status hangupBy").await;
    assert_eq!(call["status"], "COMPLETED");
    assert_eq!(call["hangupBy"], "CUSTOMER");
    let survivor_addr = &servers[1 - serving].as_ref().unwrap().addr;
    let (left, right) =
        crate::sip_edge::stereo_recording(&http, survivor_addr, call["recordingUrl"].as_str().unwrap()).await;
    // Both sides are recorded across the takeover, to the end of the call.
    assert!(left.len() >= 12 * 8000, "the recording runs to the end of the call");
    crate::sip_edge::assert_sides(&left, &right, 4000..12000, "the call's start");
    crate::sip_edge::assert_sides(&left, &right, left.len() - 8000..left.len(), "the call's last second");
}
