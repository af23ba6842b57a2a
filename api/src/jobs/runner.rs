//! Runs one claimed sync job: provider calls first (no database transaction open), then each
//! page of transactions written in its own transaction together with the job's cursor and
//! counts, so a job that fails mid-way keeps what it committed and its retry resumes from the
//! cursor. The final transaction writes holdings, balance, reconciliation and the job result:
//! when a job reports `succeeded`, the account is already current.
//!
//! A claimed file-import job (an upload queued again by a retry) runs its kept file through
//! the upload's own path instead (`ImportService::run_claimed`).

use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use tributary_connectors::{ConnectorError, registry};
use tributary_entity::{account, import_job};

use crate::domain::{IntegrationStatus, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo::{self, dec_to_db, opt_dec_from_db};
use crate::services::AppContext;
use crate::services::ledger::{self, BatchCounts, Incoming, LedgerImport};

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub job: import_job::Model,
    /// The provider error that stopped the job (final or to be retried).
    pub error: Option<ConnectorError>,
}

fn lease(ctx: &AppContext) -> chrono::Duration {
    chrono::Duration::seconds(ctx.settings.jobs.lease_secs)
}

fn to_json<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_string(v).ok()
}

/// Executes a job this node has claimed.
///
/// # Errors
/// Database failures (provider failures are recorded on the job and returned in the outcome).
pub async fn run(ctx: &AppContext, job: import_job::Model) -> ServiceResult<RunOutcome> {
    if job.trigger == "upload" {
        let job = ctx.imports().run_claimed(job).await?;
        return Ok(RunOutcome { job, error: None });
    }
    let started = Instant::now();
    let owner = ctx.node_id.clone();
    let renewal = spawn_renewal(ctx, job.id);
    let result = run_inner(ctx, &job, started).await;
    renewal.abort();
    match result {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            // An unexpected failure: record it and let the job be retried later.
            tracing::error!(import_job_id = %job.id, error = ?e, "import job crashed");
            let mut m: import_job::ActiveModel = job.clone().into();
            m.status = Set("queued".into());
            m.error = Set(Some("internal error; will retry".into()));
            m.next_run_at = Set(Some(
                Utc::now() + chrono::Duration::seconds(ctx.settings.jobs.retry_base_secs as i64),
            ));
            m.lease_owner = Set(None);
            m.lease_expires_at = Set(None);
            if job.attempt >= job.max_attempts {
                m.status = Set("failed".into());
                m.finished_at = Set(Some(Utc::now()));
            }
            repo::import_jobs::save_held(&ctx.db, &owner, m).await?;
            Err(e)
        }
    }
}

/// Renews this node's lease on job `job_id` every third of a lease until aborted (or the lease
/// is lost), through the pool.
pub(crate) fn spawn_renewal(ctx: &AppContext, job_id: uuid::Uuid) -> tokio::task::JoinHandle<()> {
    let db = ctx.db.clone();
    let owner = ctx.node_id.clone();
    let lease = lease(ctx);
    let every = Duration::from_secs((ctx.settings.jobs.lease_secs / 3).max(1) as u64);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match repo::import_jobs::renew(&db, job_id, &owner, lease).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(import_job_id = %job_id, error = %e, "lease renewal failed")
                }
            }
        }
    })
}

async fn run_inner(
    ctx: &AppContext,
    job: &import_job::Model,
    started: Instant,
) -> ServiceResult<RunOutcome> {
    let owner = ctx.node_id.as_str();
    let user = UserId(job.user_id);
    let Some(account_id) = job.account_id else {
        return finish(
            ctx,
            job,
            "failed",
            &BatchCounts::default(),
            Some("the job has no account".into()),
            started,
            None,
        )
        .await;
    };
    let Some(account) = repo::accounts::find_owned(&ctx.db, job.user_id, account_id).await? else {
        return finish(
            ctx,
            job,
            "cancelled",
            &BatchCounts::default(),
            Some("the account was deleted".into()),
            started,
            None,
        )
        .await;
    };
    let summary_config = ctx.integrations().decrypted_config(&account)?;
    let (Some(kind), Some(config)) = (account.integration_type.clone(), summary_config) else {
        return finish(
            ctx,
            job,
            "cancelled",
            &BatchCounts::default(),
            Some("the account has no integration".into()),
            started,
            None,
        )
        .await;
    };
    let connector = match registry::connect(&ctx.connectors, &kind, &config, Utc::now()) {
        Ok(c) => c,
        Err(e) => {
            return provider_failed(
                ctx,
                job,
                &account,
                &BatchCounts::default(),
                e,
                started,
                false,
            )
            .await;
        }
    };
    let source = kind.to_ascii_lowercase();
    let mut counts = BatchCounts {
        fetched: i64::from(job.fetched),
        inserted: i64::from(job.inserted),
        duplicates: i64::from(job.duplicates),
        failed: i64::from(job.failed),
        ..Default::default()
    };

    let reported = match connector.holdings().await {
        Ok(h) => Some(h),
        Err(ConnectorError::NotSupported(_)) => None,
        Err(e) => return provider_failed(ctx, job, &account, &counts, e, started, true).await,
    };

    let mut ledger = LedgerImport::new(
        &ctx.db,
        account_id,
        &source,
        Some(job.id),
        ctx.settings.jobs.match_window_days,
    )
    .await?;
    let mut cursor = job.cursor_out.clone().or_else(|| job.cursor_in.clone());
    let mut pages: i32 = 0;
    loop {
        if repo::import_jobs::find_owned(&ctx.db, job.user_id, job.id)
            .await?
            .is_some_and(|j| j.cancel_requested)
        {
            return finish(
                ctx,
                job,
                "cancelled",
                &counts,
                Some("cancelled by the user".into()),
                started,
                cursor,
            )
            .await;
        }
        let (page, next) = match connector.transactions(cursor.as_deref()).await {
            Ok(p) => p,
            Err(e) => return provider_failed(ctx, job, &account, &counts, e, started, true).await,
        };
        let txn = ctx.db.begin().await?;
        repo::accounts::lock_for_write(&txn, account_id).await?;
        let batch = ledger
            .write(
                &txn,
                page.into_iter()
                    .map(|record| Incoming { line: None, record })
                    .collect(),
                false,
            )
            .await?;
        counts.add(batch);
        pages += 1;
        let advanced = next.is_some() && next != cursor;
        if advanced {
            cursor = next;
        }
        let mut m: import_job::ActiveModel = job.clone().into();
        apply_counts(&mut m, &counts);
        m.cursor_out = Set(cursor.clone());
        m.progress = Set((pages * 10).min(90));
        if !repo::import_jobs::save_held(&txn, owner, m).await? {
            // Another node took the job over (our lease expired): leave it to them.
            txn.rollback().await?;
            return Err(ServiceError::Conflict("the job's lease was lost".into()));
        }
        txn.commit().await?;
        // A page may be empty and still move the cursor (an IBKR Flex backfill chunk with no
        // activity); the provider is done when the cursor stops moving.
        if !advanced || pages >= 10_000 {
            break;
        }
    }

    let balance = match connector.balance().await {
        Ok(b) => Some(b),
        Err(ConnectorError::NotSupported(_)) => None,
        Err(e) => return provider_failed(ctx, job, &account, &counts, e, started, true).await,
    };

    let txn = ctx.db.begin().await?;
    repo::accounts::lock_for_write(&txn, account_id).await?;
    let derived = ledger::derive_holdings(&txn, account_id).await?;
    let (holdings_count, differences) = match &reported {
        Some(reported) => (
            ledger::store_reported_holdings(&txn, account_id, &source, reported).await?,
            ledger::reconcile(reported, &derived),
        ),
        None => (
            ledger::store_derived_holdings(&txn, account_id, &source, &derived).await?,
            Vec::new(),
        ),
    };
    let previous_balance = opt_dec_from_db(account.balance.as_deref())?;
    let anomalies = ledger::detect_anomalies(
        &txn,
        account_id,
        job.id,
        previous_balance,
        balance.as_ref().map(|b| b.amount),
    )
    .await?;
    let score = ledger::quality_score(
        counts.fetched,
        counts.failed,
        differences.len(),
        anomalies.len(),
    );
    let now = Utc::now();
    let mut a: account::ActiveModel = account.clone().into();
    if let Some(b) = &balance {
        a.balance = Set(Some(dec_to_db(b.amount)));
        a.balance_currency = Set(Some(b.currency.clone()));
        a.balance_updated_at = Set(Some(b.as_of));
    }
    a.sync_cursor = Set(cursor.clone());
    a.integration_status = Set(Some(IntegrationStatus::Ok.as_str().to_string()));
    a.last_error = Set(None);
    a.last_synced_at = Set(Some(now));
    a.quality_score = Set(Some(dec_to_db(score)));
    a.next_sync_at = Set(super::scheduler::next_sync(
        now,
        &account.sync_frequency,
        &account.kind,
    ));
    a.updated_at = Set(now);
    a.update(&txn).await?;
    let status = if counts.failed > 0 {
        "partial"
    } else {
        "succeeded"
    };
    let mut m: import_job::ActiveModel = job.clone().into();
    apply_counts(&mut m, &counts);
    m.updated = Set(i32::try_from(holdings_count).unwrap_or(i32::MAX));
    m.status = Set(status.to_string());
    m.cursor_out = Set(cursor);
    m.progress = Set(100);
    m.reconciliation = Set(to_json(&serde_json::json!({
        "compared": reported.is_some(),
        "differences": differences,
    })));
    m.anomalies = Set(to_json(&anomalies));
    m.quality_score = Set(Some(dec_to_db(score)));
    m.errors = Set(to_json(&counts.errors));
    m.error = Set(None);
    m.finished_at = Set(Some(now));
    m.duration_ms = Set(Some(
        i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    ));
    m.lease_expires_at = Set(None);
    m.next_run_at = Set(None);
    if !repo::import_jobs::save_held(&txn, owner, m).await? {
        txn.rollback().await?;
        return Err(ServiceError::Conflict("the job's lease was lost".into()));
    }
    txn.commit().await?;
    ctx.read_cache.invalidate(user);
    ctx.metrics.job_finished(status);
    let job = repo::import_jobs::find_owned(&ctx.db, job.user_id, job.id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tracing::info!(import_job_id = %job.id, account_id = %account_id, status, inserted = counts.inserted, fetched = counts.fetched, "import job finished");
    Ok(RunOutcome { job, error: None })
}

fn apply_counts(m: &mut import_job::ActiveModel, c: &BatchCounts) {
    let clamp = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
    m.fetched = Set(clamp(c.fetched));
    // A sync reads what it fetched: records read so far.
    m.processed = Set(clamp(c.fetched));
    m.inserted = Set(clamp(c.inserted));
    m.duplicates = Set(clamp(c.duplicates + c.deleted_before));
    m.failed = Set(clamp(c.failed));
}

/// A provider failure: retry later when it is transient and attempts remain, else final.
async fn provider_failed(
    ctx: &AppContext,
    job: &import_job::Model,
    account: &account::Model,
    counts: &BatchCounts,
    error: ConnectorError,
    started: Instant,
    may_retry: bool,
) -> ServiceResult<RunOutcome> {
    let message = crate::services::integrations::failure_message(&error);
    let status = if error.needs_reauth() {
        IntegrationStatus::NeedsReauth
    } else {
        IntegrationStatus::Error
    };
    let mut a: account::ActiveModel = account.clone().into();
    a.integration_status = Set(Some(status.as_str().to_string()));
    a.last_error = Set(Some(message.clone()));
    a.updated_at = Set(Utc::now());
    a.update(&ctx.db).await?;
    ctx.read_cache.invalidate(UserId(job.user_id));
    let retry = may_retry && error.is_retryable() && job.attempt < job.max_attempts;
    if retry {
        let retry_after = match &error {
            ConnectorError::RateLimited { retry_after } => *retry_after,
            _ => None,
        };
        let delay = super::backoff(
            job.attempt,
            Duration::from_secs(ctx.settings.jobs.retry_base_secs),
            Duration::from_secs(ctx.settings.jobs.retry_max_secs),
            retry_after,
        );
        let mut m: import_job::ActiveModel = job.clone().into();
        apply_counts(&mut m, counts);
        m.status = Set("queued".into());
        m.error = Set(Some(message));
        m.next_run_at = Set(Some(
            Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)),
        ));
        m.lease_owner = Set(None);
        m.lease_expires_at = Set(None);
        repo::import_jobs::save_held(&ctx.db, &ctx.node_id, m).await?;
        ctx.metrics.job_finished("retry_scheduled");
        let job = repo::import_jobs::find_owned(&ctx.db, job.user_id, job.id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        return Ok(RunOutcome {
            job,
            error: Some(error),
        });
    }
    // What was committed stays; a job that got some records in before failing is partial.
    let status = if counts.inserted > 0 {
        "partial"
    } else {
        "failed"
    };
    let mut outcome = finish(ctx, job, status, counts, Some(message), started, None).await?;
    outcome.error = Some(error);
    Ok(outcome)
}

async fn finish(
    ctx: &AppContext,
    job: &import_job::Model,
    status: &str,
    counts: &BatchCounts,
    error: Option<String>,
    started: Instant,
    cursor: Option<String>,
) -> ServiceResult<RunOutcome> {
    let mut m: import_job::ActiveModel = job.clone().into();
    apply_counts(&mut m, counts);
    m.status = Set(status.to_string());
    m.error = Set(error);
    m.errors = Set(to_json(&counts.errors));
    m.finished_at = Set(Some(Utc::now()));
    m.duration_ms = Set(Some(
        i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    ));
    m.lease_expires_at = Set(None);
    if cursor.is_some() {
        m.cursor_out = Set(cursor);
    }
    repo::import_jobs::save_held(&ctx.db, &ctx.node_id, m).await?;
    ctx.metrics.job_finished(status);
    let job = repo::import_jobs::find_owned(&ctx.db, job.user_id, job.id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(RunOutcome { job, error: None })
}
