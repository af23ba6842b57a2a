//! Prometheus metrics: HTTP requests by route and status with latency histograms, and import
//! jobs by status. Hand-rolled text exposition; the set of labels is bounded by the routes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Process-wide metrics.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    jobs: Mutex<BTreeMap<String, u64>>,
    db_statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Metrics {
    /// The counter of SQL statements executed, shared with the database connection's hook.
    #[must_use]
    pub fn db_statement_counter(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.db_statements.clone()
    }

    /// SQL statements executed so far.
    #[must_use]
    pub fn db_statements(&self) -> u64 {
        self.db_statements
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records one HTTP request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut map = self
            .http
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        h.count += 1;
        h.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
    }

    /// Counts an import job reaching a status.
    pub fn job_finished(&self, status: &str) {
        let mut map = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(status.to_string()).or_default() += 1;
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP tributary_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE tributary_http_requests_total counter\n");
        let http = self
            .http
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((method, route, status), h) in http.iter() {
            let _ = writeln!(
                out,
                "tributary_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP tributary_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE tributary_http_request_duration_seconds histogram\n");
        for ((method, route, status), h) in http.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "tributary_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "tributary_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "tributary_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "tributary_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        drop(http);
        out.push_str(
            "# HELP tributary_import_jobs_total Import jobs by the status they reached.\n",
        );
        out.push_str("# TYPE tributary_import_jobs_total counter\n");
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (status, n) in jobs.iter() {
            let _ = writeln!(
                out,
                "tributary_import_jobs_total{{status=\"{status}\"}} {n}"
            );
        }
        out
    }
}
