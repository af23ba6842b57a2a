//! Ledger entries, reached through the owning account.
use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tributary_entity::transaction;
use uuid::Uuid;

/// A new ledger entry of one account and source (see [`insert_new`]).
#[derive(Debug, Clone)]
pub struct NewTransaction {
    pub id: Uuid,
    pub asset_id: Option<Uuid>,
    pub kind: &'static str,
    pub trade_date: NaiveDate,
    pub settle_date: Option<NaiveDate>,
    /// Decimal text (as every amount column).
    pub quantity: Option<String>,
    pub price: Option<String>,
    pub amount: String,
    pub fee: Option<String>,
    pub currency: String,
    pub description: Option<String>,
    pub source_id: String,
    pub fingerprint: String,
    pub occurrence: i32,
    pub alias_of: Option<Uuid>,
    pub match_reason: Option<String>,
}

/// Every column of a ledger row, in the table's order (what [`insert_new`] may write).
pub const INSERT_COLUMNS: [&str; 20] = [
    "id",
    "account_id",
    "asset_id",
    "kind",
    "trade_date",
    "settle_date",
    "quantity",
    "price",
    "amount",
    "fee",
    "currency",
    "description",
    "source",
    "source_id",
    "fingerprint",
    "import_job_id",
    "created_at",
    "occurrence",
    "alias_of",
    "match_reason",
];

/// Rows per INSERT statement: at 20 values a row, under SQLite's 32,766 and PostgreSQL's
/// 65,535 bind parameters. Larger statements were measured slower on SQLite (1,000 rows: 8 %
/// more time in SQLite; as many as fit: 10 %), smaller ones too (250 rows). (Binding the values
/// every row shares once, as `?1` to `?4`, was tried and is ruinous on SQLite: numbered
/// parameters are kept in a list that is searched linearly for each bind, quadratic in a
/// 10,000-parameter statement.)
const ROWS_PER_STATEMENT: usize = 500;

/// Inserts an account's new entries from one source, skipping those whose
/// `(account_id, source, source_id)` already exists. Returns how many were inserted.
///
/// This is the bulk path of every import, so it skips the ORM's per-row model building and
/// inserts with one multi-row statement per chunk; `ON CONFLICT DO NOTHING` skips the
/// existing ids. (Callers expecting duplicates ask [`existing_source_ids`] first, so that a
/// re-import of a large file does not ship every duplicate row to the database.)
///
/// # Errors
/// Any other broken constraint: the rows of the failing statement before the bad one may be
/// in place (SQLite), so the caller must roll its transaction back, as every caller does on
/// an error. On SQLite a missing account, asset or import job is reported by the commit.
pub async fn insert_new(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    source: &str,
    import_job_id: Option<Uuid>,
    created_at: chrono::DateTime<chrono::Utc>,
    rows: Vec<NewTransaction>,
) -> Result<u64, DbErr> {
    let shared = Shared {
        account_id,
        source,
        import_job_id,
        created_at,
    };
    let backend = db.get_database_backend();
    // One set of columns for every statement of the call: one statement shape to prepare.
    let used = used_columns(&rows);
    let mut rows = rows.into_iter();
    // Builds the next chunk's statement; `None` once the rows are used up.
    let mut next = || {
        let chunk: Vec<NewTransaction> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let shared = &shared;
        async move {
            if chunk.is_empty() {
                return Ok::<_, DbErr>(None);
            }
            Ok(Some(insert_statement(backend, shared, used, chunk)))
        }
    };
    let mut inserted = 0;
    let mut ready = next().await?;
    // The database (SQLite's worker thread, or the PostgreSQL server) runs one statement while
    // this task builds the next.
    while let Some(statement) = ready {
        let run = async {
            match statement {
                Some(s) => db.execute_raw(s).await.map(|r| r.rows_affected()),
                None => Ok(0),
            }
        };
        let (done, following) = futures_util::join!(run, next());
        inserted += done?;
        ready = following?;
    }
    Ok(inserted)
}

/// What every row of one `insert_new` call shares.
struct Shared<'a> {
    account_id: Uuid,
    source: &'a str,
    import_job_id: Option<Uuid>,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// Which of [`INSERT_COLUMNS`] some row has a value for. The others (a bank statement has
/// no asset, price or quantity) are left out of the statement: they take their default (NULL;
/// 0 for `occurrence`), and the database binds and copies a third fewer values.
fn used_columns(rows: &[NewTransaction]) -> [bool; INSERT_COLUMNS.len()] {
    std::array::from_fn(|c| match INSERT_COLUMNS[c] {
        "asset_id" => rows.iter().any(|r| r.asset_id.is_some()),
        "settle_date" => rows.iter().any(|r| r.settle_date.is_some()),
        "quantity" => rows.iter().any(|r| r.quantity.is_some()),
        "price" => rows.iter().any(|r| r.price.is_some()),
        "fee" => rows.iter().any(|r| r.fee.is_some()),
        "occurrence" => rows.iter().any(|r| r.occurrence != 0),
        "alias_of" => rows.iter().any(|r| r.alias_of.is_some()),
        "match_reason" => rows.iter().any(|r| r.match_reason.is_some()),
        _ => true,
    })
}

/// One multi-row insert of `rows` into the `used` columns (`None` when there are none). An
/// existing `(account_id, source, source_id)` is skipped (`ON CONFLICT DO NOTHING`). On SQLite
/// the statement is `INSERT OR FAIL`: any other failing constraint stops it with an error
/// (and the caller's transaction is rolled back) without undoing the rows before it, so
/// SQLite keeps no statement journal for it (see migration 000007).
fn insert_statement(
    backend: sea_orm::DatabaseBackend,
    shared: &Shared<'_>,
    used: [bool; INSERT_COLUMNS.len()],
    rows: Vec<NewTransaction>,
) -> Option<sea_orm::Statement> {
    use sea_orm::{DatabaseBackend, Statement, Value};
    use std::fmt::Write as _;
    if rows.is_empty() {
        return None;
    }
    // SQLite stores dates and timestamps as text: formatted here once (the timestamp) or
    // without chrono's format parser (the dates), as the driver would format them, rather
    // than by the driver for every row while the database waits for the statement.
    let sqlite = backend == DatabaseBackend::Sqlite;
    let created_at = sqlite.then(|| {
        shared
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    });
    let date = |d: NaiveDate| -> Value {
        if sqlite {
            Value::from(sqlite_date(d))
        } else {
            Value::from(d)
        }
    };
    let columns: Vec<&str> = INSERT_COLUMNS
        .iter()
        .zip(used)
        .filter_map(|(c, u)| u.then_some(*c))
        .collect();
    let mut sql = String::with_capacity(64 + rows.len() * columns.len() * 6);
    sql.push_str(if sqlite {
        "INSERT OR FAIL INTO transactions ("
    } else {
        "INSERT INTO transactions ("
    });
    sql.push_str(&columns.join(", "));
    sql.push_str(") VALUES ");
    let mut values: Vec<Value> = Vec::with_capacity(rows.len() * columns.len());
    for (i, r) in rows.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                DatabaseBackend::Postgres => {
                    let _ = write!(sql, "${}", values.len() + c + 1);
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
        // In `INSERT_COLUMNS` order.
        let row = [
            Value::from(r.id),
            Value::from(shared.account_id),
            Value::from(r.asset_id),
            Value::from(r.kind),
            date(r.trade_date),
            r.settle_date.map_or(Value::ChronoDate(None), date),
            Value::from(r.quantity),
            Value::from(r.price),
            Value::from(r.amount),
            Value::from(r.fee),
            Value::from(r.currency),
            Value::from(r.description),
            Value::from(shared.source),
            Value::from(r.source_id),
            Value::from(r.fingerprint),
            Value::from(shared.import_job_id),
            created_at
                .clone()
                .map_or_else(|| Value::from(shared.created_at), Value::from),
            Value::from(r.occurrence),
            Value::from(r.alias_of),
            Value::from(r.match_reason),
        ];
        values.extend(
            row.into_iter()
                .zip(used)
                .filter_map(|(v, u)| u.then_some(v)),
        );
    }
    sql.push_str(" ON CONFLICT (account_id, source, source_id) DO NOTHING");
    Some(Statement::from_sql_and_values(backend, sql, values))
}

/// `YYYY-MM-DD`, as the SQLite driver stores a date (`%F`).
fn sqlite_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    let (y, m, day) = (d.year(), d.month(), d.day());
    if (0..=9999).contains(&y) {
        let mut out = String::with_capacity(10);
        for digit in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10] {
            out.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
        }
        out.push('-');
        out.push(char::from(b'0' + u8::try_from(m / 10).unwrap_or(0)));
        out.push(char::from(b'0' + u8::try_from(m % 10).unwrap_or(0)));
        out.push('-');
        out.push(char::from(b'0' + u8::try_from(day / 10).unwrap_or(0)));
        out.push(char::from(b'0' + u8::try_from(day % 10).unwrap_or(0)));
        out
    } else {
        d.format("%F").to_string()
    }
}

/// Filters for listing.
#[derive(Debug, Default, Clone)]
pub struct TxFilter {
    pub kinds: Vec<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A page of an account's entries, newest trade date first, after the `(date, id)` cursor.
pub async fn list_for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    filter: &TxFilter,
    after: Option<(NaiveDate, Uuid)>,
    limit: u64,
) -> Result<Vec<transaction::Model>, DbErr> {
    let q = transaction::Entity::find().filter(transaction::Column::AccountId.eq(account_id));
    newest_first(q, &filter.kinds, filter.from, filter.to, after, limit)
        .all(db)
        .await
}

/// A page of `q`'s entries of these kinds (all when empty) in the date range, newest trade
/// date first, after the `(date, id)` cursor.
fn newest_first(
    mut q: sea_orm::Select<transaction::Entity>,
    kinds: &[String],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    after: Option<(NaiveDate, Uuid)>,
    limit: u64,
) -> sea_orm::Select<transaction::Entity> {
    if !kinds.is_empty() {
        q = q.filter(transaction::Column::Kind.is_in(kinds.to_vec()));
    }
    if let Some(from) = from {
        q = q.filter(transaction::Column::TradeDate.gte(from));
    }
    if let Some(to) = to {
        q = q.filter(transaction::Column::TradeDate.lte(to));
    }
    if let Some((date, id)) = after {
        q = q.filter(
            Condition::any()
                .add(transaction::Column::TradeDate.lt(date))
                .add(
                    Condition::all()
                        .add(transaction::Column::TradeDate.eq(date))
                        .add(transaction::Column::Id.lt(id)),
                ),
        );
    }
    q.order_by_desc(transaction::Column::TradeDate)
        .order_by_desc(transaction::Column::Id)
        .limit(limit)
}

/// Rows of an account from other sources in a trade-date window, for cross-source matching.
pub async fn window_other_sources(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    source: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<transaction::Model>, DbErr> {
    transaction::Entity::find()
        .filter(transaction::Column::AccountId.eq(account_id))
        .filter(transaction::Column::Source.ne(source))
        .filter(transaction::Column::AliasOf.is_null())
        .filter(transaction::Column::TradeDate.gte(from))
        .filter(transaction::Column::TradeDate.lte(to))
        .all(db)
        .await
}

/// Ids of rows that already have an alias pointing at them (each original is matched once).
pub async fn aliased_originals(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    ids: Vec<Uuid>,
) -> Result<Vec<Uuid>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let rows = transaction::Entity::find()
            .select_only()
            .column(transaction::Column::AliasOf)
            .filter(transaction::Column::AccountId.eq(account_id))
            .filter(transaction::Column::AliasOf.is_in(chunk.to_vec()))
            .into_tuple::<Option<Uuid>>()
            .all(db)
            .await?;
        out.extend(rows.into_iter().flatten());
    }
    Ok(out)
}

/// Tombstoned `(source, source_id)` pairs and fingerprints of an account.
pub async fn tombstones(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<tributary_entity::transaction_tombstone::Model>, DbErr> {
    use tributary_entity::transaction_tombstone as tomb;
    tomb::Entity::find()
        .filter(tomb::Column::AccountId.eq(account_id))
        .all(db)
        .await
}

/// The columns holdings derivation needs: kind, asset, quantity, price, amount, currency,
/// trade date, id.
pub type LedgerRow = (
    String,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    String,
    String,
    NaiveDate,
    Uuid,
);

/// The cash effect of an account's non-alias transactions: `(currency, amount, count)` for
/// each distinct amount text, so the caller sums exactly (`amount × count`) without reading
/// every row. Decimal text is summed outside the database, which has no exact decimal type.
pub async fn cash_totals(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<(String, String, i64)>, DbErr> {
    use sea_orm::sea_query::{Expr, Func};
    transaction::Entity::find()
        .select_only()
        .column(transaction::Column::Currency)
        .column(transaction::Column::Amount)
        .column_as(
            Expr::expr(Func::count(Expr::col(transaction::Column::Id))),
            "n",
        )
        .filter(transaction::Column::AccountId.eq(account_id))
        .filter(transaction::Column::AliasOf.is_null())
        .group_by(transaction::Column::Currency)
        .group_by(transaction::Column::Amount)
        .into_tuple()
        .all(db)
        .await
}

/// A page of an account's non-alias transactions of an asset, oldest first, after the
/// `(date, id)` key, with only the columns position derivation needs (callers loop, so memory
/// stays bounded).
pub async fn ledger_rows_page(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    after: Option<(NaiveDate, Uuid)>,
    limit: u64,
) -> Result<Vec<LedgerRow>, DbErr> {
    let mut q = transaction::Entity::find()
        .select_only()
        .column(transaction::Column::Kind)
        .column(transaction::Column::AssetId)
        .column(transaction::Column::Quantity)
        .column(transaction::Column::Price)
        .column(transaction::Column::Amount)
        .column(transaction::Column::Currency)
        .column(transaction::Column::TradeDate)
        .column(transaction::Column::Id)
        .filter(transaction::Column::AccountId.eq(account_id))
        .filter(transaction::Column::AliasOf.is_null())
        .filter(transaction::Column::AssetId.is_not_null());
    if let Some((date, id)) = after {
        q = q.filter(
            Condition::any()
                .add(transaction::Column::TradeDate.gt(date))
                .add(
                    Condition::all()
                        .add(transaction::Column::TradeDate.eq(date))
                        .add(transaction::Column::Id.gt(id)),
                ),
        );
    }
    q.order_by_asc(transaction::Column::TradeDate)
        .order_by_asc(transaction::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Which of these source ids an account already has for a source.
pub async fn existing_source_ids(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    source: &str,
    ids: Vec<String>,
) -> Result<Vec<String>, DbErr> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let rows = transaction::Entity::find()
            .select_only()
            .column(transaction::Column::SourceId)
            .filter(transaction::Column::AccountId.eq(account_id))
            .filter(transaction::Column::Source.eq(source))
            .filter(transaction::Column::SourceId.is_in(chunk.to_vec()))
            .into_tuple::<String>()
            .all(db)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// (id, import job, amount) of an account's buys and sells (anomaly detection).
pub async fn trade_amounts(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<(Uuid, Option<Uuid>, rust_decimal::Decimal)>, DbErr> {
    let rows: Vec<(Uuid, Option<Uuid>, String)> = transaction::Entity::find()
        .select_only()
        .column(transaction::Column::Id)
        .column(transaction::Column::ImportJobId)
        .column(transaction::Column::Amount)
        .filter(transaction::Column::AccountId.eq(account_id))
        .filter(transaction::Column::AliasOf.is_null())
        .filter(transaction::Column::Kind.is_in(["buy", "sell"]))
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(id, job, amount)| Ok((id, job, super::dec_from_db(&amount)?)))
        .collect()
}

/// One transaction of an account the caller already resolved through its owner.
pub async fn find_in_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<transaction::Model>, DbErr> {
    transaction::Entity::find()
        .filter(transaction::Column::Id.eq(id))
        .filter(transaction::Column::AccountId.eq(account_id))
        .one(db)
        .await
}

/// Deletes one transaction of an account and leaves a tombstone so syncs do not bring it back.
pub async fn delete_with_tombstone(
    db: &impl ConnectionTrait,
    row: &transaction::Model,
) -> Result<(), DbErr> {
    use sea_orm::{ActiveModelTrait, Set};
    use tributary_entity::transaction_tombstone as tomb;
    tomb::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(row.account_id),
        source: Set(row.source.clone()),
        source_id: Set(row.source_id.clone()),
        fingerprint: Set(row.fingerprint.clone()),
        deleted_at: Set(chrono::Utc::now()),
    }
    .insert(db)
    .await?;
    // Aliases of this row point at nothing now: they become the record of the event.
    transaction::Entity::update_many()
        .col_expr(
            transaction::Column::AliasOf,
            sea_orm::sea_query::Expr::value(Option::<Uuid>::None),
        )
        .filter(transaction::Column::AliasOf.eq(row.id))
        .exec(db)
        .await?;
    transaction::Entity::delete_by_id(row.id).exec(db).await?;
    Ok(())
}

/// Filters for the cross-account list.
#[derive(Debug, Default, Clone)]
pub struct OwnedTxFilter {
    pub account_id: Option<Uuid>,
    pub kinds: Vec<String>,
    pub asset_id: Option<Uuid>,
    pub source: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub include_aliases: bool,
}

/// A page of the owner's transactions across accounts, newest first, after the cursor.
///
/// Each account's page is read in order from its `(account_id, trade_date, id)` index and
/// the pages are merged: a page costs a few index seeks per account however many rows the
/// owner (or anyone else) holds, and no index on the date alone is needed (one less B-tree
/// for every insert to maintain).
pub async fn list_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    filter: &OwnedTxFilter,
    after: Option<(NaiveDate, Uuid)>,
    limit: u64,
) -> Result<Vec<transaction::Model>, DbErr> {
    use tributary_entity::account;
    let mut accounts = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .filter(account::Column::UserId.eq(owner));
    if let Some(a) = filter.account_id {
        accounts = accounts.filter(account::Column::Id.eq(a));
    }
    let accounts: Vec<Uuid> = accounts.into_tuple().all(db).await?;
    let mut rows = Vec::new();
    for account_id in accounts {
        let mut q =
            transaction::Entity::find().filter(transaction::Column::AccountId.eq(account_id));
        if let Some(asset) = filter.asset_id {
            q = q.filter(transaction::Column::AssetId.eq(asset));
        }
        if let Some(source) = &filter.source {
            q = q.filter(transaction::Column::Source.eq(source.clone()));
        }
        if !filter.include_aliases {
            q = q.filter(transaction::Column::AliasOf.is_null());
        }
        rows.extend(
            newest_first(q, &filter.kinds, filter.from, filter.to, after, limit)
                .all(db)
                .await?,
        );
    }
    rows.sort_unstable_by_key(|t| std::cmp::Reverse((t.trade_date, t.id)));
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(rows)
}

/// The query of [`job_priced_trades`]. `import_job_id` has no index: it reads the account's
/// rows with an asset (a partial index), not every user's ledger.
#[must_use]
pub fn job_trades_query(
    account_id: Uuid,
    job_id: Uuid,
    limit: u64,
) -> sea_orm::Select<transaction::Entity> {
    transaction::Entity::find()
        .select_only()
        .column(transaction::Column::Id)
        .column(transaction::Column::AssetId)
        .column(transaction::Column::TradeDate)
        .column(transaction::Column::Price)
        .filter(transaction::Column::AccountId.eq(account_id))
        .filter(transaction::Column::AssetId.is_not_null())
        .filter(transaction::Column::ImportJobId.eq(job_id))
        .filter(transaction::Column::Kind.is_in(["buy", "sell"]))
        .limit(limit)
}

/// (id, asset, trade date, price) of a job's buys and sells that carry a price.
pub async fn job_priced_trades(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    job_id: Uuid,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid, NaiveDate, String)>, DbErr> {
    let rows: Vec<(Uuid, Option<Uuid>, NaiveDate, Option<String>)> =
        job_trades_query(account_id, job_id, limit)
            .into_tuple()
            .all(db)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, asset, date, price)| Some((id, asset?, date, price?)))
        .collect())
}

/// Whether the account holds any record from a source other than `source`. Two range
/// seeks on the `(account_id, source, source_id)` index (a `!=` filter would scan).
/// Whether the account holds any entry from `source` (an index seek).
pub async fn has_source(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    source: &str,
) -> Result<bool, DbErr> {
    Ok(transaction::Entity::find()
        .select_only()
        .column(transaction::Column::Id)
        .filter(transaction::Column::AccountId.eq(account_id))
        .filter(transaction::Column::Source.eq(source))
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some())
}

pub async fn has_other_sources(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    source: &str,
) -> Result<bool, DbErr> {
    for below in [true, false] {
        let column = transaction::Column::Source;
        let found = transaction::Entity::find()
            .select_only()
            .column(transaction::Column::Id)
            .filter(transaction::Column::AccountId.eq(account_id))
            .filter(if below {
                column.lt(source)
            } else {
                column.gt(source)
            })
            .limit(1)
            .into_tuple::<Uuid>()
            .one(db)
            .await?
            .is_some();
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_dates_are_written_as_the_driver_writes_them() {
        let mut d = NaiveDate::from_ymd_opt(1999, 12, 25).expect("date");
        for _ in 0..400 {
            assert_eq!(sqlite_date(d), d.format("%F").to_string());
            d = d + chrono::Days::new(1);
        }
        for (y, m, day) in [(1, 1, 1), (9999, 12, 31), (10000, 1, 1), (-5, 3, 4)] {
            let d = NaiveDate::from_ymd_opt(y, m, day).expect("date");
            assert_eq!(sqlite_date(d), d.format("%F").to_string(), "{d:?}");
        }
    }
}
