//! A finished call's recording: both sides fetched from Asterisk, merged into the stereo WAV
//! both call paths store (customer left, agent right), uploaded and linked, then deleted from
//! Asterisk. Until that succeeds the call's durable record says so, and whichever worker serves
//! the Asterisk retries with back-off.
use super::call::{Bridged, CallContext};
use crm_core::pbx::{PbxCallRecord, PbxCallStage};
use crm_core::{CallId, TenantId};
use crm_recording::Side;
use std::sync::Arc;
use std::time::Duration;

/// Retries a recording another attempt (of any worker) could not store.
pub(crate) async fn retry(context: Arc<CallContext>, record: PbxCallRecord) {
    let Some(held) = context.hold(record.call_id) else { return };
    let Ok(bridged) = serde_json::from_str::<Bridged>(&record.state) else {
        tracing::error!(call = %record.call_id, "a recording job is unreadable; dropping it");
        context.forget(record.tenant_id, record.call_id).await;
        return;
    };
    tracing::info!(call = %record.call_id, attempt = record.attempts + 1, "retrying a recording from Asterisk");
    store_or_retry_later(&context, &bridged, record.attempts).await;
    drop(held);
}

/// Stores the recording now, or writes down when to try again.
pub(crate) async fn store_or_retry_later(context: &CallContext, bridged: &Bridged, attempts: u32) {
    let (tenant, call) = (bridged.tenant, bridged.call);
    match store(context, tenant, call, &bridged.names).await {
        Ok(()) => context.forget(tenant, call).await,
        Err(error) => {
            let attempts = attempts + 1;
            let wait = backoff(attempts);
            tracing::warn!(error, %call, attempts, retry_in_s = wait.as_secs(), "recording not stored yet; will retry");
            let record = PbxCallRecord {
                tenant_id: tenant,
                call_id: call,
                server: context.settings.server_key.clone(),
                stage: PbxCallStage::Recording,
                state: serde_json::to_string(bridged).unwrap_or_default(),
                attempts,
                next_attempt_at: chrono::Utc::now() + wait,
                last_error: Some(error),
            };
            if let Err(error) = context.services.save_pbx_call(&record).await {
                tracing::error!(%error, %call, "cannot reschedule a recording; the next sweep retries it");
            }
        }
    }
}

/// 5 s, doubling per attempt up to 320 s: Asterisk or the disk may be away a while.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(5 << (attempts.clamp(1, 7) - 1))
}

async fn store(context: &CallContext, tenant: TenantId, call: CallId, names: &[String; 2]) -> Result<(), String> {
    let client = &context.client;
    let mut sides = Vec::with_capacity(2);
    let mut gone = 0;
    for name in names {
        match client.stored_recording(name).await {
            Ok(wav) => sides.push(read_mono(&wav)),
            // Already moved to the spool by an earlier attempt (which deletes it from Asterisk
            // only after that), or never recorded: nothing left to fetch.
            Err(error) if error.status() == Some(reqwest::StatusCode::NOT_FOUND) => {
                gone += 1;
                sides.push(Vec::new());
            }
            Err(error) => return Err(format!("fetching {name}: {error}")),
        }
    }
    if gone == names.len() {
        tracing::warn!(%call, "Asterisk holds no recording of this call (stored earlier, or none was made)");
        return Ok(());
    }
    if gone > 0 {
        tracing::warn!(%call, "Asterisk holds only one side of this call's recording; the other is stored silent");
    }
    let mut writer = context
        .spool
        .create(&call.to_string(), &crm_recording::recording_key(tenant, call))
        .map_err(|e| format!("spool: {e}"))?;
    let longest = sides.iter().map(Vec::len).max().unwrap_or(0);
    // Side by side in 20 ms steps, so neither runs ahead of the other.
    for start in (0..longest).step_by(160) {
        for (side, samples) in [Side::Customer, Side::Agent].into_iter().zip(&sides) {
            if start < samples.len() {
                writer
                    .push(side, start as u64, &samples[start..(start + 160).min(samples.len())])
                    .map_err(|e| format!("spool: {e}"))?;
            }
        }
    }
    writer.finish(Some(longest as u64)).map_err(|e| format!("spool: {e}"))?;
    for name in names {
        if let Err(error) = client.delete_stored_recording(name).await {
            tracing::warn!(%error, name, "could not delete a recording from Asterisk");
        }
    }
    // The spool owns it now: uploaded with retries until storage takes it, also after a restart.
    crm_recording::upload_and_link(context.services.clone(), context.spool.clone(), tenant, call).await;
    Ok(())
}

/// 16-bit samples of a mono WAV (Asterisk's `wav` is 8 kHz signed linear); empty if unreadable.
fn read_mono(wav: &[u8]) -> Vec<i16> {
    match hound::WavReader::new(std::io::Cursor::new(wav)) {
        Ok(mut reader) => reader.samples::<i16>().filter_map(Result::ok).collect(),
        Err(error) => {
            tracing::error!(%error, "a recording from Asterisk is not a WAV file");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn retries_back_off_up_to_320_seconds() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 320, 320]);
        assert_eq!(backoff(u32::MAX), Duration::from_secs(320));
    }
}
