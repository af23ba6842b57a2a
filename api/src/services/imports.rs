//! File import, the fallback for every source without an API: CSV (with the account's import
//! profile) and OFX/QFX. The whole file is written in one database transaction, so a rejected
//! file leaves nothing behind; the CSV is parsed on a blocking thread and streamed to the
//! writer in batches, so memory stays flat however large the file is.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionTrait};
use serde::Serialize;
use tributary_connectors::files::{self, CsvProfile, FileFormat};
use uuid::Uuid;

use super::ledger::{self, BatchCounts, Incoming, LedgerImport, Prepared, Preparer, RecordError};
use super::{Actor, AppContext};
use crate::domain::{AccountId, ImportJob, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo::{self, dec_to_db};

/// Records per write: large enough that a batch sorted by date (see `LedgerImport::write`)
/// touches each date's index page once for many rows; 20,000 parsed records are a few MiB.
const BATCH: usize = 20_000;

/// What to do with bad rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// One bad row rejects the file; nothing is written.
    Reject,
    /// Good rows are imported, bad ones reported.
    Skip,
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

    /// Imports an uploaded file (already spooled to `path`) into the caller's account.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account; `Validation` for a file that cannot be
    /// read (naming the line) or, with `on_error=reject`, any bad row; `Conflict` when a sync
    /// of the account is running.
    pub async fn import(
        &self,
        actor: &Actor,
        account: AccountId,
        path: &Path,
        options: ImportOptions,
    ) -> ServiceResult<ImportResult> {
        let started = Instant::now();
        let row = self.ctx.accounts().owned(actor.user_id, account).await?;
        let mut head = vec![0u8; files::SNIFF_LEN];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| ServiceError::Unexpected(anyhow::anyhow!("reading the upload: {e}")))?;
        head.truncate(n);
        if n == 0 {
            return Err(ServiceError::validation("file", "the file is empty"));
        }
        let format = match options.format {
            Some(f) => f,
            None => files::detect_format(&head).ok_or_else(|| {
                ServiceError::validation(
                    "file",
                    "not a CSV or OFX/QFX file (binary or unrecognised content)",
                )
            })?,
        };
        let source = source_of(format).to_string();
        let profile = if format == FileFormat::Csv {
            let text = row
                .import_profile
                .clone()
                .ok_or_else(|| ServiceError::validation("import_profile", "set the account's CSV import profile first (PUT /api/accounts/{id}/import-profile)"))?;
            Some(serde_json::from_str::<CsvProfile>(&text).map_err(|e| {
                ServiceError::Unexpected(anyhow::anyhow!("stored import profile: {e}"))
            })?)
        } else {
            None
        };

        // The job row (not for dry runs), held by this node so workers leave it alone.
        let job = if options.dry_run {
            None
        } else {
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
                        "a sync or import of this account is running; try again when it ends"
                            .into(),
                    )
                } else {
                    e.into()
                }
            })?;
            let mut m: tributary_entity::import_job::ActiveModel = created.into();
            m.status = Set("running".into());
            m.lease_owner = Set(Some(self.ctx.node_id.clone()));
            m.lease_expires_at = Set(Some(Utc::now() + chrono::Duration::hours(6)));
            m.started_at = Set(Some(Utc::now()));
            m.attempt = Set(1);
            Some(m.update(&self.ctx.db).await?)
        };
        let result = self
            .write_file(
                &row,
                path,
                format,
                profile,
                &options,
                job.as_ref().map(|j| j.id),
            )
            .await;
        let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let Some(job) = job else {
            let counts = result?;
            return Ok(ImportResult::DryRun(DryRun {
                format: source,
                counts,
            }));
        };
        let mut m: tributary_entity::import_job::ActiveModel = job.clone().into();
        m.finished_at = Set(Some(Utc::now()));
        m.duration_ms = Set(Some(elapsed));
        m.lease_expires_at = Set(None);
        m.next_run_at = Set(None);
        m.progress = Set(100);
        let clamp = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        match &result {
            Ok(counts) => {
                m.status = Set(if counts.failed > 0 {
                    "partial"
                } else {
                    "succeeded"
                }
                .into());
                m.fetched = Set(clamp(counts.fetched));
                m.inserted = Set(clamp(counts.inserted));
                m.duplicates = Set(clamp(counts.duplicates + counts.deleted_before));
                m.failed = Set(clamp(counts.failed));
                m.errors = Set(serde_json::to_string(&counts.errors).ok());
                let score = ledger::quality_score(counts.fetched, counts.failed, 0, 0);
                m.quality_score = Set(Some(dec_to_db(score)));
            }
            Err(e) => {
                m.status = Set("failed".into());
                m.error = Set(Some(e.public().detail));
            }
        }
        repo::import_jobs::save_held(&self.ctx.db, &self.ctx.node_id, m).await?;
        self.ctx.metrics.job_finished(if result.is_ok() {
            "succeeded"
        } else {
            "failed"
        });
        self.ctx.read_cache.invalidate(actor.user_id);
        result?;
        Ok(ImportResult::Job(Box::new(
            self.ctx.import_jobs().get(actor.user_id, job.id).await?,
        )))
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

    async fn write_file(
        &self,
        row: &tributary_entity::account::Model,
        path: &Path,
        format: FileFormat,
        profile: Option<CsvProfile>,
        options: &ImportOptions,
        job_id: Option<Uuid>,
    ) -> ServiceResult<BatchCounts> {
        let txn = self.ctx.db.begin().await?;
        repo::accounts::lock_for_write(&txn, row.id).await?;
        sqlite_bulk_mode(&txn, Some(self.ctx.settings.database.sqlite_cache_mib)).await?;
        let outcome = self
            .fill(&txn, row, path, format, profile, options, job_id)
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
                Ok(counts)
            }
            Ok((counts, Outcome::Discard)) => {
                txn.rollback().await?;
                Ok(counts)
            }
            Err(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    /// Writes a file's records, holdings and balance inside `txn`; says whether to keep them.
    #[allow(clippy::too_many_arguments)]
    async fn fill(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        row: &tributary_entity::account::Model,
        path: &Path,
        format: FileFormat,
        profile: Option<CsvProfile>,
        options: &ImportOptions,
        job_id: Option<Uuid>,
    ) -> ServiceResult<(BatchCounts, Outcome)> {
        let source = source_of(format);
        let mut ledger = LedgerImport::new(
            txn,
            row.id,
            source,
            job_id,
            self.ctx.settings.jobs.match_window_days,
        )
        .await?;
        let mut counts = BatchCounts::default();
        let mut reported_holdings = None;
        let mut balance = None;
        // An IBKR Flex statement older than what the account shows leaves positions as they are.
        let mut keep_holdings = false;
        match (format, profile) {
            (FileFormat::Csv, Some(profile)) => {
                // The parser's thread also validates and fingerprints, so that work runs
                // beside the database writes rather than between them.
                let (tx, mut rx) = tokio::sync::mpsc::channel::<
                    Result<Vec<Result<Prepared, RecordError>>, files::FileError>,
                >(2);
                let path = path.to_path_buf();
                let mut preparer = Preparer::new(row.id);
                let parser = tokio::task::spawn_blocking(move || {
                    let file = match std::fs::File::open(&path) {
                        Ok(f) => std::io::BufReader::with_capacity(1 << 16, f),
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
                                .blocking_send(Ok(std::mem::replace(
                                    &mut batch,
                                    Vec::with_capacity(BATCH),
                                )))
                                .is_err()
                        {
                            return;
                        }
                    }
                    if !batch.is_empty() {
                        let _ = tx.blocking_send(Ok(batch));
                    }
                });
                while let Some(batch) = rx.recv().await {
                    let batch = batch.map_err(|e| file_error(&e))?;
                    let written = ledger.write_prepared(txn, batch, options.dry_run).await?;
                    counts.add(written);
                    if options.on_error == OnError::Reject && counts.failed > 0 && !options.dry_run
                    {
                        break;
                    }
                }
                drop(rx);
                let _ = parser.await;
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
                counts.add(ledger.write(txn, records, options.dry_run).await?);
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
                counts.add(ledger.write(txn, records, options.dry_run).await?);
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
        // Deriving holdings sorts the account's rows: with the temp store back on disk.
        sqlite_bulk_mode(txn, None).await?;
        // Holdings: reported positions win; an account without an integration holds what its
        // transactions add up to.
        match reported_holdings {
            Some(h) => {
                ledger::store_reported_holdings(txn, row.id, source, &h).await?;
            }
            None if keep_holdings => {}
            // Unchanged transactions leave the derived holdings as they are.
            None if row.integration_type.is_none() && counts.inserted > 0 => {
                let derived = ledger::derive_holdings(txn, row.id).await?;
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
}

/// The ledger source of a file format: Flex statements share the IBKR integration's source, so
/// an uploaded statement and a later (or earlier) Flex sync deduplicate by IB's own ids.
fn source_of(format: FileFormat) -> &'static str {
    match format {
        FileFormat::IbkrFlex => "ibkr",
        other => other.as_str(),
    }
}

/// SQLite only: puts this connection in bulk-import mode (`Some(mib)`: a page cache of `mib`
/// MiB, and statement journals in memory) or back to normal (`None`: SQLite's default cache of
/// 2,000 KiB, which frees the excess, and temp files on disk).
///
/// A multi-row `INSERT` into a table with foreign keys keeps a statement journal (so it can
/// undo itself should a key check fail): every page it touches is first copied there. In a
/// temp file that is a `pwrite` per page, a quarter of a large import's time; in memory it is a
/// copy of the pages one statement touches (a few MiB), freed when the statement ends.
async fn sqlite_bulk_mode(
    txn: &sea_orm::DatabaseTransaction,
    mib: Option<u32>,
) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return Ok(());
    }
    let (kib, store) = mib.map_or((2_000, "DEFAULT"), |mib| (u64::from(mib) * 1024, "MEMORY"));
    txn.execute_unprepared(&format!(
        "PRAGMA cache_size = -{kib}; PRAGMA temp_store = {store}"
    ))
    .await
    .map(|_| ())
}
