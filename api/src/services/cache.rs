//! A per-user read cache for the hottest reads of every client (dashboards poll them): account
//! lists and the portfolio summary. Entries are dropped on every write to the user's accounts,
//! holdings, transactions or settings, and a generation check keeps a read that raced a write
//! from caching stale data. Summaries also depend on stored quotes and FX rates, which are
//! shared by every user: a global market generation, bumped on every quote or rate write,
//! retires them all at once.
//!
//! It is only coherent while this process is the only writer, so by default (`auto`) it is on
//! for SQLite (one server process per database file) and off for PostgreSQL, where several API
//! nodes may share the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::domain::{Account, Page, UserId};
use crate::services::market::PortfolioSummary;

/// Upper bound on users with cached pages; past it the cache starts over.
const MAX_USERS: usize = 10_000;
/// Even a coherent entry is refreshed this often.
const TTL: Duration = Duration::from_secs(30);

type PageKey = (Option<Uuid>, u64);

/// A cached page, plus its rendering by the transport that served it first (REST keeps the
/// serialized JSON here, so a cache hit costs no serialization either).
#[derive(Debug)]
pub struct CachedPage {
    pub page: Page<Account>,
    pub rendered: std::sync::OnceLock<actix_free_bytes::Bytes>,
}

/// Plain bytes without pulling a web framework into the service layer.
pub mod actix_free_bytes {
    /// Serialized response bytes.
    pub type Bytes = std::sync::Arc<[u8]>;
}

#[derive(Default)]
struct UserEntry {
    generation: u64,
    pages: HashMap<PageKey, (Instant, Arc<CachedPage>)>,
    /// The summary, with the market generation it was computed at.
    summary: Option<(Instant, u64, Arc<PortfolioSummary>)>,
}

/// What a summary load must hand back to [`ReadCache::put_summary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryStamp {
    generation: u64,
    market: u64,
}

/// The cache; a disabled cache stores nothing.
pub struct ReadCache {
    enabled: bool,
    users: Mutex<HashMap<UserId, UserEntry>>,
    market: AtomicU64,
}

impl ReadCache {
    #[must_use]
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            users: Mutex::new(HashMap::new()),
            market: AtomicU64::new(0),
        }
    }

    /// A cached page, or the generation to pass to [`ReadCache::put`] after loading it.
    pub fn get(
        &self,
        user: UserId,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Arc<CachedPage>, u64> {
        if !self.enabled {
            return Err(0);
        }
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        match users.get(&user) {
            Some(entry) => match entry.pages.get(&(after, limit)) {
                Some((at, page)) if at.elapsed() < TTL => Ok(page.clone()),
                _ => Err(entry.generation),
            },
            None => Err(0),
        }
    }

    /// Stores a page loaded at `generation`, unless a write happened since.
    pub fn put(
        &self,
        user: UserId,
        generation: u64,
        after: Option<Uuid>,
        limit: u64,
        page: Arc<CachedPage>,
    ) {
        if !self.enabled {
            return;
        }
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if users.len() >= MAX_USERS && !users.contains_key(&user) {
            users.clear();
        }
        let entry = users.entry(user).or_default();
        if entry.generation == generation {
            entry.pages.insert((after, limit), (Instant::now(), page));
        }
    }

    /// Forgets everything cached for the user (call after every write that changes what
    /// their account list shows).
    pub fn invalidate(&self, user: UserId) {
        if !self.enabled {
            return;
        }
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = users.entry(user).or_default();
        entry.generation += 1;
        entry.pages.clear();
        entry.summary = None;
    }

    /// The cached summary, or the stamp to pass to [`ReadCache::put_summary`] after computing
    /// it.
    pub fn get_summary(&self, user: UserId) -> Result<Arc<PortfolioSummary>, SummaryStamp> {
        // Read the market generation first: a quote written after this point bumps it, so a
        // summary computed from older quotes is not stored under the newer generation.
        let market = self.market.load(Ordering::Acquire);
        if !self.enabled {
            return Err(SummaryStamp {
                generation: 0,
                market,
            });
        }
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = users.get(&user).map_or(0, |e| e.generation);
        if let Some((at, at_market, summary)) = users.get(&user).and_then(|e| e.summary.as_ref())
            && *at_market == market
            && at.elapsed() < TTL
        {
            return Ok(summary.clone());
        }
        Err(SummaryStamp { generation, market })
    }

    /// Stores a summary computed under `stamp`, unless the user's data or the market data
    /// changed since.
    pub fn put_summary(&self, user: UserId, stamp: SummaryStamp, summary: Arc<PortfolioSummary>) {
        if !self.enabled || self.market.load(Ordering::Acquire) != stamp.market {
            return;
        }
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if users.len() >= MAX_USERS && !users.contains_key(&user) {
            users.clear();
        }
        let entry = users.entry(user).or_default();
        if entry.generation == stamp.generation {
            entry.summary = Some((Instant::now(), stamp.market, summary));
        }
    }

    /// Retires every cached summary (call after storing quotes or FX rates).
    pub fn market_changed(&self) {
        self.market.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Arc<CachedPage> {
        Arc::new(CachedPage {
            page: Page {
                items: Vec::new(),
                next_cursor: None,
            },
            rendered: std::sync::OnceLock::new(),
        })
    }

    #[test]
    fn a_write_between_load_and_put_keeps_the_stale_page_out() {
        let cache = ReadCache::new(true);
        let user = UserId::new();
        let generation = cache.get(user, None, 50).expect_err("empty");
        cache.invalidate(user);
        cache.put(user, generation, None, 50, page());
        assert!(cache.get(user, None, 50).is_err());
        let generation = cache.get(user, None, 50).expect_err("still empty");
        cache.put(user, generation, None, 50, page());
        assert!(cache.get(user, None, 50).is_ok());
        cache.invalidate(user);
        assert!(cache.get(user, None, 50).is_err());
    }

    #[test]
    fn a_disabled_cache_stores_nothing() {
        let cache = ReadCache::new(false);
        let user = UserId::new();
        cache.put(user, 0, None, 50, page());
        assert!(cache.get(user, None, 50).is_err());
    }
}
