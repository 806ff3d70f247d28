//! The dashboard's counts, grouped by the database. Durations need each backend's own date
//! arithmetic, so these are written as SQL for both.
use crate::convert::db_err;
use chrono::{DateTime, Utc};
use crm_core::calls::{CallStatus, Direction};
use crm_core::dashboard::{CallGroup, MessageGroup};
use crm_core::{Error, Result, UserId};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, QueryResult, Statement, Value};
use uuid::Uuid;

/// `sql` with `?` placeholders, numbered for Postgres.
pub(crate) fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DatabaseBackend::Postgres => {
            let mut n = 0;
            sql.chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Seconds from `from` to `to`, to the millisecond, as a float.
fn seconds(backend: DatabaseBackend, to: &str, from: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => {
            format!("CAST(ROUND(CAST(EXTRACT(EPOCH FROM ({to} - {from})) AS NUMERIC), 3) AS DOUBLE PRECISION)")
        }
        _ => format!("CAST(ROUND((julianday({to}) - julianday({from})) * 86400.0, 3) AS REAL)"),
    }
}

fn float(backend: DatabaseBackend) -> &'static str {
    if backend == DatabaseBackend::Postgres { "DOUBLE PRECISION" } else { "REAL" }
}

/// `CASE WHEN column < bound1 THEN 0 ... END` and its values: which day a row falls on.
fn day_of(column: &str, bounds: &[DateTime<Utc>], values: &mut Vec<Value>) -> String {
    let mut case = String::from("CASE");
    for (day, bound) in bounds.iter().skip(1).enumerate() {
        case.push_str(&format!(" WHEN {column} < ? THEN {day}"));
        values.push((*bound).into());
    }
    case.push_str(" END");
    case
}

fn count(row: &QueryResult, column: &str) -> Result<u64> {
    let n: Option<i64> = row.try_get("", column).map_err(db_err)?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

fn range(bounds: &[DateTime<Utc>]) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    match (bounds.first(), bounds.last()) {
        (Some(first), Some(last)) if bounds.len() >= 2 => Ok((*first, *last)),
        _ => Err(Error::internal("a range needs two bounds")),
    }
}

pub async fn call_groups(txn: &DatabaseTransaction, t: Uuid, bounds: &[DateTime<Utc>]) -> Result<Vec<CallGroup>> {
    let backend = txn.get_database_backend();
    let (from, to) = range(bounds)?;
    let mut values = Vec::new();
    let day = day_of("started_at", bounds, &mut values);
    let wait = seconds(backend, "answered_at", "started_at");
    let talk = seconds(backend, "ended_at", "answered_at");
    let real = float(backend);
    let sql = format!(
        "SELECT {day} AS day, direction, status, user_id, COUNT(*) AS n,
                SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered,
                CAST(SUM(CASE WHEN answered_at IS NOT NULL THEN {wait} ELSE 0.0 END) AS {real}) AS wait_secs,
                SUM(CASE WHEN answered_at IS NOT NULL AND ended_at IS NOT NULL THEN 1 ELSE 0 END) AS talked,
                CAST(SUM(CASE WHEN answered_at IS NOT NULL AND ended_at IS NOT NULL THEN {talk} ELSE 0.0 END) AS {real}) AS talk_secs
         FROM calls WHERE tenant_id = ? AND started_at >= ? AND started_at < ?
         GROUP BY 1, direction, status, user_id"
    );
    values.extend([t.into(), from.into(), to.into()]);
    let rows = txn.query_all_raw(statement(backend, &sql, values)).await.map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let day: i32 = row.try_get("", "day").map_err(db_err)?;
            let direction: String = row.try_get("", "direction").map_err(db_err)?;
            let status: String = row.try_get("", "status").map_err(db_err)?;
            let user: Option<Uuid> = row.try_get("", "user_id").map_err(db_err)?;
            Ok(CallGroup {
                day: usize::try_from(day).map_err(Error::internal)?,
                direction: direction.parse::<Direction>()?,
                status: status.parse::<CallStatus>()?,
                user_id: user.map(UserId),
                count: count(row, "n")?,
                answered: count(row, "answered")?,
                wait_secs: row.try_get::<Option<f64>>("", "wait_secs").map_err(db_err)?.unwrap_or(0.0),
                talked: count(row, "talked")?,
                talk_secs: row.try_get::<Option<f64>>("", "talk_secs").map_err(db_err)?.unwrap_or(0.0),
            })
        })
        .collect()
}

pub async fn message_groups(txn: &DatabaseTransaction, t: Uuid, bounds: &[DateTime<Utc>]) -> Result<Vec<MessageGroup>> {
    let backend = txn.get_database_backend();
    let (from, to) = range(bounds)?;
    let mut values = Vec::new();
    let day = day_of("created_at", bounds, &mut values);
    let sql = format!(
        "SELECT {day} AS day, direction, COUNT(*) AS n FROM messages
         WHERE tenant_id = ? AND created_at >= ? AND created_at < ? GROUP BY 1, direction"
    );
    values.extend([t.into(), from.into(), to.into()]);
    let rows = txn.query_all_raw(statement(backend, &sql, values)).await.map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let day: i32 = row.try_get("", "day").map_err(db_err)?;
            let direction: String = row.try_get("", "direction").map_err(db_err)?;
            Ok(MessageGroup {
                day: usize::try_from(day).map_err(Error::internal)?,
                inbound: direction == "inbound",
                count: count(row, "n")?,
            })
        })
        .collect()
}

pub async fn open_callbacks(txn: &DatabaseTransaction, t: Uuid) -> Result<u64> {
    let backend = txn.get_database_backend();
    let sql = "SELECT COUNT(*) AS n FROM tasks WHERE tenant_id = ? AND kind = 'callback' AND done_at IS NULL";
    let row = txn.query_one_raw(statement(backend, sql, vec![t.into()])).await.map_err(db_err)?;
    row.map_or(Ok(0), |row| count(&row, "n"))
}

pub async fn open_conversations(txn: &DatabaseTransaction, t: Uuid, user: UserId) -> Result<(u64, u64)> {
    let backend = txn.get_database_backend();
    let sql = "SELECT COUNT(*) AS n,
                      SUM(CASE WHEN c.last_inbound_at IS NOT NULL AND (r.read_at IS NULL OR c.last_inbound_at > r.read_at)
                               THEN 1 ELSE 0 END) AS unread
               FROM conversations c
               LEFT JOIN conversation_reads r
                 ON r.tenant_id = c.tenant_id AND r.conversation_id = c.id AND r.user_id = ?
               WHERE c.tenant_id = ? AND c.status = 'open'";
    let row = txn.query_one_raw(statement(backend, sql, vec![user.0.into(), t.into()])).await.map_err(db_err)?;
    match row {
        Some(row) => Ok((count(&row, "n")?, count(&row, "unread")?)),
        None => Ok((0, 0)),
    }
}

pub async fn first_replies(
    txn: &DatabaseTransaction,
    t: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(u64, f64)> {
    let backend = txn.get_database_backend();
    // Summed here: a month of a busy company is thousands of conversations.
    let wait = seconds(backend, "first_reply_at", "created_at");
    let real = float(backend);
    let sql = format!(
        "SELECT COUNT(first_reply_at) AS n,
                CAST(SUM(CASE WHEN first_reply_at IS NOT NULL THEN {wait} ELSE 0.0 END) AS {real}) AS secs
         FROM conversations WHERE tenant_id = ? AND created_at >= ? AND created_at < ?"
    );
    let row =
        txn.query_one_raw(statement(backend, &sql, vec![t.into(), from.into(), to.into()])).await.map_err(db_err)?;
    let Some(row) = row else { return Ok((0, 0.0)) };
    let secs: Option<f64> = row.try_get("", "secs").map_err(db_err)?;
    Ok((count(&row, "n")?, secs.unwrap_or(0.0)))
}
