//! Two real `crm serve` processes sharing Postgres and Redis: a subscriber on one sees a
//! change made through the other.
use crate::subscriptions::CHANGES;
use crm_testkit::{Gql, Subscriber, env, on_postgres, postgres_database};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A real `crm serve` process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(app_url: &str, admin_url: &str, redis: &str, data: &std::path::Path) -> Server {
    let data = data.to_str().unwrap();
    spawn_crm(&[
        ("CRM_DATA_DIR", data),
        ("CRM_DATABASE_URL", app_url),
        ("CRM_DATABASE_ADMIN_URL", admin_url),
        ("CRM_REDIS_URL", redis),
        ("CRM_SIP_ADDR", "off"),
    ])
}

/// The installation secret every test process shares.
pub const SECRET_KEY: &str = "shared-secret-of-this-installation-0123456789";

/// Starts `crm serve` with `settings` on top of test defaults; returns once it listens.
pub fn spawn_crm(settings: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command
        .arg("serve")
        .env("CRM_HTTP_ADDR", "127.0.0.1:0")
        .env("CRM_SECRET_KEY", SECRET_KEY)
        .env("CRM_LOG_FORMAT", "json")
        .env("CRM_LOG_LEVEL", "info")
        .env("CRM_DATABASE_MAX_CONNECTIONS", "4")
        .stderr(Stdio::piped());
    for (name, value) in settings {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("crm starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // The process says where it listens; wait for that line (it ends when the process dies).
    let addr = loop {
        let line = lines.next().expect("crm printed its address before exiting").unwrap();
        let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
        if entry["message"] == "listening" {
            break entry["addr"].as_str().unwrap().to_owned();
        }
    };
    // Its log goes to the test's output, which is shown when the test fails.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| eprintln!("crm: {line}")));
    Server { child, addr }
}

/// Two processes on one fresh database and Redis, and a client of each; None (the test is
/// skipped) without Postgres and Redis.
struct Pair {
    one: Server,
    _two: Server,
    _data: tempfile::TempDir,
    gql_one: Gql,
    gql_two: Gql,
}

async fn pair() -> Option<Pair> {
    let Some(redis) = env("CRM_TEST_REDIS_URL").filter(|_| on_postgres()) else {
        eprintln!("needs CRM_TEST_DATABASE=postgres and CRM_TEST_REDIS_URL");
        return None;
    };
    let (app_url, admin_url) = postgres_database().await;
    let data = tempfile::tempdir().unwrap();
    let one = start(&app_url, &admin_url, &redis, data.path());
    let two = start(&app_url, &admin_url, &redis, data.path());
    let http = reqwest::Client::new();
    let gql_one = Gql::new(http.clone(), format!("http://{}/graphql", one.addr));
    let gql_two = Gql::new(http, format!("http://{}/graphql", two.addr));
    Some(Pair { one, _two: two, _data: data, gql_one, gql_two })
}

#[tokio::test]
async fn a_subscriber_on_one_process_sees_a_change_made_through_another() {
    // Bound whole: the processes live as long as the pair.
    let Some(pair) = pair().await else { return };
    let (one, gql_one, gql_two) = (&pair.one, &pair.gql_one, &pair.gql_two);

    let owner = gql_one.sign_up("Acme", "ann@acme.test").await;
    // The subscription is live on process one once its gauge of bus streams grows.
    let metrics_url = format!("http://{}/metrics", one.addr);
    let streams = || async {
        let text = reqwest::get(metrics_url.clone()).await.ok()?.text().await.ok()?;
        let line = text.lines().find(|l| l.starts_with("crm_event_subscribers "))?;
        line.split_whitespace().last()?.parse::<f64>().ok()
    };
    let before = streams().await.expect("process one reports its bus streams");
    let mut sub = Subscriber::connect(&format!("ws://{}/graphql/ws", one.addr), Some(&owner.access), CHANGES).await;
    crm_testkit::wait_for("the subscription to start", std::time::Duration::from_secs(10), || async {
        streams().await.filter(|now| *now > before).map(|_| ())
    })
    .await;
    let created = gql_two
        .with_token(&owner.access)
        .ok("mutation { createCustomer(input: { name: \"Made on two\" }) { id } }", json!({}))
        .await;
    let event = sub.next_data().await;
    assert_eq!(event["customerChanged"]["customerId"], created["createCustomer"]["id"]);
    assert_eq!(event["customerChanged"]["customer"]["name"], "Made on two");
}

#[tokio::test]
async fn a_logout_through_one_process_ends_the_session_on_the_other() {
    let Some(pair) = pair().await else { return };
    let (gql_one, gql_two) = (&pair.gql_one, &pair.gql_two);
    let owner = gql_one.sign_up("Acme", "ann@acme.test").await;
    let me = "{ me { user { id } } }";

    // Process two checks the session, and keeps the answer for a second.
    gql_two.with_token(&owner.access).ok(me, json!({})).await;
    gql_one.with_token(&owner.access).ok("mutation { logout }", json!({})).await;
    let logged_out = std::time::Instant::now();
    // The logout's event reaches process two well before that second is over.
    crm_testkit::wait_for("process two to refuse the token", std::time::Duration::from_secs(10), || {
        let two = gql_two.with_token(&owner.access);
        async move { (two.code(me, json!({})).await == "UNAUTHENTICATED").then_some(()) }
    })
    .await;
    let took = logged_out.elapsed();
    assert!(took < std::time::Duration::from_millis(900), "process two refused the token after {took:?}");
}
