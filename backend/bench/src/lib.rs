//! What the load benchmarks share: signing up over GraphQL, posting queries, and measuring
//! a workload with many concurrent clients.
use anyhow::{Context, Result, bail};
use futures::future::join_all;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Signs up a company; its owner's access token and the company's id.
pub async fn sign_up(http: &reqwest::Client, url: &str, i: usize) -> Result<(String, String)> {
    let body = json!({
        "query": "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken companyId } }",
        "variables": { "i": { "company": format!("Bench {i}"), "name": "Owner", "email": format!("owner{i}-{}@bench.test", uuid::Uuid::new_v4().simple()), "password": "benchmark password", "defaultCountry": "UZ" } }
    });
    let response: Value = http.post(url).json(&body).send().await?.json().await?;
    let data = &response["data"]["signUp"];
    let token = data["accessToken"].as_str().context("signUp failed")?.to_owned();
    let tenant = data["companyId"].as_str().context("signUp failed")?.to_owned();
    // An access token lives 15 minutes by default; the benchmark is shorter.
    Ok((token, tenant))
}

/// The SQL baseline's pool size: the server's (`CRM_DATABASE_MAX_CONNECTIONS`, else its default).
pub fn pool_size() -> u32 {
    std::env::var("CRM_DATABASE_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(crm_db::default_pool_size)
}

/// A GraphQL answer as the load generator reads it: the rest is checked to be JSON and skipped.
/// Building the whole answer as a `Value` made the generator a sixth of a calls list request's
/// CPU (262 of 1647 µs), taken from the server and Postgres on the same two cores; reading it
/// this way halved that (132 µs).
#[derive(serde::Deserialize)]
struct Answer {
    errors: Option<Value>,
}

/// Posts a GraphQL request; an error if GraphQL answered with errors.
pub async fn post(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> Result<()> {
    let answer: Answer = http.post(url).bearer_auth(token).json(body).send().await?.json().await?;
    if let Some(errors) = answer.errors {
        bail!("GraphQL errors: {errors}");
    }
    Ok(())
}

#[derive(Clone)]
pub struct Row {
    pub name: String,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: usize,
    /// CPU per request over the measured run, in microseconds.
    pub cpu: Cpu,
}

/// CPU time of the processes on this machine that serve a workload: the server (`crm`),
/// Postgres's backends and this load generator. Per request, it does not move with how busy
/// the machine is the way rates do, so two runs compare.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub server: f64,
    pub postgres: f64,
    pub client: f64,
}

impl Cpu {
    /// Seconds of CPU so far (`/proc/<pid>/stat`, in clock ticks of 1/100 s on Linux).
    pub fn now() -> Self {
        const TICKS_PER_SECOND: f64 = 100.0;
        let own = std::process::id().to_string();
        let mut cpu = Cpu::default();
        let Ok(entries) = std::fs::read_dir("/proc") else { return cpu };
        for entry in entries.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
            let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            let seconds = (ticks(11) + ticks(12)) / TICKS_PER_SECOND;
            match &stat[open + 1..close] {
                _ if pid == own => cpu.client += seconds,
                "crm" => cpu.server += seconds,
                "postgres" => cpu.postgres += seconds,
                _ => {}
            }
        }
        cpu
    }

    /// Microseconds per request between two readings.
    fn per_request(before: Cpu, after: Cpu, requests: usize) -> Self {
        let per = |a: f64, b: f64| if requests == 0 { 0.0 } else { (b - a) * 1e6 / requests as f64 };
        Cpu {
            server: per(before.server, after.server),
            postgres: per(before.postgres, after.postgres),
            client: per(before.client, after.client),
        }
    }
}

/// How a workload is run: clients at once, for how long after a warm-up.
#[derive(Clone, Copy)]
pub struct Load {
    pub clients: usize,
    pub warmup: Duration,
    pub run: Duration,
}

/// Runs `load.clients` loops of `op` for `load.run` after a warm-up; throughput and latency.
pub async fn measure<F, Fut>(name: &str, load: Load, op: F) -> Result<Row>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    eprintln!("running: {name}");
    let started = Instant::now();
    let measure_from = started + load.warmup;
    let until = measure_from + load.run;
    let loops = (0..load.clients).map(|client| {
        let op = op.clone();
        tokio::spawn(async move {
            let (mut latencies, mut errors, mut n) = (Vec::new(), 0usize, client);
            while Instant::now() < until {
                let t = Instant::now();
                let ok = match op(n).await {
                    Ok(()) => true,
                    Err(error) => {
                        if errors == 0 {
                            eprintln!("  error: {error:#}");
                        }
                        false
                    }
                };
                n += load.clients;
                if t >= measure_from {
                    if ok { latencies.push(t.elapsed()) } else { errors += 1 }
                }
            }
            (latencies, errors)
        })
    });
    let loops = tokio::spawn(join_all(loops));
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_before = Cpu::now();
    tokio::time::sleep_until(until.into()).await;
    let cpu_after = Cpu::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for result in loops.await? {
        let (latencies, e) = result?;
        all.extend(latencies);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Row {
        name: name.to_owned(),
        throughput: all.len() as f64 / load.run.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
        cpu: Cpu::per_request(cpu_before, cpu_after, all.len() + errors),
    })
}
