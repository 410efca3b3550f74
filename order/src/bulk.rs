//! The request-id index built in key order: [`OrderProjection`]'s
//! [`Projection::apply_from`](toystore_store::Projection::apply_from), for events appended
//! without the projection (a snapshot's events received by a replica) and for rebuilds.
//!
//! Index keys are random (a hash prefix), so inserting a run of orders one by one touches
//! pages all over the index; once the index outgrows redb's page cache, every transaction
//! rewrites most of it. Here the keys of every event after `after` are computed in one pass
//! over the events, sorted in runs of [`RUN_KEYS`] (a run beyond the first is kept in a
//! scratch table of the same transaction, [`SCRATCH`], in blocks of [`BLOCK_KEYS`]), merged,
//! and inserted in key order, so each index page is written once. Into an empty index (an
//! empty receiver, a rebuild) the merged keys are appended through one cursor
//! ([`TableMut::append`]), which packs them into full leaves instead of descending the tree
//! per key (docs/PERFORMANCE.md, "Appending in order through a cursor"). Memory: one run, plus one block per run while
//! merging; the scratch table is deleted before the transaction commits, and a crash before
//! then leaves nothing behind. The build logs its phases (`request-id index built`).
//!
//! What `apply` refuses is refused here: a number that is not its seq - 1, and a request id
//! placed twice. Keys of one hash prefix arrive together, so two new orders of one request
//! id are found among them ([`Group`]); when the index already had keys, each new key's
//! prefix is also looked up among those (a range read per key, in key order).

use crate::request_index::{expected_key, placed_twice, Group, NUMBER_MASK, REQUEST_INDEX};
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;
use toystore_events::{OrderEvent, RequestId, Seq};
use toystore_store::{StoreError, Table, TableMut, WriteTables};

/// Keys sorted in memory at a time (2 MiB).
pub const RUN_KEYS: usize = 1 << 18;
/// Keys per row of the scratch table (16 KiB; one block per run is in memory while
/// merging: 0.6 MB at 10M orders).
pub const BLOCK_KEYS: usize = 2048;
/// Events decoded at a time to take their keys (a few hundred KB of strings).
const READ_EVENTS: usize = 2048;
/// Sorted runs while the index is built: (run << 32 | block) → keys, little-endian.
const SCRATCH: Table<u64, &'static [u8]> = Table::new("request_index_runs");

/// Adds the keys of every order after `after` to the index, in key order (see the module
/// doc), in runs of [`RUN_KEYS`].
pub fn apply_from(tables: &WriteTables<'_>, after: Seq) -> Result<(), StoreError> {
    Sort::DEFAULT.apply_from(tables, after)
}

/// How keys are sorted: run and block sizes (small ones let a test merge many runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// Keys sorted in memory at a time.
    pub run_keys: usize,
    /// Keys per row of the scratch table.
    pub block_keys: usize,
}

impl Sort {
    /// [`RUN_KEYS`] and [`BLOCK_KEYS`].
    pub const DEFAULT: Sort = Sort {
        run_keys: RUN_KEYS,
        block_keys: BLOCK_KEYS,
    };

    /// [`apply_from`] with these sizes.
    pub fn apply_from(self, tables: &WriteTables<'_>, after: Seq) -> Result<(), StoreError> {
        let run_keys = self.run_keys.max(1);
        let started = Instant::now();
        let mut runs = 0u64;
        let mut count = 0u64;
        let mut keys: Vec<u64> = Vec::new();
        let mut at = after;
        loop {
            let chunk: Vec<(Seq, OrderEvent)> = tables.events_after(at, READ_EVENTS)?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            at = *last;
            if keys.capacity() < run_keys && chunk.len() == READ_EVENTS {
                // More may follow: the whole run at once, not by doubling (which would hold
                // the old buffer and the new one together).
                keys.reserve_exact(run_keys - keys.len());
            }
            count += chunk.len() as u64;
            for (seq, event) in &chunk {
                keys.push(expected_key(*seq, event)?);
                if keys.len() == run_keys {
                    self.spill(tables, runs, &mut keys)?;
                    runs += 1;
                }
            }
        }
        let (sorted, reads) = if runs == 0 {
            keys.sort_unstable();
            let sorted = started.elapsed();
            (
                sorted,
                insert_sorted(tables, after, keys.into_iter().map(Ok))?,
            )
        } else {
            if !keys.is_empty() {
                self.spill(tables, runs, &mut keys)?;
                runs += 1;
            }
            drop(keys);
            let sorted = started.elapsed();
            let scratch = tables.open(SCRATCH)?;
            let merged = Merge::new(&scratch, runs)?;
            let reads = insert_sorted(tables, after, merged)?;
            drop(scratch);
            tables.delete(SCRATCH)?;
            (sorted, reads)
        };
        tracing::info!(
            keys = count,
            runs,
            event_reads = reads,
            sorted_ms = sorted.as_millis() as u64,
            merged_ms = (started.elapsed() - sorted).as_millis() as u64,
            "request-id index built in key order"
        );
        Ok(())
    }

    /// Sorts `keys` and stores them as run `run` of the scratch table; empties `keys`.
    fn spill(
        self,
        tables: &WriteTables<'_>,
        run: u64,
        keys: &mut Vec<u64>,
    ) -> Result<(), StoreError> {
        keys.sort_unstable();
        let mut scratch = tables.open(SCRATCH)?;
        let block_keys = self.block_keys.max(1);
        let mut bytes = Vec::with_capacity(block_keys * 8);
        for (block, chunk) in (0u64..).zip(keys.chunks(block_keys)) {
            bytes.clear();
            bytes.extend(chunk.iter().flat_map(|key| key.to_le_bytes()));
            scratch.insert(run << 32 | block, bytes.as_slice())?;
        }
        keys.clear();
        Ok(())
    }
}

/// Inserts sorted keys of orders after `after` into the index, refusing a request id placed
/// twice; returns how many events it read to compare request ids.
fn insert_sorted(
    tables: &WriteTables<'_>,
    after: Seq,
    keys: impl Iterator<Item = Result<u64, StoreError>>,
) -> Result<u64, StoreError> {
    let mut index = tables.open(REQUEST_INDEX)?;
    let had_keys = !index.is_empty()?;
    let reads = Cell::new(0u64);
    let mut request_id = |number: u64| {
        reads.set(reads.get() + 1);
        request_id_of(tables, number)
    };
    let mut group = Group::default();
    if !had_keys {
        // Every key is new and they ascend: append them through one cursor.
        index.append(keys.map(|key| {
            let key = key?;
            match group.next(key, &mut request_id)? {
                Some((_, why)) => Err(why),
                None => Ok((key, ())),
            }
        }))?;
        return Ok(reads.get());
    }
    for key in keys {
        let key = key?;
        if let Some((_, why)) = group.next(key, &mut request_id)? {
            return Err(why);
        }
        earlier_with_prefix(&index, after, key, &mut request_id)?;
        index.insert(key, ())?;
    }
    Ok(reads.get())
}

/// Fails if an order the index held before (number below `after`) has the request id of
/// the new `key`'s order; reads events only for keys of the same hash prefix.
fn earlier_with_prefix(
    index: &TableMut<'_, u64, ()>,
    after: Seq,
    key: u64,
    request_id: &mut dyn FnMut(u64) -> Result<Option<RequestId>, StoreError>,
) -> Result<(), StoreError> {
    let number = key & NUMBER_MASK;
    let prefix = key & !NUMBER_MASK;
    let mut new_id = None;
    for row in index.range(prefix, prefix | NUMBER_MASK)? {
        let earlier = row?.0 & NUMBER_MASK;
        if earlier >= after.0 {
            // A key of this build (order numbers are seq - 1), compared by the group.
            continue;
        }
        if new_id.is_none() {
            new_id = request_id(number)?;
        }
        if let Some(id) = &new_id {
            if request_id(earlier)?.as_ref() == Some(id) {
                return Err(placed_twice(id, earlier, number).1);
            }
        }
    }
    Ok(())
}

/// The request id of order `number`, read from its event in the open transaction.
fn request_id_of(tables: &WriteTables<'_>, number: u64) -> Result<Option<RequestId>, StoreError> {
    let Some(seq) = number.checked_add(1) else {
        return Ok(None);
    };
    Ok(tables
        .event::<OrderEvent>(Seq(seq))?
        .map(|OrderEvent::OrderPlaced { request_id, .. }| request_id))
}

/// The keys of sorted runs in the scratch table, merged into one sorted stream.
struct Merge<'a, 't> {
    scratch: &'a TableMut<'t, u64, &'static [u8]>,
    /// Each run's current block and the position in it.
    runs: Vec<(Vec<u64>, usize, u64)>,
    /// (next key, run) of every run not yet exhausted, smallest first.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

impl<'a, 't> Merge<'a, 't> {
    fn new(scratch: &'a TableMut<'t, u64, &'static [u8]>, runs: u64) -> Result<Self, StoreError> {
        let mut merge = Self {
            scratch,
            runs: Vec::new(),
            heap: BinaryHeap::new(),
        };
        for run in 0..runs {
            let block = merge.block(run, 0)?;
            if let Some(&first) = block.first() {
                merge.heap.push(Reverse((first, merge.runs.len())));
            }
            merge.runs.push((block, 0, run << 32));
        }
        Ok(merge)
    }

    /// The keys of `block` of `run` (empty past its last block).
    fn block(&self, run: u64, block: u64) -> Result<Vec<u64>, StoreError> {
        let Some(bytes) = self.scratch.get(run << 32 | block)? else {
            return Ok(Vec::new());
        };
        Ok(bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect())
    }

    fn next_key(&mut self) -> Result<Option<u64>, StoreError> {
        let Some(Reverse((key, run))) = self.heap.pop() else {
            return Ok(None);
        };
        let (block, pos, id) = &mut self.runs[run];
        *pos += 1;
        if *pos == block.len() {
            *id += 1;
            let (run_no, block_no) = (*id >> 32, *id & 0xffff_ffff);
            let next = self.block(run_no, block_no)?;
            let (block, pos, _) = &mut self.runs[run];
            *block = next;
            *pos = 0;
        }
        let (block, pos, _) = &self.runs[run];
        if let Some(&next) = block.get(*pos) {
            self.heap.push(Reverse((next, run)));
        }
        Ok(Some(key))
    }
}

impl Iterator for Merge<'_, '_> {
    type Item = Result<u64, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_key().transpose()
    }
}
