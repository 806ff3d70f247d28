//! Recording retention: a company that keeps recordings 30 days loses the older ones from
//! storage, each call says when; newer recordings and other companies' stay.
use chrono::{Duration, Utc};
use crm_core::calls::{Call, CallStatus, Direction, HangupBy, Recording};
use crm_core::ports::Database;
use crm_core::{CallId, TenantId};
use crm_testkit::TestApp;
use serde_json::json;

async fn recorded_call(app: &TestApp, tenant: TenantId, days_ago: i64) -> Call {
    let id = CallId::new();
    let key = format!("tenants/{tenant}/recordings/{id}.wav");
    app.running.app.store.put(&key, bytes::Bytes::from_static(b"RIFF....WAVE"), "audio/wav").await.unwrap();
    let started = Utc::now() - Duration::days(days_ago);
    let call = Call {
        id,
        tenant_id: tenant,
        direction: Direction::Inbound,
        status: CallStatus::Completed,
        from_number: "+998901234567".into(),
        to_number: "+998712000000".into(),
        trunk_id: None,
        customer_id: None,
        user_id: None,
        edge: "seed".into(),
        started_at: started,
        answered_at: Some(started + Duration::seconds(5)),
        ended_at: Some(started + Duration::seconds(65)),
        hangup_by: Some(HangupBy::Customer),
        sip_cause: None,
        recording: Some(Recording { key, duration_ms: 60_000, bytes: 12, deleted_at: None }),
    };
    let mut tx = app.running.app.db.tenant(tenant).await.unwrap();
    tx.insert_call(&call).await.unwrap();
    tx.commit().await.unwrap();
    call
}

#[tokio::test]
async fn recordings_past_the_companys_retention_are_deleted_and_marked() {
    let app = TestApp::spawn().await;
    let acme = app.gql().sign_up("Acme", "ann@acme.test").await;
    let other = app.gql().sign_up("Other", "olga@other.test").await;
    let api = app.gql().with_token(&acme.access);
    let keep = "mutation($d: Int!) { updateCompany(recordingRetentionDays: $d) { recordingRetentionDays } }";
    assert_eq!(api.code(keep, json!({ "d": 5000 })).await, "BAD_USER_INPUT");
    let for_ever = app.gql().with_token(&other.access).ok(keep, json!({ "d": 0 })).await;
    assert!(for_ever["updateCompany"]["recordingRetentionDays"].is_null(), "0 keeps them for ever");
    assert_eq!(api.ok(keep, json!({ "d": 30 })).await["updateCompany"]["recordingRetentionDays"], 30);

    let (acme_id, other_id): (TenantId, TenantId) =
        (acme.company_id.parse().unwrap(), other.company_id.parse().unwrap());
    let old = recorded_call(&app, acme_id, 40).await;
    let recent = recorded_call(&app, acme_id, 10).await;
    let others_old = recorded_call(&app, other_id, 400).await;

    let deleted = app.running.app.services.expire_recordings(100).await.unwrap();
    assert_eq!(deleted, 1);
    let store = &app.running.app.store;
    assert!(store.get(&old.recording.as_ref().unwrap().key).await.is_err(), "the old recording is gone");
    assert!(store.get(&recent.recording.as_ref().unwrap().key).await.is_ok());
    assert!(store.get(&others_old.recording.as_ref().unwrap().key).await.is_ok(), "the other company keeps everything");

    let query = "query($id: ID!) { call(id: $id) { recordingDeletedAt recordingUrl recordingDurationSeconds } }";
    let marked = api.ok(query, json!({ "id": old.id.to_string() })).await["call"].clone();
    assert!(marked["recordingDeletedAt"].is_string(), "{marked}");
    assert!(marked["recordingUrl"].is_null(), "nothing left to play");
    assert_eq!(marked["recordingDurationSeconds"], 60.0, "what was recorded is still known");
    let kept = api.ok(query, json!({ "id": recent.id.to_string() })).await["call"].clone();
    assert!(kept["recordingDeletedAt"].is_null() && kept["recordingUrl"].is_string());
    // A second sweep finds nothing more to do.
    assert_eq!(app.running.app.services.expire_recordings(100).await.unwrap(), 0);
}
