//! The generator: an order replica's redb file holding N orders, written directly through
//! the `store` and `order` crates (no HTTP, no catalog, no other replica).
//!
//! The file is the one a replica of a store that took N orders in one epoch holds: the
//! `toystore.order` kind stamp ([`EventLog::open`] of a new file), `OrderPlaced` events at
//! sequence numbers 1..=N encoded by the same [`toystore_store::Batch::append`] a leader
//! uses, the [`OrderProjection`] rows written in the same transactions, and the replica's
//! fence ([`toystore_order::fence`]): epoch [`EPOCH`], its leader [`LEADER`], and the
//! entries' `last_epoch`. So `tools replay` finds it consistent, `tools diff` finds copies
//! of it equal to what a replica catching up from it writes, and a real replica serves it.
//!
//! What differs from a file written by a running store is only the page layout: the events
//! are committed in large group-commit transactions ([`DEFAULT_BATCH`] orders each, one
//! durable commit per batch) rather than a few per commit, which is what makes a million
//! orders take seconds. The orders look like real ones: a UUID request id (the front-end's
//! format for a request without an `Idempotency-Key`), a toy of the catalog's list, 1 to 5
//! units; they are a pure function of the seed.
//!
//! After the move to openraft this is the one place that must learn the new file layout
//! (Raft log entries and state machine instead of `events` + projection + fence).

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};
use toystore_catalog::toys::TOYS;
use toystore_events::OrderEvent;
use toystore_order::fence::{self, Fence};
use toystore_order::projection::OrderProjection;
use toystore_store::EventLog;

/// The epoch the generated orders were placed in (the fence's epoch and `last_epoch`).
pub const EPOCH: u64 = 1;
/// The leader of that epoch: replica 3, which the measurement then restarts with an empty
/// file, as if it had lost its disk.
pub const LEADER: u32 = 3;
/// Orders per write transaction, by default.
pub const DEFAULT_BATCH: usize = 250_000;

/// A generated file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Generated {
    /// Orders written.
    pub orders: u64,
    /// From creating the file to closing it.
    pub elapsed: Duration,
    /// The file's size.
    pub file_bytes: u64,
}

/// The orders of a generated log, in order: a pure function of the seed.
pub struct Orders {
    rng: StdRng,
    next: u64,
}

impl Orders {
    /// The orders for `seed`, starting at order number 0.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            next: 0,
        }
    }

    /// The next order (number 0, 1, 2, ...).
    pub fn next_order(&mut self) -> OrderEvent {
        let request_id = uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string();
        let (name, _price) = TOYS[self.rng.random_range(0..TOYS.len())];
        let order = OrderEvent::OrderPlaced {
            number: self.next,
            request_id,
            name: name.to_string(),
            quantity: self.rng.random_range(1..=5),
        };
        self.next += 1;
        order
    }
}

/// Writes a new replica file at `path` holding `orders` orders (see the module doc), in
/// transactions of `batch` orders, calling `progress` with the number written after each.
/// Refuses an existing `path`.
pub async fn generate(
    path: &Path,
    orders: u64,
    seed: u64,
    batch: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<Generated> {
    if path.exists() {
        bail!(
            "{} exists; the generator only writes new files",
            path.display()
        );
    }
    let started = Instant::now();
    let log = {
        let file = path.to_path_buf();
        tokio::task::spawn_blocking(move || EventLog::open(&file, OrderProjection))
            .await?
            .with_context(|| format!("creating {}", path.display()))?
    };
    let mut source = Orders::new(seed);
    let batch = batch.max(1) as u64;
    let mut written = 0;
    while written < orders {
        let events: Vec<OrderEvent> = (0..batch.min(orders - written))
            .map(|_| source.next_order())
            .collect();
        written += events.len() as u64;
        log.execute(move |b| {
            for event in &events {
                b.append(event)?;
            }
            fence::set_last_epoch_in(b.tx(), EPOCH)
        })
        .await
        .with_context(|| format!("writing orders to {}", path.display()))?;
        progress(written);
    }
    fence::store(
        &log,
        Fence {
            epoch: EPOCH,
            leader: Some(LEADER),
        },
    )
    .await
    .with_context(|| format!("writing the fence of {}", path.display()))?;
    let last = log.last_seq().0;
    if last != orders {
        bail!(
            "{}: wrote {orders} orders but the log ends at {last}",
            path.display()
        );
    }
    tokio::task::spawn_blocking(move || log.close()).await?;
    let elapsed = started.elapsed();
    let file_bytes = std::fs::metadata(path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    Ok(Generated {
        orders,
        elapsed,
        file_bytes,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn orders_are_realistic_and_a_function_of_the_seed() {
        let a: Vec<OrderEvent> = {
            let mut o = Orders::new(7);
            (0..50).map(|_| o.next_order()).collect()
        };
        let mut b = Orders::new(7);
        assert!(a.iter().all(|e| *e == b.next_order()));
        for (
            i,
            OrderEvent::OrderPlaced {
                number,
                request_id,
                name,
                quantity,
            },
        ) in a.iter().enumerate()
        {
            assert_eq!(*number, i as u64);
            assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
            assert!(toystore_events::valid_request_id(request_id));
            assert!(TOYS.iter().any(|(t, _)| t == name));
            assert!((1..=5).contains(quantity));
        }
        assert_ne!(a[0], Orders::new(8).next_order());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_generated_file_replays_consistently_and_carries_the_fence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order-1.redb");
        let generated = generate(&path, 1234, 1, 500, &|_| {}).await.unwrap();
        assert_eq!(generated.orders, 1234);
        assert!(generated.file_bytes > 0);
        assert!(
            generate(&path, 1, 1, 500, &|_| {}).await.is_err(),
            "refuses an existing file"
        );

        let report = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || crate::replay::replay_file(&path, None))
                .await
                .unwrap()
                .unwrap()
        };
        assert!(report.consistent(), "{}", report.to_text());
        assert_eq!((report.events, report.last_seq), (1234, 1234));

        let log = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                EventLog::<OrderEvent>::open_existing(&path, OrderProjection)
            })
            .await
            .unwrap()
            .unwrap()
        };
        assert_eq!(
            fence::load(&log).unwrap(),
            Fence {
                epoch: EPOCH,
                leader: Some(LEADER)
            }
        );
        assert_eq!(fence::last_epoch(&log).unwrap(), EPOCH);
        tokio::task::spawn_blocking(move || log.close())
            .await
            .unwrap();
    }
}
