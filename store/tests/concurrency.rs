//! Sequence numbers are gap-free and increasing under concurrent appenders: however the
//! writer groups concurrent requests into transactions, the sequence numbers handed back are
//! exactly 1..=N, each once; the events of one request get consecutive numbers; each
//! appender's successive appends get increasing numbers; and reading the log back yields, at
//! each number, exactly the event whose appender was given that number.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{counts_of, expected_counts, open_counts, purchase, read_all};
use std::collections::BTreeMap;
use std::sync::Arc;
use toystore_events::CatalogEvent;
use toystore_store::Seq;

/// Checks the whole log against what the appenders were told, and the appenders' own view.
fn check(log_events: Vec<(Seq, CatalogEvent)>, told: Vec<Vec<(Vec<Seq>, Vec<CatalogEvent>)>>) {
    let mut by_seq: BTreeMap<Seq, CatalogEvent> = BTreeMap::new();
    for appender in &told {
        let mut prev = Seq::ZERO;
        for (seqs, events) in appender {
            assert_eq!(seqs.len(), events.len());
            for (i, (seq, event)) in seqs.iter().zip(events).enumerate() {
                assert!(
                    *seq > prev,
                    "an appender's numbers increase: {seq} after {prev}"
                );
                if i > 0 {
                    assert_eq!(*seq, prev.next(), "one request's events are consecutive");
                }
                prev = *seq;
                assert!(
                    by_seq.insert(*seq, event.clone()).is_none(),
                    "seq {seq} was handed out twice"
                );
            }
        }
    }
    let n = by_seq.len() as u64;
    assert_eq!(
        by_seq.keys().copied().collect::<Vec<_>>(),
        (1..=n).map(Seq).collect::<Vec<_>>(),
        "the numbers handed out are exactly 1..=N"
    );
    assert_eq!(log_events, by_seq.into_iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tasks_get_gap_free_numbers() {
    const TASKS: usize = 48;
    const APPENDS: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let log = Arc::new(open_counts(&path));

    let mut handles = Vec::new();
    for t in 0..TASKS {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..APPENDS {
                // Requests of 1, 2 or 3 events, so batches mix request sizes.
                let events: Vec<_> = (0..=(t + i) % 3)
                    .map(|j| purchase(&format!("toy{}", t % 5), format!("t{t}-a{i}-e{j}")))
                    .collect();
                let seqs = log.append(events.clone()).await.unwrap();
                mine.push((seqs, events));
            }
            mine
        }));
    }
    let mut told = Vec::new();
    for h in handles {
        told.push(h.await.unwrap());
    }
    let total: usize = told.iter().flatten().map(|(s, _)| s.len()).sum();
    assert_eq!(log.last_seq(), Seq(total as u64));

    let stored = read_all(&log);
    let all: Vec<_> = stored.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(counts_of(&log), expected_counts(&all));
    check(stored, told);

    // The same holds after a reopen.
    let log = Arc::into_inner(log).unwrap();
    log.close();
    let log = open_counts(&path);
    assert_eq!(log.last_seq(), Seq(total as u64));
    assert_eq!(read_all(&log).len(), total);
}

#[test]
fn concurrent_threads_get_gap_free_numbers() {
    const THREADS: usize = 16;
    const APPENDS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let log = open_counts(&dir.path().join("catalog.redb"));

    let told: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = &log;
                s.spawn(move || {
                    (0..APPENDS)
                        .map(|i| {
                            let e = purchase("tux", format!("thread{t}-{i}"));
                            // Half the appenders go through `execute_blocking` and choose the
                            // event from inside the transaction.
                            if t % 2 == 0 {
                                let seq = log.append_blocking(vec![e.clone()]).unwrap();
                                (seq, vec![e])
                            } else {
                                let (seq, e) = log
                                    .execute_blocking(move |b| {
                                        let seq = b.append(&e)?;
                                        Ok((seq, e))
                                    })
                                    .unwrap();
                                (vec![seq], vec![e])
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(log.last_seq(), Seq((THREADS * APPENDS) as u64));
    check(read_all(&log), told);
}
