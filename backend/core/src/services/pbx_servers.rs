//! Asterisk servers a company registers for its calls, and the durable records of the calls
//! ARI workers carry on them.
use super::{Services, check_len};
use crate::auth::Principal;
use crate::pbx::{PbxCallRecord, PbxLinkStatus, PbxServer, PbxServerTarget};
use crate::{CallId, Error, PbxServerId, Result, TenantId};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

#[derive(Clone, Debug)]
pub struct PbxServerInput {
    pub name: String,
    pub ari_url: String,
    pub username: String,
    pub password: SecretString,
    /// The ARI application our worker connects as (the dialplan's `Stasis(...)` names it).
    pub app: String,
}

/// Binds a sealed ARI password to its server.
fn password_context(tenant: TenantId, id: PbxServerId) -> String {
    format!("pbx-server:{tenant}:{id}")
}

/// `http(s)://host[:port]`, nothing else: the worker adds ARI's own paths.
fn check_ari_url(value: &str) -> Result<String> {
    let bad = || Error::bad_input("ariUrl", "give Asterisk's HTTP address as http(s)://host:port");
    let url = url::Url::parse(value.trim()).map_err(|_| bad())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(bad());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Names that go into ARI URLs and Asterisk's configuration: letters, digits, `_ - .`.
fn check_token(field: &'static str, value: &str) -> Result<String> {
    let value = check_len(field, value, 64)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(Error::bad_input(field, format!("{field} may hold only letters, digits, '_', '-' and '.'")));
    }
    Ok(value)
}

/// The ARI application also names dialplan contexts: letters, digits, `_` and `-` only.
fn check_app(value: &str) -> Result<String> {
    let app = check_token("app", value)?;
    if app.contains('.') {
        return Err(Error::bad_input("app", "app may hold only letters, digits, '_' and '-'"));
    }
    Ok(app)
}

impl Services {
    pub async fn add_asterisk_server(&self, principal: &Principal, input: PbxServerInput) -> Result<PbxServer> {
        principal.require_session()?;
        principal.require_admin()?;
        let password = input.password.expose_secret();
        if password.is_empty() || password.len() > 256 || password.chars().any(char::is_control) {
            return Err(Error::bad_input("password", "the ARI password must be 1 to 256 printable characters"));
        }
        let (tenant_id, id) = (principal.tenant_id, PbxServerId::new());
        let server = PbxServer {
            id,
            tenant_id,
            name: check_len("name", &input.name, 100)?,
            ari_url: check_ari_url(&input.ari_url)?,
            username: check_token("username", &input.username)?,
            sealed_password: self.vault.seal(&input.password, &password_context(tenant_id, id))?,
            app: check_app(&input.app)?,
            status: PbxLinkStatus { connected: false, error: Some("no worker has connected yet".into()), since: None },
            created_at: Utc::now(),
        };
        let mut tx = self.db.tenant(tenant_id).await?;
        tx.insert_pbx_server(&server).await.map_err(|e| match e {
            Error::Conflict(_) => Error::Conflict("this Asterisk and application are already registered".into()),
            other => other,
        })?;
        tx.commit().await?;
        tracing::info!(tenant = %tenant_id, server = %id, url = %server.ari_url, "Asterisk server registered");
        Ok(server)
    }

    pub async fn remove_asterisk_server(&self, principal: &Principal, id: PbxServerId) -> Result<()> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if !tx.delete_pbx_server(id).await? {
            return Err(Error::NotFound);
        }
        tx.commit().await
    }

    pub async fn asterisk_servers(&self, principal: &Principal) -> Result<Vec<PbxServer>> {
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let servers = tx.pbx_servers().await?;
        tx.commit().await?;
        Ok(servers)
    }

    /// Every company's Asterisk servers with their passwords opened (for the ARI workers).
    /// A password that cannot be opened is logged and its server left out.
    pub async fn pbx_server_targets(&self) -> Result<Vec<PbxServerTarget>> {
        let mut targets = Vec::new();
        for server in self.db.pbx_servers().await? {
            match self.vault.open(&server.sealed_password, &password_context(server.tenant_id, server.id)) {
                Ok(password) => targets.push(PbxServerTarget { server, password }),
                Err(error) => tracing::error!(%error, server = %server.id, "ARI password unreadable"),
            }
        }
        Ok(targets)
    }

    pub async fn set_pbx_server_status(&self, tenant: TenantId, id: PbxServerId, status: &PbxLinkStatus) -> Result<()> {
        self.db.set_pbx_server_status(tenant, id, status).await
    }

    pub async fn pbx_calls(&self, server: &str) -> Result<Vec<PbxCallRecord>> {
        self.db.pbx_calls(server).await
    }

    pub async fn save_pbx_call(&self, record: &PbxCallRecord) -> Result<()> {
        self.db.save_pbx_call(record).await
    }

    pub async fn drop_pbx_call(&self, tenant: TenantId, call: CallId) -> Result<()> {
        self.db.drop_pbx_call(tenant, call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ari_urls_are_plain_addresses() {
        assert_eq!(check_ari_url("http://10.0.0.5:8088/").unwrap(), "http://10.0.0.5:8088");
        assert_eq!(check_ari_url(" https://pbx.acme.test ").unwrap(), "https://pbx.acme.test");
        for bad in ["ftp://x", "http://u:p@x:8088", "http://x/ari", "http://x?a=1", "x:8088", ""] {
            assert!(check_ari_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_in_urls_and_configs_are_tokens() {
        assert_eq!(check_app("crm-acme_1").unwrap(), "crm-acme_1");
        for bad in ["crm app", "crm/../x", "a;b", "a\nb", "", "crm.acme"] {
            assert!(check_app(bad).is_err(), "{bad}");
        }
        assert_eq!(check_token("username", "ari.user").unwrap(), "ari.user");
    }
}
