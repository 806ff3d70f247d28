//! The tenant's team: who is in it, inviting people, changing roles.
use super::{AuthTokens, Services, check_email, check_len};
use crate::auth::Principal;
use crate::ports::{Account, Invitation, Member, Tenant};
use crate::token::{self, Kind, Opaque};
use crate::{Error, InvitationId, Result, Role, UserId};
use chrono::{Duration, Utc};
use subtle::ConstantTimeEq;

/// The result of an invitation. `invite_token` is shown once, for a person without an account yet.
#[derive(Clone, Debug)]
pub struct Invited {
    pub member: Member,
    pub invite_token: Option<String>,
}

impl Services {
    pub async fn me(&self, principal: &Principal) -> Result<(Member, Tenant)> {
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let member = tx.member(principal.user_id).await?.ok_or(Error::Unauthenticated)?;
        let tenant = tx.get_tenant().await?;
        tx.commit().await?;
        Ok((member, tenant))
    }

    pub async fn users(&self, principal: &Principal) -> Result<Vec<Member>> {
        principal.require_scope("users:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let members = tx.members().await?;
        tx.commit().await?;
        Ok(members)
    }

    pub async fn invite_user(&self, principal: &Principal, email: &str, name: &str, role: Role) -> Result<Invited> {
        principal.require_session()?;
        principal.require_admin()?;
        if role == Role::Owner && principal.role != Role::Owner {
            return Err(Error::Forbidden);
        }
        let email = check_email(email)?;
        let name = check_len("name", name, 200)?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let existing = self.db.account_by_email(&email).await?;
        let (account, invite_token) = match existing {
            Some(account) => {
                if tx.role_of(account.id).await?.is_some() {
                    return Err(Error::Conflict("this person is already a member".into()));
                }
                (account, None)
            }
            None => {
                let account = Account { id: UserId::new(), email, name, password_hash: None, created_at: Utc::now() };
                tx.insert_account(&account).await?;
                (account, Some(()))
            }
        };
        tx.insert_member(account.id, role).await?;
        let invite_token = match invite_token {
            Some(()) => {
                let id = InvitationId::new();
                let (text, opaque) = Opaque::generate(Kind::Invite, principal.tenant_id, id.0);
                tx.insert_invitation(&Invitation {
                    id,
                    user_id: account.id,
                    role,
                    token_hash: opaque.hash(),
                    expires_at: Utc::now() + Duration::seconds(self.settings.invite_ttl_secs),
                    accepted_at: None,
                })
                .await?;
                Some(text)
            }
            None => None,
        };
        let member = tx.member(account.id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(Invited { member, invite_token })
    }

    /// The invited person sets a password and is signed in.
    pub async fn accept_invite(&self, invite_token: &str, password: &str) -> Result<AuthTokens> {
        token::check_password_strength(password)?;
        let opaque = Opaque::parse(Kind::Invite, invite_token).ok_or(Error::NotFound)?;
        let mut tx = self.db.tenant(opaque.tenant).await?;
        let invitation = tx.invitation(InvitationId(opaque.row)).await?.ok_or(Error::NotFound)?;
        let matches = bool::from(opaque.hash().as_bytes().ct_eq(invitation.token_hash.as_bytes()));
        if !matches || invitation.accepted_at.is_some() || invitation.expires_at < Utc::now() {
            return Err(Error::NotFound);
        }
        if !tx.accept_invitation(invitation.id, Utc::now()).await? {
            return Err(Error::NotFound);
        }
        tx.set_password(invitation.user_id, &token::hash_password(password)?).await?;
        let tokens = self.start_session(tx.as_mut(), invitation.user_id).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    pub async fn update_user_role(&self, principal: &Principal, user: UserId, role: Role) -> Result<Member> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let target = tx.member(user).await?.ok_or(Error::NotFound)?;
        // Only owners create or demote owners, and a tenant always keeps one.
        if (role == Role::Owner || target.role == Role::Owner) && principal.role != Role::Owner {
            return Err(Error::Forbidden);
        }
        if target.role == Role::Owner && role != Role::Owner {
            let owners = tx.members().await?.iter().filter(|m| m.role == Role::Owner).count();
            if owners <= 1 {
                return Err(Error::bad_input("role", "a company needs at least one owner"));
            }
        }
        tx.set_role(user, role).await?;
        let member = tx.member(user).await?.ok_or(Error::NotFound)?;
        self.commit_access_change(tx, user).await?;
        Ok(member)
    }
}
