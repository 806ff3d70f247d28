//! One ARI worker per Asterisk a company registered, following the registrations as they are
//! added, changed and removed.
use crate::app::App;
use crm_asterisk::ari::{AriWorker, WorkerSettings};
use crm_core::PbxServerId;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Runs until aborted; `base` gives the settings every worker shares.
pub(crate) async fn follow(app: App, base: WorkerSettings) {
    let mut running: HashMap<PbxServerId, (String, AriWorker)> = HashMap::new();
    loop {
        match app.services.pbx_server_targets().await {
            Ok(targets) => {
                let mut seen = HashSet::new();
                for target in targets {
                    let server = target.server;
                    seen.insert(server.id);
                    // A changed registration gets a fresh worker (dropping the old one stops it).
                    let version =
                        format!("{}|{}|{}|{}", server.ari_url, server.username, server.sealed_password, server.app);
                    if running.get(&server.id).is_some_and(|(v, _)| *v == version) {
                        continue;
                    }
                    tracing::info!(server = %server.id, url = %server.ari_url, "serving a company's Asterisk");
                    let settings = WorkerSettings {
                        ari_url: server.ari_url,
                        username: server.username,
                        password: target.password,
                        app: server.app,
                        server_key: server.id.to_string(),
                        owner: Some((server.tenant_id, server.id)),
                        ..base.clone()
                    };
                    let worker = AriWorker::start(settings, app.services.clone(), app.spool.clone());
                    running.insert(server.id, (version, worker));
                }
                running.retain(|id, _| seen.contains(id));
            }
            Err(error) => tracing::warn!(%error, "cannot list the companies' Asterisk servers; retrying"),
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}
