//! Messenger channel adapters: what Telegram's Bot API and Meta's Graph API send us, and what
//! we send them. Base URLs are configurable, so tests (and a proxy) can stand in for them.
mod meta;
mod platforms;
mod telegram;

pub use meta::{split_webhook, verify_signature};
pub use platforms::{PlatformSettings, Platforms};
pub use telegram::update_key as telegram_update_key;
