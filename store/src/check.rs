//! [`Check`]: a projection's stored tables against what its events rebuild, as
//! [`crate::Projection::check`] finds them for `tools replay`, in memory that does not grow
//! with the log; and what checks are made of: [`Digest`], an order-independent fingerprint
//! of a set of rows, [`Check::compare_sorted`], a merge of two sorted row streams for small
//! tables, and [`Contiguous`], which turns a gap in a log's sequence numbers into an error.
//!
//! A big table is not rebuilt. Its stored rows are folded into one [`Digest`] as they stream
//! past in key order, the rows the events imply into another as the events stream past in
//! log order, and the two are compared. Equal digests (count, wrapping sum and xor of two
//! 64-bit mixes of every row) of two sets of rows mean, with overwhelming probability, equal
//! sets: two different sets collide only if both 64-bit sums and the count agree, which an
//! accidental difference does with a chance of the order of 2^-64 or less. (It is a check
//! against bugs and damage, not against a forger who knows the mix.) Only when the digests
//! differ does a check look for the rows that differ, with point lookups: the slow path,
//! still in bounded memory, which lists the first [`SHOWN`] differences and counts them all.

use crate::StoreError;
use std::hash::Hasher;
use toystore_events::Seq;

/// Differing rows a check lists (it counts them all, per table).
pub const SHOWN: usize = 10;

/// One table of a projection, stored against rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// The table.
    pub table: &'static str,
    /// Rows stored in the file.
    pub stored: u64,
    /// Rows the events imply (as far as they were replayed).
    pub rebuilt: u64,
    /// Stored rows that the rebuild does not have.
    pub only_stored: u64,
    /// Rebuilt rows that the file does not have.
    pub only_rebuilt: u64,
    /// Whether the stored rows were compared with the rebuilt ones and are equal (`false`
    /// when the events could not be replayed, so nothing was compared).
    pub equal: bool,
}

impl TableCheck {
    /// A table that was not compared (the events could not be replayed).
    pub fn unchecked(table: &'static str, stored: u64, rebuilt: u64) -> Self {
        Self {
            table,
            stored,
            rebuilt,
            only_stored: 0,
            only_rebuilt: 0,
            equal: false,
        }
    }
}

/// A row that differs: present in the file only (`rebuilt` is `None`), in the rebuild only
/// (`stored` is `None`), or with another value in each (both, for the same key). Rows are
/// text as the projection's `dump` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The table.
    pub table: &'static str,
    /// The stored row.
    pub stored: Option<String>,
    /// The rebuilt row.
    pub rebuilt: Option<String>,
    /// What the events say about the row, when the rows alone do not show it (e.g. the
    /// request id an index row stands for).
    pub note: Option<String>,
}

impl Difference {
    /// A stored row the rebuild does not have.
    pub fn stored_only(table: &'static str, stored: String) -> Self {
        Self::new(table, Some(stored), None)
    }

    /// A rebuilt row the file does not have.
    pub fn rebuilt_only(table: &'static str, rebuilt: String) -> Self {
        Self::new(table, None, Some(rebuilt))
    }

    /// A row stored one way and rebuilt another (or either alone, when `None`).
    pub fn new(table: &'static str, stored: Option<String>, rebuilt: Option<String>) -> Self {
        Self {
            table,
            stored,
            rebuilt,
            note: None,
        }
    }

    /// The difference with a note.
    pub fn because(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// What [`crate::Projection::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// Each table, stored against rebuilt.
    pub tables: Vec<TableCheck>,
    /// The first [`SHOWN`] differing rows.
    pub differences: Vec<Difference>,
    /// Why the events cannot be replayed (an event that does not decode, a gap in the
    /// sequence numbers, an event `apply` refuses), if they cannot: the earliest such event
    /// found.
    pub refused: Option<String>,
    /// The sequence number `refused` is about (`u64::MAX` when unknown).
    refused_at: u64,
}

impl Check {
    /// Whether the events replay and every table equals its rebuild.
    pub fn consistent(&self) -> bool {
        self.refused.is_none() && self.differences.is_empty() && self.tables.iter().all(|t| t.equal)
    }

    /// Rows stored, over every table.
    pub fn stored_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.stored).sum()
    }

    /// Rows rebuilt, over every table.
    pub fn rebuilt_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rebuilt).sum()
    }

    /// Records that the event at `seq` cannot be replayed, because of `why`; of several,
    /// the one at the smallest `seq` is kept (the one a rebuild would stop at).
    pub fn refuse(&mut self, seq: Seq, why: impl std::fmt::Display) {
        if self.refused.is_none() || seq.0 < self.refused_at {
            self.refused = Some(why.to_string());
            self.refused_at = seq.0;
        }
    }

    /// Records an error met while reading the events: one that means they cannot be replayed
    /// past it (an event that does not decode, a gap from [`Contiguous`], a projection's
    /// refusal) becomes the refusal; any other (reading the file failed) is returned.
    pub fn refused_by(&mut self, error: StoreError) -> Result<(), StoreError> {
        match error {
            StoreError::Decode { seq, .. } => self.refuse(seq, &error),
            StoreError::OutOfOrder { expected, got } => self.refuse(
                expected,
                format!("the log has no event {expected}: the next event after it is {got}"),
            ),
            StoreError::Projection { .. } => self.refuse(Seq(u64::MAX), &error),
            other => return Err(other),
        }
        Ok(())
    }

    /// Runs `replay` on each event in order, stopping at the first that cannot be read
    /// ([`Check::refused_by`]) or that `replay` refuses (its reason becomes the refusal,
    /// [`Check::refuse`]). An error reading the file is returned.
    pub fn replay<E, Why: std::fmt::Display>(
        &mut self,
        events: &mut dyn Iterator<Item = Result<(Seq, E), StoreError>>,
        mut replay: impl FnMut(Seq, E) -> Result<(), Why>,
    ) -> Result<(), StoreError> {
        for item in events {
            match item {
                Ok((seq, event)) => {
                    if let Err(why) = replay(seq, event) {
                        self.refuse(seq, why);
                        break;
                    }
                }
                Err(e) => {
                    self.refused_by(e)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Lists a differing row, unless [`SHOWN`] are listed already; returns whether it was
    /// listed. (Counting it is the caller's business, in its [`TableCheck`].)
    pub fn differ(&mut self, difference: Difference) -> bool {
        if self.differences.len() >= SHOWN {
            return false;
        }
        self.differences.push(difference);
        true
    }

    /// Compares a table's stored rows with rebuilt ones, both in key order, and records the
    /// table and its differences. Rows are equal when their keys are and their text (`row`)
    /// is: values are compared as the table's dump shows them. For tables whose rebuild fits
    /// in memory (a catalog's stock, tests' small projections).
    pub fn compare_sorted<K: Ord, V>(
        &mut self,
        table: &'static str,
        stored: impl Iterator<Item = Result<(K, V), StoreError>>,
        rebuilt: impl IntoIterator<Item = (K, V)>,
        row: impl Fn(&K, &V) -> String,
    ) -> Result<(), StoreError> {
        let mut result = TableCheck::unchecked(table, 0, 0);
        let mut stored = stored.peekable();
        let mut rebuilt = rebuilt.into_iter().peekable();
        loop {
            let order = match (stored.peek(), rebuilt.peek()) {
                (None, None) => break,
                (Some(Err(_)), _) => match stored.next() {
                    Some(Err(e)) => return Err(e),
                    _ => continue,
                },
                (Some(Ok(_)), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(Ok((s, _))), Some((r, _))) => s.cmp(r),
            };
            match order {
                std::cmp::Ordering::Less => {
                    if let Some(Ok((k, v))) = stored.next() {
                        result.stored += 1;
                        result.only_stored += 1;
                        self.differ(Difference::stored_only(table, row(&k, &v)));
                    }
                }
                std::cmp::Ordering::Greater => {
                    if let Some((k, v)) = rebuilt.next() {
                        result.rebuilt += 1;
                        result.only_rebuilt += 1;
                        self.differ(Difference::rebuilt_only(table, row(&k, &v)));
                    }
                }
                std::cmp::Ordering::Equal => {
                    if let (Some(Ok((k, s))), Some((_, r))) = (stored.next(), rebuilt.next()) {
                        result.stored += 1;
                        result.rebuilt += 1;
                        let (s, r) = (row(&k, &s), row(&k, &r));
                        if s != r {
                            result.only_stored += 1;
                            result.only_rebuilt += 1;
                            self.differ(Difference::new(table, Some(s), Some(r)));
                        }
                    }
                }
            }
        }
        result.equal = result.only_stored == 0 && result.only_rebuilt == 0;
        self.tables.push(result);
        Ok(())
    }
}

/// An order-independent fingerprint of a set of rows, each given as a `u64` (a row that is
/// not one is [`hash_row`]ed first): adding the same rows in any order gives the same
/// digest. See the module doc for what equal digests prove.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    count: u64,
    sum: u64,
    xor: u64,
}

impl Digest {
    /// Adds one row.
    #[inline]
    pub fn add(&mut self, row: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(mix(row));
        self.xor ^= mix(row.wrapping_add(0x9e37_79b9_7f4a_7c15));
    }

    /// How many rows were added.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// A 64-bit hash of a row made of bytes and a number, for [`Digest::add`]. Stable within a
/// process (both sides of a check are hashed by the same one), not across builds: never
/// store it.
pub fn hash_row(bytes: &[u8], number: u64) -> u64 {
    // `new` gives the same hasher every time (in one build), unlike a `RandomState`'s.
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(bytes);
    hasher.write_u64(number);
    hasher.finish()
}

/// splitmix64's finalizer: a bijection of `u64` whose output bits each depend on every
/// input bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Events in log order, checked to follow each other without a gap from `after + 1`: at the
/// first gap it yields [`StoreError::OutOfOrder`] (the sequence number expected, the one
/// found) and ends, as a rebuild appending them would stop there.
pub struct Contiguous<I> {
    events: I,
    next: u64,
    done: bool,
}

impl<I> Contiguous<I> {
    /// `events`, expected to start right after `after`.
    pub fn new(events: I, after: Seq) -> Self {
        Self {
            events,
            next: after.0.saturating_add(1),
            done: false,
        }
    }
}

impl<E, I: Iterator<Item = Result<(Seq, E), StoreError>>> Iterator for Contiguous<I> {
    type Item = Result<(Seq, E), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.events.next()?;
        let seq = match &item {
            Ok((seq, _)) => *seq,
            Err(StoreError::Decode { seq, .. }) => *seq,
            Err(_) => return Some(item),
        };
        if seq.0 != self.next {
            self.done = true;
            return Some(Err(StoreError::OutOfOrder {
                expected: Seq(self.next),
                got: seq,
            }));
        }
        self.next = self.next.saturating_add(1);
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn digests_ignore_order_and_see_any_changed_missing_or_extra_row() {
        let rows: Vec<u64> = (0..1000).map(|i| i * 7919 + 3).collect();
        let digest = |rows: &[u64]| {
            let mut d = Digest::default();
            rows.iter().for_each(|&r| d.add(r));
            d
        };
        let all = digest(&rows);
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(all, digest(&reversed));
        assert_eq!(all.count(), 1000);

        let mut changed = rows.clone();
        changed[500] ^= 1 << 40;
        assert_ne!(all, digest(&changed));
        assert_ne!(all, digest(&rows[1..]));
        let mut extra = rows.clone();
        extra.push(5);
        assert_ne!(all, digest(&extra));
        // Two rows swapped for two others with the same plain sum and xor are still seen.
        let mut swapped = rows.clone();
        swapped[0] ^= 1;
        swapped[1] ^= 1;
        assert_ne!(all, digest(&swapped));
        assert_eq!(Digest::default(), digest(&[]));
        assert_ne!(hash_row(b"r1", 2), hash_row(b"r1", 3));
        assert_ne!(hash_row(b"r1", 2), hash_row(b"r2", 2));
    }

    #[test]
    fn compare_sorted_pairs_rows_by_key_and_counts_both_sides() {
        let stored = vec![("a", 1), ("b", 2), ("c", 3)];
        let rebuilt = vec![("a", 1), ("b", 9), ("d", 4)];
        let mut check = Check::default();
        check
            .compare_sorted("t", stored.into_iter().map(Ok), rebuilt, |k, v| {
                format!("{k}={v}")
            })
            .unwrap();
        let t = &check.tables[0];
        assert_eq!(
            (t.stored, t.rebuilt, t.only_stored, t.only_rebuilt),
            (3, 3, 2, 2)
        );
        assert!(!t.equal && !check.consistent());
        let shown: Vec<_> = check
            .differences
            .iter()
            .map(|d| (d.stored.as_deref(), d.rebuilt.as_deref()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (Some("b=2"), Some("b=9")),
                (Some("c=3"), None),
                (None, Some("d=4"))
            ]
        );

        let mut same = Check::default();
        same.compare_sorted("t", [Ok((1, 1))].into_iter(), [(1, 1)], |k, v| {
            format!("{k}{v}")
        })
        .unwrap();
        assert!(same.consistent());
        assert_eq!((same.stored_rows(), same.rebuilt_rows()), (1, 1));
    }

    #[test]
    fn at_most_shown_differences_are_listed_and_the_earliest_refusal_wins() {
        let mut check = Check::default();
        for i in 0..(SHOWN + 5) {
            check.differ(Difference::stored_only("t", i.to_string()));
        }
        assert_eq!(check.differences.len(), SHOWN);
        check.refuse(Seq(9), "late");
        check.refuse(Seq(4), "early");
        check.refuse(Seq(6), "middle");
        assert_eq!(check.refused.as_deref(), Some("early"));
        assert!(check.refused_by(StoreError::Closed).is_err());
    }

    #[test]
    fn a_logs_events_stream_decoded_and_read_one_by_one() {
        use crate::{EventLog, NoProjection, Projection};
        use toystore_events::OrderEvent;
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path().join("o.redb"), NoProjection).unwrap();
        let order = |n: u64| OrderEvent::OrderPlaced {
            number: n.into(),
            request_id: format!("r{n}").try_into().unwrap(),
            name: "Tux".try_into().unwrap(),
            quantity: 1u32.try_into().unwrap(),
        };
        log.append_blocking((0..5).map(order).collect()).unwrap();
        let tables = log.read().unwrap();
        let after_two: Vec<_> = tables
            .events_after::<OrderEvent>(Seq(2))
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(
            after_two,
            vec![(Seq(3), order(2)), (Seq(4), order(3)), (Seq(5), order(4))]
        );
        let reader = tables.event_reader().unwrap();
        assert_eq!(reader.event::<OrderEvent>(Seq(1)).unwrap(), Some(order(0)));
        assert_eq!(reader.event::<OrderEvent>(Seq(6)).unwrap(), None);
        assert_eq!(tables.projection_version().unwrap(), 1);
        let mut events = Contiguous::new(
            tables.events_after::<OrderEvent>(Seq::ZERO).unwrap(),
            Seq::ZERO,
        );
        let check = Projection::<OrderEvent>::check(&NoProjection, &tables, &mut events).unwrap();
        assert!(check.consistent() && check.tables.is_empty());
    }

    #[test]
    fn contiguous_stops_at_a_gap() {
        let events = [1u64, 2, 4, 5].map(|s| Ok::<_, StoreError>((Seq(s), ())));
        let out: Vec<_> = Contiguous::new(events.into_iter(), Seq::ZERO).collect();
        assert_eq!(out.len(), 3);
        assert!(matches!(
            out[2],
            Err(StoreError::OutOfOrder {
                expected: Seq(3),
                got: Seq(4)
            })
        ));
        let mut check = Check::default();
        for item in out {
            if let Err(e) = item {
                check.refused_by(e).unwrap();
            }
        }
        assert!(check.refused.unwrap().contains("no event 3"));
    }
}
