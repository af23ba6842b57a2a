//! The worker pool: each worker claims the oldest runnable job from the database (see
//! `repo::import_jobs::claim`), runs it, and polls again. Several processes on one
//! PostgreSQL share the work; each job runs once.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::repo;
use crate::services::AppContext;

/// Starts `n` workers on the current runtime.
pub fn spawn(ctx: Arc<AppContext>, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let ctx = ctx.clone();
            tokio::spawn(async move { work(ctx, i).await })
        })
        .collect()
}

async fn work(ctx: Arc<AppContext>, index: usize) {
    let poll = Duration::from_millis(ctx.settings.jobs.poll_interval_ms);
    let lease = chrono::Duration::seconds(ctx.settings.jobs.lease_secs);
    loop {
        match repo::import_jobs::claim(&ctx.db, &ctx.node_id, lease, None).await {
            Ok(Some(job)) => {
                let id = job.id;
                tracing::debug!(worker = index, import_job_id = %id, "claimed job");
                if let Err(e) = super::runner::run(&ctx, job).await {
                    tracing::warn!(worker = index, import_job_id = %id, error = %e, "job run failed");
                }
            }
            Ok(None) => {
                let jitter = rand::thread_rng().gen_range(0.5..1.5);
                tokio::time::sleep(poll.mul_f64(jitter)).await;
            }
            // A file import holds SQLite's write lock for its whole length: expected, quiet.
            Err(e) if crate::db::is_busy(&e) => {
                tracing::debug!(
                    worker = index,
                    "database busy (a write is running); claiming later"
                );
                tokio::time::sleep(poll * 2).await;
            }
            Err(e) => {
                tracing::warn!(worker = index, error = %e, "claiming a job failed");
                tokio::time::sleep(poll * 2).await;
            }
        }
    }
}
