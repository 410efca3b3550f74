//! [`ProductCache`]: the front-end's LRU cache of product queries.
//!
//! Entries are evicted by invalidations the catalog pushes (one per purchase or restock),
//! and by LRU replacement when the cache is full. Each value carries the catalog sequence
//! number it was read at; the cache remembers, per product, the sequence number of the last
//! invalidation it applied, and refuses to insert a value read before that invalidation.
//! That closes the race where a slow miss re-inserts a stale value after its invalidation.
//! It also refuses values read before the position its subscription started from (the
//! *floor*): invalidations up to there are never delivered, so such a value could be stale
//! with nothing left to evict it.
//!
//! While the invalidation stream is down the cache is *suspended*: it answers nothing and
//! stores nothing, because invalidations may be happening unheard. It is cleared when it
//! suspends and resumes once the stream has caught up again.

use clru::CLruCache;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use toystore_catalog_api::Product;
use toystore_events::{ProductName, Seq};

/// Counters of the cache's work, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheStats {
    /// Queries answered from the cache.
    pub hits: u64,
    /// Queries that went to the catalog.
    pub misses: u64,
    /// Entries removed by LRU replacement.
    pub evictions: u64,
    /// Entries removed by invalidations.
    pub invalidations: u64,
    /// Values not inserted because an invalidation newer than them had arrived.
    pub stale_inserts_refused: u64,
    /// Entries currently held.
    pub entries: usize,
    /// Capacity.
    pub capacity: usize,
    /// Whether the cache is serving (false while the invalidation stream is down).
    pub active: bool,
    /// Times a serving cache was suspended (its invalidation stream broke or went silent).
    pub suspensions: u64,
}

struct Inner {
    lru: CLruCache<ProductName, Product>,
    invalidated_at: HashMap<ProductName, Seq>,
    floor: Seq,
    active: bool,
    stats: CacheStats,
}

impl Inner {
    /// Stops serving, counting a suspension if it was serving.
    fn deactivate(&mut self) {
        if self.active {
            self.stats.suspensions += 1;
        }
        self.active = false;
    }
}

/// An LRU cache of products, kept fresh by invalidations.
pub struct ProductCache {
    inner: Mutex<Inner>,
}

impl ProductCache {
    /// An empty, suspended cache holding at most `capacity` products.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                lru: CLruCache::new(capacity),
                invalidated_at: HashMap::new(),
                floor: Seq::ZERO,
                active: false,
                stats: CacheStats {
                    capacity: capacity.get(),
                    ..CacheStats::default()
                },
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the cache inconsistent in a way that
        // matters (worst case a counter); keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached product, counting a hit or a miss.
    pub fn get(&self, name: &str) -> Option<Product> {
        let mut inner = self.lock();
        let found = if inner.active {
            inner.lru.get(name).cloned()
        } else {
            None
        };
        match found {
            Some(_) => inner.stats.hits += 1,
            None => inner.stats.misses += 1,
        }
        found
    }

    /// Inserts a value the catalog returned at `seq`, unless an invalidation of that product
    /// newer than `seq` has already been applied, or the cache is suspended. Returns whether
    /// it was inserted.
    pub fn insert(&self, product: Product, seq: Seq) -> bool {
        let mut inner = self.lock();
        if !inner.active {
            return false;
        }
        if seq < inner.floor
            || inner
                .invalidated_at
                .get(product.name.as_str())
                .is_some_and(|&inv| inv > seq)
        {
            inner.stats.stale_inserts_refused += 1;
            return false;
        }
        let name = product.name.clone();
        let evicts = inner.lru.is_full() && !inner.lru.contains(&name);
        inner.lru.put(name, product);
        if evicts {
            inner.stats.evictions += 1;
        }
        true
    }

    /// Applies an invalidation of `name` by the event at `seq`.
    pub fn invalidate(&self, name: &ProductName, seq: Seq) {
        let mut inner = self.lock();
        let entry = inner.invalidated_at.entry(name.clone()).or_default();
        *entry = (*entry).max(seq);
        if inner.lru.pop(name).is_some() {
            inner.stats.invalidations += 1;
        }
    }

    /// Refuses from now on values read before `seq`: the subscription starts after it, so
    /// no invalidation at or before it will be delivered.
    pub fn set_floor(&self, seq: Seq) {
        let mut inner = self.lock();
        inner.floor = inner.floor.max(seq);
    }

    /// Forgets everything about a catalog history that no longer exists (its log is now
    /// behind what we saw, e.g. its data was reset) and starts over from `seq`.
    pub fn restart_from(&self, seq: Seq) {
        let mut inner = self.lock();
        inner.lru.clear();
        inner.invalidated_at.clear();
        inner.floor = seq;
        inner.deactivate();
    }

    /// Empties the cache and stops serving from it (the invalidation stream is down).
    pub fn suspend(&self) {
        let mut inner = self.lock();
        inner.lru.clear();
        inner.deactivate();
    }

    /// Serves from the cache again (the invalidation stream is current).
    pub fn resume(&self) {
        self.lock().active = true;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: inner.lru.len(),
            active: inner.active,
            ..inner.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str) -> ProductName {
        ProductName::try_from(name).unwrap()
    }

    fn toy(name: &str, quantity: u32) -> Product {
        Product {
            name: n(name),
            price: 1.0,
            quantity,
        }
    }

    fn cache(cap: usize) -> ProductCache {
        let c = ProductCache::new(NonZeroUsize::new(cap).expect("non-zero"));
        c.resume();
        c
    }

    #[test]
    fn hit_after_insert_and_miss_after_invalidation() {
        let c = cache(4);
        assert_eq!(c.get("Tux"), None);
        assert!(c.insert(toy("Tux", 100), Seq(20)));
        assert_eq!(c.get("Tux"), Some(toy("Tux", 100)));
        c.invalidate(&n("Tux"), Seq(21));
        assert_eq!(c.get("Tux"), None);
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.invalidations), (1, 2, 1));
    }

    #[test]
    fn slow_miss_cannot_reinsert_a_value_older_than_a_seen_invalidation() {
        let c = cache(4);
        // A miss reads Tux at seq 20 ... meanwhile a purchase at seq 21 is pushed ...
        c.invalidate(&n("Tux"), Seq(21));
        // ... and only then does the slow miss try to insert its value.
        assert!(!c.insert(toy("Tux", 100), Seq(20)));
        assert_eq!(c.get("Tux"), None);
        assert_eq!(c.stats().stale_inserts_refused, 1);
        // A value read at or after the invalidation is fine.
        assert!(c.insert(toy("Tux", 99), Seq(21)));
        assert_eq!(c.get("Tux"), Some(toy("Tux", 99)));
    }

    #[test]
    fn values_read_before_the_subscription_started_are_refused() {
        let c = cache(4);
        c.set_floor(Seq(30));
        assert!(!c.insert(toy("Tux", 100), Seq(29)));
        assert_eq!(c.get("Tux"), None);
        assert!(c.insert(toy("Tux", 98), Seq(30)));
        assert_eq!(c.get("Tux"), Some(toy("Tux", 98)));
    }

    #[test]
    fn a_restarted_history_forgets_old_invalidations() {
        let c = cache(4);
        c.invalidate(&n("Tux"), Seq(500));
        c.restart_from(Seq(20));
        c.resume();
        assert!(!c.insert(toy("Tux", 100), Seq(19)));
        assert!(c.insert(toy("Tux", 100), Seq(20)));
        assert_eq!(c.get("Tux"), Some(toy("Tux", 100)));
    }

    #[test]
    fn lru_replacement_evicts_the_least_recently_used() {
        let c = cache(2);
        c.insert(toy("A", 1), Seq(1));
        c.insert(toy("B", 1), Seq(1));
        assert!(c.get("A").is_some()); // B is now least recently used
        c.insert(toy("C", 1), Seq(1));
        assert!(c.get("B").is_none());
        assert!(c.get("A").is_some());
        assert!(c.get("C").is_some());
        assert_eq!(c.stats().evictions, 1);
        assert_eq!(c.stats().entries, 2);
    }

    #[test]
    fn suspended_cache_serves_and_stores_nothing() {
        let c = cache(2);
        c.insert(toy("A", 1), Seq(1));
        c.suspend();
        assert!(c.get("A").is_none());
        assert!(!c.insert(toy("A", 1), Seq(2)));
        c.resume();
        assert!(c.get("A").is_none(), "suspending clears the cache");
    }

    #[test]
    fn only_a_serving_cache_counts_a_suspension() {
        let c = ProductCache::new(NonZeroUsize::new(2).expect("non-zero"));
        c.suspend();
        assert_eq!(c.stats().suspensions, 0, "it was not serving yet");
        c.resume();
        c.suspend();
        c.suspend();
        assert_eq!(c.stats().suspensions, 1);
        c.resume();
        c.restart_from(Seq(9));
        assert_eq!(c.stats().suspensions, 2);
    }
}
