//! File import, the fallback for every source without an API: CSV (with the account's import
//! profile), OFX/QFX and IBKR Flex statements. The whole file is written in one database
//! transaction, so a rejected or cancelled file leaves nothing behind; the CSV is parsed on a
//! blocking thread and streamed to the writer in batches, so memory stays flat however large
//! the file is.
//!
//! An upload runs at once, as a job this node holds. When it does not succeed (failed,
//! partial, cancelled) its file is kept in the database (`import_job_files`, in chunks) for
//! `jobs.upload_retention_days`, so `POST /api/import-jobs/{id}/retry` can queue the job again
//! and any node's worker can run it (`run_claimed`) with the stored options and the account's
//! current import profile. Both go through `run_held`: one write path, one way to end a job.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionTrait};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tributary_connectors::files::{self, CsvProfile, FileFormat};
use tributary_entity::{account, import_job};
use uuid::Uuid;

use super::ledger::{self, BatchCounts, Incoming, LedgerImport, Prepared, Preparer, RecordError};
use super::progress::Tracked;
use super::{Actor, AppContext, audit};
pub use crate::domain::OnError;
use crate::domain::{AccountId, ImportJob, UploadOptions, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo::{self, dec_to_db};

/// Records per write: large enough that a batch sorted by date (see `LedgerImport::write`)
/// touches each date's index page once for many rows; 20,000 parsed records are a few MiB.
const BATCH: usize = 20_000;

/// Chunk size of a kept file in the database.
const FILE_CHUNK: usize = 1 << 20;

/// How long a node holds an upload job it runs before renewing it. On PostgreSQL the lease is
/// the workers' (`jobs.lease_secs`), renewed through the pool while the import runs, so a job
/// whose node died is claimed again within a lease. On SQLite the import's transaction holds
/// the only write lock, so the lease cannot be renewed while it writes: it is taken long
/// enough for any upload instead (a single SQLite node has no other node to take it over).
fn upload_lease(ctx: &AppContext) -> chrono::Duration {
    if renews_upload_leases(ctx) {
        chrono::Duration::seconds(ctx.settings.jobs.lease_secs)
    } else {
        chrono::Duration::hours(6)
    }
}

fn renews_upload_leases(ctx: &AppContext) -> bool {
    ctx.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
}

/// Options of one upload.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// `None` = detect.
    pub format: Option<FileFormat>,
    pub dry_run: bool,
    pub on_error: OnError,
    pub ofx_account: Option<String>,
    /// The IB account to import from a Flex statement holding several.
    pub ibkr_account: Option<String>,
}

impl ImportOptions {
    /// What the job of an upload read as `format` stores (what a retry runs with).
    fn stored(&self, format: FileFormat) -> UploadOptions {
        UploadOptions {
            format: format.as_str().to_string(),
            on_error: self.on_error,
            ofx_account: self.ofx_account.clone(),
            ibkr_account: self.ibkr_account.clone(),
        }
    }

    /// The options a job stored, to run it again.
    fn from_stored(stored: &UploadOptions) -> ServiceResult<Self> {
        let format = match stored.format.as_str() {
            "csv" => FileFormat::Csv,
            "ofx" => FileFormat::Ofx,
            "ibkr_flex" => FileFormat::IbkrFlex,
            other => {
                return Err(ServiceError::Unexpected(anyhow::anyhow!(
                    "stored upload format {other:?}"
                )));
            }
        };
        Ok(Self {
            format: Some(format),
            dry_run: false,
            on_error: stored.on_error,
            ofx_account: stored.ofx_account.clone(),
            ibkr_account: stored.ibkr_account.clone(),
        })
    }
}

/// The outcome of a dry run: what would happen, nothing written.
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub format: String,
    pub counts: BatchCounts,
}

/// An import's result.
#[derive(Debug)]
pub enum ImportResult {
    Job(Box<ImportJob>),
    DryRun(DryRun),
}

pub struct ImportService<'a> {
    pub(crate) ctx: &'a AppContext,
}

fn file_error(e: &files::FileError) -> ServiceError {
    let at = e.line.map(|l| format!("line {l}: ")).unwrap_or_default();
    ServiceError::validation(
        e.field
            .clone()
            .map_or_else(|| "file".to_string(), |f| format!("file.{f}")),
        format!("{at}{}", e.message),
    )
}

impl ImportService<'_> {
    /// The account's CSV import profile.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account (or it has no profile yet).
    pub async fn profile(&self, user: UserId, account: AccountId) -> ServiceResult<CsvProfile> {
        let row = self.ctx.accounts().owned(user, account).await?;
        let text = row.import_profile.ok_or(ServiceError::NotFound)?;
        serde_json::from_str(&text)
            .map_err(|e| ServiceError::Unexpected(anyhow::anyhow!("stored import profile: {e}")))
    }

    /// Saves the account's CSV import profile (validated).
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account; `Validation` naming the profile field.
    pub async fn set_profile(
        &self,
        actor: &Actor,
        account: AccountId,
        profile: CsvProfile,
    ) -> ServiceResult<CsvProfile> {
        let row = self.ctx.accounts().owned(actor.user_id, account).await?;
        profile
            .validate()
            .map_err(|e| ServiceError::validation(e.field, e.message))?;
        let text = serde_json::to_string(&profile).map_err(anyhow::Error::from)?;
        let mut m: tributary_entity::account::ActiveModel = row.into();
        m.import_profile = Set(Some(text));
        repo::accounts::update(&self.ctx.db, m).await?;
        Ok(profile)
    }

    /// Imports an uploaded file (already spooled to `path`) into the caller's account, as a
    /// job this node runs at once. When it does not succeed the job keeps the file for a retry
    /// (see the module doc).
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account; `Validation` for a file that cannot be
    /// read (naming the line) or, with `on_error=reject`, any bad row; `Conflict` when a sync
    /// of the account is running, or when the upload was cancelled while it ran.
    pub async fn import(
        &self,
        actor: &Actor,
        account: AccountId,
        path: &Path,
        options: ImportOptions,
    ) -> ServiceResult<ImportResult> {
        let row = self.ctx.accounts().owned(actor.user_id, account).await?;
        let format = sniff_format(path, options.format)?;
        let source = source_of(format).to_string();
        // A CSV needs the account's import profile: refused before any job exists.
        let profile = csv_profile(&row, format)?;
        if options.dry_run {
            let (counts, _) = self
                .write_file(&row, path, format, profile, &options, None)
                .await?;
            return Ok(ImportResult::DryRun(DryRun {
                format: source,
                counts,
            }));
        }

        // The job row, held by this node so workers leave it alone.
        let created = repo::import_jobs::enqueue(
            &self.ctx.db,
            repo::import_jobs::NewJob {
                owner: actor.user_id.0,
                account_id: row.id,
                source: &source,
                trigger: "upload",
                cursor_in: None,
                next_run_at: Some(Utc::now() + chrono::Duration::days(3650)),
                max_attempts: 1,
                idempotency_key: None,
                format: Some(source.clone()),
                dry_run: false,
            },
        )
        .await
        .map_err(|e| {
            if repo::is_unique_violation(&e) {
                ServiceError::Conflict(
                    "a sync or import of this account is running; try again when it ends".into(),
                )
            } else {
                e.into()
            }
        })?;
        let mut m: import_job::ActiveModel = created.into();
        m.status = Set("running".into());
        m.lease_owner = Set(Some(self.ctx.node_id.clone()));
        m.lease_expires_at = Set(Some(Utc::now() + upload_lease(self.ctx)));
        m.started_at = Set(Some(Utc::now()));
        m.attempt = Set(1);
        m.options = Set(serde_json::to_string(&options.stored(format)).ok());
        let job = m.update(&self.ctx.db).await?;
        let options = ImportOptions {
            format: Some(format),
            ..options
        };
        let (job, ended) = self
            .run_held(job, &row, path, &options, FileAt::Spooled)
            .await?;
        match ended {
            Ended::Written(_) => Ok(ImportResult::Job(Box::new(
                self.ctx.import_jobs().get(actor.user_id, job.id).await?,
            ))),
            // The error names the job, which keeps the file for a retry.
            Ended::Cancelled { .. } => Err(ServiceError::At {
                instance: format!("/api/import-jobs/{}", job.id),
                error: Box::new(ServiceError::Conflict(format!(
                    "the import was cancelled and nothing was written; its job {} keeps the \
                     file: POST /api/import-jobs/{}/retry runs it again",
                    job.id, job.id
                ))),
            }),
            Ended::Failed(e) => Err(ServiceError::At {
                instance: format!("/api/import-jobs/{}", job.id),
                error: Box::new(e),
            }),
        }
    }

    /// Runs a queued upload job this node has claimed (a retry, or an upload whose node died):
    /// the kept file, with the options the upload stored and the account's *current* import
    /// profile, through the same path as an upload.
    ///
    /// # Errors
    /// Database failures, or `Conflict` when another node took the job over. What the import
    /// itself ran into is recorded on the job.
    #[tracing::instrument(skip_all, fields(import_job_id = %job.id), err)]
    pub async fn run_claimed(&self, job: import_job::Model) -> ServiceResult<import_job::Model> {
        let started = Instant::now();
        let mut m: import_job::ActiveModel = job.clone().into();
        m.lease_expires_at = Set(Some(Utc::now() + upload_lease(self.ctx)));
        m.progress = Set(0);
        m.processed = Set(0);
        if !repo::import_jobs::save_held(&self.ctx.db, &self.ctx.node_id, m).await? {
            return Err(ServiceError::Conflict("the job's lease was lost".into()));
        }
        let job = repo::import_jobs::find_owned(&self.ctx.db, job.user_id, job.id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let row = match job.account_id {
            Some(account) => repo::accounts::find_owned(&self.ctx.db, job.user_id, account).await?,
            None => None,
        };
        let options = job
            .options
            .as_deref()
            .and_then(|o| serde_json::from_str::<UploadOptions>(o).ok());
        let (Some(row), Some(stored)) = (row, options) else {
            let gone = ServiceError::Conflict(
                "the job has no account or upload options to run with; upload the file again"
                    .into(),
            );
            // Without them the file cannot run again: it is not worth keeping.
            return self
                .finish(job, &Ended::Failed(gone), started, None, FileAt::Gone, None)
                .await;
        };
        let dir = self.ctx.settings.data_dir.join("tmp");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| unexpected(&format!("creating {}", dir.display()), &e))?;
        let path = dir.join(format!("retry-{}-{}", job.id, Uuid::new_v4()));
        let restored = self.restore_file(job.id, &path).await;
        let result = match (restored, ImportOptions::from_stored(&stored)) {
            (Ok(true), Ok(options)) => self
                .run_held(job, &row, &path, &options, FileAt::Kept)
                .await
                .map(|(job, _)| job),
            (Ok(false), _) => {
                let gone = ServiceError::Conflict(
                    "the uploaded file is no longer kept; upload it again".into(),
                );
                self.finish(job, &Ended::Failed(gone), started, None, FileAt::Gone, None)
                    .await
            }
            (Err(e), _) | (_, Err(e)) => {
                self.finish(job, &Ended::Failed(e), started, None, FileAt::Kept, None)
                    .await
            }
        };
        let _ = tokio::fs::remove_file(&path).await;
        result
    }

    /// Runs a file import as the job this node holds: writes the file (progress reported live,
    /// a cancel request honoured between batches), then ends the job with the outcome and keeps
    /// or drops its file. Returns the job as it ended and how the import ended.
    async fn run_held(
        &self,
        job: import_job::Model,
        row: &account::Model,
        path: &Path,
        options: &ImportOptions,
        file: FileAt,
    ) -> ServiceResult<(import_job::Model, Ended)> {
        let started = Instant::now();
        let renewal = renews_upload_leases(self.ctx)
            .then(|| crate::jobs::runner::spawn_renewal(self.ctx, job.id));
        let tracked = self.ctx.live_jobs.track(job.id);
        // Only for progress: an unreadable file fails in `write_file`, naming the problem.
        let size = tokio::fs::metadata(path).await.map_or(0, |m| m.len());
        let progress = JobProgress {
            ctx: self.ctx,
            job: &job,
            tracked: &tracked,
            size,
            persist: self.ctx.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres,
        };
        let written = match options.format {
            Some(format) => match csv_profile(row, format) {
                Ok(profile) => {
                    self.write_file(row, path, format, profile, options, Some(&progress))
                        .await
                }
                Err(e) => Err(e),
            },
            None => Err(ServiceError::Unexpected(anyhow::anyhow!(
                "a file import job runs with a known format"
            ))),
        };
        let ended = match written {
            // `Discard` is a dry run's, which has no job.
            Ok((counts, Outcome::Commit | Outcome::Discard)) => Ended::Written(counts),
            Ok((counts, Outcome::Cancelled)) => Ended::Cancelled {
                processed: counts.fetched,
                progress: tracked.progress(),
            },
            Err(e) => Ended::Failed(e),
        };
        let job = self
            .finish(
                job,
                &ended,
                started,
                Some(path),
                file,
                tracked.cancel_request(),
            )
            .await;
        if let Some(renewal) = renewal {
            renewal.abort();
        }
        Ok((job?, ended))
    }

    /// Ends a file import's job: status, counts, error; the file stored (from `path`) or kept
    /// longer when the job did not succeed, deleted when it did, in the same transaction as
    /// the job's row. `cancelled_by` is a cancel request taken in this process, audited here.
    async fn finish(
        &self,
        job: import_job::Model,
        ended: &Ended,
        started: Instant,
        path: Option<&Path>,
        file: FileAt,
        cancelled_by: Option<&Actor>,
    ) -> ServiceResult<import_job::Model> {
        let now = Utc::now();
        let clamp = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        let mut m: import_job::ActiveModel = job.clone().into();
        m.finished_at = Set(Some(now));
        m.duration_ms = Set(Some(
            i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        ));
        m.lease_expires_at = Set(None);
        m.next_run_at = Set(None);
        m.progress = Set(100);
        // What a previous run of the job recorded does not describe this one.
        m.fetched = Set(0);
        m.inserted = Set(0);
        m.duplicates = Set(0);
        m.failed = Set(0);
        m.processed = Set(0);
        m.errors = Set(None);
        m.error = Set(None);
        m.quality_score = Set(None);
        let status = match ended {
            Ended::Written(counts) => {
                m.fetched = Set(clamp(counts.fetched));
                m.processed = Set(clamp(counts.fetched));
                m.inserted = Set(clamp(counts.inserted));
                m.duplicates = Set(clamp(counts.duplicates + counts.deleted_before));
                m.failed = Set(clamp(counts.failed));
                m.errors = Set(serde_json::to_string(&counts.errors).ok());
                let score = ledger::quality_score(counts.fetched, counts.failed, 0, 0);
                m.quality_score = Set(Some(dec_to_db(score)));
                if counts.failed > 0 {
                    "partial"
                } else {
                    "succeeded"
                }
            }
            Ended::Cancelled {
                processed,
                progress,
            } => {
                // Everything was rolled back; `progress` says where it stopped.
                m.progress = Set(*progress);
                m.processed = Set(clamp(*processed));
                m.error = Set(Some("cancelled by the user; nothing was written".into()));
                "cancelled"
            }
            Ended::Failed(e) => {
                m.error = Set(Some(e.public().detail));
                "failed"
            }
        };
        m.status = Set(status.to_string());
        let retention = self.ctx.settings.jobs.upload_retention_days;
        let keep = status != "succeeded" && retention > 0;
        let txn = self.ctx.db.begin().await?;
        let mut kept = false;
        match (keep, file, path) {
            (true, FileAt::Spooled, Some(path)) => {
                // A savepoint: a file that cannot be stored leaves no chunks behind, and the
                // job still ends (without a file to retry).
                let nested = txn.begin().await?;
                match store_file(&nested, job.id, path).await {
                    Ok(()) => {
                        nested.commit().await?;
                        kept = true;
                    }
                    Err(e) => {
                        let _ = nested.rollback().await;
                        tracing::warn!(import_job_id = %job.id, error = %e, "keeping the upload's file failed");
                    }
                }
            }
            (true, FileAt::Kept, _) => kept = true,
            (_, FileAt::Kept | FileAt::Gone, _) => {
                repo::import_job_files::delete(&txn, job.id).await?;
            }
            _ => {}
        }
        m.file_expires_at = Set(kept.then(|| now + chrono::Duration::days(i64::from(retention))));
        if !repo::import_jobs::save_held(&txn, &self.ctx.node_id, m).await? {
            txn.rollback().await?;
            return Err(ServiceError::Conflict("the job's lease was lost".into()));
        }
        txn.commit().await?;
        self.ctx.metrics.job_finished(status);
        self.ctx.read_cache.invalidate(UserId(job.user_id));
        if let Some(actor) = cancelled_by {
            // Taken in-process while the import held the write lock: audited now.
            audit::record(
                &self.ctx.db,
                Some(actor.user_id.0),
                "import_job.cancelled",
                Some(("import_job", job.id.to_string())),
                None,
                actor.ip.as_deref(),
            )
            .await?;
        }
        tracing::info!(import_job_id = %job.id, status, "file import finished");
        repo::import_jobs::find_owned(&self.ctx.db, job.user_id, job.id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Writes the job's kept file to `path`, one chunk in memory at a time. False when no file
    /// is kept.
    async fn restore_file(&self, job_id: Uuid, path: &Path) -> ServiceResult<bool> {
        let mut out = tokio::fs::File::create(path)
            .await
            .map_err(|e| unexpected("restoring the kept file", &e))?;
        let mut seq = 0;
        while let Some(bytes) = repo::import_job_files::chunk(&self.ctx.db, job_id, seq).await? {
            out.write_all(&bytes)
                .await
                .map_err(|e| unexpected("restoring the kept file", &e))?;
            seq += 1;
        }
        out.flush()
            .await
            .map_err(|e| unexpected("restoring the kept file", &e))?;
        Ok(seq > 0)
    }

    /// Deletes the kept files whose retention ended (see `jobs.upload_retention_days`); run by
    /// the scheduler's tick. Returns how many jobs lost their file.
    ///
    /// # Errors
    /// Database errors.
    pub async fn purge_expired_files(&self, now: chrono::DateTime<Utc>) -> ServiceResult<u64> {
        let txn = self.ctx.db.begin().await?;
        let purged = repo::import_job_files::purge_expired(&txn, now).await?;
        txn.commit().await?;
        if purged > 0 {
            tracing::info!(jobs = purged, "expired upload files deleted");
        }
        Ok(purged)
    }

    /// Parses a Flex statement upload and picks the IB account to import: the `ibkr_account`
    /// option, else the account's IBKR integration `account_id`, else the only one in the file.
    fn flex_upload(
        &self,
        row: &tributary_entity::account::Model,
        bytes: &[u8],
        wanted: Option<&str>,
    ) -> ServiceResult<tributary_connectors::ibkr::flex::parse::FlexAccount> {
        // The account's IBKR integration (when it has one that still validates) names the IB
        // account and the category overrides.
        let config = match row.integration_type.as_deref() {
            Some(tributary_connectors::ibkr::config::INTEGRATION_TYPE) => self
                .ctx
                .integrations()
                .decrypted_config(row)?
                .and_then(|c| {
                    tributary_connectors::ibkr::IbkrConfig::from_json(&c, &self.ctx.connectors.ibkr)
                        .ok()
                }),
            _ => None,
        };
        let (configured, categories) = config
            .map(|c| (c.account_id, c.categories))
            .unwrap_or_default();
        // Every parse error's message starts with the line it is on.
        let statement =
            tributary_connectors::ibkr::flex::parse::parse_statement(bytes, &categories)
                .map_err(|e| ServiceError::validation("file", e.to_string()))?;
        let wanted = wanted.map(str::to_owned).or(configured);
        let ids: Vec<String> = statement
            .accounts
            .iter()
            .map(|a| a.info.id.clone())
            .collect();
        let index = match &wanted {
            Some(w) => statement
                .accounts
                .iter()
                .position(|a| a.info.id.eq_ignore_ascii_case(w))
                .ok_or_else(|| {
                    ServiceError::validation(
                        "ibkr_account",
                        format!(
                            "the statement has no account {w} (it holds: {})",
                            ids.join(", ")
                        ),
                    )
                })?,
            None if ids.len() == 1 => 0,
            None if ids.is_empty() => {
                return Err(ServiceError::validation(
                    "file",
                    "the Flex statement holds no account",
                ));
            }
            None => {
                return Err(ServiceError::validation(
                    "ibkr_account",
                    format!(
                        "the statement holds several IB accounts ({}): choose one with ibkr_account",
                        ids.join(", ")
                    ),
                ));
            }
        };
        let mut accounts = statement.accounts;
        Ok(accounts.swap_remove(index))
    }

    /// Writes the file in one transaction: committed, or rolled back for a dry run, a cancel
    /// or an error. `job` is the running job's progress (none for a dry run).
    async fn write_file(
        &self,
        row: &account::Model,
        path: &Path,
        format: FileFormat,
        profile: Option<CsvProfile>,
        options: &ImportOptions,
        job: Option<&JobProgress<'_>>,
    ) -> ServiceResult<(BatchCounts, Outcome)> {
        let txn = self.ctx.db.begin().await?;
        repo::accounts::lock_for_write(&txn, row.id).await?;
        sqlite_bulk_mode(&txn, Some(self.ctx.settings.database.sqlite_cache_mib)).await?;
        let outcome = self
            .fill(&txn, row, path, format, profile, options, job)
            .await;
        // Whatever happened, the connection goes back to the pool with its normal settings.
        let reset = sqlite_bulk_mode(&txn, None).await;
        match outcome {
            Ok((counts, Outcome::Commit)) => {
                reset?;
                let phase = Instant::now();
                txn.commit().await?;
                tracing::debug!(
                    commit_ms = phase.elapsed().as_millis(),
                    "file import: committed"
                );
                Ok((counts, Outcome::Commit))
            }
            Ok((counts, outcome)) => {
                txn.rollback().await?;
                Ok((counts, outcome))
            }
            Err(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    /// Writes a file's records, holdings and balance inside `txn`; says whether to keep them.
    /// Before each batch it checks whether the job was asked to stop.
    #[allow(clippy::too_many_arguments)]
    async fn fill(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        row: &account::Model,
        path: &Path,
        format: FileFormat,
        profile: Option<CsvProfile>,
        options: &ImportOptions,
        job: Option<&JobProgress<'_>>,
    ) -> ServiceResult<(BatchCounts, Outcome)> {
        let source = source_of(format);
        let mut ledger = LedgerImport::new(
            txn,
            row.id,
            source,
            job.map(|j| j.job.id),
            self.ctx.settings.jobs.match_window_days,
        )
        .await?;
        // A CSV into an account without an integration ends by deriving its holdings: keep
        // its cash current while writing, so that step need not sum the whole ledger again.
        if format == FileFormat::Csv && row.integration_type.is_none() && !options.dry_run {
            ledger.track_cash(txn).await?;
        }
        let mut counts = BatchCounts::default();
        let mut reported_holdings = None;
        let mut balance = None;
        // An IBKR Flex statement older than what the account shows leaves positions as they are.
        let mut keep_holdings = false;
        match (format, profile) {
            (FileFormat::Csv, Some(profile)) => {
                // The parser's thread also validates and fingerprints, so that work runs
                // beside the database writes rather than between them.
                // Each batch goes with the bytes read when it was complete (for progress).
                // One batch waits here: with one being parsed, one staged and one being
                // inserted, that keeps every stage busy, and memory at four batches.
                let (tx, mut rx) = tokio::sync::mpsc::channel::<
                    Result<(Vec<Result<Prepared, RecordError>>, u64), files::FileError>,
                >(1);
                let path = path.to_path_buf();
                let mut preparer = Preparer::new(row.id);
                let read = Arc::new(AtomicU64::new(0));
                let parser = tokio::task::spawn_blocking(move || {
                    let file = match std::fs::File::open(&path) {
                        Ok(f) => std::io::BufReader::with_capacity(
                            1 << 16,
                            Counting {
                                inner: f,
                                read: read.clone(),
                            },
                        ),
                        Err(e) => {
                            let _ = tx.blocking_send(Err(files::FileError {
                                line: None,
                                field: None,
                                message: e.to_string(),
                            }));
                            return;
                        }
                    };
                    let records = match files::csv::read(file, &profile) {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    };
                    let mut batch = Vec::with_capacity(BATCH);
                    for item in records {
                        batch.push(match item {
                            Ok(p) => preparer.prepare(Incoming {
                                line: Some(p.line),
                                record: p.transaction,
                            }),
                            Err(e) if e.fatal => {
                                let _ = tx.blocking_send(Err(files::FileError {
                                    line: Some(e.line),
                                    field: None,
                                    message: e.message,
                                }));
                                return;
                            }
                            Err(e) => Err(RecordError {
                                line: Some(e.line),
                                source_id: None,
                                field: e.field,
                                message: e.message,
                            }),
                        });
                        if batch.len() == BATCH
                            && tx
                                .blocking_send(Ok((
                                    std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                                    read.load(Ordering::Relaxed),
                                )))
                                .is_err()
                        {
                            return;
                        }
                    }
                    if !batch.is_empty() {
                        let _ = tx.blocking_send(Ok((batch, read.load(Ordering::Relaxed))));
                    }
                });
                let mut cancelled = false;
                let reject = options.on_error == OnError::Reject && !options.dry_run;
                // Each batch is staged (deduplicated, its rows built) while the one before it
                // is inserted, so the database does not wait on this task's per-row work.
                let mut inflight: Option<(ledger::Staged, u64)> = None;
                // For the debug log: how long the writer waited for the parser, of how long.
                let (began, mut waited) = (Instant::now(), Duration::ZERO);
                loop {
                    let t = Instant::now();
                    let next = rx.recv().await.transpose().map_err(|e| file_error(&e))?;
                    waited += t.elapsed();
                    if next.is_some()
                        && let Some(job) = job
                        && job.stop_requested().await?
                    {
                        cancelled = true;
                        break;
                    }
                    let inserter = ledger.inserter();
                    let (done, staged) = match (inflight.take(), next) {
                        (None, None) => break,
                        (Some((prev, read)), None) => {
                            (Some((inserter.insert(txn, prev).await?, read)), None)
                        }
                        (None, Some((batch, read))) => (
                            None,
                            Some((ledger.stage(txn, batch, options.dry_run).await?, read)),
                        ),
                        (Some((prev, done_read)), Some((batch, read))) => {
                            let (done, staged) = futures_util::join!(
                                inserter.insert(txn, prev),
                                ledger.stage(txn, batch, options.dry_run)
                            );
                            (Some((done?, done_read)), Some((staged?, read)))
                        }
                    };
                    if let Some((done, read)) = done {
                        counts.add(ledger.settle(done));
                        if let Some(job) = job {
                            job.report(job.percent_read(read), counts.fetched).await;
                        }
                    }
                    match staged {
                        // One bad row rejects the file: no need to write what is staged.
                        Some((staged, _)) if reject && staged.failed() > 0 => {
                            counts.add(staged.into_counts());
                            break;
                        }
                        other => inflight = other,
                    }
                }
                tracing::debug!(
                    batches_ms = began.elapsed().as_millis(),
                    waited_for_parser_ms = waited.as_millis(),
                    "file import: CSV batches written"
                );
                drop(rx);
                let _ = parser.await;
                if cancelled {
                    return Ok((counts, Outcome::Cancelled));
                }
            }
            (FileFormat::Ofx, _) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    ServiceError::Unexpected(anyhow::anyhow!("reading the upload: {e}"))
                })?;
                let parsed = files::ofx::parse(&bytes).map_err(|e| file_error(&e))?;
                let statement = parsed
                    .statement(options.ofx_account.as_deref())
                    .map_err(|e| {
                        ServiceError::validation(
                            e.field.clone().unwrap_or_else(|| "ofx_account".into()),
                            e.message.clone(),
                        )
                    })?;
                for e in &statement.errors {
                    counts.fetched += 1;
                    counts.failed += 1;
                    counts.errors.push(RecordError {
                        line: Some(e.line),
                        source_id: None,
                        field: e.field.clone(),
                        message: e.message.clone(),
                    });
                }
                let records = statement
                    .transactions
                    .iter()
                    .map(|p| Incoming {
                        line: Some(p.line),
                        record: p.transaction.clone(),
                    })
                    .collect();
                if !write_parsed(txn, &mut ledger, records, options.dry_run, job, &mut counts)
                    .await?
                {
                    return Ok((counts, Outcome::Cancelled));
                }
                if !statement.holdings.is_empty() {
                    reported_holdings = Some(statement.holdings.clone());
                }
                balance = statement.balance.clone();
            }
            (FileFormat::IbkrFlex, _) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    ServiceError::Unexpected(anyhow::anyhow!("reading the upload: {e}"))
                })?;
                let account = self.flex_upload(row, &bytes, options.ibkr_account.as_deref())?;
                for e in &account.rejected {
                    counts.fetched += 1;
                    counts.failed += 1;
                    counts.errors.push(RecordError {
                        line: Some(e.line),
                        source_id: None,
                        field: None,
                        message: e.message.clone(),
                    });
                }
                let records = account
                    .data
                    .transactions
                    .into_iter()
                    .zip(
                        account
                            .lines
                            .into_iter()
                            .map(Some)
                            .chain(std::iter::repeat(None)),
                    )
                    .map(|(record, line)| Incoming { line, record })
                    .collect();
                if !write_parsed(txn, &mut ledger, records, options.dry_run, job, &mut counts)
                    .await?
                {
                    return Ok((counts, Outcome::Cancelled));
                }
                // History uploaded after a newer statement (or a sync) adds its transactions
                // but does not roll the positions and balance back to its own day.
                let as_of = account
                    .data
                    .balance
                    .as_ref()
                    .map(|b| b.as_of)
                    .or_else(|| account.data.holdings.iter().map(|h| h.as_of).max());
                let superseded = matches!(
                    (as_of, row.balance_updated_at),
                    (Some(statement), Some(current)) if statement < current
                );
                keep_holdings = superseded;
                if !superseded {
                    if !account.data.holdings.is_empty() {
                        reported_holdings = Some(account.data.holdings);
                    }
                    balance = account.data.balance;
                }
            }
            (FileFormat::Csv, None) => {
                return Err(ServiceError::validation("import_profile", "missing"));
            }
        }
        if options.on_error == OnError::Reject && counts.failed > 0 {
            let first = counts.errors.first().cloned();
            let more = counts.errors.len().saturating_sub(1);
            let detail = first.map_or_else(String::new, |e| {
                format!(
                    "line {}: {}{}; nothing was imported (use on_error=skip to import the good rows){}",
                    e.line.unwrap_or(0),
                    e.field.map(|f| format!("{f}: ")).unwrap_or_default(),
                    e.message,
                    if more > 0 { format!(" — and {more} more bad rows") } else { String::new() }
                )
            });
            return Err(ServiceError::validation("file", detail));
        }
        if options.dry_run {
            return Ok((counts, Outcome::Discard));
        }
        let phase = Instant::now();
        tracing::debug!(rows = counts.fetched, "file import: records written");
        // Holdings: reported positions win; an account without an integration holds what its
        // transactions add up to.
        match reported_holdings {
            Some(h) => {
                ledger::store_reported_holdings(txn, row.id, source, &h).await?;
            }
            None if keep_holdings => {}
            // Unchanged transactions leave the derived holdings as they are.
            None if row.integration_type.is_none() && counts.inserted > 0 => {
                let derived = ledger::derive_holdings_with_cash(txn, row.id, ledger.cash()).await?;
                ledger::store_derived_holdings(txn, row.id, source, &derived).await?;
            }
            None => {}
        }
        if let Some(b) = balance {
            let mut m: tributary_entity::account::ActiveModel = row.clone().into();
            m.balance = Set(Some(dec_to_db(b.amount)));
            m.balance_currency = Set(Some(b.currency.clone()));
            m.balance_updated_at = Set(Some(b.as_of));
            m.update(txn).await?;
        }
        tracing::debug!(
            holdings_ms = phase.elapsed().as_millis(),
            "file import: holdings and balance stored"
        );
        Ok((counts, Outcome::Commit))
    }
}

/// What becomes of a file import's writes.
enum Outcome {
    Commit,
    /// A dry run: roll back.
    Discard,
    /// The job was asked to stop: roll back.
    Cancelled,
}

/// How a file import job ended.
enum Ended {
    /// Committed: succeeded, or partial with bad rows skipped.
    Written(BatchCounts),
    /// Stopped on request, nothing written: records read and progress when it stopped.
    Cancelled { processed: i64, progress: i32 },
    /// Refused or broken: nothing written.
    Failed(ServiceError),
}

/// Where a running file import's file is.
#[derive(Clone, Copy)]
enum FileAt {
    /// Only on this node's disk (an upload): stored in the database if the job does not
    /// succeed.
    Spooled,
    /// Kept in the database (a retry): dropped when the job succeeds.
    Kept,
    /// Not kept any more, or not worth keeping (whatever is left of it is deleted).
    Gone,
}

/// A running job as its import sees it: where to report progress, whether to stop.
struct JobProgress<'a> {
    ctx: &'a AppContext,
    job: &'a import_job::Model,
    tracked: &'a Tracked<'a>,
    /// The file's size in bytes.
    size: u64,
    /// Also write progress to the job row (PostgreSQL: other nodes read it there). On SQLite
    /// the import's transaction holds the only write lock.
    persist: bool,
}

impl JobProgress<'_> {
    /// Reports progress (0 to 99; 100 is for the job's end) and records read so far: in this
    /// process, and on PostgreSQL on the job row, through the pool.
    async fn report(&self, progress: i32, processed: i64) {
        let processed = i32::try_from(processed).unwrap_or(i32::MAX);
        let progress = progress.clamp(0, 99);
        self.tracked.report(progress, processed);
        if self.persist
            && let Err(e) = repo::import_jobs::save_progress(
                &self.ctx.db,
                self.job.id,
                &self.ctx.node_id,
                progress,
                processed,
            )
            .await
        {
            tracing::warn!(import_job_id = %self.job.id, error = %e, "recording progress failed");
        }
    }

    /// Percent of the file read after `read` bytes.
    fn percent_read(&self, read: u64) -> i32 {
        i32::try_from(read.saturating_mul(100) / self.size.max(1)).unwrap_or(99)
    }

    /// Whether the owner asked the job to stop: through this process (see
    /// `LiveJobs::request_cancel`), or on the job row (a request another node took).
    async fn stop_requested(&self) -> ServiceResult<bool> {
        if self.tracked.cancel_request().is_some() {
            return Ok(true);
        }
        Ok(
            repo::import_jobs::cancel_requested(&self.ctx.db, self.job.user_id, self.job.id)
                .await?,
        )
    }
}

/// Writes records parsed from a whole file (OFX, Flex) in batches: progress goes from 50
/// (parsed) to 99, and before each batch the job is checked for a cancel request. False when
/// it stopped for one.
async fn write_parsed(
    txn: &sea_orm::DatabaseTransaction,
    ledger: &mut LedgerImport,
    records: Vec<Incoming>,
    dry_run: bool,
    job: Option<&JobProgress<'_>>,
    counts: &mut BatchCounts,
) -> ServiceResult<bool> {
    let total = records.len();
    if let Some(job) = job {
        job.report(50, counts.fetched).await;
    }
    let mut records = records.into_iter();
    let mut done = 0;
    loop {
        if let Some(job) = job
            && job.stop_requested().await?
        {
            return Ok(false);
        }
        let batch: Vec<Incoming> = records.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            return Ok(true);
        }
        done += batch.len();
        counts.add(ledger.write(txn, batch, dry_run).await?);
        if let Some(job) = job {
            let share = i32::try_from(done * 49 / total.max(1)).unwrap_or(49);
            job.report(50 + share, counts.fetched).await;
        }
    }
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The file's format: as given, or detected from its first bytes.
fn sniff_format(path: &Path, given: Option<FileFormat>) -> ServiceResult<FileFormat> {
    let mut head = vec![0u8; files::SNIFF_LEN];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| unexpected("reading the upload", &e))?;
    head.truncate(n);
    if n == 0 {
        return Err(ServiceError::validation("file", "the file is empty"));
    }
    match given {
        Some(f) => Ok(f),
        None => files::detect_format(&head).ok_or_else(|| {
            ServiceError::validation(
                "file",
                "not a CSV or OFX/QFX file (binary or unrecognised content)",
            )
        }),
    }
}

/// The account's CSV import profile when `format` needs one.
fn csv_profile(row: &account::Model, format: FileFormat) -> ServiceResult<Option<CsvProfile>> {
    if format != FileFormat::Csv {
        return Ok(None);
    }
    let text = row.import_profile.as_deref().ok_or_else(|| {
        ServiceError::validation(
            "import_profile",
            "set the account's CSV import profile first (PUT /api/accounts/{id}/import-profile)",
        )
    })?;
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ServiceError::Unexpected(anyhow::anyhow!("stored import profile: {e}")))
}

/// Stores the file at `path` as the job's kept file, one chunk in memory at a time.
async fn store_file(db: &impl ConnectionTrait, job_id: Uuid, path: &Path) -> ServiceResult<()> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| unexpected("keeping the upload", &e))?;
    let mut seq = 0;
    loop {
        let mut chunk = Vec::with_capacity(FILE_CHUNK);
        let n = (&mut file)
            .take(FILE_CHUNK as u64)
            .read_to_end(&mut chunk)
            .await
            .map_err(|e| unexpected("keeping the upload", &e))?;
        if n == 0 {
            return Ok(());
        }
        repo::import_job_files::insert_chunk(db, job_id, seq, chunk).await?;
        seq += 1;
        if n < FILE_CHUNK {
            return Ok(());
        }
    }
}

fn unexpected(what: &str, e: &std::io::Error) -> ServiceError {
    ServiceError::Unexpected(anyhow::anyhow!("{what}: {e}"))
}

/// The ledger source of a file format: Flex statements share the IBKR integration's source, so
/// an uploaded statement and a later (or earlier) Flex sync deduplicate by IB's own ids.
fn source_of(format: FileFormat) -> &'static str {
    match format {
        FileFormat::IbkrFlex => "ibkr",
        other => other.as_str(),
    }
}

/// SQLite only: gives this connection a page cache of `mib` MiB while a file import writes
/// (`Some`: a large file writes index pages in random order), or SQLite's default of 2,000 KiB
/// (`None`, which frees the excess).
///
/// (The temp store is left alone: the bulk insert keeps no statement journal, see
/// `repo::transactions::insert_new`, and SQLite refuses to change it inside a transaction on a
/// connection whose temp database is open.)
async fn sqlite_bulk_mode(
    txn: &sea_orm::DatabaseTransaction,
    mib: Option<u32>,
) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return Ok(());
    }
    let kib = mib.map_or(2_000, |mib| u64::from(mib) * 1024);
    txn.execute_unprepared(&format!("PRAGMA cache_size = -{kib}"))
        .await
        .map(|_| ())
}
