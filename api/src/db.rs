//! Opening the database: SQLite (WAL, busy timeout, foreign keys) or PostgreSQL, with the
//! migrations applied.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tributary_migration::{Migrator, MigratorTrait};

use crate::config::Settings;

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
    let mut opt = ConnectOptions::new(url.clone());
    opt.max_connections(settings.database.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        let busy = Duration::from_millis(settings.database.busy_timeout_ms);
        opt.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(busy)
                .foreign_keys(true)
        });
    }
    Database::connect(opt)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))
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
