//! The customer card: finding a customer however they are typed, merging two cards into one
//! without losing anything, suggested duplicates, notes, hand-made tasks, and the timeline.
use crm_core::calls::HangupBy;
use crm_testkit::platform::Platform;
use crm_testkit::{Gql, TestApp, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

const CREATE: &str = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";

async fn create(api: &Gql, input: Value) -> String {
    api.ok(CREATE, json!({ "i": input })).await["createCustomer"]["id"].as_str().unwrap().to_owned()
}

async fn found_ids(api: &Gql, search: &str) -> Vec<String> {
    let query = "query($s: String) { customers(first: 20, search: $s) { edges { node { id } } } }";
    let page = api.ok(query, json!({ "s": search })).await;
    page["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn found(api: &Gql, search: &str) -> Vec<String> {
    let query = "query($s: String) { customers(first: 20, search: $s) { edges { node { name } } } }";
    let page = api.ok(query, json!({ "s": search })).await;
    let mut names: Vec<String> = page["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_customer_is_found_by_any_phone_format_email_tag_or_the_beginning_of_a_name_or_word() {
    let app = TestApp::spawn().await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await; // an Uzbek company
    let api = app.gql().with_token(&owner.access);
    let dilnoza = json!({ "name": "Dilnoza Karimova", "phones": ["+998 90 123 45 67", "71 200-00-00"],
        "emails": ["Dilnoza@Example.UZ"], "tags": ["vip", "VIP", "wholesale"] });
    create(&api, dilnoza).await;
    create(&api, json!({ "name": "Aziz Karimov", "phones": ["+998935550000"] })).await;
    let card = api
        .ok("{ customers(first: 1, search: \"Dilnoza\") { edges { node { emails tags phones } } } }", json!({}))
        .await;
    assert_eq!(
        card["customers"]["edges"][0]["node"],
        json!({ "emails": ["dilnoza@example.uz"], "tags": ["vip", "wholesale"], "phones": ["+998901234567", "+998712000000"] })
    );
    let one = ["Dilnoza Karimova".to_owned()];
    for typed in ["8 (90) 123-45-67", "+998901234567", "90 123 45 67", "998 71 200 00 00"] {
        assert_eq!(found(&api, typed).await, one, "{typed}");
    }
    assert_eq!(found(&api, "DILNOZA@example.uz").await, one);
    assert_eq!(found(&api, " dilnoza  KARI").await, one, "the name's beginning, in any case and spacing");
    assert_eq!(found(&api, "karimova").await, one, "a later word's beginning");
    assert_eq!(found(&api, "karimov").await, ["Aziz Karimov", "Dilnoza Karimova"]);
    assert!(found(&api, "noza").await.is_empty(), "the middle of a word begins nothing");
    // A renamed customer is found by the new name only.
    let aziz = found_ids(&api, "aziz").await;
    let rename = "mutation($id: ID!) { updateCustomer(id: $id, input: { name: \"Aziz Rashidov\" }) { id } }";
    api.ok(rename, json!({ "id": aziz[0] })).await;
    assert_eq!(found(&api, "karimov").await, ["Dilnoza Karimova"]);
    assert_eq!(found(&api, "rash").await, ["Aziz Rashidov"]);
    assert!(found(&api, "+998 99 999 99 99").await.is_empty());
    let tagged = api.ok("{ customers(first: 5, tag: \"vip\") { edges { node { name } } } }", json!({})).await;
    assert_eq!(tagged["customers"]["edges"], json!([{ "node": { "name": "Dilnoza Karimova" } }]));
    // Bad input: a clear error, nothing written.
    let bad = api.run(CREATE, json!({ "i": { "name": "X", "emails": ["not-an-email"] } })).await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "emails", "{bad}");
    let bad = api.run(CREATE, json!({ "i": { "name": "X", "tags": [""] } })).await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "tags", "{bad}");
    assert!(found(&api, "X").await.is_empty());
}

#[tokio::test]
async fn custom_fields_are_defined_by_admins_and_values_checked_by_kind() {
    let app = TestApp::spawn().await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let define = "mutation($k: String!, $l: String!, $t: CustomFieldKind!, $c: [String!]) {
        createCustomField(key: $k, label: $l, kind: $t, choices: $c) { id key kind choices } }";
    api.ok(define, json!({ "k": "tier", "l": "Tier", "t": "CHOICE", "c": ["Gold", "Silver"] })).await;
    api.ok(define, json!({ "k": "budget", "l": "Budget", "t": "NUMBER" })).await;
    api.ok(define, json!({ "k": "birthday", "l": "Birthday", "t": "DATE" })).await;
    assert_eq!(api.code(define, json!({ "k": "tier", "l": "Again", "t": "TEXT" })).await, "CONFLICT");
    assert_eq!(api.code(define, json!({ "k": "Bad Key", "l": "X", "t": "TEXT" })).await, "BAD_USER_INPUT");
    assert_eq!(api.code(define, json!({ "k": "mood", "l": "Mood", "t": "CHOICE" })).await, "BAD_USER_INPUT");
    let invite = "mutation { inviteUser(email: \"bob@acme.test\", name: \"Bob\", role: AGENT) { inviteToken } }";
    let bob_invite = api.ok(invite, json!({})).await["inviteUser"]["inviteToken"].clone();
    let accept =
        "mutation($t: String!) { acceptInvite(inviteToken: $t, password: \"bob's long password\") { accessToken } }";
    let bob = app.gql().ok(accept, json!({ "t": bob_invite })).await["acceptInvite"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.gql().with_token(&bob).code(define, json!({ "k": "x", "l": "X", "t": "TEXT" })).await, "FORBIDDEN");

    let fields = json!([{ "key": "tier", "value": "gold" }, { "key": "budget", "value": "1 250,50" },
        { "key": "birthday", "value": "26.11.1990" }]);
    let make = "mutation($f: [CustomFieldInput!]) { createCustomer(input: { name: \"Dilnoza\", customFields: $f }) {
        id customFields { key value } } }";
    let made = api.ok(make, json!({ "f": fields })).await["createCustomer"].clone();
    assert_eq!(
        made["customFields"],
        json!([{ "key": "birthday", "value": "1990-11-26" }, { "key": "budget", "value": "1250.5" }, { "key": "tier", "value": "Gold" }])
    );
    // Unknown fields and values of the wrong kind are refused, and nothing changes.
    let change = "mutation($id: ID!, $f: [CustomFieldInput!]) { updateCustomer(id: $id, input: { name: \"Changed\", customFields: $f }) {
        name customFields { key value } } }";
    for bad in [
        json!([{ "key": "tier", "value": "Bronze" }]),
        json!([{ "key": "budget", "value": "lots" }]),
        json!([{ "key": "birthday", "value": "1990-02-30" }]),
        json!([{ "key": "shoe_size", "value": "42" }]),
    ] {
        let refused = api.run(change, json!({ "id": made["id"], "f": bad })).await;
        assert_eq!(refused["errors"][0]["extensions"]["field"], "customFields", "{bad}: {refused}");
    }
    let card = api
        .ok("query($id: ID!) { customer(id: $id) { name customFields { key } } }", json!({ "id": made["id"] }))
        .await;
    assert_eq!(card["customer"]["name"], "Dilnoza", "nothing half-written");
    // A null value clears one field; the others stay.
    let cleared = api.ok(change, json!({ "id": made["id"], "f": [{ "key": "budget", "value": null }] })).await;
    assert_eq!(cleared["updateCustomer"]["customFields"].as_array().unwrap().len(), 2);
    let listed = api.ok("{ customFields { key label kind choices } }", json!({})).await["customFields"].clone();
    assert_eq!(listed[0], json!({ "key": "tier", "label": "Tier", "kind": "CHOICE", "choices": ["Gold", "Silver"] }));
}

#[tokio::test]
async fn a_csv_import_checks_every_row_reports_the_rejected_and_exports_back() {
    let app = TestApp::spawn().await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let define = "mutation { createCustomField(key: \"tier\", label: \"Tier\", kind: CHOICE, choices: [\"Gold\", \"Silver\"]) { id } }";
    api.ok(define, json!({})).await;
    create(&api, json!({ "name": "Old Friend", "phones": ["+998977777777"] })).await;
    let csv = "Name;Phone;E-mail;Tier;Manager\n\
        Dilnoza Karimova;8 (90) 123-45-67;dilnoza@example.uz;gold;ann@acme.test\n\
        \n\
        ;+998935550000;;;\n\
        Aziz;12;;;\n\
        Bekzod;+998 90 123 45 67;;;\n\
        Olim;+998711111111;olim@example.uz;Bronze;\n\
        Nodira;97 777 77 77;;;\n\
        Laylo;+998998887766;;Silver;nobody@acme.test\n\
        \"Sardor; Jr\";+998901112233;;Silver;\n";
    let mapping = json!([{ "column": "Name", "target": "name" }, { "column": "phone", "target": "phone" },
        { "column": "E-mail", "target": "email" }, { "column": "Tier", "target": "field:tier" },
        { "column": "Manager", "target": "responsible" }]);
    let start = "mutation($c: String!, $m: [ColumnMapping!]!, $d: Boolean) { importCustomers(csv: $c, mapping: $m, dryRun: $d) { id status total } }";
    // A mapping that does not fit the file is refused before anything starts.
    let wrong = json!([{ "column": "Surname", "target": "name" }]);
    assert_eq!(api.run(start, json!({ "c": csv, "m": wrong })).await["errors"][0]["extensions"]["field"], "mapping");
    let no_name = json!([{ "column": "Phone", "target": "phone" }]);
    assert_eq!(api.code(start, json!({ "c": csv, "m": no_name })).await, "BAD_USER_INPUT");
    let follow = "query($id: ID!) { customerImport(id: $id) { status dryRun total processed created rejected rejections { row reason } } }";
    let finished = |id: String| {
        let api = api.clone();
        async move {
            wait_for("the import", Duration::from_secs(20), || async {
                let report = api.ok(follow, json!({ "id": id })).await["customerImport"].clone();
                (report["status"] != "RUNNING").then_some(report)
            })
            .await
        }
    };

    // A dry run reports, and writes nothing.
    let dry = api.ok(start, json!({ "c": csv, "m": mapping, "d": true })).await["importCustomers"].clone();
    assert_eq!((dry["status"].as_str(), dry["total"].as_u64()), (Some("RUNNING"), Some(8)));
    let report = finished(dry["id"].as_str().unwrap().to_owned()).await;
    assert_eq!(
        (
            report["status"].as_str(),
            report["dryRun"].as_bool(),
            report["processed"].as_u64(),
            report["created"].as_u64()
        ),
        (Some("DONE"), Some(true), Some(8), Some(2))
    );
    let rows: Vec<(u64, String)> = report["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_owned()))
        .collect();
    let rows_only: Vec<u64> = rows.iter().map(|(row, _)| *row).collect();
    assert_eq!(rows_only, [4, 5, 6, 7, 8, 9], "as the file numbers them, past its blank line: {rows:?}");
    assert!(rows[0].1.contains("name"), "{rows:?}");
    assert!(rows[1].1.contains("phone number"), "{rows:?}");
    assert!(rows[2].1.contains("earlier row"), "{rows:?}");
    assert!(rows[3].1.contains("Bronze"), "{rows:?}");
    assert!(rows[4].1.contains("Old Friend"), "{rows:?}");
    assert!(rows[5].1.contains("nobody@acme.test"), "{rows:?}");
    assert_eq!(found(&api, "Dilnoza").await, Vec::<String>::new(), "a dry run writes nothing");

    // The real one creates the same two, with everything mapped.
    let real =
        api.ok(start, json!({ "c": csv, "m": mapping })).await["importCustomers"]["id"].as_str().unwrap().to_owned();
    let report = finished(real).await;
    assert_eq!((report["created"].as_u64(), report["rejected"].as_u64()), (Some(2), Some(6)));
    let card = "{ customers(first: 5, search: \"Dilnoza\") { edges { node { phones emails responsibleUserId customFields { key value } } } } }";
    let dilnoza = api.ok(card, json!({})).await["customers"]["edges"][0]["node"].clone();
    assert_eq!(
        dilnoza,
        json!({ "phones": ["+998901234567"], "emails": ["dilnoza@example.uz"], "responsibleUserId": owner.user_id,
            "customFields": [{ "key": "tier", "value": "Gold" }] })
    );
    assert_eq!(found(&api, "Sardor").await, ["Sardor; Jr"]);

    // Export: every customer, one row each, custom fields as columns.
    let url = api.ok("mutation { exportCustomers }", json!({})).await["exportCustomers"].as_str().unwrap().to_owned();
    let text = app.http.get(app.url(&url)).send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "name,phones,emails,tags,responsible,created_at,tier");
    assert_eq!(lines.len(), 4, "a header and three customers: {text}");
    assert!(
        lines.iter().any(|l| l.starts_with("Dilnoza Karimova,+998901234567,dilnoza@example.uz,,ann@acme.test,")
            && l.ends_with(",Gold"))
    );
    assert!(lines.iter().any(|l| l.starts_with("Sardor; Jr,+998901112233,,,,")), "{text}");
}

/// Telegram's documented example update from a private chat with `username`.
fn telegram_text(update_id: i64, from: i64, username: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "update_id": update_id, "message": {
        "date": 1441645532, "message_id": update_id, "text": text,
        "chat": { "id": from, "type": "private", "first_name": "Dilnoza", "username": username },
        "from": { "id": from, "is_bot": false, "first_name": "Dilnoza", "username": username } } }))
    .unwrap()
}

/// A file over the GraphQL request limit goes to `POST /imports/customers` with the mapping in
/// the query; bad requests are refused before anything starts, the import runs as the
/// mutation's does, and its progress is the same query's.
#[tokio::test]
async fn a_csv_file_too_big_for_a_graphql_request_is_imported_through_its_own_endpoint() {
    let app = TestApp::spawn().await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let notes = "x".repeat(900);
    let mut csv = String::from("Name,Phone,Notes\n");
    for i in 0..1500 {
        csv.push_str(&format!("Customer {i:04},+99890{i:07},{notes}\n"));
    }
    assert!(csv.len() > 1024 * 1024);

    // Too big for the mutation.
    let mutation = json!({ "query": "mutation($c: String!) { importCustomers(csv: $c, mapping: [{ column: \"Name\", target: \"name\" }]) { id } }",
        "variables": { "c": csv } });
    let refused = app.http.post(app.url("/graphql")).bearer_auth(&owner.access).json(&mutation).send().await.unwrap();
    assert_eq!(refused.status(), 413);

    let url = |query: &str| app.url(&format!("/imports/customers?{query}"));
    let post = |url: String, body: Vec<u8>, token: Option<&str>| {
        let request = app.http.post(url).header("content-type", "text/csv").body(body);
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let mapping = "map.Name=name&map.Phone=phone&map.Notes=skip";
    let (status, _) = post(url(mapping), csv.clone().into_bytes(), None).await;
    assert_eq!(status, 401);
    let (status, body) = post(url("map.Surname=name"), csv.clone().into_bytes(), Some(&owner.access)).await;
    assert_eq!((status, body["errors"][0]["extensions"]["field"].as_str()), (400, Some("mapping")), "{body}");
    let (status, body) = post(url(mapping), vec![0xff, 0xfe, b'N'], Some(&owner.access)).await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (400, Some("BAD_USER_INPUT")));
    let (status, body) = post(url("mapping=Name"), csv.clone().into_bytes(), Some(&owner.access)).await;
    assert_eq!((status, body["errors"][0]["extensions"]["field"].as_str()), (400, Some("query")));
    let none = api.ok("{ customers(first: 1) { totalCount } }", json!({})).await;
    assert_eq!(none["customers"]["totalCount"], 0, "nothing refused left anything behind");

    let (status, started) = post(url(mapping), csv.into_bytes(), Some(&owner.access)).await;
    assert_eq!((status, started["status"].as_str(), started["total"].as_u64()), (200, Some("RUNNING"), Some(1500)));
    let follow = "query($id: ID!) { customerImport(id: $id) { status processed created rejected } }";
    let id = started["id"].as_str().unwrap().to_owned();
    let report = wait_for("the import", Duration::from_secs(60), || async {
        let report = api.ok(follow, json!({ "id": id })).await["customerImport"].clone();
        (report["status"] != "RUNNING").then_some(report)
    })
    .await;
    assert_eq!(report, json!({ "status": "DONE", "processed": 1500, "created": 1500, "rejected": 0 }));
    assert_eq!(found(&api, "+998900001499").await, ["Customer 1499"]);

    // A word every customer has: its pages are the newest customers, as without a search (found
    // among the newest thousand); a rare one is found among the oldest.
    let page = "query($s: String, $a: String) { customers(first: 20, search: $s, after: $a) { edges { node { name } }
        pageInfo { hasNextPage endCursor } } }";
    let mut after = Value::Null;
    for _ in 0..3 {
        let searched = api.ok(page, json!({ "s": "customer", "a": after })).await["customers"].clone();
        let listed = api.ok(page, json!({ "s": null, "a": after })).await["customers"].clone();
        assert_eq!(searched, listed);
        assert_eq!(searched["edges"].as_array().unwrap().len(), 20);
        after = searched["pageInfo"]["endCursor"].clone();
    }
    // Customers added after a search are on the next one's first page (where the newest
    // customers begin is kept a while per company; a stale floor must not hide them).
    for i in 0..3 {
        create(&api, json!({ "name": format!("Customer added {i}") })).await;
    }
    let searched = api.ok(page, json!({ "s": "customer", "a": null })).await["customers"].clone();
    assert_eq!(searched, api.ok(page, json!({ "s": null, "a": null })).await["customers"]);
    assert_eq!(searched["edges"][0]["node"]["name"], "Customer added 2");
    let rare = found(&api, "Customer 004").await;
    assert_eq!(rare, (40..50).map(|i| format!("Customer {i:04}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn merging_two_cards_keeps_every_call_chat_note_and_task_on_one_timeline() {
    let platform = Platform::start().await;
    let url = platform.url.clone();
    let app = TestApp::spawn_with(move |c| c.telegram_api_url = url.clone()).await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let trunk = json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000000"] } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;

    // 1. Dilnoza writes to the company's bot: a card made from Telegram.
    let connect = "mutation { connectTelegram(name: \"Bot\", botToken: \"123456789:AAE-secret\") { webhookPath } }";
    let path = api.ok(connect, json!({})).await["connectTelegram"]["webhookPath"].as_str().unwrap().to_owned();
    let secret = platform.requests("setWebhook").pop().unwrap().body["secret_token"].as_str().unwrap().to_owned();
    let posted = app
        .http
        .post(app.url(&path))
        .header("x-telegram-bot-api-secret-token", &secret)
        .header("content-type", "application/json")
        .body(telegram_text(1, 501, "Dilnoza_K", "Is the red bag in stock?"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 200);
    let from_telegram = wait_for("the chat's customer", Duration::from_secs(10), || async {
        let list = api.ok("{ conversations { customer { id } } }", json!({})).await;
        list["conversations"][0]["customer"]["id"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(found(&api, "@dilnoza_k").await, ["Dilnoza"], "by messenger username");

    // 2. A manager types her in by hand, with her phone; she calls and nobody answers.
    let by_hand = create(
        &api,
        json!({ "name": "Dilnoza Karimova", "phones": ["+998901234567"], "emails": ["dilnoza@example.uz"], "tags": ["vip"] }),
    )
    .await;
    let services = &app.running.app.services;
    let route = services.route_inbound("127.0.0.2".parse().unwrap(), "+998712000000").await.unwrap().unwrap();
    let (missed, _) = services.start_inbound_call(&route, "+998901234567", "edge-a").await.unwrap();
    services.end_call(missed.tenant_id, missed.id, HangupBy::Customer, Some(487)).await.unwrap();

    // 3. Someone adds the phone to the Telegram card too: now they look like one person.
    let update = "mutation($id: ID!, $p: [String!]) { updateCustomer(id: $id, input: { phones: $p }) { id } }";
    api.ok(update, json!({ "id": from_telegram, "p": ["8 (90) 123-45-67"] })).await;
    let pairs = api.ok("{ duplicateCustomers { customer { id } other { id } reason value } }", json!({})).await;
    let pair = &pairs["duplicateCustomers"];
    assert_eq!(pair.as_array().unwrap().len(), 1, "{pairs}");
    assert_eq!((pair[0]["reason"].as_str(), pair[0]["value"].as_str()), (Some("phone"), Some("+998901234567")));
    let ids = [pair[0]["customer"]["id"].as_str().unwrap(), pair[0]["other"]["id"].as_str().unwrap()];
    assert!(ids.contains(&from_telegram.as_str()) && ids.contains(&by_hand.as_str()));
    let of_one = "query($id: ID!) { customer(id: $id) { duplicates { other { id } } } }";
    let dupes = api.ok(of_one, json!({ "id": by_hand })).await;
    assert_eq!(dupes["customer"]["duplicates"], json!([{ "other": { "id": from_telegram } }]));

    // 4. She calls again (the older card has the number now) and is answered; a note; a task.
    let (answered, _) = services.start_inbound_call(&route, "+998901234567", "edge-a").await.unwrap();
    assert_eq!(answered.customer_id.map(|c| c.to_string()), Some(from_telegram.clone()));
    services.answer_call(answered.tenant_id, answered.id, owner.user_id.parse().unwrap()).await.unwrap();
    services.end_call(answered.tenant_id, answered.id, HangupBy::Agent, None).await.unwrap();
    let note = "mutation($c: ID!, $t: String!) { addNote(customerId: $c, text: $t) { id text } }";
    api.ok(note, json!({ "c": from_telegram, "t": "Prefers Telegram to calls" })).await;
    let task = "mutation($i: CreateTaskInput!) { createTask(input: $i) { id kind overdue assigneeId } }";
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let made = api
        .ok(task, json!({ "i": { "title": "Send the catalogue", "customerId": from_telegram, "assigneeId": owner.user_id, "dueAt": yesterday } }))
        .await["createTask"]
        .clone();
    assert_eq!((made["kind"].as_str(), made["overdue"].as_bool()), (Some("todo"), Some(true)), "overdue is visible");

    // Merging a card into itself, or with one that is not there, is refused and changes nothing.
    let merge = "mutation($k: ID!, $m: ID!) { mergeCustomers(keptId: $k, mergedId: $m) {
        mergedName moved { calls conversations identities tasks notes } } }";
    assert_eq!(api.code(merge, json!({ "k": by_hand, "m": by_hand })).await, "BAD_USER_INPUT");
    let nobody = uuid::Uuid::now_v7().to_string();
    assert_eq!(api.code(merge, json!({ "k": by_hand, "m": nobody })).await, "BAD_USER_INPUT");
    let other = app.gql().sign_up("Other", "olga@other.test").await;
    let theirs = create(&app.gql().with_token(&other.access), json!({ "name": "Olga's customer" })).await;
    assert_eq!(api.code(merge, json!({ "k": by_hand, "m": theirs })).await, "BAD_USER_INPUT", "another company's");
    assert_eq!(
        app.gql().with_token(&other.access).code(merge, json!({ "k": theirs, "m": by_hand })).await,
        "BAD_USER_INPUT"
    );

    // 5. The merge: everything of the Telegram card moves to the one typed by hand.
    let merged = api.ok(merge, json!({ "k": by_hand, "m": from_telegram })).await["mergeCustomers"].clone();
    assert_eq!(
        merged,
        json!({ "mergedName": "Dilnoza", "moved": { "calls": 1, "conversations": 1, "identities": 1, "tasks": 1, "notes": 1 } })
    );
    assert_eq!(
        api.code("query($id: ID!) { customer(id: $id) { id } }", json!({ "id": from_telegram })).await,
        "NOT_FOUND"
    );
    let card = "query($id: ID!) { customer(id: $id) { name phones emails tags identities { kind username }
        merges { mergedName } duplicates { other { id } } } }";
    let kept = api.ok(card, json!({ "id": by_hand })).await["customer"].clone();
    assert_eq!(
        kept,
        json!({ "name": "Dilnoza Karimova", "phones": ["+998901234567"], "emails": ["dilnoza@example.uz"], "tags": ["vip"],
            "identities": [{ "kind": "telegram", "username": "Dilnoza_K" }], "merges": [{ "mergedName": "Dilnoza" }],
            "duplicates": [] })
    );
    let chats = api.ok("{ conversations { customer { id } } }", json!({})).await;
    assert_eq!(chats["conversations"][0]["customer"]["id"], by_hand.as_str(), "the chat is on the kept card");
    assert_eq!(api.ok("{ duplicateCustomers { value } }", json!({})).await["duplicateCustomers"], json!([]));

    // 6. One timeline, newest first, page by page.
    let timeline = "query($id: ID!, $a: String) { customer(id: $id) { timeline(first: 3, after: $a) {
        pageInfo { hasNextPage endCursor }
        edges { node { __typename ... on Call { status } ... on Message { text } ... on Note { text } ... on Task { kind } } } } } }";
    let first = api.ok(timeline, json!({ "id": by_hand })).await["customer"]["timeline"].clone();
    let second =
        api.ok(timeline, json!({ "id": by_hand, "a": first["pageInfo"]["endCursor"] })).await["customer"]["timeline"]
            .clone();
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    let entries: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|page| page["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()))
        .collect();
    assert_eq!(
        entries,
        [
            json!({ "__typename": "Task", "kind": "todo" }),
            json!({ "__typename": "Note", "text": "Prefers Telegram to calls" }),
            json!({ "__typename": "Call", "status": "COMPLETED" }),
            json!({ "__typename": "Task", "kind": "callback" }),
            json!({ "__typename": "Call", "status": "MISSED" }),
            json!({ "__typename": "Message", "text": "Is the red bag in stock?" }),
        ]
    );
    assert_eq!(api.code(timeline, json!({ "id": by_hand, "a": "junk" })).await, "BAD_USER_INPUT");
    // The card with two pages of its timeline at once (the default size, and one entry), and a
    // page asked for wrongly.
    let two = "query($id: ID!) { customer(id: $id) { name all: timeline { edges { node { __typename } } }
        one: timeline(first: 1) { edges { node { __typename } } } } }";
    let card = api.ok(two, json!({ "id": by_hand })).await["customer"].clone();
    let kinds_of = |page: &Value| -> Vec<Value> {
        page["edges"].as_array().unwrap().iter().map(|e| e["node"]["__typename"].clone()).collect()
    };
    let all: Vec<Value> = entries.iter().map(|e| e["__typename"].clone()).collect();
    assert_eq!((kinds_of(&card["all"]), kinds_of(&card["one"])), (all.clone(), all[..1].to_vec()));
    let alone = "query($id: ID!) { customer(id: $id) { timeline { edges { node { __typename } } } } }";
    let page = api.ok(alone, json!({ "id": by_hand })).await["customer"]["timeline"].clone();
    assert_eq!(kinds_of(&page), all, "a page without `first` has the default size");
    // Read with its timeline, the card still carries what it shows, asked for directly or
    // through a fragment.
    let with_card = "query($id: ID!) { customer(id: $id) { phones ...More timeline(first: 1) { edges { cursor } } } }
        fragment More on Customer { emails ... on Customer { tags } }";
    let card = api.ok(with_card, json!({ "id": by_hand })).await["customer"].clone();
    assert_eq!(
        (&card["phones"], &card["emails"], &card["tags"]),
        (&json!(["+998901234567"]), &json!(["dilnoza@example.uz"]), &json!(["vip"]))
    );
    let tags_only = "query($id: ID!) { customer(id: $id) { ... on Customer { tags } timeline { edges { cursor } } } }";
    assert_eq!(api.ok(tags_only, json!({ "id": by_hand })).await["customer"]["tags"], json!(["vip"]));
    let zero = "query($id: ID!) { customer(id: $id) { name timeline(first: 0) { edges { cursor } } } }";
    assert_eq!(api.code(zero, json!({ "id": by_hand })).await, "BAD_USER_INPUT");

    // The hand-made task is done.
    let done = "mutation($id: ID!) { completeTask(id: $id) { doneAt overdue } }";
    let finished = api.ok(done, json!({ "id": made["id"] })).await["completeTask"].clone();
    assert!(finished["doneAt"].is_string());
    assert_eq!(finished["overdue"], false);
}

/// An import whose process died mid-way is reported failed, with what it imported, instead of
/// running for ever; one still moving is left alone.
#[tokio::test]
async fn an_import_cut_off_with_its_process_is_reported_failed_not_running() {
    use crm_core::imports::{CustomerImport, ImportStatus};
    use crm_core::ports::Database;
    let app = TestApp::spawn().await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let ten_minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(10);
    let stalled = CustomerImport {
        id: crm_core::ImportId::new(),
        dry_run: false,
        status: ImportStatus::Running,
        total: 1000,
        processed: 400,
        created: 390,
        rejections: Vec::new(),
        error: None,
        user_id: None,
        created_at: ten_minutes_ago,
        finished_at: None,
        progressed_at: ten_minutes_ago,
    };
    let moving = CustomerImport { id: crm_core::ImportId::new(), progressed_at: chrono::Utc::now(), ..stalled.clone() };
    let mut tx = app.running.app.db.tenant(owner.company_id.parse().unwrap()).await.unwrap();
    tx.save_import(&stalled).await.unwrap();
    tx.save_import(&moving).await.unwrap();
    tx.commit().await.unwrap();

    let follow = "query($id: ID!) { customerImport(id: $id) { status processed created error } }";
    for _ in 0..2 {
        let report = api.ok(follow, json!({ "id": stalled.id.to_string() })).await["customerImport"].clone();
        assert_eq!((report["status"].as_str(), report["processed"].as_u64()), (Some("FAILED"), Some(400)));
        assert!(report["error"].as_str().unwrap().contains("interrupted after 400 rows"), "{report}");
    }
    let report = api.ok(follow, json!({ "id": moving.id.to_string() })).await["customerImport"].clone();
    assert_eq!(report["status"], "RUNNING");
}
