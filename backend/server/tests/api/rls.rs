//! The second wall: Postgres row-level security under the app's own, non-owner role.
use crm_testkit::{TestApp, on_postgres};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
use serde_json::json;

#[tokio::test]
async fn unscoped_queries_through_the_app_connection_see_no_other_tenant() {
    if !on_postgres() {
        eprintln!("row-level security exists on Postgres only; run with CRM_TEST_DATABASE=postgres");
        return;
    }
    let app = TestApp::spawn().await;
    let gql = app.gql();
    let a = gql.sign_up("Acme", "ann@acme.test").await;
    let b = gql.sign_up("Globex", "gus@globex.test").await;
    // Each company has a webhook receiver, so changes below queue deliveries.
    for owner in [&a, &b] {
        let hook = "mutation { createWebhookEndpoint(url: \"http://127.0.0.1:9/hook\", events: [\"customer.created\"]) { secret } }";
        gql.with_token(&owner.access).ok(hook, json!({})).await;
        let field = "mutation { createCustomField(key: \"tier\", label: \"Tier\", kind: TEXT) { id } }";
        gql.with_token(&owner.access).ok(field, json!({})).await;
        let import = "mutation { importCustomers(csv: \"Name\\nX\\n\", mapping: [{ column: \"Name\", target: \"name\" }], dryRun: true) { id } }";
        gql.with_token(&owner.access).ok(import, json!({})).await;
    }
    let mut ids = Vec::new();
    for (owner, name) in [(&a, "a1"), (&a, "a2"), (&b, "b1"), (&b, "b2")] {
        let create = "mutation($n: String!) { createCustomer(input: { name: $n, phones: [\"+998901112233\"],
            emails: [\"x@acme.test\"], tags: [\"vip\"] }) { id } }";
        let created = gql.with_token(&owner.access).ok(create, json!({ "n": name })).await;
        ids.push(created["createCustomer"]["id"].as_str().unwrap().to_owned());
    }
    // Each company merges its two cards and notes something on the kept one.
    for (owner, kept, merged) in [(&a, &ids[0], &ids[1]), (&b, &ids[2], &ids[3])] {
        let api = gql.with_token(&owner.access);
        let merge = "mutation($k: ID!, $m: ID!) { mergeCustomers(keptId: $k, mergedId: $m) { id } }";
        api.ok(merge, json!({ "k": kept, "m": merged })).await;
        api.ok("mutation($c: ID!) { addNote(customerId: $c, text: \"n\") { id } }", json!({ "c": kept })).await;
    }
    for (i, owner) in [&a, &b].into_iter().enumerate() {
        let api = gql.with_token(&owner.access);
        let trunk =
            json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": [format!("+99871200000{i}")] } });
        api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;
        api.ok("mutation($u: ID!) { createSipExtension(userId: $u) { password } }", json!({ "u": owner.user_id }))
            .await;
        let server = json!({ "i": { "name": "PBX", "ariUrl": "http://127.0.0.1:1", "username": "crm", "password": "p", "app": "crm" } });
        api.ok("mutation($i: AsteriskServerInput!) { addAsteriskServer(input: $i) { id } }", server).await;
        let page = json!({ "i": { "name": "Page", "pageId": format!("10{i}"), "pageAccessToken": "t", "appSecret": "s", "verifyToken": "v" } });
        api.ok("mutation($i: MessengerInput!) { connectMessenger(input: $i) { id } }", page).await;
    }
    let services = &app.running.app.services;
    for (number, server) in [("+998712000000", "server-a"), ("+998712000001", "server-b")] {
        let route = services.route_inbound("127.0.0.2".parse().unwrap(), number).await.unwrap().unwrap();
        let (call, _) = services.start_inbound_call(&route, "+998901112233", "edge-a").await.unwrap();
        let record = crm_core::pbx::PbxCallRecord {
            tenant_id: route.tenant_id,
            call_id: call.id,
            server: server.into(),
            stage: crm_core::pbx::PbxCallStage::Talking,
            state: "{}".into(),
            attempts: 0,
            next_attempt_at: chrono::Utc::now(),
            last_error: None,
        };
        services.save_pbx_call(&record).await.unwrap();
    }
    let conn = app.running.app.db.connection();
    let pg = DatabaseBackend::Postgres;

    // The app's role is neither superuser nor owner, so policies apply to it.
    let role = conn
        .query_one_raw(Statement::from_string(
            pg,
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(!role.try_get::<bool>("", "rolsuper").unwrap());
    assert!(!role.try_get::<bool>("", "rolbypassrls").unwrap());

    // A query that forgot the tenant entirely sees nothing in any tenant table.
    for table in [
        "customers",
        "customer_phones",
        "memberships",
        "sessions",
        "api_tokens",
        "tenants",
        "trunks",
        "trunk_numbers",
        "sip_accounts",
        "calls",
        "tasks",
        "pbx_servers",
        "pbx_calls",
        "channel_connections",
        "customer_emails",
        "customer_tags",
        "notes",
        "customer_merges",
        "webhook_endpoints",
        "webhook_deliveries",
        "custom_fields",
        "customer_imports",
        "pending_events",
        "customer_name_keys",
    ] {
        let row = conn
            .query_one_raw(Statement::from_string(pg, format!("SELECT count(*) AS n FROM {table}")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{table} leaked rows without a tenant set");
    }

    // The one-statement session check sets the company for that statement alone: the same
    // connection sees no company's rows right after it.
    let pool = conn.get_postgres_connection_pool();
    let mut one = pool.acquire().await.unwrap();
    let check = sea_orm::sqlx::query_scalar::<_, Option<String>>("SELECT crm_session_role($1, $2, $3)")
        .bind(a.company_id.parse::<uuid::Uuid>().unwrap())
        .bind(uuid::Uuid::new_v4())
        .bind(a.user_id.parse::<uuid::Uuid>().unwrap());
    assert_eq!(check.fetch_one(&mut *one).await.unwrap(), None, "no such session");
    let left: i64 = sea_orm::sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(&mut *one).await.unwrap();
    assert_eq!(left, 0, "the session check left its company set on the connection");
    drop(one);

    // Looking up one number (as the SIP edge does for an INVITE) reveals that number's row only.
    let txn = conn.begin().await.unwrap();
    txn.execute_raw(Statement::from_string(pg, "SELECT set_config('app.sip_number', '+998712000001', true)"))
        .await
        .unwrap();
    let rows = txn.query_all_raw(Statement::from_string(pg, "SELECT e164 FROM trunk_numbers")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].try_get::<String>("", "e164").unwrap(), "+998712000001");
    let trunks = txn.query_all_raw(Statement::from_string(pg, "SELECT id FROM trunks")).await.unwrap();
    assert!(trunks.is_empty(), "the number's owner still needs its tenant set to read the trunk");
    drop(txn);

    // A webhook looking up its connection sees that connection only.
    let b_owner = crm_core::auth::Principal {
        tenant_id: b.company_id.parse().unwrap(),
        user_id: b.user_id.parse().unwrap(),
        role: crm_core::Role::Owner,
        credential: crm_core::auth::Credential::Session { session_id: crm_core::SessionId::new() },
        expires_at: None,
    };
    let b_channel = services.channel_connections(&b_owner).await.unwrap().remove(0).id;
    let txn = conn.begin().await.unwrap();
    txn.execute_raw(Statement::from_sql_and_values(
        pg,
        "SELECT set_config('app.channel_connection', $1, true)",
        [b_channel.to_string().into()],
    ))
    .await
    .unwrap();
    let rows =
        txn.query_all_raw(Statement::from_string(pg, "SELECT external_id FROM channel_connections")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].try_get::<String>("", "external_id").unwrap(), "101");
    drop(txn);

    // An ARI worker reading its Asterisk's calls sees that Asterisk's only.
    let txn = conn.begin().await.unwrap();
    txn.execute_raw(Statement::from_string(pg, "SELECT set_config('app.pbx_server', 'server-b', true)")).await.unwrap();
    let rows = txn.query_all_raw(Statement::from_string(pg, "SELECT tenant_id FROM pbx_calls")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].try_get::<uuid::Uuid>("", "tenant_id").unwrap().to_string(), b.company_id);
    drop(txn);

    // With tenant A set, the same unscoped query sees exactly A's rows, and cannot write B's.
    let txn = conn.begin().await.unwrap();
    txn.execute_raw(Statement::from_sql_and_values(
        pg,
        "SELECT set_config('app.tenant_id', $1, true)",
        [a.company_id.clone().into()],
    ))
    .await
    .unwrap();
    let rows = txn.query_all_raw(Statement::from_string(pg, "SELECT name FROM customers ORDER BY name")).await.unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.try_get("", "name").unwrap()).collect();
    assert_eq!(names, ["a1"], "a2 was merged into a1");
    let merges =
        txn.query_all_raw(Statement::from_string(pg, "SELECT merged_name FROM customer_merges")).await.unwrap();
    let merged: Vec<String> = merges.iter().map(|r| r.try_get("", "merged_name").unwrap()).collect();
    assert_eq!(merged, ["a2"], "only A's merge");
    let hooks =
        txn.query_all_raw(Statement::from_string(pg, "SELECT tenant_id FROM webhook_deliveries")).await.unwrap();
    assert_eq!(hooks.len(), 2, "A's two customers' deliveries only");
    let stolen = txn
        .execute_raw(Statement::from_string(pg, "UPDATE customers SET name = 'pwned' WHERE name = 'b1'"))
        .await
        .unwrap();
    assert_eq!(stolen.rows_affected(), 0);
    let insert = txn
        .execute_raw(Statement::from_sql_and_values(
            pg,
            "INSERT INTO customers (tenant_id, id, name, created_at, updated_at) VALUES ($1::uuid, gen_random_uuid(), 'x', now(), now())",
            [b.company_id.clone().into()],
        ))
        .await;
    assert!(insert.is_err(), "writing a row into another tenant is refused");
    drop(txn);

    // The setting is transaction-local: a later transaction on the pool starts empty again.
    let row =
        conn.query_one_raw(Statement::from_string(pg, "SELECT count(*) AS n FROM customers")).await.unwrap().unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0);
}
