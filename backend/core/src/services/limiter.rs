use crate::pruned_map::PrunedMap;
use crate::{Error, Result};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failures per key in a fixed window; past `max`, the key is refused until the window ends.
#[derive(Debug)]
pub struct FailureLimiter {
    max: u32,
    window: Duration,
    entries: Mutex<PrunedMap<String, (Instant, u32)>>,
}

impl FailureLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max, window, entries: Mutex::default() }
    }

    pub fn check(&self, key: &str) -> Result<()> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((start, count)) if *count >= self.max && start.elapsed() < self.window => {
                Err(Error::RateLimited { retry_after_secs: (self.window - start.elapsed()).as_secs().max(1) })
            }
            _ => Ok(()),
        }
    }

    pub fn fail(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.window;
        entries.prune(|_, (start, _)| start.elapsed() < window);
        let entry = entries.entry(key.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    pub fn clear(&self, key: &str) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_clears() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        limiter.fail("a");
        limiter.check("a").unwrap();
        limiter.fail("a");
        assert!(matches!(limiter.check("a"), Err(Error::RateLimited { .. })));
        limiter.check("b").unwrap();
        limiter.clear("a");
        limiter.check("a").unwrap();
    }
}
