//! Downloads through signed links, on the configured store (local folder, or S3 on the Postgres run).
use bytes::Bytes;
use crm_core::TenantId;
use crm_core::storage::tenant_key;
use crm_testkit::TestApp;

#[tokio::test]
async fn signed_links_serve_only_their_tenant_object_until_they_expire() {
    let app = TestApp::spawn().await;
    let a = TenantId::new();
    let b = TenantId::new();
    let key = tenant_key(a, "recordings/call-1.wav").unwrap();
    let store = &app.running.app.store;
    store.put(&key, Bytes::from_static(b"RIFF....WAVE"), "audio/wav").await.unwrap();

    let url = app.running.app.signed_url(a, &key);
    let response = app.http.get(app.url(&url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/wav");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"RIFF....WAVE");

    // Another tenant's link for this key, a tampered signature, a changed expiry: all 404.
    let foreign = app.running.app.signed_url(b, &key);
    assert_eq!(app.http.get(app.url(&foreign)).send().await.unwrap().status(), 404);
    let last = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &url[..url.len() - 1]);
    assert_eq!(app.http.get(app.url(&tampered)).send().await.unwrap().status(), 404);
    let expired = app.running.app.signer.sign(a, &key, -1);
    assert_eq!(app.http.get(app.url(&expired)).send().await.unwrap().status(), 404);

    store.delete(&key).await.unwrap();
    assert_eq!(app.http.get(app.url(&url)).send().await.unwrap().status(), 404);
}
