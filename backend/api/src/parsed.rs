//! Parsed GraphQL documents kept by their text. Clients send the same few operations over
//! and over (an app's queries, an integration's poll), and parsing was about 5 % of a calls
//! list request's CPU; copying a kept document costs a fraction of parsing it again.
use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Distinct operation texts kept; the least recently used goes first.
const KEPT: usize = 512;
/// Longer texts are parsed every time: they are rare and would crowd the rest out.
const LONGEST: usize = 16 * 1024;

#[derive(Clone)]
pub(crate) struct ParsedQueries(Arc<Mutex<LruCache<String, Arc<ExecutableDocument>>>>);

impl Default for ParsedQueries {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(LruCache::new(NonZeroUsize::new(KEPT).expect("KEPT is not zero")))))
    }
}

impl ParsedQueries {
    /// The request with its document filled in, from the kept ones or parsed now and kept.
    /// A text that does not parse is left to the engine, which reports the error.
    pub(crate) fn fill(&self, mut request: Request) -> Request {
        if request.query.len() > LONGEST {
            return request;
        }
        let kept = self.lock().get(request.query.as_str()).cloned();
        match kept {
            Some(document) => request.set_parsed_query(ExecutableDocument::clone(&document)),
            None => {
                if let Ok(document) = request.parsed_query() {
                    let document = Arc::new(document.clone());
                    self.lock().put(request.query.clone(), document);
                }
            }
        }
        request
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<ExecutableDocument>>> {
        // A panic while holding the lock leaves nothing half-written: entries are whole.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_text_gets_the_kept_document_without_parsing() {
        let parsed = ParsedQueries::default();
        let mut first = parsed.fill(Request::new("{ me { user { id } } }"));
        assert_eq!(parsed.len(), 1);
        // Keep another text's document under this text: a request of it must get that one.
        let other = async_graphql::parser::parse_query("{ a: me { user { email } } }").unwrap();
        parsed.lock().put("{ me { user { id } } }".into(), Arc::new(other.clone()));
        let mut second = parsed.fill(Request::new("{ me { user { id } } }"));
        assert_eq!(format!("{:?}", second.parsed_query().ok()), format!("{:?}", Some(&other)));
        assert_ne!(format!("{:?}", first.parsed_query().ok()), format!("{:?}", Some(&other)));
    }

    #[test]
    fn a_text_that_does_not_parse_is_not_kept_and_still_fails() {
        let parsed = ParsedQueries::default();
        let mut request = parsed.fill(Request::new("{ me { "));
        assert_eq!(parsed.len(), 0);
        assert!(request.parsed_query().is_err());
    }

    #[test]
    fn only_so_many_texts_are_kept() {
        let parsed = ParsedQueries::default();
        for i in 0..KEPT + 10 {
            parsed.fill(Request::new(format!("{{ a{i}: me {{ user {{ id }} }} }}")));
        }
        assert_eq!(parsed.len(), KEPT);
    }
}
