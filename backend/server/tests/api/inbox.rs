//! The omnichannel inbox against a local stand-in for Telegram's Bot API and Meta's Graph API:
//! connecting channels, webhooks (secrets, signatures, redelivery, junk), customers and
//! conversations made from messages, replies through the outbox, and Meta's window.
use crm_testkit::platform::Platform;
use crm_testkit::{Gql, TestApp, wait_for};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

async fn inbox_app(platform: &Platform) -> TestApp {
    let url = platform.url.clone();
    TestApp::spawn_with(move |c| {
        c.telegram_api_url = url.clone();
        c.meta_graph_url = format!("{url}/v21.0");
        c.instagram_graph_url = format!("{url}/ig/v21.0");
        c.public_url = "https://crm.acme.test".into();
    })
    .await
}

/// Telegram's documented example update, from user 1111111 in a private chat.
fn telegram_text(update_id: i64, message_id: i64, text: &str) -> Value {
    json!({ "update_id": update_id, "message": {
        "date": 1441645532, "message_id": message_id, "text": text,
        "chat": { "id": 1111111, "type": "private", "first_name": "Test", "last_name": "Test Lastname", "username": "Test" },
        "from": { "id": 1111111, "is_bot": false, "first_name": "Test", "last_name": "Test Lastname", "username": "Test" } } })
}

async fn post(app: &TestApp, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> u16 {
    let mut request = app.http.post(app.url(path)).header("content-type", "application/json").body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

const CONVERSATIONS: &str = "{ conversations { id status blocked customer { name } messages { direction text status error attachments { kind url error } } } }";

async fn conversations(api: &Gql) -> Value {
    api.ok(CONVERSATIONS, json!({})).await["conversations"].clone()
}

#[tokio::test]
async fn a_telegram_bot_brings_customers_into_the_inbox_and_replies_reach_them() {
    let platform = Platform::start().await;
    let app = inbox_app(&platform).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);

    // A token Telegram refuses is a clear error, and nothing is connected.
    platform.then("getMe", 401, json!({ "ok": false, "error_code": 401, "description": "Unauthorized" }), None);
    let connect = "mutation($t: String!) { connectTelegram(name: \"Support bot\", botToken: $t) { id kind externalId externalName webhookPath } }";
    let refused = api.run(connect, json!({ "t": "123456789:wrong" })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("Unauthorized"));
    let channel = api.ok(connect, json!({ "t": "123456789:AAE-secret_token" })).await["connectTelegram"].clone();
    assert_eq!(channel["externalName"], "acme_bot");
    let id = channel["id"].as_str().unwrap().to_owned();
    let hook = platform.requests("setWebhook").pop().unwrap();
    assert!(hook.path.ends_with("/bot123456789:AAE-secret_token/setWebhook"));
    assert_eq!(hook.body["url"], format!("https://crm.acme.test/webhooks/telegram/{id}"));
    let secret = hook.body["secret_token"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);
    let channels = api.ok("{ channels { id name } }", json!({})).await;
    assert_eq!(channels["channels"], json!([{ "id": id, "name": "Support bot" }]));

    let mut events = app
        .subscribe(
            &owner.access,
            "subscription { inboxEvents { conversation { id } message { text direction status } } }",
        )
        .await;
    let path = format!("/webhooks/telegram/{id}");
    let first = serde_json::to_vec(&telegram_text(10000, 1365, "Hello, do you deliver?")).unwrap();
    // Without the secret, or with a wrong one: refused, nothing stored.
    assert_eq!(post(&app, &path, &[], first.clone()).await, 401);
    assert_eq!(post(&app, &path, &[("x-telegram-bot-api-secret-token", "nope")], first.clone()).await, 401);
    let other = format!("/webhooks/telegram/{}", uuid::Uuid::new_v4());
    assert_eq!(post(&app, &other, &[("x-telegram-bot-api-secret-token", &secret)], first.clone()).await, 401);
    assert_eq!(conversations(&api).await, json!([]));

    let auth = [("x-telegram-bot-api-secret-token", secret.as_str())];
    assert_eq!(post(&app, &path, &auth, first.clone()).await, 200);
    let event = events.next_data().await["inboxEvents"].clone();
    assert_eq!(
        event["message"],
        json!({ "text": "Hello, do you deliver?", "direction": "INBOUND", "status": "RECEIVED" })
    );
    // Telegram delivers again (it did not see our answer): nothing changes.
    assert_eq!(post(&app, &path, &auth, first).await, 200);
    // A photo with a caption, a group message, an edit, and junk.
    let mut photo = telegram_text(10001, 1366, "");
    photo["message"].as_object_mut().unwrap().remove("text");
    photo["message"]["caption"] = json!("this one");
    photo["message"]["photo"] = json!([{ "file_id": "small", "file_unique_id": "s", "width": 90, "height": 90 },
        { "file_id": "large", "file_unique_id": "l", "width": 800, "height": 800 }]);
    assert_eq!(post(&app, &path, &auth, serde_json::to_vec(&photo).unwrap()).await, 200);
    let mut group = telegram_text(10002, 7, "hi all");
    group["message"]["chat"] = json!({ "id": -100500, "type": "supergroup", "title": "Friends" });
    assert_eq!(post(&app, &path, &auth, serde_json::to_vec(&group).unwrap()).await, 200);
    let edit = json!({ "update_id": 10003, "edited_message": telegram_text(0, 1365, "Hello?")["message"] });
    assert_eq!(post(&app, &path, &auth, serde_json::to_vec(&edit).unwrap()).await, 200);
    assert_eq!(post(&app, &path, &auth, b"{not json".to_vec()).await, 400);
    assert_eq!(post(&app, &path, &auth, b"{\"message\":{}}".to_vec()).await, 400);
    assert_eq!(events.next_data().await["inboxEvents"]["message"]["text"], "this one");

    let list = conversations(&api).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "one customer, one conversation: {list}");
    let conversation = &list[0];
    assert_eq!(conversation["customer"]["name"], "Test Test Lastname");
    let texts: Vec<&str> =
        conversation["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Hello, do you deliver?", "this one"]);
    assert_eq!(conversation["messages"][1]["attachments"][0]["kind"], "image");
    // The photo (its largest size) is copied to our storage and served by a signed link.
    let url = wait_for("the photo copied", Duration::from_secs(10), || async {
        let list = conversations(&api).await;
        list[0]["messages"][1]["attachments"][0]["url"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(platform.requests("getFile")[0].body["file_id"], "large");
    let photo = app.http.get(app.url(&url)).send().await.unwrap();
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    assert_eq!(photo.bytes().await.unwrap().as_ref(), crm_testkit::platform::FILE_BYTES);
    let forged = url.replace("sig=", "sig=00");
    assert_eq!(app.http.get(app.url(&forged)).send().await.unwrap().status().as_u16(), 404);
    let conversation_id = conversation["id"].as_str().unwrap().to_owned();
    let unread = "query($id: ID!) { conversation(id: $id) { unread assigneeId } }";
    let before = api.ok(unread, json!({ "id": conversation_id })).await["conversation"].clone();
    assert_eq!(before, json!({ "unread": 2, "assigneeId": owner.user_id }), "routed to the only agent");
    api.ok("mutation($id: ID!) { markConversationRead(id: $id) { id } }", json!({ "id": conversation_id })).await;
    assert_eq!(api.ok(unread, json!({ "id": conversation_id })).await["conversation"]["unread"], 0);

    // A reply goes out through the outbox, and comes back SENT.
    let send = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, text: $t) { id status } }";
    let queued = api.ok(send, json!({ "c": conversation_id, "t": "Yes, tomorrow!" })).await["sendMessage"].clone();
    assert_eq!(queued["status"], "QUEUED");
    let sent = platform.wait_requests("sendMessage", 1).await;
    assert_eq!(sent[0].body, json!({ "chat_id": "1111111", "text": "Yes, tomorrow!" }));
    wait_for("the reply sent", Duration::from_secs(10), || async {
        let messages = conversations(&api).await[0]["messages"].clone();
        (messages[2]["status"] == "SENT").then_some(())
    })
    .await;

    // The customer blocked the bot: the reply fails with Telegram's reason, and the
    // conversation says so.
    let blocked = json!({ "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user" });
    platform.then("sendMessage", 403, blocked, None);
    api.ok(send, json!({ "c": conversation_id, "t": "Are you there?" })).await;
    // (The list and its messages are read one after the other: wait for both to tell.)
    let list = wait_for("the refusal recorded", Duration::from_secs(10), || async {
        let list = conversations(&api).await;
        (list[0]["messages"][3]["status"] == "FAILED" && list[0]["blocked"] == true).then_some(list)
    })
    .await;
    assert!(list[0]["messages"][3]["error"].as_str().unwrap().contains("blocked by the user"));
    assert_eq!(api.code(send, json!({ "c": conversation_id, "t": "Hello?" })).await, "CONFLICT");

    // Disconnecting removes the webhook; the old address stops taking updates.
    api.ok("mutation($id: ID!) { disconnectChannel(id: $id) }", json!({ "id": id })).await;
    assert_eq!(platform.requests("deleteWebhook").len(), 1);
    let late = serde_json::to_vec(&telegram_text(10009, 1400, "late")).unwrap();
    assert_eq!(post(&app, &path, &auth, late).await, 401);
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Meta's documented webhook body: a message from `psid` sent `ago` before now, plus an echo
/// of our own send and a read receipt.
fn meta_body(psid: &str, mid: &str, text: &str, ago: chrono::Duration) -> Vec<u8> {
    meta_body_of("page", psid, mid, text, ago)
}

fn meta_body_of(object: &str, psid: &str, mid: &str, text: &str, ago: chrono::Duration) -> Vec<u8> {
    let at = (chrono::Utc::now() - ago).timestamp_millis();
    serde_json::to_vec(&json!({ "object": object, "entry": [{ "id": "1234567890", "time": at, "messaging": [
        { "sender": { "id": psid }, "recipient": { "id": "1234567890" }, "timestamp": at, "message": { "mid": mid, "text": text } },
        { "sender": { "id": "1234567890" }, "recipient": { "id": psid }, "timestamp": at, "message": { "mid": format!("{mid}-echo"), "is_echo": true, "text": "ours" } },
        { "sender": { "id": psid }, "recipient": { "id": "1234567890" }, "timestamp": at, "read": { "watermark": at } }
    ] }] }))
    .unwrap()
}

#[tokio::test]
async fn a_messenger_page_is_verified_signed_and_replied_to_within_metas_window() {
    let platform = Platform::start().await;
    let app = inbox_app(&platform).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let input = json!({ "i": { "name": "Acme page", "pageId": "1234567890", "pageAccessToken": "EAAB-page-token",
        "appSecret": "app-secret-1", "verifyToken": "verify-me" } });
    let channel = api
        .ok("mutation($i: MessengerInput!) { connectMessenger(input: $i) { id kind webhookPath } }", input)
        .await["connectMessenger"]
        .clone();
    assert_eq!(channel["kind"], "MESSENGER");
    let path = channel["webhookPath"].as_str().unwrap().to_owned();

    // Meta's subscription check: the challenge only for the right verify token.
    let verify = |token: &str| format!("{path}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444");
    let wrong = app.http.get(app.url(&verify("guess"))).send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    let right = app.http.get(app.url(&verify("verify-me"))).send().await.unwrap();
    assert_eq!(right.status().as_u16(), 200);
    assert_eq!(right.text().await.unwrap(), "1158201444");

    // Unsigned or forged: refused, nothing stored.
    let body = meta_body("PSID-1", "m_1", "Is the blue one in stock?", chrono::Duration::minutes(5));
    assert_eq!(post(&app, &path, &[], body.clone()).await, 401);
    let forged = sign("not-the-app-secret", &body);
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &forged)], body.clone()).await, 401);
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    let signature = sign("app-secret-1", &body);
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &signature)], tampered).await, 401);
    assert_eq!(conversations(&api).await, json!([]));

    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &signature)], body.clone()).await, 200);
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &signature)], body).await, 200, "a redelivery");
    let list = wait_for("the message filed", Duration::from_secs(10), || async {
        let list = conversations(&api).await;
        (!list[0].is_null()).then_some(list)
    })
    .await;
    assert_eq!(list[0]["messages"].as_array().unwrap().len(), 1, "the echo and the read receipt are not messages");
    // Meta does not say who wrote: the profile API does, once per new person.
    assert_eq!(list[0]["customer"]["name"], "Peter Chang");
    let profile = platform.requests("PSID-1");
    assert_eq!(profile.len(), 1);
    assert!(profile[0].query.contains("access_token=EAAB-page-token"));
    let conversation_id = list[0]["id"].as_str().unwrap().to_owned();
    let window = "query($id: ID!) { conversation(id: $id) { replyWindow { open humanAgentOnly until } } }";
    let open = api.ok(window, json!({ "id": conversation_id })).await["conversation"]["replyWindow"].clone();
    assert_eq!((open["open"].as_bool(), open["humanAgentOnly"].as_bool()), (Some(true), Some(false)));

    // Inside 24 hours: a plain RESPONSE. Meta is busy twice first (429, then 500): retried.
    platform.then("messages", 429, json!({ "error": { "message": "Too many requests", "code": 613 } }), Some(1));
    platform.then(
        "messages",
        500,
        json!({ "error": { "message": "An unexpected error has occurred", "code": 2 } }),
        None,
    );
    let send = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, text: $t) { id status } }";
    api.ok(send, json!({ "c": conversation_id, "t": "Yes, size M and L." })).await;
    let calls = platform.wait_requests("messages", 3).await;
    for call in &calls {
        assert!(call.query.contains("access_token=EAAB-page-token"));
        assert_eq!(call.body["recipient"]["id"], "PSID-1");
        assert_eq!(call.body["messaging_type"], "RESPONSE");
        assert!(call.body.get("tag").is_none());
    }
    wait_for("the reply sent", Duration::from_secs(15), || async {
        (conversations(&api).await[0]["messages"][1]["status"] == "SENT").then_some(())
    })
    .await;

    // A customer who wrote two days ago: only a person's reply, tagged HUMAN_AGENT.
    let old = meta_body("PSID-2", "m_2", "Hello?", chrono::Duration::days(2));
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &sign("app-secret-1", &old))], old).await, 200);
    // And one who wrote eight days ago: no reply is allowed at all.
    let older = meta_body("PSID-3", "m_3", "Anyone?", chrono::Duration::days(8));
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &sign("app-secret-1", &older))], older).await, 200);
    let list = wait_for("both filed", Duration::from_secs(10), || async {
        let list = conversations(&api).await;
        (list.as_array()?.len() == 3).then_some(list)
    })
    .await;
    let by_text = |text: &str| {
        list.as_array().unwrap().iter().find(|c| c["messages"][0]["text"] == text).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (two_days, eight_days) = (by_text("Hello?"), by_text("Anyone?"));
    let human = api.ok(window, json!({ "id": two_days })).await["conversation"]["replyWindow"].clone();
    assert_eq!(human["humanAgentOnly"], true);
    api.ok(send, json!({ "c": two_days, "t": "Sorry for the wait!" })).await;
    let tagged = platform.wait_requests("messages", 4).await.pop().unwrap();
    assert_eq!(
        (tagged.body["messaging_type"].as_str(), tagged.body["tag"].as_str()),
        (Some("MESSAGE_TAG"), Some("HUMAN_AGENT"))
    );
    let closed = api.run(send, json!({ "c": eight_days, "t": "Hi" })).await;
    assert_eq!(closed["errors"][0]["extensions"]["code"], "CONFLICT");
    assert!(closed["errors"][0]["message"].as_str().unwrap().contains("7 days"), "{closed}");
}

#[tokio::test]
async fn an_instagram_account_through_its_facebook_page_works_like_messenger() {
    let platform = Platform::start().await;
    let app = inbox_app(&platform).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let connect = "mutation($i: InstagramInput!) { connectInstagram(input: $i) { id kind externalId webhookPath } }";
    let input = |account: &str| {
        json!({ "i": { "name": "Acme on Instagram", "accountId": account,
        "accessToken": "EAAB-ig-token", "appSecret": "ig-secret", "verifyToken": "ig-verify" } })
    };
    let bad = api.run(connect, input("acme.shop")).await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "accountId", "{bad}");
    let channel = api.ok(connect, input("17841400000000000")).await["connectInstagram"].clone();
    assert_eq!(channel["kind"], "INSTAGRAM");
    let path = channel["webhookPath"].as_str().unwrap().to_owned();

    let body = meta_body_of("instagram", "IGSID-7", "mid.ig.1", "Price of the red bag?", chrono::Duration::minutes(1));
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &sign("ig-secret", &body))], body).await, 200);
    let list = wait_for("the message filed", Duration::from_secs(10), || async {
        let list = conversations(&api).await;
        (!list[0].is_null()).then_some(list)
    })
    .await;
    assert_eq!(list[0]["customer"]["name"], "Peter Chang", "the name from Instagram's profile");
    // A photo: Meta gives a URL; our copy is kept and served by a signed link.
    let at = chrono::Utc::now().timestamp_millis();
    let photo = serde_json::to_vec(&json!({ "object": "instagram", "entry": [{ "id": "17841400000000000", "time": at, "messaging": [
        { "sender": { "id": "IGSID-7" }, "recipient": { "id": "17841400000000000" }, "timestamp": at,
          "message": { "mid": "mid.ig.2", "attachments": [{ "type": "image", "payload": { "url": format!("{}/cdn/bag.jpg", platform.url) } }] } }
    ] }] }))
    .unwrap();
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &sign("ig-secret", &photo))], photo).await, 200);
    let url = wait_for("the photo copied", Duration::from_secs(10), || async {
        let list = conversations(&api).await;
        list[0]["messages"][1]["attachments"][0]["url"].as_str().map(str::to_owned)
    })
    .await;
    let copy = app.http.get(app.url(&url)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(copy.as_ref(), crm_testkit::platform::FILE_BYTES);
    let send = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, text: $t) { id } }";
    api.ok(send, json!({ "c": list[0]["id"], "t": "49 dollars" })).await;
    let sent = platform.wait_requests("messages", 1).await.remove(0);
    assert!(sent.query.contains("access_token=EAAB-ig-token"));
    assert!(sent.path.starts_with("/v21.0/"), "Facebook login goes through graph.facebook.com");
    assert_eq!(sent.body["recipient"]["id"], "IGSID-7");
    assert_eq!(sent.body["message"]["text"], "49 dollars");
    // Meta takes a text or a file per message.
    let with_file =
        "mutation($c: ID!, $t: String, $f: FileInput) { sendMessage(conversationId: $c, text: $t, file: $f) { id } }";
    let photo = json!({ "kind": "IMAGE", "url": "https://cdn.acme.test/bag.jpg" });
    assert_eq!(api.code(with_file, json!({ "c": list[0]["id"], "t": "look", "f": photo })).await, "BAD_USER_INPUT");
    api.ok(with_file, json!({ "c": list[0]["id"], "f": photo })).await;
    let sent = platform.wait_requests("messages", 2).await.remove(1);
    assert_eq!(
        sent.body["message"],
        json!({ "attachment": { "type": "image", "payload": { "url": "https://cdn.acme.test/bag.jpg", "is_reusable": true } } })
    );
}

#[tokio::test]
async fn new_conversations_are_shared_out_and_agents_work_them() {
    let platform = Platform::start().await;
    let app = inbox_app(&platform).await;
    let gql = app.gql();
    let owner = gql.sign_up("Acme", "ann@acme.test").await;
    let api = gql.with_token(&owner.access);
    let invite =
        "mutation { inviteUser(email: \"bob@acme.test\", name: \"Bob\", role: AGENT) { user { id } inviteToken } }";
    let invited = api.ok(invite, json!({})).await["inviteUser"].clone();
    let bob_id = invited["user"]["id"].as_str().unwrap().to_owned();
    let accept =
        "mutation($t: String!) { acceptInvite(inviteToken: $t, password: \"bob's long password\") { accessToken } }";
    let bob_token = gql.ok(accept, json!({ "t": invited["inviteToken"] })).await["acceptInvite"]["accessToken"].clone();
    let bob = gql.with_token(bob_token.as_str().unwrap());

    let connect = "mutation { connectTelegram(name: \"Bot\", botToken: \"123456789:AAE-secret\") { webhookPath } }";
    let path = api.ok(connect, json!({})).await["connectTelegram"]["webhookPath"].as_str().unwrap().to_owned();
    let secret = platform.requests("setWebhook").pop().unwrap().body["secret_token"].as_str().unwrap().to_owned();
    let auth = [("x-telegram-bot-api-secret-token", secret.as_str())];
    let from = |update: i64, chat: i64, text: &str| {
        let mut u = telegram_text(update, update, text);
        u["message"]["chat"]["id"] = json!(chat);
        u["message"]["from"]["id"] = json!(chat);
        serde_json::to_vec(&u).unwrap()
    };
    // Carol has joined but does not have the app open: she is given nothing.
    let invite = "mutation { inviteUser(email: \"carol@acme.test\", name: \"Carol\", role: AGENT) { inviteToken } }";
    let carol = api.ok(invite, json!({})).await["inviteUser"]["inviteToken"].clone();
    gql.ok(accept, json!({ "t": carol })).await;
    // Ann and Bob have it open (a live subscription), so they are online.
    let live = "subscription { inboxEvents { conversation { id } } }";
    let _ann_socket = app.subscribe(&owner.access, live).await;
    let bob_socket = app.subscribe(bob_token.as_str().unwrap(), live).await;
    let team = "{ users { name online away } }";
    let online: Vec<Value> = api.ok(team, json!({})).await["users"].as_array().unwrap().clone();
    let online: Vec<(&str, bool)> = online.iter().map(|u| (u["name"].as_str().unwrap(), u["online"] == true)).collect();
    assert_eq!(online, [("Owner of Acme", true), ("Bob", true), ("Carol", false)]);

    // Two new customers, in turn: the earliest member first, then the other.
    assert_eq!(post(&app, &path, &auth, from(1, 71, "first")).await, 200);
    let mine = "{ conversations(scope: MINE) { id status messages { text } } }";
    let ann_first = wait_for("routed", Duration::from_secs(10), || async {
        let list = api.ok(mine, json!({})).await["conversations"].clone();
        (list.as_array()?.len() == 1).then_some(list)
    })
    .await;
    assert_eq!(post(&app, &path, &auth, from(2, 72, "second")).await, 200);
    let bobs = wait_for("routed to Bob", Duration::from_secs(10), || async {
        let list = bob.ok(mine, json!({})).await["conversations"].clone();
        (list.as_array()?.len() == 1).then_some(list)
    })
    .await;
    assert_eq!(bobs[0]["messages"][0]["text"], "second");
    assert_eq!(ann_first[0]["messages"][0]["text"], "first");
    let unassigned = api.ok("{ conversations(scope: UNASSIGNED) { id } }", json!({})).await;
    assert_eq!(unassigned["conversations"], json!([]));

    // Reassign, close, and a customer writing again reopens it.
    let bobs_id = bobs[0]["id"].as_str().unwrap().to_owned();
    let who = "query($id: ID!) { conversation(id: $id) { assigneeId } }";
    assert_eq!(bob.ok(who, json!({ "id": bobs_id })).await["conversation"]["assigneeId"], bob_id.as_str());
    let assign = "mutation($id: ID!, $u: ID) { assignConversation(id: $id, userId: $u) { assigneeId } }";
    let moved = bob.ok(assign, json!({ "id": bobs_id, "u": owner.user_id })).await;
    assert_eq!(moved["assignConversation"]["assigneeId"], owner.user_id.as_str());
    assert_eq!(
        bob.code(assign, json!({ "id": bobs_id, "u": uuid::Uuid::new_v4().to_string() })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(bob.ok(mine, json!({})).await["conversations"], json!([]));
    let close = "mutation($id: ID!) { closeConversation(id: $id) { status } }";
    assert_eq!(api.ok(close, json!({ "id": bobs_id })).await["closeConversation"]["status"], "CLOSED");
    let closed = api.ok("{ conversations(status: CLOSED) { id } }", json!({})).await;
    assert_eq!(closed["conversations"][0]["id"], bobs_id.as_str());
    assert_eq!(post(&app, &path, &auth, from(3, 72, "hello again")).await, 200);
    wait_for("reopened", Duration::from_secs(10), || async {
        let list = api.ok("{ conversations(status: CLOSED) { id } }", json!({})).await;
        (list["conversations"] == json!([])).then_some(())
    })
    .await;
    let reopen = "mutation($id: ID!) { reopenConversation(id: $id) { status } }";
    assert_eq!(api.ok(reopen, json!({ "id": bobs_id })).await["reopenConversation"]["status"], "OPEN");

    // Canned replies: admins keep them, everyone uses them.
    let create = "mutation($t: String!, $x: String!) { createCannedReply(title: $t, text: $x) { id title } }";
    assert_eq!(bob.code(create, json!({ "t": "Hours", "x": "We work 9 to 18." })).await, "FORBIDDEN");
    assert_eq!(api.code(create, json!({ "t": "", "x": "x" })).await, "BAD_USER_INPUT");
    api.ok(create, json!({ "t": "Hours", "x": "We work 9 to 18." })).await;
    api.ok(create, json!({ "t": "Delivery", "x": "Tomorrow before noon." })).await;
    let canned = bob.ok("{ cannedReplies { title text } }", json!({})).await;
    assert_eq!(canned["cannedReplies"][0], json!({ "title": "Delivery", "text": "Tomorrow before noon." }));
    assert_eq!(canned["cannedReplies"].as_array().unwrap().len(), 2);

    // Files go by their address: a photo with its caption, a document.
    let send =
        "mutation($c: ID!, $t: String, $f: FileInput) { sendMessage(conversationId: $c, text: $t, file: $f) { id } }";
    let photo = json!({ "kind": "IMAGE", "url": "https://cdn.acme.test/catalogue/bag.jpg" });
    api.ok(send, json!({ "c": bobs_id, "t": "The red one", "f": photo })).await;
    let document = json!({ "kind": "DOCUMENT", "url": "https://cdn.acme.test/price-list.pdf", "name": "Prices" });
    api.ok(send, json!({ "c": bobs_id, "f": document })).await;
    let sent = platform.wait_requests("sendPhoto", 1).await.remove(0);
    assert_eq!(
        sent.body,
        json!({ "chat_id": "72", "photo": "https://cdn.acme.test/catalogue/bag.jpg", "caption": "The red one" })
    );
    let sent = platform.wait_requests("sendDocument", 1).await.remove(0);
    assert_eq!(sent.body, json!({ "chat_id": "72", "document": "https://cdn.acme.test/price-list.pdf" }));
    assert_eq!(api.code(send, json!({ "c": bobs_id })).await, "BAD_USER_INPUT");
    let local = json!({ "kind": "IMAGE", "url": "file:///etc/passwd" });
    assert_eq!(api.code(send, json!({ "c": bobs_id, "f": local })).await, "BAD_USER_INPUT");

    // A reply waiting for a retry is not overtaken by the next one to the same customer.
    let down = json!({ "ok": false, "error_code": 502, "description": "Bad Gateway" });
    platform.then("sendMessage", 502, down, None);
    let first = ann_first[0]["id"].as_str().unwrap();
    api.ok(send, json!({ "c": first, "t": "one" })).await;
    api.ok(send, json!({ "c": first, "t": "two" })).await;
    let texts: Vec<Value> =
        platform.wait_requests("sendMessage", 3).await.into_iter().map(|r| r.body["text"].clone()).collect();
    assert_eq!(texts, [json!("one"), json!("one"), json!("two")]);

    // Round-robin skips whoever is away or has gone; Carol, offline, never gets one.
    let given_to = |text: &'static str| {
        let api = api.clone();
        async move {
            wait_for("routed", Duration::from_secs(10), || async {
                let list = api.ok("{ conversations { assigneeId messages { text } } }", json!({})).await;
                let list = list["conversations"].as_array()?.clone();
                let found = list.into_iter().find(|c| c["messages"][0]["text"] == text)?;
                Some(found["assigneeId"].as_str()?.to_owned())
            })
            .await
        }
    };
    let away = "mutation($a: Boolean!) { setAway(away: $a) { away online } }";
    assert_eq!(api.ok(away, json!({ "a": true })).await["setAway"], json!({ "away": true, "online": true }));
    assert_eq!(post(&app, &path, &auth, from(4, 73, "while Ann is away")).await, 200);
    assert_eq!(given_to("while Ann is away").await, bob_id);
    api.ok(away, json!({ "a": false })).await;
    assert_eq!(post(&app, &path, &auth, from(5, 74, "Ann is back")).await, 200);
    assert_eq!(given_to("Ann is back").await, owner.user_id);
    drop(bob_socket);
    wait_for("Bob offline", Duration::from_secs(10), || async {
        let users = api.ok(team, json!({})).await["users"].clone();
        (users[1]["online"] == false).then_some(())
    })
    .await;
    assert_eq!(post(&app, &path, &auth, from(6, 75, "Bob has gone")).await, 200);
    assert_eq!(given_to("Bob has gone").await, owner.user_id, "Bob was next, but he has gone");

    // The list pages: each page starts after the last one's cursor, newest first, none twice.
    let all: Vec<Value> =
        api.ok("{ conversations(first: 100) { id } }", json!({})).await["conversations"].as_array().unwrap().clone();
    assert!(all.len() >= 4, "{all:?}");
    let page = "query($a: String) { conversations(first: 2, after: $a) { id cursor } }";
    let (mut paged, mut after) = (Vec::new(), Value::Null);
    loop {
        let got = api.ok(page, json!({ "a": after })).await["conversations"].as_array().unwrap().clone();
        paged.extend(got.iter().map(|c| json!({ "id": c["id"] })));
        match got.last() {
            Some(last) if got.len() == 2 => after = last["cursor"].clone(),
            _ => break,
        }
    }
    assert_eq!(paged, all);
    assert_eq!(api.code(page, json!({ "a": "not-a-cursor" })).await, "BAD_USER_INPUT");
}

#[tokio::test]
async fn an_instagram_account_with_instagram_login_talks_to_graph_instagram_com() {
    let platform = Platform::start().await;
    let app = inbox_app(&platform).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let connect = "mutation($i: InstagramInput!) { connectInstagram(input: $i) { webhookPath } }";
    let input = json!({ "i": { "name": "Acme on Instagram", "accountId": "17841400000000099", "login": "INSTAGRAM",
        "accessToken": "IGAA-user-token", "appSecret": "ig-app-secret", "verifyToken": "ig-verify" } });
    let path = api.ok(connect, input).await["connectInstagram"]["webhookPath"].as_str().unwrap().to_owned();

    let body =
        meta_body_of("instagram", "IGSID-9", "mid.igl.1", "Do you ship to Tashkent?", chrono::Duration::minutes(1));
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &sign("wrong", &body))], body.clone()).await, 401);
    assert_eq!(post(&app, &path, &[("x-hub-signature-256", &sign("ig-app-secret", &body))], body).await, 200);
    let list = wait_for("the message filed", Duration::from_secs(10), || async {
        let list = conversations(&api).await;
        (!list[0].is_null()).then_some(list)
    })
    .await;
    assert_eq!(list[0]["customer"]["name"], "Lola Park", "the profile from graph.instagram.com");
    let profile = platform.requests("IGSID-9").pop().unwrap();
    assert_eq!(profile.authorization.as_deref(), Some("Bearer IGAA-user-token"));
    assert!(!profile.query.contains("access_token"), "the token goes in the header only");

    let send = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, text: $t) { id } }";
    api.ok(send, json!({ "c": list[0]["id"], "t": "Yes, in 3 days" })).await;
    let sent = platform.wait_requests("messages", 1).await.remove(0);
    assert_eq!(sent.path, "/ig/v21.0/me/messages");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer IGAA-user-token"));
    assert!(!sent.query.contains("access_token"));
    assert_eq!(sent.body["recipient"]["id"], "IGSID-9");
    assert_eq!(sent.body["message"]["text"], "Yes, in 3 days");
    wait_for("the reply sent", Duration::from_secs(10), || async {
        let list = conversations(&api).await;
        (list[0]["messages"][1]["status"] == "SENT").then_some(())
    })
    .await;
}
