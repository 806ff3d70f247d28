//! sea-orm entities, private to this crate: the rest of the code sees only `crm_core::ports`.
#![allow(clippy::upper_case_acronyms)]

macro_rules! entity_boilerplate {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod tenants {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub default_country: String,
        pub created_at: DateTimeUtc,
        pub time_zone: String,
        pub recording_retention_days: Option<i32>,
    }
    entity_boilerplate!();
}

pub mod accounts {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub name: String,
        pub password_hash: Option<String>,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod memberships {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub role: String,
        pub created_at: DateTimeUtc,
        pub seen_at: Option<DateTimeUtc>,
        pub away: bool,
        pub routed_at: Option<DateTimeUtc>,
    }
    entity_boilerplate!();
}

pub mod sessions {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub token_hash: String,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod api_tokens {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub preview: String,
        pub token_hash: String,
        /// Space-separated.
        pub scopes: String,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub last_used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }
    entity_boilerplate!();
}

pub mod invitations {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invitations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub role: String,
        pub token_hash: String,
        pub expires_at: DateTimeUtc,
        pub accepted_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod customers {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub responsible_user_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// JSON object of custom field values by key.
        pub fields: String,
    }
    entity_boilerplate!();
}

pub mod customer_phones {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_phones")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub e164: String,
    }
    entity_boilerplate!();
}

pub mod trunks {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trunks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        /// Space-separated networks.
        pub sources: String,
        pub default_caller_id: Option<String>,
        pub address: Option<String>,
        pub username: Option<String>,
        pub ha1: Option<String>,
        pub reg_username: Option<String>,
        /// Sealed by the vault.
        pub reg_password: Option<String>,
        pub reg_domain: Option<String>,
        pub reg_expires: Option<i32>,
        pub qualify: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod trunk_numbers {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trunk_numbers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub trunk_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub e164: String,
    }
    entity_boilerplate!();
}

pub mod sip_accounts {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sip_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub username: String,
        pub ha1: String,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod calls {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub direction: String,
        pub status: String,
        pub from_number: String,
        pub to_number: String,
        pub trunk_id: Option<Uuid>,
        pub customer_id: Option<Uuid>,
        pub user_id: Option<Uuid>,
        pub edge: String,
        pub started_at: DateTimeUtc,
        pub answered_at: Option<DateTimeUtc>,
        pub ended_at: Option<DateTimeUtc>,
        pub hangup_by: Option<String>,
        pub sip_cause: Option<i32>,
        pub recording_key: Option<String>,
        pub recording_duration_ms: Option<i64>,
        pub recording_bytes: Option<i64>,
        pub recording_deleted_at: Option<DateTimeUtc>,
    }
    entity_boilerplate!();
}

pub mod tasks {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kind: String,
        pub title: String,
        pub customer_id: Option<Uuid>,
        pub call_id: Option<Uuid>,
        pub assignee_id: Option<Uuid>,
        pub due_at: DateTimeUtc,
        pub done_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod pbx_servers {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pbx_servers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub ari_url: String,
        pub username: String,
        /// Sealed by the vault.
        pub password: String,
        pub app: String,
        pub connected: bool,
        pub link_error: Option<String>,
        pub link_since: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod pbx_calls {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pbx_calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub call_id: Uuid,
        pub server: String,
        pub stage: String,
        pub state: String,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub last_error: Option<String>,
    }
    entity_boilerplate!();
}

pub mod channel_connections {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "channel_connections")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kind: String,
        pub name: String,
        pub external_id: String,
        pub external_name: Option<String>,
        /// Sealed by the vault.
        pub secrets: String,
        pub webhook_secret_hash: String,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod inbound_updates {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbound_updates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub connection_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub external_key: String,
        pub payload: String,
        pub received_at: DateTimeUtc,
        pub processed_at: Option<DateTimeUtc>,
        pub outcome: Option<String>,
    }
    entity_boilerplate!();
}

pub mod customer_identities {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_identities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub external_id: String,
        pub customer_id: Uuid,
        pub username: Option<String>,
    }
    entity_boilerplate!();
}

pub mod conversations {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "conversations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub connection_id: Uuid,
        pub thread: String,
        pub customer_id: Uuid,
        pub assignee_id: Option<Uuid>,
        pub status: String,
        pub blocked: bool,
        pub last_message_at: DateTimeUtc,
        pub last_inbound_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod messages {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub conversation_id: Uuid,
        pub connection_id: Uuid,
        pub direction: String,
        pub text: Option<String>,
        /// JSON list.
        pub attachments: String,
        pub external_id: Option<String>,
        pub sender_user_id: Option<Uuid>,
        pub status: String,
        pub error: Option<String>,
        /// Attachments still to copy from the platform.
        pub fetch_pending: bool,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod conversation_reads {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "conversation_reads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub conversation_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub read_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod outbox {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: Uuid,
        pub conversation_id: Uuid,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub last_error: Option<String>,
    }
    entity_boilerplate!();
}

pub mod canned_replies {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "canned_replies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub title: String,
        pub text: String,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod customer_emails {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_emails")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub email: String,
    }
    entity_boilerplate!();
}

/// A customer's name from each word on (`crm_core::name_keys`), for name search.
pub mod customer_name_keys {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_name_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: Uuid,
        /// The key's first word (`crm_core::name_keys::word`).
        pub word: String,
    }
    entity_boilerplate!();
}

pub mod customer_tags {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_tags")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tag: String,
    }
    entity_boilerplate!();
}

pub mod notes {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub customer_id: Uuid,
        pub author_id: Option<Uuid>,
        pub text: String,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod customer_merges {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_merges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kept_id: Uuid,
        pub merged_id: Uuid,
        pub merged_name: String,
        /// JSON: what was moved (`crm_core::cards::Moved`).
        pub moved: String,
        pub user_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod webhook_endpoints {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub url: String,
        /// JSON list of event names.
        pub events: String,
        pub secret: String,
        pub enabled: bool,
        pub failures: i32,
        pub disabled_reason: Option<String>,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod webhook_deliveries {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub endpoint_id: Uuid,
        pub event: String,
        pub payload: String,
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at: Option<DateTimeUtc>,
        pub response_code: Option<i32>,
        pub error: Option<String>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }
    entity_boilerplate!();
}

pub mod custom_fields {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "custom_fields")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub key: String,
        pub label: String,
        pub kind: String,
        /// JSON list.
        pub choices: String,
        pub created_at: DateTimeUtc,
    }
    entity_boilerplate!();
}

pub mod customer_imports {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_imports")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub dry_run: bool,
        pub status: String,
        pub total: i32,
        pub processed: i32,
        pub created: i32,
        /// JSON list of rejected rows.
        pub rejections: String,
        pub error: Option<String>,
        pub user_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
        pub progressed_at: Option<DateTimeUtc>,
    }
    entity_boilerplate!();
}

pub mod pending_events {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pending_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub event: String,
        pub staged_ms: i64,
    }
    entity_boilerplate!();
}
