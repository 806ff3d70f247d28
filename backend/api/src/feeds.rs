//! Event subscriptions shared within a process. Sockets that ask the same subscription in the
//! same words, as callers who may see the same things, share one execution: each event is
//! resolved and serialised once per process and selection, not once per subscriber, and every
//! socket only wraps the serialised payload in its own message. Only event streams are shared
//! (`callEvents`, `inboxEvents`, `customerChanged`): a subscription that starts with a value of
//! its own (`dashboardUpdates`) is not, since a late joiner would miss it.
use crate::context::Caller;
use crate::error::Coded;
use async_graphql::Executor;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet};
use crm_core::auth::{Credential, Principal};
use crm_core::role::Role;
use crm_core::{TenantId, UserId};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// Root fields whose stream holds only the events after it starts.
const SHAREABLE_ROOTS: [&str; 3] = ["callEvents", "inboxEvents", "customerChanged"];

/// Fields whose value differs between people who may see the same things: a selection with
/// one of them is shared only among the sockets of one person.
const PER_PERSON: [&str; 1] = ["unread"];

/// Payloads a slow socket may fall behind by before it skips some (as the event bus does).
const CAPACITY: usize = 1024;

/// Set by a shared execution's event stream once it listens to the bus, so that a joiner
/// counts as subscribed only when events can reach it.
#[derive(Clone, Default)]
pub struct Listening(Arc<AtomicBool>);

impl Listening {
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Key {
    tenant: TenantId,
    role: Role,
    /// An API token's scopes (sorted); `None` for a person's session.
    scopes: Option<Vec<String>>,
    person: Option<UserId>,
    query: String,
    operation: Option<String>,
    variables: String,
}

struct Feed {
    /// Weak: the execution holds the only sender, so its end reaches every socket.
    sender: broadcast::WeakSender<Arc<str>>,
    /// False once the execution ended, or answered with an error only: new sockets start anew.
    open: Arc<AtomicBool>,
    listening: Listening,
    task: tokio::task::AbortHandle,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The shared executions of one process.
#[derive(Clone, Default)]
pub struct Feeds {
    feeds: Arc<Mutex<HashMap<Key, Weak<Feed>>>>,
}

impl Feeds {
    /// Sockets subscribed through a shared execution that listens (a gauge; tests wait on it).
    pub fn subscribers(&self) -> usize {
        let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        let live = feeds.values().filter_map(Weak::upgrade).filter(|f| f.listening.get());
        live.filter_map(|f| f.sender.upgrade()).map(|s| s.receiver_count()).sum()
    }

    /// The serialised payloads of `request` for `principal`, from the execution shared with
    /// the process's other sockets that asked the same; `None` when it is not shareable.
    pub(crate) fn join(
        &self,
        schema: &Coded,
        principal: &Principal,
        request: async_graphql::Request,
    ) -> Option<BoxStream<'static, Arc<str>>> {
        let key = key(principal, &request)?;
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        let joined = feeds.get(&key).and_then(Weak::upgrade).filter(|feed| feed.open.load(Ordering::Acquire));
        let (feed, receiver) = match joined.and_then(|feed| Some((feed.sender.upgrade()?.subscribe(), feed))) {
            Some((receiver, feed)) => (feed, receiver),
            None => {
                let (feed, receiver) = start(schema, principal, request);
                let feed = Arc::new(feed);
                feeds.retain(|_, feed| feed.strong_count() > 0);
                feeds.insert(key, Arc::downgrade(&feed));
                (feed, receiver)
            }
        };
        drop(feeds);
        let payloads = BroadcastStream::new(receiver).filter_map(move |item| {
            // The stream keeps its feed (and so the execution) alive.
            let _feed = &feed;
            std::future::ready(match item {
                Ok(payload) => Some(payload),
                Err(error) => {
                    tracing::warn!(%error, "subscriber lagged; events skipped");
                    None
                }
            })
        });
        Some(payloads.boxed())
    }
}

/// Starts an execution, with its first receiver (made before it can send anything).
fn start(
    schema: &Coded,
    principal: &Principal,
    request: async_graphql::Request,
) -> (Feed, broadcast::Receiver<Arc<str>>) {
    let (tx, receiver) = broadcast::channel(CAPACITY);
    let (open, listening) = (Arc::new(AtomicBool::new(true)), Listening::default());
    let request = request.data(Caller::Authenticated(principal.clone())).data(listening.clone());
    let (schema, sender, still_open) = (schema.clone(), tx.downgrade(), open.clone());
    let task = tokio::spawn(async move {
        let mut responses = schema.execute_stream(request, None);
        while let Some(response) = responses.next().await {
            if response.data == async_graphql::Value::Null && response.is_err() {
                // Refused or invalid: this one tells its sockets, and ends.
                still_open.store(false, Ordering::Release);
            }
            match serde_json::to_string(&response) {
                Ok(payload) => {
                    let _ = tx.send(payload.into());
                }
                Err(error) => tracing::error!(%error, "a subscription's response could not be serialised"),
            }
        }
        still_open.store(false, Ordering::Release);
    });
    (Feed { sender, open, listening, task: task.abort_handle() }, receiver)
}

fn key(principal: &Principal, request: &async_graphql::Request) -> Option<Key> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let operation = match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str())?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    if operation.node.ty != OperationType::Subscription {
        return None;
    }
    let roots = &operation.node.selection_set.node.items;
    let shareable = !roots.is_empty()
        && roots.iter().all(|item| match &item.node {
            Selection::Field(field) => SHAREABLE_ROOTS.contains(&field.node.name.node.as_str()),
            _ => false,
        });
    if !shareable {
        return None;
    }
    let scopes = match &principal.credential {
        Credential::Session { .. } => None,
        Credential::ApiToken { scopes } => {
            let mut scopes = scopes.clone();
            scopes.sort();
            Some(scopes)
        }
    };
    Some(Key {
        tenant: principal.tenant_id,
        role: principal.role,
        scopes,
        person: asks_per_person(&document).then_some(principal.user_id),
        query: request.query.clone(),
        operation: request.operation_name.clone(),
        variables: serde_json::to_string(&request.variables).ok()?,
    })
}

/// Whether any field of the document, in any operation or fragment, is one of `PER_PERSON`.
fn asks_per_person(document: &ExecutableDocument) -> bool {
    fn any(set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                PER_PERSON.contains(&field.node.name.node.as_str()) || any(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => any(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    document.operations.iter().any(|(_, op)| any(&op.node.selection_set.node))
        || document.fragments.values().any(|fragment| any(&fragment.node.selection_set.node))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(credential: Credential) -> Principal {
        Principal {
            tenant_id: TenantId::new(),
            user_id: UserId::new(),
            role: Role::Agent,
            credential,
            expires_at: None,
        }
    }

    fn session() -> Principal {
        principal(Credential::Session { session_id: crm_core::SessionId::new() })
    }

    fn key_of(principal: &Principal, query: &str) -> Option<Key> {
        key(principal, &async_graphql::Request::new(query))
    }

    #[test]
    fn only_event_streams_are_shared() {
        let p = session();
        assert!(key_of(&p, "subscription { callEvents { id status } }").is_some());
        assert!(key_of(&p, "subscription A { inboxEvents { message { text } } }").is_some());
        assert!(key_of(&p, "subscription { dashboardUpdates { callsTotal } }").is_none());
        assert!(key_of(&p, "subscription { callEvents { id } dashboardUpdates { callsTotal } }").is_none());
        assert!(key_of(&p, "query { callEvents { id } }").is_none());
        assert!(key_of(&p, "subscription { ...F } fragment F on Subscription { callEvents { id } }").is_none());
        assert!(key_of(&p, "subscription {").is_none());
    }

    #[test]
    fn people_share_unless_a_field_is_their_own() {
        let (a, mut b) = (session(), session());
        b.tenant_id = a.tenant_id;
        let shared = "subscription { inboxEvents { conversation { id } message { text } } }";
        assert!(key_of(&a, shared) == key_of(&b, shared));
        let own = "subscription { inboxEvents { conversation { ...C } } } fragment C on Conversation { unread }";
        assert!(key_of(&a, own) != key_of(&b, own));
        let inline = "subscription { inboxEvents { conversation { ... on Conversation { unread } } } }";
        assert!(key_of(&a, inline) != key_of(&b, inline));
    }

    #[test]
    fn companies_roles_and_scopes_never_share() {
        let query = "subscription { callEvents { id } }";
        let (a, mut other_company, mut admin) = (session(), session(), session());
        other_company.user_id = a.user_id;
        admin.tenant_id = a.tenant_id;
        admin.role = Role::Admin;
        assert!(key_of(&a, query) != key_of(&other_company, query));
        assert!(key_of(&a, query) != key_of(&admin, query));
        let mut token = principal(Credential::ApiToken { scopes: vec!["calls:read".into()] });
        token.tenant_id = a.tenant_id;
        token.user_id = a.user_id;
        assert!(key_of(&a, query) != key_of(&token, query));
    }
}
