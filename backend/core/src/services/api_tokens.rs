//! API tokens for integrations: shown once, stored as a hash, revocable.
use super::{Services, check_len};
use crate::auth::{Principal, SCOPES};
use crate::ports::ApiToken;
use crate::token::{self, Kind, Opaque};
use crate::{ApiTokenId, Error, Result};
use chrono::Utc;

#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub token: ApiToken,
    /// The only time the secret is visible.
    pub plaintext: String,
}

impl Services {
    pub async fn create_api_token(
        &self,
        principal: &Principal,
        name: &str,
        scopes: Vec<String>,
    ) -> Result<NewApiToken> {
        principal.require_session()?;
        principal.require_admin()?;
        let name = check_len("name", name, 100)?;
        if scopes.is_empty() {
            return Err(Error::bad_input("scopes", format!("choose at least one scope of {}", SCOPES.join(", "))));
        }
        if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            return Err(Error::bad_input("scopes", format!("unknown scope {bad:?}; known: {}", SCOPES.join(", "))));
        }
        let mut scopes = scopes;
        scopes.sort();
        scopes.dedup();
        let id = ApiTokenId::new();
        let (plaintext, opaque) = Opaque::generate(Kind::ApiToken, principal.tenant_id, id.0);
        let token = ApiToken {
            id,
            name,
            preview: token::preview(&plaintext),
            token_hash: opaque.hash(),
            scopes,
            created_by: principal.user_id,
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        tx.insert_api_token(&token).await?;
        tx.commit().await?;
        tracing::info!(tenant = %principal.tenant_id, token = %token.id, "API token created");
        Ok(NewApiToken { token, plaintext })
    }

    pub async fn api_tokens(&self, principal: &Principal) -> Result<Vec<ApiToken>> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let tokens = tx.api_tokens().await?;
        tx.commit().await?;
        Ok(tokens)
    }

    pub async fn revoke_api_token(&self, principal: &Principal, id: ApiTokenId) -> Result<ApiToken> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if !tx.revoke_api_token(id, Utc::now()).await? {
            return Err(Error::NotFound);
        }
        let token = tx.api_token(id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        tracing::info!(tenant = %principal.tenant_id, token = %id, "API token revoked");
        Ok(token)
    }
}
