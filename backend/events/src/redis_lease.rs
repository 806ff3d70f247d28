//! Leases in Redis: `SET NX PX` to take, a compare-and-extend script to renew, a counter per
//! lease for fencing tokens.
use async_trait::async_trait;
use crm_core::lease::Leases;
use crm_core::{Error, Result};
use redis::aio::ConnectionManager;
use std::time::Duration;

const ACQUIRE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

#[derive(Clone)]
pub struct RedisLeases {
    conn: ConnectionManager,
}

impl std::fmt::Debug for RedisLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisLeases")
    }
}

impl RedisLeases {
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(Error::internal)?;
        Ok(Self { conn: crate::redis_connection(client).await.map_err(Error::internal)? })
    }
}

fn keys(name: &str) -> (String, String) {
    (format!("crm:lease:{name}"), format!("crm:lease:{name}:token"))
}

#[async_trait]
impl Leases for RedisLeases {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<u64>> {
        let (key, token) = keys(name);
        let mut conn = self.conn.clone();
        redis::Script::new(ACQUIRE)
            .key(key)
            .key(token)
            .arg(holder)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(Error::internal)
    }

    async fn renew(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let (key, _) = keys(name);
        let mut conn = self.conn.clone();
        let renewed: i64 = redis::Script::new(RENEW)
            .key(key)
            .arg(holder)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(Error::internal)?;
        Ok(renewed == 1)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<()> {
        let (key, _) = keys(name);
        let mut conn = self.conn.clone();
        let _: i64 =
            redis::Script::new(RELEASE).key(key).arg(holder).invoke_async(&mut conn).await.map_err(Error::internal)?;
        Ok(())
    }
}
