//! The dashboard and the company's settings it depends on (its time zone).
use super::dashboard_days::DayStore;
use super::{Services, check_len};
use crate::TenantId;
use crate::auth::Principal;
use crate::dashboard::{self, CallGroup, Dashboard, MessageGroup};
use crate::ports::Tenant;
use crate::{Result, phone};
use chrono::{DateTime, NaiveDate, Utc};

/// How far back a company's days are counted ahead, and in spans of how many days.
const AHEAD_DAYS: u64 = 366;
const AHEAD_CHUNK: u64 = 31;

/// Fields left `None` stay as they are.
#[derive(Clone, Debug, Default)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub default_country: Option<String>,
    pub time_zone: Option<String>,
    /// `Some(None)`: keep recordings for ever.
    pub recording_retention_days: Option<Option<u32>>,
}

impl Services {
    /// Figures for `from` to `to` (inclusive, in the company's time zone; default: today).
    pub async fn dashboard(
        &self,
        principal: &Principal,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Dashboard> {
        principal.require_scope("calls:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let time_zone = tx.get_tenant().await?.time_zone;
        tx.commit().await?;
        let tz: chrono_tz::Tz = time_zone.parse().map_err(crate::Error::internal)?;
        let today = Utc::now().with_timezone(&tz).date_naive();
        let from = from.unwrap_or(today);
        let to = to.unwrap_or_else(|| from.max(today));
        let key = (principal.tenant_id, principal.user_id, from, to);
        self.dashboards.get_or_compute(&self.bus, key, || self.compute_dashboard(principal, time_zone, from, to)).await
    }

    async fn compute_dashboard(
        &self,
        principal: &Principal,
        time_zone: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Dashboard> {
        let tenant = principal.tenant_id;
        let bounds = dashboard::day_bounds(&time_zone, from, to)?;
        let days = bounds.len() - 1;
        let (calls, messages) = self.day_groups(tenant, &time_zone, from, &bounds).await?;
        self.count_ahead(tenant, &time_zone);
        let mut tx = self.db.tenant(tenant).await?;
        let missed_not_called_back = tx.open_callbacks().await?;
        let (open_conversations, unread_conversations) = tx.open_conversations(principal.user_id).await?;
        let (first_responses, first_response_total) = tx.first_replies(bounds[0], bounds[days]).await?;
        tx.commit().await?;
        let (calls, agents, days) = dashboard::assemble(from, days, &calls, &messages);
        Ok(Dashboard {
            from,
            to,
            time_zone,
            calls,
            agents,
            days,
            missed_not_called_back,
            open_conversations,
            unread_conversations,
            first_responses,
            first_response_secs: (first_responses > 0).then(|| first_response_total / first_responses as f64),
        })
    }

    /// The call and message groups of the days from `from` (`bounds` are their edges): kept
    /// days as kept, the others counted in one span from the first to the last of them (and
    /// kept where they are settled).
    async fn day_groups(
        &self,
        tenant: TenantId,
        time_zone: &str,
        from: NaiveDate,
        bounds: &[DateTime<Utc>],
    ) -> Result<(Vec<CallGroup>, Vec<MessageGroup>)> {
        let days = bounds.len() - 1;
        let store = &self.dashboards.days;
        let following = self.dashboards.following();
        let now = Utc::now();
        // Read before the days: a drop after it is noticed by `keep`, one before it is seen here.
        let mut generation = store.generation(tenant);
        let mut kept = if following { store.lookup(tenant, time_zone, from, days) } else { vec![None; days] };
        // Days that will be kept are counted by one request of the company at a time; those
        // waiting find them kept when their turn comes.
        let keepable = |kept: &[Option<_>]| {
            kept.iter().enumerate().any(|(d, k)| k.is_none() && DayStore::may_keep(bounds[d + 1], now))
        };
        let _turn = if following && keepable(&kept) {
            let turn = store.turn(tenant).await;
            generation = store.generation(tenant);
            kept = store.lookup(tenant, time_zone, from, days);
            Some(turn)
        } else {
            None
        };
        let (mut calls, mut messages) = (Vec::new(), Vec::new());
        for (day, kept) in kept.iter().enumerate() {
            let Some(kept) = kept else { continue };
            calls.extend(kept.calls.iter().map(|g| CallGroup { day, ..g.clone() }));
            messages.extend(kept.messages.iter().map(|g| MessageGroup { day, ..g.clone() }));
        }
        let missing = kept.iter().position(Option::is_none).zip(kept.iter().rposition(Option::is_none));
        let Some((first, last)) = missing else { return Ok((calls, messages)) };
        let span = &bounds[first..=last + 1];
        // A transaction of its own, opened after the turn: waiting holds no connection.
        let mut tx = self.db.tenant(tenant).await?;
        let span_calls = tx.call_groups(span).await?;
        let span_messages = tx.message_groups(span).await?;
        tx.commit().await?;
        for offset in 0..=last - first {
            let day = first + offset;
            if kept[day].is_some() {
                continue;
            }
            let day_calls: Vec<CallGroup> =
                span_calls.iter().filter(|g| g.day == offset).map(|g| CallGroup { day: 0, ..g.clone() }).collect();
            let day_messages: Vec<MessageGroup> = span_messages
                .iter()
                .filter(|g| g.day == offset)
                .map(|g| MessageGroup { day: 0, ..g.clone() })
                .collect();
            calls.extend(day_calls.iter().map(|g| CallGroup { day, ..g.clone() }));
            messages.extend(day_messages.iter().map(|g| MessageGroup { day, ..g.clone() }));
            if following {
                let date = from + chrono::Days::new(day as u64);
                store.keep(tenant, time_zone, date, bounds[day + 1], now, generation, day_calls, day_messages);
            }
        }
        Ok((calls, messages))
    }

    /// After a company's dashboard is asked, its past year is counted in the background, a
    /// month at a time and newest first, so that the ranges its people choose next read kept
    /// days instead of counting them while they wait (again once kept days would have expired).
    fn count_ahead(&self, tenant: TenantId, time_zone: &str) {
        if !self.dashboards.following() || !self.dashboards.days.start_ahead(tenant, time_zone) {
            return;
        }
        let (services, time_zone) = (self.clone(), time_zone.to_owned());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match services.count_year(tenant, &time_zone).await {
                Ok(()) => {
                    tracing::debug!(%tenant, secs = started.elapsed().as_secs_f64(), "dashboard days counted ahead")
                }
                Err(error) => {
                    tracing::warn!(%tenant, %error, "counting dashboard days ahead stopped; asked ranges are counted when asked")
                }
            }
        });
    }

    async fn count_year(&self, tenant: TenantId, time_zone: &str) -> Result<()> {
        let tz: chrono_tz::Tz = time_zone.parse().map_err(crate::Error::internal)?;
        let today = Utc::now().with_timezone(&tz).date_naive();
        let earliest = today - chrono::Days::new(AHEAD_DAYS);
        let mut to = today - chrono::Days::new(1);
        while to >= earliest {
            let from = (to - chrono::Days::new(AHEAD_CHUNK - 1)).max(earliest);
            let bounds = dashboard::day_bounds(time_zone, from, to)?;
            self.day_groups(tenant, time_zone, from, &bounds).await?;
            to = from - chrono::Days::new(1);
        }
        Ok(())
    }

    /// Changes the company's name, phone country or time zone (owners and admins).
    pub async fn update_company(&self, principal: &Principal, patch: CompanyPatch) -> Result<Tenant> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut tenant = tx.get_tenant().await?;
        if let Some(name) = patch.name {
            tenant.name = check_len("name", &name, 200)?;
        }
        if let Some(country) = patch.default_country {
            tenant.default_country = phone::check_country(&country)?;
        }
        if let Some(zone) = patch.time_zone {
            tenant.time_zone = dashboard::check_time_zone(&zone)?;
        }
        if let Some(days) = patch.recording_retention_days {
            if days.is_some_and(|d| !(1..=3650).contains(&d)) {
                return Err(crate::Error::bad_input(
                    "recordingRetentionDays",
                    "keep recordings 1 to 3650 days, or 0 for ever",
                ));
            }
            tenant.recording_retention_days = days;
        }
        tx.update_tenant(&tenant).await?;
        tx.commit().await?;
        // A new time zone moves every day's bounds.
        self.dashboards.invalidate(principal.tenant_id);
        Ok(tenant)
    }
}
