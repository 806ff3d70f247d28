//! After a call: its finished recording uploaded (retrying until storage takes it) and linked
//! to the call record. The same for both call paths.
use crate::Spool;
use crm_core::calls::Recording;
use crm_core::services::Services;
use crm_core::{CallId, TenantId};

pub async fn upload_and_link(services: Services, spool: Spool, tenant: TenantId, call: CallId) {
    match spool.upload(&call.to_string()).await {
        Ok(uploaded) => {
            let recording = Recording {
                key: uploaded.key,
                duration_ms: uploaded.duration.as_millis() as u64,
                bytes: uploaded.bytes,
                deleted_at: None,
            };
            if let Err(error) = services.attach_recording(tenant, call, recording).await {
                tracing::error!(%error, %call, "could not link a recording");
            }
        }
        Err(error) => tracing::error!(%error, %call, "could not upload a recording; it stays in the spool"),
    }
}

/// Where a call's recording is stored.
pub fn recording_key(tenant: TenantId, call: CallId) -> String {
    format!("tenants/{tenant}/recordings/{call}.wav")
}
