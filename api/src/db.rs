//! Opening the database: SQLite (WAL, busy timeout, foreign keys) or PostgreSQL, with the
//! migrations applied.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tributary_migration::{Migrator, MigratorTrait};

use crate::config::Settings;

/// The page size of a new SQLite database (an existing one keeps the size it was created
/// with). SQLite's default is 4 KiB; with 16 KiB pages a transaction row and its index entries
/// take a quarter of the page writes, B-trees are a level shallower, and a bulk import writes
/// about a fifth faster, while a point lookup still reads one small page.
const SQLITE_PAGE_SIZE: u32 = 16 * 1024;

/// Connects to the configured database (creating the SQLite directory when needed).
///
/// # Errors
/// When the database cannot be opened.
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    if url.starts_with("sqlite:")
        && let Some(path) = sqlite_path(&url)
        && let Some(dir) = std::path::Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the database directory {}: {e}",
                dir.display()
            )
        })?;
    }
    open(settings, settings.database.max_connections).await
}

/// Opens a pool of at most `connections` on the configured database.
async fn open(settings: &Settings, connections: u32) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    let mut opt = ConnectOptions::new(url.clone());
    opt.max_connections(connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        let busy = Duration::from_millis(settings.database.busy_timeout_ms);
        opt.map_sqlx_sqlite_opts(move |o| {
            o.page_size(SQLITE_PAGE_SIZE)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                // Checkpoints are the background checkpointer's (`spawn_checkpointer`).
                .pragma("wal_autocheckpoint", "0")
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(busy)
                .foreign_keys(true)
        });
    }
    Database::connect(opt)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))
}

/// How often the SQLite checkpointer copies the write-ahead log back into the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// SQLite only: starts the task that checkpoints the write-ahead log every
/// [`CHECKPOINT_EVERY`] (`PASSIVE`: it waits for no reader or writer). SQLite would otherwise
/// run the checkpoint inside whichever commit takes the log past 1,000 pages, and that request
/// would pay for it: a second of copying after a million-row import. The server's connections
/// are opened with automatic checkpoints off; a short-lived command (`tributary migrate`)
/// checkpoints when its last connection closes, as SQLite always does. The task has a
/// connection of its own: it takes none from the pool, and its statements are not the
/// requests' (`metrics`).
#[must_use]
pub fn spawn_checkpointer(settings: &Settings) -> Option<tokio::task::JoinHandle<()>> {
    use sea_orm::ConnectionTrait;
    if !settings.database_url().starts_with("sqlite:") {
        return None;
    }
    let settings = settings.clone();
    Some(tokio::spawn(async move {
        // Without this connection the log would only grow: keep trying.
        let db = loop {
            match open(&settings, 1).await {
                Ok(db) => break db,
                Err(e) => {
                    tracing::error!(error = %e, "the SQLite checkpointer cannot open the database");
                    tokio::time::sleep(CHECKPOINT_EVERY).await;
                }
            }
        };
        let statement = sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        );
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            let started = std::time::Instant::now();
            match db.query_one_raw(statement.clone()).await {
                // (busy, frames in the log, frames checkpointed): -1 when not in WAL mode.
                Ok(Some(row)) => {
                    let log: i64 = row.try_get_by_index(1).unwrap_or(0);
                    let done: i64 = row.try_get_by_index(2).unwrap_or(0);
                    if started.elapsed() >= Duration::from_millis(100) {
                        tracing::debug!(
                            frames = log,
                            checkpointed = done,
                            ms = started.elapsed().as_millis(),
                            "checkpointed the SQLite write-ahead log"
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log failed");
                }
            }
        }
    }))
}

/// Applies pending migrations.
///
/// # Errors
/// When a migration fails.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// Whether `e` is SQLite's "database is locked" (busy, or locked, past the busy timeout):
/// another connection holds the write lock, as a file import does for its whole length. Not
/// a fault; the statement may simply be tried again later.
#[must_use]
pub fn is_busy(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let (DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = e
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db) = &**e else {
        return false;
    };
    // Extended codes keep the primary code in the low byte: SQLITE_BUSY 5, SQLITE_LOCKED 6.
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::is_busy;
    use sea_orm::{ConnectOptions, ConnectionTrait, Database, TransactionTrait};

    #[tokio::test]
    async fn a_write_lock_held_elsewhere_is_told_apart_from_other_errors() {
        let path = std::env::temp_dir().join(format!("tributary-busy-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let holder = Database::connect(&url).await.expect("connect");
        holder
            .execute_unprepared("PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .await
            .expect("table");
        let mut options = ConnectOptions::new(&url);
        options.max_connections(1).min_connections(1);
        let other = Database::connect(options).await.expect("connect");
        other
            .execute_unprepared("PRAGMA busy_timeout = 0")
            .await
            .expect("no waiting");

        let txn = holder.begin().await.expect("begin");
        txn.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .expect("the write lock");
        let busy = other
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .expect_err("locked out");
        assert!(is_busy(&busy), "{busy:?}");
        let broken = other
            .execute_unprepared("INSERT INTO missing VALUES (2)")
            .await
            .expect_err("no such table");
        assert!(!is_busy(&broken), "{broken:?}");
        txn.rollback().await.expect("rollback");
        other
            .execute_unprepared("INSERT INTO t VALUES (3)")
            .await
            .expect("free again");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
