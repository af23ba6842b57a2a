//! The ledger writer every import path shares (integration syncs, file uploads, manual
//! entries): validation, the dedup layers, cross-source aliases, tombstones, and holdings
//! derived from transactions. It never calls the network; callers hand it records and a
//! database transaction.
//!
//! Dedup layers:
//! 1. provider id — unique `(account_id, source, source_id)`;
//! 2. content fingerprint with an occurrence index — records without a provider id get
//!    `fp:<fingerprint>:<n>` as their id, so re-importing a file inserts nothing while two
//!    identical trades in one file stay two;
//! 3. cross-source match — a record from another source with the same type, asset, quantity
//!    and amount within `match_window_days` is stored as an alias of the first, with the reason;
//! 4. tombstones — records the user deleted are not brought back.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, Set};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tributary_connectors::{
    AssetClass, AssetRef, Holding as ReportedHolding, Transaction as Record, TransactionType,
};
use tributary_entity::holding;
use uuid::Uuid;

use crate::error::ServiceResult;
use crate::repo::{self, dec_from_db, dec_to_db, opt_dec_from_db};

/// A record that could not be imported, with where it came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// A record as handed to the ledger: the normalized transaction and, for files, its line.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub line: Option<u64>,
    pub record: Record,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct BatchCounts {
    pub fetched: i64,
    pub inserted: i64,
    pub duplicates: i64,
    pub aliased: i64,
    pub deleted_before: i64,
    pub failed: i64,
    pub errors: Vec<RecordError>,
    /// For dry runs: the records that would be written, with the dedup layer that matched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preview: Vec<PreviewRecord>,
}

/// One record of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub source_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub trade_date: NaiveDate,
    pub amount: Decimal,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// new, duplicate (provider id / fingerprint), alias (cross-source), deleted (tombstone).
    pub outcome: String,
}

impl BatchCounts {
    pub fn add(&mut self, other: BatchCounts) {
        self.fetched += other.fetched;
        self.inserted += other.inserted;
        self.duplicates += other.duplicates;
        self.aliased += other.aliased;
        self.deleted_before += other.deleted_before;
        self.failed += other.failed;
        self.errors.extend(other.errors);
        self.preview.extend(other.preview);
    }
}

/// Checks a record's shape: required fields, sign conventions per type, currency, date.
///
/// # Errors
/// `(field, message)` for the first problem found.
pub fn validate(r: &Record, today: NaiveDate) -> Result<(), (String, String)> {
    let fail = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
    if r.currency.len() != 3 || !r.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return fail("currency", "must be a 3-letter ISO 4217 code");
    }
    if r.trade_date > today + chrono::Days::new(1) {
        return fail("trade_date", "is in the future");
    }
    if r.source_id.len() > 512 {
        return fail("source_id", "is longer than 512 characters");
    }
    match r.kind {
        TransactionType::Buy | TransactionType::Sell => {
            if r.asset.is_none() {
                return fail("asset", "a buy or sell needs an asset");
            }
            if r.quantity.is_none_or(|q| q <= Decimal::ZERO) {
                return fail("quantity", "must be positive for a buy or sell");
            }
            if r.kind == TransactionType::Buy && r.amount > Decimal::ZERO {
                return fail("amount", "a buy must not add cash (amount <= 0)");
            }
            // A sale whose commission exceeds its proceeds (an option closed at 0.01) nets
            // negative; beyond the fee, a sell never removes cash.
            if r.kind == TransactionType::Sell
                && r.amount < Decimal::ZERO
                && -r.amount > r.fee.unwrap_or_default().abs()
            {
                return fail(
                    "amount",
                    "a sell must not remove more cash than its fee (amount >= -fee)",
                );
            }
        }
        TransactionType::Deposit if r.amount < Decimal::ZERO => {
            return fail("amount", "a deposit must not be negative");
        }
        TransactionType::Withdrawal if r.amount > Decimal::ZERO => {
            return fail("amount", "a withdrawal must not be positive");
        }
        TransactionType::Split if r.asset.is_none() => {
            return fail("asset", "a split needs an asset");
        }
        _ => {}
    }
    if r.price.is_some_and(|p| p < Decimal::ZERO) {
        return fail("price", "must not be negative");
    }
    Ok(())
}

/// The content fingerprint (account, type, trade date, asset, quantity, price, amount,
/// currency); numbers are normalized so `1.50` and `1.5` agree.
#[must_use]
pub fn fingerprint(account_id: Uuid, r: &Record) -> String {
    use std::fmt::Write as _;
    // The digest of the parts joined with `|`, fed to the hasher piece by piece (this runs for
    // every imported row).
    let mut hasher = Sha256::new();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    hasher.update(account_id.hyphenated().encode_lower(&mut buf).as_bytes());
    let mut text = String::with_capacity(96);
    let _ = write!(text, "|{}|{}|", r.kind.as_str(), r.trade_date);
    if let Some(a) = &r.asset {
        text.push_str(&a.asset_id);
    }
    text.push('|');
    if let Some(q) = r.quantity {
        let _ = write!(text, "{}", q.normalize());
    }
    text.push('|');
    if let Some(p) = r.price {
        let _ = write!(text, "{}", p.normalize());
    }
    let _ = write!(text, "|{}|{}", r.amount.normalize(), r.currency);
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

/// The cross-source match key: type, asset, quantity and amount (numbers normalized).
fn match_key(kind: &str, asset_key: &str, quantity: Option<Decimal>, amount: Decimal) -> String {
    format!(
        "{kind}|{asset_key}|{}|{}",
        quantity
            .map(|q| q.normalize().to_string())
            .unwrap_or_default(),
        amount.normalize()
    )
}

/// A record validated and fingerprinted, with the provider id it is stored under.
#[derive(Debug)]
pub struct Prepared {
    line: Option<u64>,
    record: Record,
    fingerprint: String,
    occurrence: i32,
    source_id: String,
}

/// Validates and fingerprints one account's incoming records, numbering identical records
/// without a provider id (`fp:<fingerprint>:<occurrence>`). Pure computation: a file import
/// runs it on the parser's thread, beside the database writes.
pub struct Preparer {
    account_id: Uuid,
    today: NaiveDate,
    /// Occurrences only matter for records without a provider id (their id is derived from
    /// the fingerprint); tracking only those keeps memory flat on large files.
    occurrences: HashMap<String, i32>,
}

impl Preparer {
    #[must_use]
    pub fn new(account_id: Uuid) -> Self {
        Self {
            account_id,
            today: Utc::now().date_naive(),
            occurrences: HashMap::new(),
        }
    }

    /// The record ready to dedup and store, or why it cannot be.
    ///
    /// # Errors
    /// The field and problem of a record that fails [`validate`].
    pub fn prepare(
        &mut self,
        Incoming { line, record }: Incoming,
    ) -> Result<Prepared, RecordError> {
        if let Err((field, message)) = validate(&record, self.today) {
            return Err(RecordError {
                line,
                source_id: (!record.source_id.is_empty()).then(|| record.source_id.clone()),
                field: Some(field),
                message,
            });
        }
        let fingerprint = fingerprint(self.account_id, &record);
        let (source_id, occurrence) = if record.source_id.is_empty() {
            let n = self.occurrences.entry(fingerprint.clone()).or_insert(0);
            let occurrence = *n;
            *n += 1;
            (format!("fp:{fingerprint}:{occurrence}"), occurrence)
        } else {
            (record.source_id.clone(), 0)
        };
        Ok(Prepared {
            line,
            record,
            fingerprint,
            occurrence,
            source_id,
        })
    }
}

/// One import's view of the ledger of one account.
pub struct LedgerImport {
    account_id: Uuid,
    source: String,
    job_id: Option<Uuid>,
    match_window_days: u64,
    today: NaiveDate,
    /// Validates and fingerprints records written with `write` (file imports may prepare
    /// theirs on the parser's thread instead and call `write_prepared`).
    preparer: Preparer,
    /// Source ids of this source's deleted records.
    tombstoned_ids: HashSet<String>,
    tombstoned_fingerprints: HashSet<String>,
    matched_originals: HashSet<Uuid>,
    /// Whether the account has records from other sources at all: when it does not, there is
    /// nothing to match across sources and the per-batch window query is skipped (callers
    /// hold the account's write lock, so none can appear meanwhile).
    cross_source: bool,
    /// Whether duplicates are likely (this source wrote to the account before, or a batch
    /// hit existing ids): then inserts first look up which ids exist.
    precheck: bool,
    /// With [`LedgerImport::track_cash`]: the account's cash per currency (the sum of its
    /// non-alias amounts), kept current as batches are inserted; `None` when not tracked, or
    /// once a batch had duplicates (which of its rows went in is then not known here).
    cash: Option<HashMap<String, Decimal>>,
}

impl LedgerImport {
    /// Loads the account's tombstones.
    ///
    /// # Errors
    /// Database errors.
    pub async fn new(
        db: &impl ConnectionTrait,
        account_id: Uuid,
        source: &str,
        job_id: Option<Uuid>,
        match_window_days: u64,
    ) -> ServiceResult<Self> {
        let tombs = repo::transactions::tombstones(db, account_id).await?;
        let cross_source = repo::transactions::has_other_sources(db, account_id, source).await?;
        let precheck = repo::transactions::has_source(db, account_id, source).await?;
        Ok(Self {
            account_id,
            source: source.to_string(),
            job_id,
            match_window_days,
            today: Utc::now().date_naive(),
            tombstoned_ids: tombs
                .iter()
                .filter(|t| t.source == source)
                .map(|t| t.source_id.clone())
                .collect(),
            tombstoned_fingerprints: tombs.into_iter().map(|t| t.fingerprint).collect(),
            preparer: Preparer::new(account_id),
            matched_originals: HashSet::new(),
            cross_source,
            precheck,
            cash: None,
        })
    }

    /// Starts keeping the account's cash totals as rows are inserted, from one sum over the
    /// rows it holds now (nothing to read for an empty account), so that deriving holdings
    /// afterwards need not sum the whole ledger again: see [`LedgerImport::cash`].
    ///
    /// Only when this source has not written to the account before: otherwise duplicates
    /// are likely, a batch with any would end the tracking anyway, and a re-import that
    /// inserts nothing derives nothing (the sum would be wasted).
    ///
    /// # Errors
    /// Database errors.
    pub async fn track_cash(&mut self, db: &impl ConnectionTrait) -> ServiceResult<()> {
        if !self.precheck {
            self.cash = Some(cash_totals(db, self.account_id).await?);
        }
        Ok(())
    }

    /// The account's cash per currency after the batches written so far, when tracked and
    /// known exactly (see [`LedgerImport::track_cash`]).
    #[must_use]
    pub fn cash(&self) -> Option<&HashMap<String, Decimal>> {
        self.cash.as_ref()
    }

    /// Validates, fingerprints, dedups and (unless `dry_run`) inserts a batch inside `txn`.
    ///
    /// # Errors
    /// Database errors (record problems are counted and reported, not raised).
    pub async fn write(
        &mut self,
        txn: &impl ConnectionTrait,
        batch: Vec<Incoming>,
        dry_run: bool,
    ) -> ServiceResult<BatchCounts> {
        let batch = batch
            .into_iter()
            .map(|incoming| self.preparer.prepare(incoming))
            .collect();
        self.write_prepared(txn, batch, dry_run).await
    }

    /// Dedups and (unless `dry_run`) inserts a batch prepared by a [`Preparer`] of this
    /// account (records that failed validation are counted and reported).
    ///
    /// # Errors
    /// Database errors.
    pub async fn write_prepared(
        &mut self,
        txn: &impl ConnectionTrait,
        batch: Vec<Result<Prepared, RecordError>>,
        dry_run: bool,
    ) -> ServiceResult<BatchCounts> {
        let staged = self.stage(txn, batch, dry_run).await?;
        let done = self.inserter().insert(txn, staged).await?;
        Ok(self.settle(done))
    }

    /// The first half of [`LedgerImport::write_prepared`]: validates, dedups and builds the
    /// batch's rows (a dry run ends here, with its preview). Rows are inserted by an
    /// [`Inserter`] and the outcome taken back with [`LedgerImport::settle`]; the next batch
    /// may be staged while this one is inserted (the per-row work yields now and then, so an
    /// insert polled beside it keeps the database busy).
    ///
    /// # Errors
    /// Database errors.
    pub async fn stage(
        &mut self,
        txn: &impl ConnectionTrait,
        batch: Vec<Result<Prepared, RecordError>>,
        dry_run: bool,
    ) -> ServiceResult<Staged> {
        let mut counts = BatchCounts {
            fetched: batch.len() as i64,
            ..Default::default()
        };
        let mut prepared = Vec::with_capacity(batch.len());
        for item in batch {
            match item {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    counts.failed += 1;
                    counts.errors.push(e);
                }
            }
        }
        // Once duplicates are likely (this source wrote to the account before, or a batch
        // hit existing ids), the ids that exist are looked up first, one bound value per
        // record, and those records go no further: a re-import builds no rows and ships
        // nothing to insert, and a duplicate cannot take a cross-source match from a new
        // record. (Two records of one file with the same id in batches staged side by side
        // are still caught by the insert, which skips existing ids.)
        if self.precheck && !dry_run && !prepared.is_empty() {
            let existing: HashSet<String> = repo::transactions::existing_source_ids(
                txn,
                self.account_id,
                &self.source,
                prepared.iter().map(|p| p.source_id.clone()).collect(),
            )
            .await?
            .into_iter()
            .collect();
            if !existing.is_empty() {
                let before = prepared.len();
                prepared.retain(|p| !existing.contains(&p.source_id));
                counts.duplicates += (before - prepared.len()) as i64;
                self.cash = None;
            }
        }
        if prepared.is_empty() {
            return Ok(Staged::done(counts));
        }

        let refs: Vec<&AssetRef> = prepared
            .iter()
            .filter_map(|p| p.record.asset.as_ref())
            .collect();
        let asset_ids = if dry_run {
            HashMap::new()
        } else {
            repo::assets::ensure(txn, &refs).await?
        };

        // Cross-source candidates in the batch's date window (widened by the match window).
        let window = chrono::Days::new(self.match_window_days);
        let min = prepared
            .iter()
            .map(|p| p.record.trade_date)
            .min()
            .unwrap_or(self.today);
        let max = prepared
            .iter()
            .map(|p| p.record.trade_date)
            .max()
            .unwrap_or(self.today);
        if !self.cross_source {
            // Another source may have written since this import started (API syncs commit
            // page by page); the check is two index seeks.
            self.cross_source =
                repo::transactions::has_other_sources(txn, self.account_id, &self.source).await?;
        }
        let others = if self.cross_source {
            repo::transactions::window_other_sources(
                txn,
                self.account_id,
                &self.source,
                min - window,
                max + window,
            )
            .await?
        } else {
            Vec::new()
        };
        let already: HashSet<Uuid> = repo::transactions::aliased_originals(
            txn,
            self.account_id,
            others.iter().map(|o| o.id).collect(),
        )
        .await?
        .into_iter()
        .collect();
        let asset_keys = if others.is_empty() {
            HashMap::new()
        } else {
            repo::assets::by_ids(txn, others.iter().filter_map(|o| o.asset_id).collect()).await?
        };
        let mut candidates: HashMap<String, Vec<(NaiveDate, Uuid, String)>> = HashMap::new();
        for o in &others {
            if already.contains(&o.id) || self.matched_originals.contains(&o.id) {
                continue;
            }
            let asset_key = o
                .asset_id
                .and_then(|a| asset_keys.get(&a))
                .map(|a| a.asset_key.as_str())
                .unwrap_or_default();
            let key = match_key(
                &o.kind,
                asset_key,
                opt_dec_from_db(o.quantity.as_deref())?,
                dec_from_db(&o.amount)?,
            );
            candidates
                .entry(key)
                .or_default()
                .push((o.trade_date, o.id, o.source.clone()));
        }

        let now = Utc::now();
        let mut rows = Vec::with_capacity(prepared.len());
        // What the batch adds to the account's cash, should every row go in (aliases stand
        // for rows already counted).
        let mut cash_added: HashMap<String, Decimal> = HashMap::new();
        for (i, p) in prepared.into_iter().enumerate() {
            if i % YIELD_EVERY == YIELD_EVERY - 1 {
                tokio::task::yield_now().await;
            }
            let r = &p.record;
            let tombstoned = self.tombstoned_ids.contains(&p.source_id)
                || self.tombstoned_fingerprints.contains(&p.fingerprint);
            let mut outcome = "new";
            let mut alias_of = None;
            let mut match_reason = None;
            if tombstoned {
                counts.deleted_before += 1;
                outcome = "deleted";
            } else if !candidates.is_empty() {
                let asset_key = r
                    .asset
                    .as_ref()
                    .map(|a| a.asset_id.as_str())
                    .unwrap_or_default();
                let key = match_key(r.kind.as_str(), asset_key, r.quantity, r.amount);
                if let Some(list) = candidates.get_mut(&key)
                    && let Some(pos) = list.iter().position(|(d, _, _)| {
                        (*d - r.trade_date).num_days().unsigned_abs() <= self.match_window_days
                    })
                {
                    let (date, id, source) = list.remove(pos);
                    self.matched_originals.insert(id);
                    alias_of = Some(id);
                    match_reason = Some(format!(
                        "same type, asset, quantity and amount as the {source} record of {date} (within {} days)",
                        self.match_window_days
                    ));
                    outcome = "alias";
                }
            }
            if dry_run {
                counts.preview.push(PreviewRecord {
                    line: p.line,
                    source_id: p.source_id.clone(),
                    kind: r.kind.as_str().to_string(),
                    trade_date: r.trade_date,
                    amount: r.amount,
                    currency: r.currency.clone(),
                    symbol: r.asset.as_ref().map(|a| a.symbol.clone()),
                    outcome: outcome.to_string(),
                });
                continue;
            }
            if tombstoned {
                continue;
            }
            let asset_id = match &r.asset {
                Some(a) => Some(asset_ids.get(&a.asset_id).copied().ok_or_else(|| {
                    crate::error::ServiceError::Unexpected(anyhow::anyhow!(
                        "asset {} was not stored",
                        a.asset_id
                    ))
                })?),
                None => None,
            };
            if alias_of.is_some() {
                counts.aliased += 1;
            } else if self.cash.is_some() {
                match cash_added.get_mut(&r.currency) {
                    Some(total) => *total += r.amount,
                    None => {
                        cash_added.insert(r.currency.clone(), r.amount);
                    }
                }
            }
            rows.push(repo::transactions::NewTransaction {
                // Assigned below, once the rows are in insertion order.
                id: Uuid::nil(),
                asset_id,
                kind: r.kind.as_str(),
                trade_date: r.trade_date,
                settle_date: r.settle_date,
                quantity: r.quantity.map(dec_to_db),
                price: r.price.map(dec_to_db),
                amount: dec_to_db(r.amount),
                fee: r.fee.map(dec_to_db),
                currency: r.currency.clone(),
                description: r.description.clone(),
                source_id: p.source_id,
                fingerprint: p.fingerprint,
                occurrence: p.occurrence,
                alias_of,
                match_reason,
            });
        }
        if dry_run {
            // A dry run still reports exact-id duplicates: look them up without writing.
            let ids: Vec<String> = counts
                .preview
                .iter()
                .filter(|p| p.outcome == "new")
                .map(|p| p.source_id.clone())
                .collect();
            let existing: HashSet<String> =
                repo::transactions::existing_source_ids(txn, self.account_id, &self.source, ids)
                    .await?
                    .into_iter()
                    .collect();
            for p in &mut counts.preview {
                if p.outcome == "new" && existing.contains(&p.source_id) {
                    p.outcome = "duplicate".to_string();
                }
            }
            counts.duplicates = counts
                .preview
                .iter()
                .filter(|p| p.outcome == "duplicate")
                .count() as i64;
            counts.inserted = 0;
            return Ok(Staged::done(counts));
        }
        // Rows go in trade-date order (stable, so a day keeps the file's order) with ids minted
        // in that order: every date-keyed index, and the id index, then grows at a few points
        // instead of one random page per row, which is most of a large import's write cost
        // when a file's dates are not already in order.
        rows.sort_by_key(|r| r.trade_date);
        for r in &mut rows {
            r.id = Uuid::now_v7();
        }
        Ok(Staged {
            rows,
            counts,
            cash_added,
            now,
        })
    }

    /// What inserting a staged batch needs of this import (owned, so that it may run while
    /// the next batch is staged).
    #[must_use]
    pub fn inserter(&self) -> Inserter {
        Inserter {
            account_id: self.account_id,
            source: self.source.clone(),
            job_id: self.job_id,
        }
    }

    /// Takes an inserted batch's outcome into this import: its counts, and what it tells
    /// about the next batches (duplicates are likely once one hit existing ids; the cash
    /// total is kept only while every row goes in).
    pub fn settle(&mut self, done: Inserted) -> BatchCounts {
        let Inserted {
            mut counts,
            cash_added,
            attempted,
            inserted,
        } = done;
        if inserted < attempted {
            self.precheck = true;
            self.cash = None;
        } else if let Some(cash) = &mut self.cash {
            for (currency, amount) in cash_added {
                *cash.entry(currency).or_default() += amount;
            }
        }
        counts.inserted = inserted;
        counts.duplicates += attempted - inserted;
        // Aliases that collided with an existing row were duplicates, not new aliases.
        if attempted > inserted {
            counts.aliased = counts.aliased.min(inserted);
        }
        counts
    }
}

/// Per-row work between two yields of [`LedgerImport::stage`]: about a tenth of a
/// millisecond, so an insert polled beside it hands the database its next statement soon
/// after the last one ends (every 1,000 rows measured a few per cent slower).
const YIELD_EVERY: usize = 100;

/// A batch deduplicated and ready to insert (see [`LedgerImport::stage`]).
pub struct Staged {
    rows: Vec<repo::transactions::NewTransaction>,
    counts: BatchCounts,
    cash_added: HashMap<String, Decimal>,
    now: chrono::DateTime<Utc>,
}

impl Staged {
    /// A batch with nothing to insert.
    fn done(counts: BatchCounts) -> Self {
        Self {
            rows: Vec::new(),
            counts,
            cash_added: HashMap::new(),
            now: Utc::now(),
        }
    }

    /// Records that failed validation in this batch.
    #[must_use]
    pub fn failed(&self) -> i64 {
        self.counts.failed
    }

    /// The batch's counts, without inserting it (a file about to be rejected).
    #[must_use]
    pub fn into_counts(self) -> BatchCounts {
        self.counts
    }
}

/// Inserts staged batches (see [`LedgerImport::inserter`]).
pub struct Inserter {
    account_id: Uuid,
    source: String,
    job_id: Option<Uuid>,
}

/// A staged batch after its insert, for [`LedgerImport::settle`].
pub struct Inserted {
    counts: BatchCounts,
    cash_added: HashMap<String, Decimal>,
    attempted: i64,
    inserted: i64,
}

impl Inserter {
    /// Inserts a staged batch inside `txn`, skipping ids the account already has.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert(
        self,
        txn: &impl ConnectionTrait,
        staged: Staged,
    ) -> ServiceResult<Inserted> {
        let Staged {
            rows,
            counts,
            cash_added,
            now,
        } = staged;
        let attempted = rows.len() as i64;
        let inserted = if rows.is_empty() {
            0
        } else {
            repo::transactions::insert_new(
                txn,
                self.account_id,
                &self.source,
                self.job_id,
                now,
                rows,
            )
            .await? as i64
        };
        Ok(Inserted {
            counts,
            cash_added,
            attempted,
            inserted,
        })
    }
}

/// An account's cash per currency: the sum of its non-alias amounts. Cash is
/// order-independent, so it is summed per distinct amount, exactly.
async fn cash_totals(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> ServiceResult<HashMap<String, Decimal>> {
    let mut cash: HashMap<String, Decimal> = HashMap::new();
    for (currency, amount, n) in repo::transactions::cash_totals(db, account_id).await? {
        *cash.entry(currency).or_default() += dec_from_db(&amount)? * Decimal::from(n);
    }
    Ok(cash)
}

/// Positions derived from an account's transactions (those with an asset, in date order):
/// average cost; splits change quantity only; transfers and mergers move quantity (incoming at their stated value); fees are part
/// of `amount` and so of cost; cash per currency is the sum of amounts.
///
/// # Errors
/// Database errors.
pub async fn derive_holdings(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> ServiceResult<Vec<DerivedHolding>> {
    derive_holdings_with_cash(db, account_id, None).await
}

/// [`derive_holdings`], with the account's cash per currency already known (as an import
/// that tracked it knows it: [`LedgerImport::cash`]) instead of summed from the ledger.
///
/// # Errors
/// Database errors.
pub async fn derive_holdings_with_cash(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    known_cash: Option<&HashMap<String, Decimal>>,
) -> ServiceResult<Vec<DerivedHolding>> {
    #[derive(Default)]
    struct Position {
        quantity: Decimal,
        cost: Decimal,
        last_price: Option<Decimal>,
        last_date: Option<NaiveDate>,
    }
    let mut positions: HashMap<Uuid, Position> = HashMap::new();
    let mut after = None;
    loop {
        let rows = repo::transactions::ledger_rows_page(db, account_id, after, 20_000).await?;
        let Some(last) = rows.last() else { break };
        after = Some((last.6, last.7));
        for (kind, asset_id, quantity, price, amount, _, trade_date, _) in rows {
            let amount = dec_from_db(&amount)?;
            let Some(asset_id) = asset_id else { continue };
            let quantity = opt_dec_from_db(quantity.as_deref())?.unwrap_or_default();
            let price = opt_dec_from_db(price.as_deref())?;
            let p = positions.entry(asset_id).or_default();
            apply_to_position(&mut p.quantity, &mut p.cost, &kind, quantity, price, amount);
            if price.is_some() && (p.last_date.is_none() || p.last_date <= Some(trade_date)) {
                p.last_price = price;
                p.last_date = Some(trade_date);
            }
        }
    }
    let cash = match known_cash {
        Some(c) => c.clone(),
        None => cash_totals(db, account_id).await?,
    };
    let asset_rows = repo::assets::by_ids(db, positions.keys().copied().collect()).await?;
    let mut out = Vec::new();
    for (asset_id, p) in positions {
        if p.quantity.is_zero() {
            continue;
        }
        let asset = asset_rows.get(&asset_id);
        out.push(DerivedHolding {
            asset_key: asset.map(|a| a.asset_key.clone()).unwrap_or_default(),
            asset_id: Some(asset_id),
            asset_ref: None,
            currency: asset.map_or_else(|| "USD".to_string(), |a| a.currency.clone()),
            quantity: p.quantity,
            cost_basis: Some(round_money(p.cost)),
            price: p.last_price,
            market_value: p.last_price.map(|px| round_money(px * p.quantity)),
        });
    }
    for (currency, amount) in cash {
        if amount.is_zero() {
            continue;
        }
        out.push(DerivedHolding {
            asset_key: format!("CASH:{currency}"),
            asset_id: None,
            asset_ref: Some(AssetRef {
                asset_id: format!("CASH:{currency}"),
                symbol: currency.clone(),
                name: format!("{currency} cash"),
                class: AssetClass::Cash,
                currency: currency.clone(),
                exchange: None,
            }),
            currency,
            quantity: amount,
            cost_basis: Some(amount),
            price: Some(Decimal::ONE),
            market_value: Some(amount),
        });
    }
    out.sort_by(|a, b| a.asset_key.cmp(&b.asset_key));
    Ok(out)
}

/// Applies one transaction to a position (average cost): buys add quantity and cost; sells
/// remove cost proportionally; splits change quantity only; transfers and mergers move
/// quantity (incoming at their stated price).
fn apply_to_position(
    quantity_held: &mut Decimal,
    cost: &mut Decimal,
    kind: &str,
    quantity: Decimal,
    price: Option<Decimal>,
    amount: Decimal,
) {
    match kind {
        "buy" => {
            *quantity_held += quantity;
            *cost += -amount;
        }
        "sell" => {
            if *quantity_held > Decimal::ZERO {
                let avg = *cost / *quantity_held;
                *cost -= avg * quantity.min(*quantity_held);
            }
            *quantity_held -= quantity;
        }
        "split" => *quantity_held += quantity,
        "transfer" | "merger" => {
            if quantity >= Decimal::ZERO {
                *cost += price.map_or(Decimal::ZERO, |px| px * quantity);
            } else if *quantity_held > Decimal::ZERO {
                let avg = *cost / *quantity_held;
                *cost -= avg * (-quantity).min(*quantity_held);
            }
            *quantity_held += quantity;
        }
        _ => {}
    }
    if quantity_held.is_zero() {
        *cost = Decimal::ZERO;
    }
}

/// Rounds a money value to cents (banker's rounding), the one place this happens.
#[must_use]
pub fn round_money(d: Decimal) -> Decimal {
    d.round_dp(2)
}

/// A position computed from transactions.
#[derive(Debug, Clone)]
pub struct DerivedHolding {
    pub asset_key: String,
    /// The stored asset, when there is one (cash positions have only `asset_ref`).
    pub asset_id: Option<Uuid>,
    pub asset_ref: Option<AssetRef>,
    pub currency: String,
    pub quantity: Decimal,
    pub cost_basis: Option<Decimal>,
    pub price: Option<Decimal>,
    pub market_value: Option<Decimal>,
}

/// Differences between reported and derived positions, per asset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReconciliationDiff {
    pub asset_id: String,
    pub reported: Decimal,
    pub derived: Decimal,
    pub difference: Decimal,
}

/// Compares reported positions with positions derived from transactions (cash excluded: a
/// source's cash includes interest and fees it may not report as transactions).
#[must_use]
pub fn reconcile(
    reported: &[ReportedHolding],
    derived: &[DerivedHolding],
) -> Vec<ReconciliationDiff> {
    let mut by_key: HashMap<&str, (Decimal, Decimal)> = HashMap::new();
    for h in reported
        .iter()
        .filter(|h| h.asset.class != AssetClass::Cash)
    {
        by_key.entry(h.asset.asset_id.as_str()).or_default().0 += h.quantity;
    }
    for d in derived.iter().filter(|d| d.asset_id.is_some()) {
        by_key.entry(d.asset_key.as_str()).or_default().1 += d.quantity;
    }
    let mut out: Vec<ReconciliationDiff> = by_key
        .into_iter()
        .filter(|(_, (r, d))| r != d)
        .map(|(k, (r, d))| ReconciliationDiff {
            asset_id: k.to_string(),
            reported: r,
            derived: d,
            difference: r - d,
        })
        .collect();
    out.sort_by(|a, b| a.asset_id.cmp(&b.asset_id));
    out
}

/// Stores derived positions as the account's holdings (replacing the old ones).
///
/// # Errors
/// Database errors.
pub async fn store_derived_holdings(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    source: &str,
    derived: &[DerivedHolding],
) -> ServiceResult<usize> {
    let cash_refs: Vec<&AssetRef> = derived
        .iter()
        .filter_map(|d| d.asset_ref.as_ref())
        .collect();
    let cash_ids = repo::assets::ensure(db, &cash_refs).await?;
    let now = Utc::now();
    let rows: Vec<holding::ActiveModel> = derived
        .iter()
        .filter_map(|d| {
            let asset_id = d.asset_id.or_else(|| cash_ids.get(&d.asset_key).copied())?;
            Some(holding::ActiveModel {
                id: Set(Uuid::now_v7()),
                account_id: Set(account_id),
                asset_id: Set(asset_id),
                quantity: Set(dec_to_db(d.quantity)),
                cost_basis: Set(d.cost_basis.map(dec_to_db)),
                price: Set(d.price.map(dec_to_db)),
                market_value: Set(d.market_value.map(dec_to_db)),
                currency: Set(d.currency.clone()),
                as_of: Set(now),
                source: Set(source.to_string()),
                updated_at: Set(now),
            })
        })
        .collect();
    let n = rows.len();
    repo::holdings::replace_for_account(db, account_id, rows).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn rec(kind: TransactionType, amount: &str) -> Record {
        Record {
            source_id: String::new(),
            kind,
            trade_date: NaiveDate::from_ymd_opt(2026, 1, 5).expect("date"),
            settle_date: None,
            asset: Some(AssetRef {
                asset_id: "EQUITY:XNAS:AAPL".into(),
                symbol: "AAPL".into(),
                name: "Apple".into(),
                class: AssetClass::Equity,
                currency: "USD".into(),
                exchange: Some("XNAS".into()),
            }),
            quantity: Some(Decimal::from(10)),
            price: Some(Decimal::from(100)),
            amount: Decimal::from_str(amount).expect("dec"),
            fee: None,
            currency: "USD".into(),
            description: None,
        }
    }

    /// Stored fingerprints must never change meaning: the digest is of the parts joined with
    /// `|`, whatever way it is computed.
    #[test]
    fn the_fingerprint_is_the_digest_of_the_joined_parts() {
        let account = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        for (r, q, p) in [
            (rec(TransactionType::Buy, "-1000.50"), "10", "100"),
            (
                Record {
                    asset: None,
                    quantity: None,
                    price: None,
                    ..rec(TransactionType::Deposit, "250.00")
                },
                "",
                "",
            ),
        ] {
            let joined = [
                account.to_string(),
                r.kind.as_str().to_string(),
                r.trade_date.to_string(),
                r.asset
                    .as_ref()
                    .map(|a| a.asset_id.clone())
                    .unwrap_or_default(),
                q.to_string(),
                p.to_string(),
                r.amount.normalize().to_string(),
                r.currency.clone(),
            ]
            .join("|");
            assert_eq!(
                fingerprint(account, &r),
                hex::encode(Sha256::digest(joined.as_bytes()))
            );
        }
    }

    #[test]
    fn a_sell_may_net_negative_only_by_its_fee() {
        let today = NaiveDate::from_ymd_opt(2026, 2, 1).expect("date");
        let with_fee = |amount: &str, fee: &str| Record {
            fee: Some(Decimal::from_str(fee).expect("dec")),
            ..rec(TransactionType::Sell, amount)
        };
        assert!(validate(&with_fee("-0.35", "1.01"), today).is_ok());
        assert_eq!(
            validate(&with_fee("-5", "1"), today).expect_err("bad").0,
            "amount"
        );
    }

    #[test]
    fn validation_enforces_signs_currency_and_dates() {
        let today = NaiveDate::from_ymd_opt(2026, 2, 1).expect("date");
        assert!(validate(&rec(TransactionType::Buy, "-1000"), today).is_ok());
        assert_eq!(
            validate(&rec(TransactionType::Buy, "1000"), today)
                .expect_err("bad")
                .0,
            "amount"
        );
        assert_eq!(
            validate(&rec(TransactionType::Sell, "-1"), today)
                .expect_err("bad")
                .0,
            "amount"
        );
        let mut r = rec(TransactionType::Buy, "-1");
        r.currency = "usd".into();
        assert_eq!(validate(&r, today).expect_err("bad").0, "currency");
        let mut r = rec(TransactionType::Buy, "-1");
        r.trade_date = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
        assert_eq!(validate(&r, today).expect_err("bad").0, "trade_date");
        let mut r = rec(TransactionType::Buy, "-1");
        r.quantity = Some(Decimal::ZERO);
        assert_eq!(validate(&r, today).expect_err("bad").0, "quantity");
        assert!(
            validate(&rec(TransactionType::Dividend, "-3"), today).is_ok(),
            "reversals exist"
        );
    }

    #[test]
    fn fingerprints_ignore_trailing_zeros_but_not_values() {
        let id = Uuid::now_v7();
        let a = rec(TransactionType::Buy, "-1000.50");
        let b = rec(TransactionType::Buy, "-1000.5");
        let c = rec(TransactionType::Buy, "-1000.51");
        assert_eq!(fingerprint(id, &a), fingerprint(id, &b));
        assert_ne!(fingerprint(id, &a), fingerprint(id, &c));
        assert_ne!(fingerprint(id, &a), fingerprint(Uuid::now_v7(), &a));
    }

    #[test]
    fn reconciliation_lists_differences_per_asset() {
        let reported = vec![ReportedHolding {
            asset: rec(TransactionType::Buy, "0").asset.expect("asset"),
            quantity: Decimal::from(12),
            cost_basis: None,
            price: None,
            market_value: None,
            as_of: Utc::now(),
        }];
        let derived = vec![DerivedHolding {
            asset_key: "EQUITY:XNAS:AAPL".into(),
            asset_id: Some(Uuid::now_v7()),
            asset_ref: None,
            currency: "USD".into(),
            quantity: Decimal::from(10),
            cost_basis: None,
            price: None,
            market_value: None,
        }];
        let diffs = reconcile(&reported, &derived);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].difference, Decimal::from(2));
        assert!(reconcile(&[], &[]).is_empty());
    }
}

/// Stores the positions a source reports as the account's holdings (replacing the old ones).
///
/// # Errors
/// Database errors.
pub async fn store_reported_holdings(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    source: &str,
    reported: &[ReportedHolding],
) -> ServiceResult<usize> {
    let refs: Vec<&AssetRef> = reported.iter().map(|h| &h.asset).collect();
    let ids = repo::assets::ensure(db, &refs).await?;
    let now = Utc::now();
    let rows: Vec<holding::ActiveModel> = reported
        .iter()
        .filter_map(|h| {
            let asset_id = ids.get(&h.asset.asset_id).copied()?;
            Some(holding::ActiveModel {
                id: Set(Uuid::now_v7()),
                account_id: Set(account_id),
                asset_id: Set(asset_id),
                quantity: Set(dec_to_db(h.quantity)),
                cost_basis: Set(h.cost_basis.map(dec_to_db)),
                price: Set(h.price.map(dec_to_db)),
                market_value: Set(h.market_value.map(dec_to_db)),
                currency: Set(h.asset.currency.clone()),
                as_of: Set(h.as_of),
                source: Set(source.to_string()),
                updated_at: Set(now),
            })
        })
        .collect();
    let n = rows.len();
    repo::holdings::replace_for_account(db, account_id, rows).await?;
    Ok(n)
}

/// An unusual record worth a look.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Anomaly {
    /// large_trade, balance_jump.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<Uuid>,
    pub message: String,
}

/// Trades of this job far larger than the account's usual size (10x the median of its buys
/// and sells, once there are at least 5), trades priced more than 20% away from that day's
/// stored close, and a balance that moved by more than half.
///
/// # Errors
/// Database errors.
pub async fn detect_anomalies(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    job_id: Uuid,
    previous_balance: Option<Decimal>,
    new_balance: Option<Decimal>,
) -> ServiceResult<Vec<Anomaly>> {
    let mut out = Vec::new();
    let trades = repo::transactions::trade_amounts(db, account_id).await?;
    if trades.len() >= 5 {
        let mut sizes: Vec<Decimal> = trades.iter().map(|(_, _, a)| a.abs()).collect();
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        if median > Decimal::ZERO {
            for (id, job, amount) in &trades {
                if *job == Some(job_id) && amount.abs() > median * Decimal::from(10) {
                    out.push(Anomaly {
                        kind: "large_trade".into(),
                        transaction_id: Some(*id),
                        message: format!(
                            "trade of {} is more than 10x the account's median trade ({median})",
                            amount.abs()
                        ),
                    });
                }
            }
        }
    }
    // Prices far from that day's stored market close (where one is known).
    let priced = repo::transactions::job_priced_trades(db, account_id, job_id, 500).await?;
    if !priced.is_empty() {
        let mut asset_ids: Vec<Uuid> = priced.iter().map(|t| t.1).collect();
        asset_ids.sort_unstable();
        asset_ids.dedup();
        let assets = repo::assets::by_ids(db, asset_ids).await?;
        for (id, asset_id, date, price) in priced {
            let Some(asset) = assets.get(&asset_id) else {
                continue;
            };
            let price = dec_from_db(&price)?;
            let bars = repo::market::bars(db, &asset.asset_key, date, date).await?;
            if let Some((bar, _, _)) = bars.first()
                && bar.close > Decimal::ZERO
                && ((price - bar.close).abs() / bar.close) > Decimal::new(2, 1)
            {
                out.push(Anomaly {
                    kind: "price_far_from_market".into(),
                    transaction_id: Some(id),
                    message: format!(
                        "{} traded at {price} on {date}, more than 20% from that day's close of {}",
                        asset.symbol, bar.close
                    ),
                });
            }
        }
    }
    if let (Some(old), Some(new)) = (previous_balance, new_balance)
        && old > Decimal::ZERO
        && ((new - old).abs() / old) > Decimal::new(5, 1)
    {
        out.push(Anomaly {
            kind: "balance_jump".into(),
            transaction_id: None,
            message: format!("balance moved from {old} to {new}"),
        });
    }
    Ok(out)
}

/// The data quality score of a job, 0 to 100: failed records cost up to 50 points,
/// reconciliation differences 2 each (up to 20), anomalies 5 each (up to 20).
#[must_use]
pub fn quality_score(fetched: i64, failed: i64, differences: usize, anomalies: usize) -> Decimal {
    let mut score = Decimal::from(100);
    if fetched > 0 {
        score -= (Decimal::from(50) * Decimal::from(failed) / Decimal::from(fetched))
            .min(Decimal::from(50));
    }
    score -= Decimal::from((differences * 2).min(20) as i64);
    score -= Decimal::from((anomalies * 5).min(20) as i64);
    score.max(Decimal::ZERO).round_dp(1)
}
