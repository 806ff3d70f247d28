//! The dashboard on a seeded company with known answers: every figure is worked out by hand
//! from the records below, days are the company's (Tashkent, UTC+5), and it is pushed live.
use chrono::{DateTime, Duration, TimeZone, Utc};
use crm_core::calls::{Call, CallStatus, Direction, HangupBy};
use crm_core::inbox::{Conversation, ConversationStatus, DeliveryStatus, Message, MessageDirection};
use crm_core::ports::Database;
use crm_core::tasks::Task;
use crm_core::{CallId, ConnectionId, ConversationId, CustomerId, MessageId, TaskId, TenantId, UserId};
use crm_testkit::TestApp;
use serde_json::{Value, json};

/// A moment in Tashkent.
fn tashkent(date: &str, time: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M:%S").unwrap();
    chrono_tz::Asia::Tashkent.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
}

/// A call that started at `at`, answered after `wait` seconds (if by someone), ended `len` seconds in.
fn call(
    t: TenantId,
    dir: Direction,
    status: CallStatus,
    by: Option<UserId>,
    at: DateTime<Utc>,
    wait: Option<i64>,
    len: i64,
) -> Call {
    Call {
        id: CallId::new(),
        tenant_id: t,
        direction: dir,
        status,
        from_number: "+998901234567".into(),
        to_number: "+998712000000".into(),
        trunk_id: None,
        customer_id: None,
        user_id: by,
        edge: "seed".into(),
        started_at: at,
        answered_at: wait.map(|w| at + Duration::seconds(w)),
        ended_at: Some(at + Duration::seconds(len)),
        hangup_by: Some(HangupBy::Customer),
        sip_cause: None,
        recording: None,
    }
}

fn message(t: TenantId, c: &Conversation, dir: MessageDirection, at: DateTime<Utc>) -> Message {
    Message {
        id: MessageId::new(),
        tenant_id: t,
        conversation_id: c.id,
        connection_id: c.connection_id,
        direction: dir,
        text: Some("hi".into()),
        attachments: Vec::new(),
        external_id: Some(MessageId::new().to_string()),
        sender_user_id: None,
        status: if dir == MessageDirection::Inbound { DeliveryStatus::Received } else { DeliveryStatus::Sent },
        error: None,
        created_at: at,
    }
}

const DASHBOARD: &str = "query($f: NaiveDate, $t: NaiveDate) { dashboard(from: $f, to: $t) { from to timeZone
    calls { total inbound outbound answered missed failed answeredRate averageWaitSeconds averageTalkSeconds talkSeconds }
    agents { userId calls { total inbound outbound answered talkSeconds } }
    days { date calls { total answered missed failed } messagesIn messagesOut }
    missedNotCalledBack openConversations unreadConversations firstResponses averageFirstResponseSeconds } }";

#[tokio::test]
async fn the_dashboard_matches_the_records_in_the_companys_days_and_moves_live() {
    let app = TestApp::spawn().await;
    let owner = app.gql().sign_up("Acme", "ann@acme.test").await;
    let api = app.gql().with_token(&owner.access);
    let zone = "mutation { updateCompany(timeZone: \"Asia/Tashkent\") { timeZone } }";
    assert_eq!(api.ok(zone, json!({})).await["updateCompany"]["timeZone"], "Asia/Tashkent");
    assert_eq!(
        api.code("mutation { updateCompany(timeZone: \"Mars/Olympus\") { id } }", json!({})).await,
        "BAD_USER_INPUT"
    );
    let invite = "mutation { inviteUser(email: \"bob@acme.test\", name: \"Bob\", role: AGENT) { user { id } } }";
    let bob: UserId = api.ok(invite, json!({})).await["inviteUser"]["user"]["id"].as_str().unwrap().parse().unwrap();
    let ann: UserId = owner.user_id.parse().unwrap();
    let t: TenantId = owner.company_id.parse().unwrap();
    let customer: CustomerId = api
        .ok("mutation { createCustomer(input: { name: \"Dilnoza\" }) { id } }", json!({}))
        .await["createCustomer"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // The seeded records: 20 and 21 November in Tashkent, and one on each side of them.
    let (d1, d2) = ("2026-11-20", "2026-11-21");
    use CallStatus::{Completed, Failed, Missed};
    use Direction::{Inbound, Outbound};
    let calls = [
        call(t, Inbound, Completed, Some(ann), tashkent(d1, "10:00:00"), Some(12), 120), // wait 12, talk 108
        call(t, Inbound, Missed, None, tashkent(d1, "11:00:00"), None, 30),
        call(t, Outbound, Completed, Some(bob), tashkent(d1, "12:00:00"), Some(8), 68), // wait 8, talk 60
        call(t, Inbound, Completed, Some(bob), tashkent(d1, "23:59:59"), Some(4), 64), // the 20th's, though it ends on the 21st
        call(t, Inbound, Failed, None, tashkent(d2, "00:00:00"), None, 2),
        call(t, Inbound, Completed, Some(ann), tashkent(d2, "09:00:00"), Some(6), 306), // wait 6, talk 300
        call(t, Inbound, Completed, Some(ann), tashkent("2026-11-19", "23:59:59"), Some(1), 10), // before
        call(t, Inbound, Missed, None, tashkent("2026-11-22", "00:00:00"), None, 5),    // after
    ];
    let db = &app.running.app.db;
    let mut tx = db.tenant(t).await.unwrap();
    for c in &calls {
        tx.insert_call(c).await.unwrap();
    }
    let connection = ConnectionId::new();
    let chats =
        [(tashkent(d1, "10:00:00"), Some(300)), (tashkent(d2, "09:00:00"), Some(60)), (tashkent(d2, "15:00:00"), None)];
    for (n, (began, reply_after)) in chats.into_iter().enumerate() {
        let conversation = Conversation {
            id: ConversationId::new(),
            tenant_id: t,
            connection_id: connection,
            thread: n.to_string(),
            customer_id: customer,
            assignee_id: Some(ann),
            status: ConversationStatus::Open,
            blocked: false,
            last_message_at: began,
            last_inbound_at: Some(began),
            created_at: began,
        };
        tx.insert_conversation(&conversation).await.unwrap();
        tx.insert_message(&message(t, &conversation, MessageDirection::Inbound, began)).await.unwrap();
        if let Some(after) = reply_after {
            let reply = message(t, &conversation, MessageDirection::Outbound, began + Duration::seconds(after));
            tx.insert_message(&reply).await.unwrap();
        }
    }
    for done in [None, Some(Utc::now())] {
        let task = Task {
            id: TaskId::new(),
            kind: "callback".into(),
            title: "Call back".into(),
            customer_id: Some(customer),
            call_id: Some(calls[1].id),
            assignee_id: None,
            due_at: Utc::now(),
            done_at: done,
            created_at: Utc::now(),
        };
        tx.insert_task(&task).await.unwrap();
    }
    tx.commit().await.unwrap();

    let board = api.ok(DASHBOARD, json!({ "f": d1, "t": d2 })).await["dashboard"].clone();
    let figures = |total,
                   inbound,
                   outbound,
                   answered,
                   missed,
                   failed,
                   rate: Value,
                   wait: Value,
                   talk: Value,
                   talked: f64| {
        json!({ "total": total, "inbound": inbound, "outbound": outbound, "answered": answered, "missed": missed,
            "failed": failed, "answeredRate": rate, "averageWaitSeconds": wait, "averageTalkSeconds": talk, "talkSeconds": talked })
    };
    assert_eq!(
        (board["from"].as_str(), board["to"].as_str(), board["timeZone"].as_str()),
        (Some(d1), Some(d2), Some("Asia/Tashkent"))
    );
    assert_eq!(board["calls"], figures(6, 5, 1, 4, 1, 1, json!(4.0 / 6.0), json!(7.5), json!(132.0), 528.0));
    let mut agents = board["agents"].as_array().unwrap().clone();
    agents.sort_by_key(|a| a["userId"] != owner.user_id.as_str());
    assert_eq!(
        agents,
        [
            json!({ "userId": owner.user_id, "calls": { "total": 2, "inbound": 2, "outbound": 0, "answered": 2, "talkSeconds": 408.0 } }),
            json!({ "userId": bob.to_string(), "calls": { "total": 2, "inbound": 1, "outbound": 1, "answered": 2, "talkSeconds": 120.0 } }),
        ]
    );
    assert_eq!(
        board["days"],
        json!([
            { "date": d1, "calls": { "total": 4, "answered": 3, "missed": 1, "failed": 0 }, "messagesIn": 1, "messagesOut": 1 },
            { "date": d2, "calls": { "total": 2, "answered": 1, "missed": 0, "failed": 1 }, "messagesIn": 2, "messagesOut": 1 },
        ])
    );
    assert_eq!(board["missedNotCalledBack"], 1, "the callback done does not count");
    assert_eq!((board["openConversations"].as_u64(), board["unreadConversations"].as_u64()), (Some(3), Some(3)));
    assert_eq!(
        (board["firstResponses"].as_u64(), board["averageFirstResponseSeconds"].as_f64()),
        (Some(2), Some(180.0))
    );
    // One day alone; a range the wrong way round is refused.
    let one = api.ok(DASHBOARD, json!({ "f": d2, "t": d2 })).await["dashboard"]["calls"]["total"].clone();
    assert_eq!(one, 2);
    assert_eq!(api.code(DASHBOARD, json!({ "f": d2, "t": d1 })).await, "BAD_USER_INPUT");

    // A wider range adds its own days to the ones already counted (and kept: they are over).
    let wider = api.ok(DASHBOARD, json!({ "f": "2026-11-19", "t": "2026-11-22" })).await["dashboard"].clone();
    assert_eq!((wider["calls"]["total"].as_u64(), wider["calls"]["missed"].as_u64()), (Some(8), Some(2)));
    let per_day: Vec<_> = wider["days"].as_array().unwrap().iter().map(|d| d["calls"]["total"].clone()).collect();
    assert_eq!(per_day, [json!(1), json!(4), json!(2), json!(1)]);
    // Deleting the customer takes its chats with it, from past days too.
    let delete = "mutation($id: ID!) { deleteCustomer(id: $id) { id } }";
    api.ok(delete, json!({ "id": customer.to_string() })).await;
    let after = api.ok(DASHBOARD, json!({ "f": d1, "t": d2 })).await["dashboard"].clone();
    let messages: Vec<_> =
        after["days"].as_array().unwrap().iter().map(|d| (d["messagesIn"].clone(), d["messagesOut"].clone())).collect();
    assert_eq!(messages, [(json!(0), json!(0)), (json!(0), json!(0))], "{after}");
    assert_eq!(after["calls"]["total"], 6, "calls stay when their customer goes");

    // Live: today's dashboard comes at once, then again when a call rings.
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tashkent).date_naive();
    let mut live =
        app.subscribe(&owner.access, "subscription { dashboardUpdates { from calls { total inbound } } }").await;
    let first = live.next_data().await["dashboardUpdates"].clone();
    assert_eq!(first["from"], today.to_string());
    let before = first["calls"]["total"].as_u64().unwrap();
    let trunk = json!({ "i": { "name": "Kerio", "sources": ["127.0.0.2"], "numbers": ["+998712000000"] } });
    api.ok("mutation($i: TrunkInput!) { createTrunk(input: $i) { id } }", trunk).await;
    let services = &app.running.app.services;
    let route = services.route_inbound("127.0.0.2".parse().unwrap(), "+998712000000").await.unwrap().unwrap();
    services.start_inbound_call(&route, "+998935550000", "edge-a").await.unwrap();
    let pushed = live.next_data().await["dashboardUpdates"].clone();
    assert_eq!(pushed["calls"]["total"].as_u64(), Some(before + 1), "{pushed}");
}
