//! Live progress of the file imports running in this process.
//!
//! A file import writes the whole file in one database transaction; on SQLite that
//! transaction holds the only write lock, so the job row cannot be updated until the import
//! ends. The import reports here instead, and job reads (`ImportJobService::get` and `list`,
//! hence the `importJobProgress` subscription) overlay what is here on running jobs. A cancel
//! request for a job running here is taken here too, for the same reason. On PostgreSQL the
//! import also persists its progress to the job row, so other nodes see it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use uuid::Uuid;

use super::Actor;
use crate::domain::ImportJob;

/// The file imports running in this process, by job id.
#[derive(Default)]
pub struct LiveJobs {
    jobs: Mutex<HashMap<Uuid, Arc<LiveJob>>>,
}

/// One running import's live state.
#[derive(Default)]
struct LiveJob {
    progress: AtomicI32,
    processed: AtomicI32,
    /// Who asked the import to stop (the first request wins).
    cancel: OnceLock<Actor>,
}

impl LiveJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<LiveJob>>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a job this process runs; it is unregistered when the handle drops, however
    /// the import ends.
    #[must_use]
    pub fn track(&self, id: Uuid) -> Tracked<'_> {
        let live = Arc::new(LiveJob::default());
        self.lock().insert(id, live.clone());
        Tracked {
            jobs: self,
            id,
            live,
        }
    }

    /// Shows a running job's live progress and records read (when it runs here) instead of
    /// what its row last recorded.
    pub fn overlay(&self, job: &mut ImportJob) {
        if job.status != "running" {
            return;
        }
        if let Some(live) = self.lock().get(&job.id) {
            job.progress = job.progress.max(live.progress.load(Ordering::Relaxed));
            job.processed = job.processed.max(live.processed.load(Ordering::Relaxed));
        }
    }

    /// Asks a job running here to stop after its current batch. False when it does not run
    /// here.
    pub fn request_cancel(&self, id: Uuid, actor: &Actor) -> bool {
        match self.lock().get(&id) {
            Some(live) => {
                let _ = live.cancel.set(actor.clone());
                true
            }
            None => false,
        }
    }
}

/// A running import's handle on its live state.
pub struct Tracked<'a> {
    jobs: &'a LiveJobs,
    id: Uuid,
    live: Arc<LiveJob>,
}

impl Tracked<'_> {
    /// Records progress (0 to 100) and records read so far.
    pub fn report(&self, progress: i32, processed: i32) {
        self.live.progress.store(progress, Ordering::Relaxed);
        self.live.processed.store(processed, Ordering::Relaxed);
    }

    /// The progress last reported.
    #[must_use]
    pub fn progress(&self) -> i32 {
        self.live.progress.load(Ordering::Relaxed)
    }

    /// Who asked this import to stop, if anyone did through this process.
    #[must_use]
    pub fn cancel_request(&self) -> Option<&Actor> {
        self.live.cancel.get()
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        let mut jobs = self.jobs.lock();
        // A later run of the same job (a retry) may have registered again meanwhile.
        if jobs
            .get(&self.id)
            .is_some_and(|l| Arc::ptr_eq(l, &self.live))
        {
            jobs.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, UserId};

    fn job(id: Uuid, status: &str, progress: i32, processed: i32) -> ImportJob {
        ImportJob {
            id,
            account_id: Some(AccountId(Uuid::now_v7())),
            source: "csv".into(),
            trigger: "upload".into(),
            status: status.into(),
            fetched: 0,
            inserted: 0,
            updated: 0,
            duplicates: 0,
            failed: 0,
            error: None,
            created_at: chrono::Utc::now(),
            started_at: None,
            finished_at: None,
            attempt: 1,
            max_attempts: 1,
            next_run_at: None,
            progress,
            cursor_in: None,
            cursor_out: None,
            warnings: serde_json::json!([]),
            errors: serde_json::json!([]),
            reconciliation: None,
            anomalies: serde_json::json!([]),
            quality_score: None,
            duration_ms: None,
            format: Some("csv".into()),
            dry_run: false,
            processed,
            options: None,
            retryable: false,
        }
    }

    #[test]
    fn a_running_job_shows_its_live_progress_until_its_import_ends() {
        let jobs = LiveJobs::default();
        let id = Uuid::now_v7();
        let tracked = jobs.track(id);
        tracked.report(40, 20_000);

        let mut running = job(id, "running", 0, 0);
        jobs.overlay(&mut running);
        assert_eq!((running.progress, running.processed), (40, 20_000));

        // Another job, and a job that already ended, keep what their rows say.
        let mut other = job(Uuid::now_v7(), "running", 5, 7);
        jobs.overlay(&mut other);
        assert_eq!((other.progress, other.processed), (5, 7));
        let mut ended = job(id, "succeeded", 100, 50_000);
        jobs.overlay(&mut ended);
        assert_eq!((ended.progress, ended.processed), (100, 50_000));

        // A row that is further along (persisted by another node) is not rolled back.
        let mut ahead = job(id, "running", 60, 30_000);
        jobs.overlay(&mut ahead);
        assert_eq!((ahead.progress, ahead.processed), (60, 30_000));

        drop(tracked);
        let mut after = job(id, "running", 0, 0);
        jobs.overlay(&mut after);
        assert_eq!((after.progress, after.processed), (0, 0));
    }

    #[test]
    fn a_cancel_request_reaches_only_a_job_running_here() {
        let jobs = LiveJobs::default();
        let actor = Actor {
            user_id: UserId(Uuid::now_v7()),
            ip: Some("127.0.0.1".into()),
        };
        let id = Uuid::now_v7();
        assert!(!jobs.request_cancel(id, &actor), "not running here");
        let tracked = jobs.track(id);
        assert!(tracked.cancel_request().is_none());
        assert!(jobs.request_cancel(id, &actor));
        assert_eq!(
            tracked.cancel_request().map(|a| a.user_id),
            Some(actor.user_id)
        );
        drop(tracked);
        assert!(
            !jobs.request_cancel(id, &actor),
            "unregistered when it ends"
        );
    }

    #[test]
    fn a_stale_handle_does_not_unregister_a_newer_run_of_the_job() {
        let jobs = LiveJobs::default();
        let id = Uuid::now_v7();
        let first = jobs.track(id);
        let second = jobs.track(id);
        second.report(10, 1);
        drop(first);
        let mut running = job(id, "running", 0, 0);
        jobs.overlay(&mut running);
        assert_eq!((running.progress, running.processed), (10, 1));
    }
}
