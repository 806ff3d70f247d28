//! The edge behind Kerio Control, both ways the user's guide allows: Kerio's SIP inspector on and
//! the edge NAT-unaware, or the inspector off and the edge advertising the public address. Kerio is
//! a network namespace routing between the provider's network and ours, with port forwarding
//! (DNAT) of 5060 and the RTP range, masquerading, and no other way in. Its inspector is Linux's
//! own SIP ALG (nf_conntrack_sip / nf_nat_sip), which rewrites SIP and SDP as Kerio's does.
//! The provider is baresip in a namespace of its own: it calls, plays 440 Hz, and writes what it
//! hears, so audio is checked in both directions across the NAT.
use crate::sip_edge::{Baresip, assert_recorded_sides, baresip, frequency, newest_recorded_call, sip_login};
use crm_testkit::{TestApp, wait_for};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn sh(script: &str) {
    let out = Command::new("sh").args(["-ec", script]).output().expect("sh runs");
    assert!(
        out.status.success(),
        "network set-up failed (needs root, iproute2 and iptables; e2e/run installs them): {script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Provider network 10.77.N.0/24, office network 10.78.N.0/24 (the edge, in this namespace).
struct Kerio {
    n: u8,
}

impl Kerio {
    fn public(&self) -> String {
        format!("10.77.{}.1", self.n)
    }
    fn provider(&self) -> String {
        format!("10.77.{}.2", self.n)
    }
    fn edge(&self) -> String {
        format!("10.78.{}.2", self.n)
    }
    fn ns(&self, what: &str) -> String {
        format!("crm{what}{}", self.n)
    }

    fn start(n: u8, rtp: (u16, u16), inspector: bool) -> Self {
        let kerio = Kerio { n };
        kerio.teardown();
        let (p, k) = (kerio.ns("prov"), kerio.ns("kerio"));
        sh(&format!(
            "ip netns add {p}; ip netns add {k}
             ip link add crmp{n}a netns {p} type veth peer name crmp{n}b netns {k}
             ip link add crmk{n}a netns {k} type veth peer name crmk{n}b
             ip -n {p} addr add 10.77.{n}.2/24 dev crmp{n}a; ip -n {p} link set crmp{n}a up; ip -n {p} link set lo up
             ip -n {p} route add default via 10.77.{n}.1
             ip -n {k} addr add 10.77.{n}.1/24 dev crmp{n}b; ip -n {k} link set crmp{n}b up
             ip -n {k} addr add 10.78.{n}.1/24 dev crmk{n}a; ip -n {k} link set crmk{n}a up; ip -n {k} link set lo up
             ip addr add 10.78.{n}.2/24 dev crmk{n}b; ip link set crmk{n}b up
             ip route add 10.77.{n}.0/24 via 10.78.{n}.1
             ip netns exec {k} sysctl -qw net.ipv4.ip_forward=1
             ip netns exec {k} iptables -t nat -A PREROUTING -i crmp{n}b -p udp --dport 5060 -j DNAT --to-destination 10.78.{n}.2:5060
             ip netns exec {k} iptables -t nat -A PREROUTING -i crmp{n}b -p udp --dport {lo}:{hi} -j DNAT --to-destination 10.78.{n}.2
             ip netns exec {k} iptables -t nat -A POSTROUTING -o crmp{n}b -j MASQUERADE
             ip netns exec {k} iptables -A FORWARD -i crmp{n}b -m conntrack ! --ctstate DNAT,RELATED,ESTABLISHED -j DROP",
            lo = rtp.0,
            hi = rtp.1,
        ));
        if inspector {
            sh(&format!(
                "ip netns exec {k} iptables -t raw -A PREROUTING -i crmp{n}b -p udp --dport 5060 -j CT --helper sip"
            ));
        }
        kerio
    }

    fn teardown(&self) {
        let n = self.n;
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "ip route del 10.77.{n}.0/24; ip link del crmk{n}b; ip netns del {}; ip netns del {}",
                    self.ns("prov"),
                    self.ns("kerio")
                ),
            ])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Kerio {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The provider's phone: calls the company's number at Kerio's public address for `seconds`.
fn provider_calls(kerio: &Kerio, dir: &Path, seconds: u32) -> tokio::process::Child {
    let mic = dir.join("mic.wav");
    let spec =
        hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(&mic, spec).unwrap();
    for n in 0..8000 * 30 {
        writer
            .write_sample((9000.0 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(n) / 8000.0).sin()) as i16)
            .unwrap();
    }
    writer.finalize().unwrap();
    std::fs::create_dir_all(dir.join("heard")).unwrap();
    let config = format!(
        "sip_listen {}:5060\naudio_source aufile,{}\naudio_player aubridge,nil\naudio_alert aubridge,nil\naudio_srate 8000\naudio_channels 1\n\
         snd_path {}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
         module account.so\nmodule menu.so\nrtp_ports 40000-40998\n",
        kerio.provider(),
        mic.display(),
        dir.join("heard").display()
    );
    std::fs::write(dir.join("config"), config).unwrap();
    let account = format!("<sip:+998901234567@{};transport=udp>;regint=0;audio_codecs=PCMA\n", kerio.public());
    std::fs::write(dir.join("accounts"), account).unwrap();
    tokio::process::Command::new("ip")
        .args(["netns", "exec", &kerio.ns("prov"), "baresip", "-f", dir.to_str().unwrap()])
        .args(["-e", &format!("/dial sip:+998712000000@{}", kerio.public()), "-t", &seconds.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("baresip runs")
}

fn read_wav(bytes: &[u8]) -> Vec<i16> {
    let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    reader.samples::<i16>().map(Result::unwrap).collect()
}

async fn call_through_kerio(n: u8, inspector: bool) {
    let rtp = (30000 + u16::from(n) * 100, 30099 + u16::from(n) * 100);
    let kerio = Kerio::start(n, rtp, inspector);
    let (edge_ip, public) = (kerio.edge(), kerio.public());
    let app = TestApp::spawn_with(|c| {
        c.sip_addr = format!("{edge_ip}:5060");
        c.sip_rtp_ports = format!("{}-{}", rtp.0, rtp.1);
        // Inspector off: we must say the public address to the outside ourselves.
        c.sip_external_ip = (!inspector).then(|| public.parse().unwrap());
        c.sip_local_nets = format!("127.0.0.0/8,10.78.{n}.0/24");
    })
    .await;
    let sip = app.running.sip.as_ref().unwrap().addr;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    // Kerio forwards without rewriting the source: the trunk is the provider's address.
    let trunk = json!({ "i": { "name": "Kerio", "sources": [kerio.provider()], "numbers": ["+998712000000"], "qualify": false } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;
    let (user, password) = sip_login(&api, &owner.user_id).await;
    let listen = format!("127.0.0.{}:{}", 20 + n, crate::sip_edge::free_port(&format!("127.0.0.{}", 20 + n)));
    let _agent: Baresip = baresip(sip, &user, &password, &listen, 1000.0);
    wait_for("the agent's phone to register", Duration::from_secs(20), || {
        let api = api.clone();
        async move {
            let listed = api.ok("{ sipExtensions { registrations { userAgent } } }", json!({})).await;
            (!listed["sipExtensions"][0]["registrations"].as_array()?.is_empty()).then_some(())
        }
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let mut provider = provider_calls(&kerio, dir.path(), 8);
    let ended = tokio::time::timeout(Duration::from_secs(30), provider.wait()).await;
    assert!(ended.is_ok(), "the provider's call ends");
    let call = newest_recorded_call(&api, "status").await;
    assert_eq!(call["status"], "COMPLETED");
    let url = call["recordingUrl"].as_str().unwrap();
    assert_recorded_sides(&app, url, 16000..24000, &format!("inspector {inspector}: the provider and the agent")).await;

    let heard = std::fs::read_dir(dir.path().join("heard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("the provider's phone wrote what it heard");
    let samples = read_wav(&std::fs::read(heard).unwrap());
    let heard = frequency(&samples[samples.len() / 2..samples.len() / 2 + 8000]);
    assert!((heard - 1000.0).abs() < 15.0, "inspector {inspector}: the provider heard the agent ({heard} Hz)");
}

#[tokio::test]
async fn behind_kerio_with_its_sip_inspector_the_edge_needs_no_nat_settings() {
    call_through_kerio(1, true).await;
}

#[tokio::test]
async fn behind_kerio_without_its_inspector_the_edge_advertises_the_public_address() {
    call_through_kerio(2, false).await;
}
