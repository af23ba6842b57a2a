//! The scheduler: every interval, enqueues each integrated account whose sync is due
//! (per-account `sync_frequency`), spread over a window so many accounts do not hit one
//! provider at once. Equity accounts (brokerage) skip weekends; crypto runs every day. Each
//! tick also deletes the kept upload files whose retention ended.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc, Weekday};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use tributary_entity::account;

use crate::repo;
use crate::services::AppContext;

/// The next sync time after `from` for a frequency and account kind.
#[must_use]
pub fn next_sync(from: DateTime<Utc>, frequency: &str, kind: &str) -> Option<DateTime<Utc>> {
    let step = match frequency {
        "hourly" => chrono::Duration::hours(1),
        "daily" => chrono::Duration::days(1),
        "weekly" => chrono::Duration::weeks(1),
        _ => return None,
    };
    let mut next = from + step;
    if kind == "brokerage" && frequency != "weekly" {
        // Markets are closed at weekends: Saturday and Sunday roll to Monday.
        while matches!(next.weekday(), Weekday::Sat | Weekday::Sun) {
            next += chrono::Duration::days(1);
        }
    }
    Some(next)
}

/// Starts the scheduler loop on the current runtime: a tick every
/// `jobs.scheduler_interval_secs`. With `jobs.scheduler_enabled` off it only deletes expired
/// upload files, which every deployment needs.
pub fn spawn(ctx: Arc<AppContext>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(ctx.settings.jobs.scheduler_interval_secs);
        loop {
            let now = Utc::now();
            if ctx.settings.jobs.scheduler_enabled {
                if let Err(e) = tick(&ctx, now).await {
                    tracing::warn!(error = %e, "scheduler tick failed");
                }
            } else if let Err(e) = ctx.imports().purge_expired_files(now).await {
                tracing::warn!(error = %e, "purging expired upload files failed");
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// One pass: delete expired upload files, enqueue every due account. Returns how many jobs
/// were queued.
///
/// # Errors
/// Database errors.
pub async fn tick(ctx: &AppContext, now: DateTime<Utc>) -> anyhow::Result<usize> {
    // A failed purge is tried again next tick; it must not keep accounts from syncing.
    if let Err(e) = ctx.imports().purge_expired_files(now).await {
        tracing::warn!(error = %e, "purging expired upload files failed");
    }
    let due = account::Entity::find()
        .filter(account::Column::IntegrationType.is_not_null())
        .filter(account::Column::SyncFrequency.ne("manual"))
        .filter(
            sea_orm::Condition::any()
                .add(account::Column::NextSyncAt.is_null())
                .add(account::Column::NextSyncAt.lte(now)),
        )
        .all(&ctx.db)
        .await?;
    let spread = ctx.settings.jobs.schedule_spread_secs.max(1);
    let mut queued = 0;
    for a in due {
        let weekend = matches!(now.weekday(), Weekday::Sat | Weekday::Sun);
        let next = next_sync(now, &a.sync_frequency, &a.kind);
        if !(a.kind == "brokerage" && weekend && a.sync_frequency != "weekly") {
            // Spread deterministically per account across the window.
            let offset = u64::from(a.id.as_u128() as u32) % spread;
            let run_at = now + chrono::Duration::seconds(i64::try_from(offset).unwrap_or(0));
            let job = repo::import_jobs::enqueue(
                &ctx.db,
                repo::import_jobs::NewJob {
                    owner: a.user_id,
                    account_id: a.id,
                    source: &a
                        .integration_type
                        .clone()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    trigger: "scheduled",
                    cursor_in: a.sync_cursor.clone(),
                    next_run_at: Some(run_at),
                    max_attempts: ctx.settings.jobs.max_attempts,
                    idempotency_key: None,
                    format: None,
                    dry_run: false,
                },
            )
            .await;
            match job {
                Ok(_) => queued += 1,
                Err(e) if repo::is_unique_violation(&e) => {} // a job is already queued or running
                Err(e) => return Err(e.into()),
            }
        }
        let mut m: account::ActiveModel = a.into();
        m.next_sync_at = Set(next);
        m.update(&ctx.db).await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn brokerage_accounts_skip_weekends_and_crypto_does_not() {
        let friday = Utc
            .with_ymd_and_hms(2026, 11, 20, 18, 0, 0)
            .single()
            .expect("date");
        let next = next_sync(friday, "daily", "brokerage").expect("next");
        assert_eq!(next.weekday(), Weekday::Mon);
        let next = next_sync(friday, "daily", "crypto").expect("next");
        assert_eq!(next.weekday(), Weekday::Sat);
        assert_eq!(
            next_sync(friday, "hourly", "crypto").expect("next") - friday,
            chrono::Duration::hours(1)
        );
        assert!(next_sync(friday, "manual", "crypto").is_none());
    }
}
