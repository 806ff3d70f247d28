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

/// `POST /uploads` with `token`: (status, body as JSON).
async fn upload(app: &TestApp, token: Option<&str>, name: &str, body: &'static [u8]) -> (u16, serde_json::Value) {
    let mut request = app
        .http
        .post(app.url("/uploads"))
        .header("content-type", "application/pdf")
        .header("x-file-name", name)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn agents_upload_files_for_replies_and_get_a_public_signed_link() {
    let app = TestApp::spawn_with(|c| c.public_url = "https://crm.acme.test/".into()).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let (status, body) =
        upload(&app, Some(&owner.access), "%D0%A1%D1%87%D1%91%D1%82%2012.pdf", b"%PDF-1.4 invoice").await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    let path = url.strip_prefix("https://crm.acme.test").expect("a link on the public address");
    assert!(path.starts_with("/files/tenants/") && path.contains("12.pdf?"), "{path}");
    let fetched = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    // An uploaded page cannot run script in our origin.
    assert_eq!(fetched.headers()["content-security-policy"], "sandbox");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"%PDF-1.4 invoice");

    // No token, a token without inbox:write, an empty file: refused with a code, nothing kept.
    let (status, body) = upload(&app, None, "a.pdf", b"x").await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (401, Some("UNAUTHENTICATED")));
    let token = "mutation { createApiToken(name: \"r\", scopes: [\"calls:read\"]) { secret } }";
    let reader = app.gql().with_token(&owner.access).ok(token, serde_json::json!({})).await["createApiToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = upload(&app, Some(&reader), "a.pdf", b"x").await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (403, Some("FORBIDDEN")));
    let (status, body) = upload(&app, Some(&owner.access), "a.pdf", b"").await;
    assert_eq!((status, body["errors"][0]["extensions"]["field"].as_str()), (400, Some("file")));
}
