//! Leases: one holder at a time for a named job across processes (one ARI worker per Asterisk).
//! Each acquisition gets a fencing token larger than every earlier one, so work done under an
//! older lease can be told from work under the current one.
use crate::Result;
use std::time::Duration;

#[async_trait::async_trait]
pub trait Leases: Send + Sync + std::fmt::Debug + 'static {
    /// Takes `name` for `ttl` if nobody holds it; the fencing token when taken.
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<u64>>;
    /// Extends `name` for `ttl` if `holder` still holds it; false when it was lost.
    async fn renew(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool>;
    /// Gives `name` up if `holder` holds it.
    async fn release(&self, name: &str, holder: &str) -> Result<()>;
}
