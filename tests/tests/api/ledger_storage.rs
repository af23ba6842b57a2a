//! How the ledger is stored: the bulk insert's failure rules, and SQLite's deferred foreign
//! keys (migration 000007), which let that insert run without a statement journal.

use sea_orm::{
    ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement, TransactionTrait,
    Value,
};
use tributary_api::repo::transactions::{NewTransaction, insert_new};
use tributary_migration::{Migrator, MigratorTrait};
use tributary_tests::{TestUser, spawn_app};
use uuid::Uuid;

fn entry(id: Uuid, source_id: &str, amount: &str) -> NewTransaction {
    NewTransaction {
        id,
        asset_id: None,
        kind: "deposit",
        trade_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 1).expect("a date"),
        settle_date: None,
        quantity: None,
        price: None,
        amount: amount.to_string(),
        fee: None,
        currency: "USD".to_string(),
        description: Some(format!("entry {source_id}")),
        source_id: source_id.to_string(),
        fingerprint: format!("{source_id:0>64}"),
        occurrence: 0,
        alias_of: None,
        match_reason: None,
    }
}

async fn count(db: &DatabaseConnection, account: Uuid) -> i64 {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => "SELECT COUNT(*) FROM transactions WHERE account_id = $1",
        _ => "SELECT COUNT(*) FROM transactions WHERE account_id = ?",
    };
    db.query_one_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [Value::from(account)],
    ))
    .await
    .expect("count runs")
    .expect("a row")
    .try_get_by_index::<i64>(0)
    .expect("a count")
}

#[tokio::test]
async fn the_bulk_insert_skips_existing_ids_but_fails_on_any_other_broken_constraint() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let account: Uuid = app
        .create_account(user.token(), "Checking")
        .await
        .parse()
        .expect("an account id");
    let db = &app.ctx.db;
    let now = chrono::Utc::now();

    // Ids the account already has are skipped, not an error.
    let txn = db.begin().await.expect("begin");
    let first = vec![
        entry(Uuid::now_v7(), "A", "1.10"),
        entry(Uuid::now_v7(), "B", "2.20"),
    ];
    let inserted = insert_new(&txn, account, "csv", None, now, first)
        .await
        .expect("inserted");
    assert_eq!(inserted, 2);
    let again = vec![
        entry(Uuid::now_v7(), "A", "1.10"),
        entry(Uuid::now_v7(), "C", "3.30"),
    ];
    let inserted = insert_new(&txn, account, "csv", None, now, again)
        .await
        .expect("existing ids skipped");
    assert_eq!(inserted, 1, "only C is new");
    txn.commit().await.expect("commit");
    assert_eq!(count(db, account).await, 3);

    // Any other broken constraint (here a row id used twice) stops the statement with an
    // error rather than skipping the row; the caller rolls its transaction back.
    let txn = db.begin().await.expect("begin");
    let id = Uuid::now_v7();
    let clash = vec![
        entry(Uuid::now_v7(), "D", "4.40"),
        entry(id, "E", "5.50"),
        entry(id, "F", "6.60"),
    ];
    let err = insert_new(&txn, account, "csv", None, now, clash).await;
    assert!(err.is_err(), "a reused row id is an error: {err:?}");
    txn.rollback().await.expect("rollback");
    assert_eq!(
        count(db, account).await,
        3,
        "nothing of the failed batch stays"
    );

    // An account that does not exist: on SQLite the key is checked when the transaction
    // commits (deferred), on PostgreSQL at once. Either way nothing is written.
    let ghost = Uuid::now_v7();
    let txn = db.begin().await.expect("begin");
    let rows = vec![entry(Uuid::now_v7(), "G", "7.70")];
    let refused = match insert_new(&txn, ghost, "csv", None, now, rows).await {
        Err(_) => {
            txn.rollback().await.expect("rollback");
            true
        }
        Ok(_) => txn.commit().await.is_err(),
    };
    assert!(refused, "a row of no account is refused");
    assert_eq!(count(db, ghost).await, 0);
}

/// Every column of every ledger row, as SQLite quotes it (exact, blobs included).
async fn ledger_snapshot(db: &DatabaseConnection) -> Vec<String> {
    let columns = tributary_api::repo::transactions::INSERT_COLUMNS;
    let expr = columns
        .iter()
        .map(|c| format!("quote({c})"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    text_rows(db, &format!("SELECT {expr} FROM transactions ORDER BY id")).await
}

async fn text_rows(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(DatabaseBackend::Sqlite, sql))
        .await
        .expect("query runs")
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("text"))
        .collect()
}

async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<Value>) {
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        sql,
        values,
    ))
    .await
    .expect("statement runs");
}

#[tokio::test]
async fn upgrading_an_sqlite_ledger_to_deferred_keys_keeps_every_row_and_index() {
    let path = std::env::temp_dir().join(format!("tributary-migration-{}.db", Uuid::new_v4()));
    let db = Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("connect");
    Migrator::up(&db, Some(6)).await.expect("migrations 1 to 6");

    // A ledger as it was: a user, an account, an import job and entries of every shape.
    let (user, account, job) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let at = "2026-11-22T10:00:00.123456789+00:00";
    exec(
        &db,
        "INSERT INTO users (id, email, password_hash, base_currency, role, created_at, updated_at) \
         VALUES (?, 'a@example.com', 'x', 'USD', 'user', ?, ?)",
        vec![user.into(), at.into(), at.into()],
    )
    .await;
    exec(
        &db,
        "INSERT INTO accounts (id, user_id, name, kind, currency, created_at, updated_at) \
         VALUES (?, ?, 'Checking', 'bank', 'USD', ?, ?)",
        vec![account.into(), user.into(), at.into(), at.into()],
    )
    .await;
    exec(
        &db,
        "INSERT INTO import_jobs (id, user_id, account_id, source, \"trigger\", status, created_at) \
         VALUES (?, ?, ?, 'csv', 'upload', 'succeeded', ?)",
        vec![job.into(), user.into(), account.into(), at.into()],
    )
    .await;
    let first = Uuid::now_v7();
    exec(
        &db,
        "INSERT INTO transactions (id, account_id, kind, trade_date, settle_date, quantity, price, \
         amount, fee, currency, description, source, source_id, fingerprint, import_job_id, \
         created_at, occurrence) \
         VALUES (?, ?, 'buy', '2024-01-02', '2024-01-04', '10.5', '101.0001', '-1060.50', '0.99', \
         'USD', 'Buy', 'csv', 'R-1', 'ab12', ?, ?, 0)",
        vec![first.into(), account.into(), job.into(), at.into()],
    )
    .await;
    exec(
        &db,
        "INSERT INTO transactions (id, account_id, kind, trade_date, amount, currency, source, \
         source_id, fingerprint, created_at, occurrence, alias_of, match_reason) \
         VALUES (?, ?, 'deposit', '2024-01-03', '0.10', 'USD', 'plaid', 'fp:cd34:2', 'cd34', ?, \
         2, ?, 'same amount')",
        vec![
            Uuid::now_v7().into(),
            account.into(),
            at.into(),
            first.into(),
        ],
    )
    .await;
    let before = ledger_snapshot(&db).await;
    assert_eq!(before.len(), 2);
    let indexes = "SELECT name || ':' || COALESCE(sql, '') FROM sqlite_master \
                   WHERE type = 'index' AND tbl_name = 'transactions' ORDER BY name";
    let indexes_before = text_rows(&db, indexes).await;
    let table = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'transactions'";

    Migrator::up(&db, None).await.expect("migration 7");
    assert_eq!(ledger_snapshot(&db).await, before, "every value as it was");
    assert_eq!(
        text_rows(&db, indexes).await,
        indexes_before,
        "the same indexes"
    );
    let sql = text_rows(&db, table).await.concat();
    assert_eq!(
        sql.matches("DEFERRABLE INITIALLY DEFERRED").count(),
        3,
        "account, asset and import job keys deferred: {sql}"
    );
    // The keys' actions still apply: deleting the job clears the entry's reference, deleting
    // the account removes its entries.
    exec(
        &db,
        "DELETE FROM import_jobs WHERE id = ?",
        vec![job.into()],
    )
    .await;
    assert_eq!(
        text_rows(
            &db,
            "SELECT quote(import_job_id) FROM transactions ORDER BY id"
        )
        .await,
        vec!["NULL", "NULL"]
    );

    Migrator::down(&db, Some(1))
        .await
        .expect("migration 7 undone");
    assert_eq!(text_rows(&db, indexes).await, indexes_before);
    let sql = text_rows(&db, table).await.concat();
    assert!(!sql.contains("DEFERRABLE"), "{sql}");
    assert_eq!(ledger_snapshot(&db).await.len(), 2);
    exec(
        &db,
        "DELETE FROM accounts WHERE id = ?",
        vec![account.into()],
    )
    .await;
    assert!(ledger_snapshot(&db).await.is_empty());
    db.close().await.expect("close");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn a_jobs_priced_trades_are_read_from_its_accounts_rows_not_the_whole_ledger() {
    use sea_orm::QueryTrait;
    let app = spawn_app().await;
    if app.is_postgres() {
        return; // The plan below is SQLite's.
    }
    let query =
        tributary_api::repo::transactions::job_trades_query(Uuid::now_v7(), Uuid::now_v7(), 500)
            .build(DatabaseBackend::Sqlite);
    let plan = app
        .ctx
        .db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", query.sql),
            query.values.map(|v| v.0).unwrap_or_default(),
        ))
        .await
        .expect("explain runs")
        .iter()
        .map(|r| r.try_get::<String>("", "detail").expect("a plan line"))
        .collect::<Vec<_>>()
        .join("; ");
    assert!(
        plan.contains("USING INDEX") && plan.contains("account_id=?"),
        "an index seek on the account: {plan}"
    );
    assert!(!plan.contains("SCAN transactions"), "no full scan: {plan}");
}
