//! Rendering. Every value goes through one formatter that refuses line breaks and control
//! characters and escapes `;` (Asterisk's comment mark), so no company's input can add a line,
//! a section or an `#include`. Object and context names are made from ids, never from names
//! people typed, and carry the company's or the object's id so companies sharing one Asterisk
//! never collide.
use crm_core::TenantId;
use crm_core::pbx::{ConfigFile, PbxConfigRenderer, TenantPbx, TrunkWithSecret};
use crm_core::telephony::SIP_REALM;
use ipnet::IpNet;
use minijinja::value::Value;
use minijinja::{Environment, ErrorKind, State};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

const TEMPLATES: [(&str, &str); 7] = [
    ("pjsip.conf", include_str!("../../../asterisk-templates/pjsip.conf.j2")),
    ("pjsip-tenant.conf", include_str!("../../../asterisk-templates/pjsip-tenant.conf.j2")),
    ("extensions.conf", include_str!("../../../asterisk-templates/extensions.conf.j2")),
    ("extensions-tenant.conf", include_str!("../../../asterisk-templates/extensions-tenant.conf.j2")),
    ("ari.conf", include_str!("../../../asterisk-templates/ari.conf.j2")),
    ("http.conf", include_str!("../../../asterisk-templates/http.conf.j2")),
    ("rtp.conf", include_str!("../../../asterisk-templates/rtp.conf.j2")),
];

/// How the Asterisk itself is set up (the same for every company on it).
#[derive(Clone, Debug)]
pub struct AsteriskOptions {
    /// The ARI application name the workers use.
    pub app: String,
    pub ari_username: String,
    pub ari_password: SecretString,
    /// Where ARI (Asterisk's HTTP server) listens.
    pub http_bind: SocketAddr,
    /// Where SIP listens (UDP).
    pub sip_bind: SocketAddr,
    /// Behind Kerio Control with its SIP inspector off: the public address to advertise.
    pub external_ip: Option<IpAddr>,
    /// Networks that get the local address (the office LAN).
    pub local_nets: Vec<IpNet>,
    pub rtp_ports: (u16, u16),
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Invalid(String),
}

impl From<RenderError> for crm_core::Error {
    fn from(error: RenderError) -> Self {
        let RenderError::Invalid(message) = error;
        crm_core::Error::bad_input("asteriskConfig", message)
    }
}

#[derive(Serialize)]
struct InboundAuth {
    username: String,
    ha1: String,
}

#[derive(Serialize)]
struct Registration {
    username: String,
    password: String,
    server: String,
    domain: String,
    expires: u32,
}

#[derive(Serialize)]
struct TrunkView {
    id: String,
    name: String,
    sources: Vec<String>,
    address: Option<String>,
    qualify: bool,
    caller_id: Option<String>,
    inbound_auth: Option<InboundAuth>,
    registration: Option<Registration>,
}

#[derive(Serialize)]
struct AgentView {
    username: String,
    user_id: String,
    ha1: String,
}

/// Refuses what could end a line, escapes what would start a comment.
fn conf_value(text: &str) -> Result<String, minijinja::Error> {
    if text.chars().any(char::is_control) {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "a value holds a line break or a control character and cannot go into Asterisk's configuration",
        ));
    }
    Ok(text.replace(';', "\\;"))
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_formatter(|out, _state: &State, value: &Value| {
        let text = value.to_string();
        let safe = conf_value(&text)?;
        out.write_str(&safe).map_err(|_| minijinja::Error::new(ErrorKind::WriteFailure, "write failed"))
    });
    // For text shown in comments only: line breaks and control characters become spaces.
    env.add_filter("comment", |text: String| -> String {
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
    });
    for (name, source) in TEMPLATES {
        env.add_template(name, source).unwrap_or_else(|e| panic!("template {name} is broken: {e}"));
    }
    env
}

/// The Asterisk object and context names of a company.
pub fn trunk_context(tenant: TenantId) -> String {
    format!("crm-trunk-{}", tenant.0.simple())
}

pub fn agent_context(tenant: TenantId) -> String {
    format!("crm-agents-{}", tenant.0.simple())
}

/// A trunk's endpoint (and AOR), where outbound calls to it are dialled.
pub fn trunk_endpoint(trunk: crm_core::TrunkId) -> String {
    format!("trunk-{}", trunk.0.simple())
}

fn trunk_view(t: &TrunkWithSecret) -> Result<TrunkView, RenderError> {
    let trunk = &t.trunk;
    let registration = match (&trunk.registration, &t.registration_password, trunk.address) {
        (Some(reg), Some(password), Some(address)) => Some(Registration {
            username: reg.username.clone(),
            password: password.expose_secret().to_owned(),
            server: reg.domain.clone().unwrap_or_else(|| address.to_string()),
            domain: reg.domain.clone().unwrap_or_else(|| address.ip().to_string()),
            expires: reg.expires_secs,
        }),
        (Some(_), _, _) => {
            return Err(RenderError::Invalid(format!(
                "trunk {} registers but its password is not available",
                trunk.id
            )));
        }
        _ => None,
    };
    Ok(TrunkView {
        id: trunk_endpoint(trunk.id),
        name: trunk.name.clone(),
        sources: trunk.sources.iter().map(ToString::to_string).collect(),
        address: trunk.address.map(|a| a.to_string()),
        qualify: trunk.qualify,
        caller_id: trunk.default_caller_id.clone(),
        inbound_auth: trunk
            .credentials
            .as_ref()
            .map(|(username, ha1)| InboundAuth { username: username.clone(), ha1: ha1.clone() }),
        registration,
    })
}

/// The files for one company: the shared ones (identical for every company on the same
/// Asterisk) and the company's own under `crm/`.
pub fn render(options: &AsteriskOptions, pbx: &TenantPbx) -> Result<Vec<ConfigFile>, RenderError> {
    let app = pbx.app.as_deref().unwrap_or(&options.app);
    if !app.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || app.is_empty() {
        return Err(RenderError::Invalid("the ARI application name may hold letters, digits, - and _ only".into()));
    }
    if !options.ari_username.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || options.ari_username.is_empty()
    {
        return Err(RenderError::Invalid("the ARI user name may hold letters, digits, - and _ only".into()));
    }
    let env = environment();
    let tenant = pbx.tenant_id.0.simple().to_string();
    let trunks = pbx.trunks.iter().map(trunk_view).collect::<Result<Vec<_>, _>>()?;
    let agents: Vec<AgentView> = pbx
        .extensions
        .iter()
        .map(|a| AgentView { username: a.username.clone(), user_id: a.user_id.to_string(), ha1: a.ha1.clone() })
        .collect();
    let context = minijinja::context! {
        tenant => tenant,
        app => app,
        realm => SIP_REALM,
        trunk_context => trunk_context(pbx.tenant_id),
        agent_context => agent_context(pbx.tenant_id),
        trunks => trunks,
        agents => agents,
        sip_bind => options.sip_bind.to_string(),
        external_ip => options.external_ip.map(|ip| ip.to_string()),
        local_nets => options.local_nets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ari_username => options.ari_username,
        ari_password => options.ari_password.expose_secret(),
        http_ip => options.http_bind.ip().to_string(),
        http_port => options.http_bind.port(),
        rtp_start => options.rtp_ports.0,
        rtp_end => options.rtp_ports.1,
    };
    let files = [
        ("pjsip.conf", "pjsip.conf".to_owned()),
        ("pjsip-tenant.conf", format!("crm/pjsip-{tenant}.conf")),
        ("extensions.conf", "extensions.conf".to_owned()),
        ("extensions-tenant.conf", format!("crm/extensions-{tenant}.conf")),
        ("ari.conf", "ari.conf".to_owned()),
        ("http.conf", "http.conf".to_owned()),
        ("rtp.conf", "rtp.conf".to_owned()),
    ];
    files
        .into_iter()
        .map(|(template, path)| {
            let content = env
                .get_template(template)
                .and_then(|t| t.render(&context))
                .map_err(|e| RenderError::Invalid(format!("{path}: {}", e.detail().unwrap_or("cannot be rendered"))))?;
            Ok(ConfigFile { installation_secret: template == "ari.conf", path, content })
        })
        .collect()
}

/// The Asterisk adapter's renderer, with the installation's Asterisk settings.
pub struct AsteriskRenderer(pub AsteriskOptions);

impl PbxConfigRenderer for AsteriskRenderer {
    fn render(&self, pbx: &TenantPbx) -> crm_core::Result<Vec<ConfigFile>> {
        Ok(render(&self.0, pbx)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use crm_core::telephony::{OutboundRegistration, SipAccount, Trunk, parse_sources};
    use crm_core::{TrunkId, UserId};

    fn options() -> AsteriskOptions {
        AsteriskOptions {
            app: "crm".into(),
            ari_username: "crm".into(),
            ari_password: SecretString::from("ari;pass"),
            http_bind: "127.0.0.1:8088".parse().unwrap(),
            sip_bind: "0.0.0.0:5060".parse().unwrap(),
            external_ip: Some("203.0.113.10".parse().unwrap()),
            local_nets: vec!["192.168.0.0/16".parse().unwrap()],
            rtp_ports: (20000, 20999),
        }
    }

    fn trunk(name: &str) -> Trunk {
        Trunk {
            id: TrunkId::new(),
            name: name.into(),
            sources: parse_sources(&["203.0.113.7".into()]).unwrap(),
            numbers: vec!["+998712000000".into()],
            default_caller_id: Some("+998712000000".into()),
            address: Some("203.0.113.7:5060".parse().unwrap()),
            credentials: None,
            registration: None,
            qualify: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn pbx(trunks: Vec<TrunkWithSecret>) -> TenantPbx {
        let tenant_id = TenantId::new();
        let extensions = vec![SipAccount {
            tenant_id,
            user_id: UserId::new(),
            username: "uabc123".into(),
            ha1: "0123456789abcdef0123456789abcdef".into(),
            created_at: Utc::now(),
        }];
        TenantPbx { tenant_id, trunks, extensions, app: None }
    }

    /// The config's structure: section headers and directive lines, with values blanked.
    fn structure(content: &str) -> Vec<String> {
        content
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .map(|l| match l.split_once('=') {
                Some((key, _)) if !l.starts_with('[') => key.trim().to_owned(),
                _ if l.starts_with('[') => "[section]".to_owned(),
                _ => l.to_owned(),
            })
            .collect()
    }

    fn file<'a>(files: &'a [ConfigFile], prefix: &str) -> &'a ConfigFile {
        files.iter().find(|f| f.path.starts_with(prefix)).unwrap()
    }

    #[test]
    fn a_company_gets_its_trunk_agents_and_stasis_contexts() {
        let with_secret = TrunkWithSecret { trunk: trunk("Kerio"), registration_password: None };
        let pbx = pbx(vec![with_secret]);
        let files = render(&options(), &pbx).unwrap();
        let tenant = pbx.tenant_id.0.simple().to_string();
        let own = file(&files, "crm/pjsip-");
        assert_eq!(own.path, format!("crm/pjsip-{tenant}.conf"));
        for line in [
            "direct_media = no",
            "rtp_symmetric = yes",
            "force_rport = yes",
            "rewrite_contact = yes",
            "match = 203.0.113.7/32",
            "md5_cred = 0123456789abcdef0123456789abcdef",
            "realm = crm",
        ] {
            assert!(own.content.contains(line), "{line} in\n{}", own.content);
        }
        let dialplan = &file(&files, "crm/extensions-").content;
        assert!(dialplan.contains(&format!("Stasis(crm,{tenant},inbound,${{EXTEN}})")));
        assert!(dialplan.contains(&format!("[{}]", trunk_context(pbx.tenant_id))));
        let shared = &file(&files, "pjsip.conf").content;
        assert!(
            shared.contains("external_media_address = 203.0.113.10") && shared.contains("local_net = 192.168.0.0/16")
        );
        assert!(shared.contains("#tryinclude crm/pjsip-*.conf"));
        let ari = file(&files, "ari.conf");
        assert!(ari.installation_secret && ari.content.contains("password = ari\\;pass"), "';' is escaped");
        assert!(files.iter().filter(|f| f.installation_secret).count() == 1);
    }

    #[test]
    fn hostile_input_cannot_change_the_structure() {
        let honest = pbx(vec![TrunkWithSecret { trunk: trunk("Kerio"), registration_password: None }]);
        let mut evil_trunk = trunk("Kerio\n[evil]\ntype = endpoint\n#include /etc/passwd");
        evil_trunk.credentials = Some(("user;[x]".into(), "0123456789abcdef0123456789abcdef".into()));
        let mut evil = pbx(vec![TrunkWithSecret { trunk: evil_trunk, registration_password: None }]);
        evil.tenant_id = honest.tenant_id;
        let mut honest_with_auth = honest.clone();
        honest_with_auth.trunks[0].trunk.credentials = Some(("user".into(), "0123456789abcdef0123456789abcdef".into()));
        let (a, b) = (render(&options(), &honest_with_auth).unwrap(), render(&options(), &evil).unwrap());
        let (a, b) = (&file(&a, "crm/pjsip-").content, &file(&b, "crm/pjsip-").content);
        assert_eq!(structure(a), structure(b), "same sections and keys:\n{b}");
        assert!(!b.lines().any(|l| l.trim_start().starts_with("[evil]") || l.trim_start().starts_with("#include")));
        assert!(b.contains("username = user\\;[x]"));

        // A password with a line break cannot be written at all.
        let mut registering = trunk("Provider");
        registering.registration = Some(OutboundRegistration {
            username: "trunkuser".into(),
            sealed_password: String::new(),
            domain: None,
            expires_secs: 600,
        });
        let broken = pbx(vec![TrunkWithSecret {
            trunk: registering,
            registration_password: Some(SecretString::from("pw\n[evil]")),
        }]);
        let error = render(&options(), &broken).unwrap_err().to_string();
        assert!(error.contains("line break"), "{error}");
        let mut bad_app = options();
        bad_app.app = "crm\n[x]".into();
        assert!(render(&bad_app, &honest).is_err());
    }

    #[test]
    fn companies_sharing_an_asterisk_never_collide() {
        let (a, b) = (
            pbx(vec![TrunkWithSecret { trunk: trunk("Kerio"), registration_password: None }]),
            pbx(vec![TrunkWithSecret { trunk: trunk("Kerio"), registration_password: None }]),
        );
        let (fa, fb) = (render(&options(), &a).unwrap(), render(&options(), &b).unwrap());
        let sections = |content: &str| -> std::collections::HashSet<String> {
            content.lines().filter(|l| l.starts_with('[')).map(str::to_owned).collect()
        };
        for prefix in ["crm/pjsip-", "crm/extensions-"] {
            let (x, y) = (file(&fa, prefix), file(&fb, prefix));
            assert_ne!(x.path, y.path);
            let agents_shared = sections(&x.content).intersection(&sections(&y.content)).cloned().collect::<Vec<_>>();
            // The same agent username in both is impossible (usernames are global); here both
            // fixtures use one, and it is the only overlap.
            assert!(agents_shared.iter().all(|s| s == "[uabc123]"), "{agents_shared:?}");
        }
        // The shared files are identical, so rendering companies into one folder is consistent.
        for shared in ["pjsip.conf", "extensions.conf", "http.conf", "rtp.conf", "ari.conf"] {
            assert_eq!(file(&fa, shared).content, file(&fb, shared).content);
        }
    }
}
