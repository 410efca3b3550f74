//! Model test: random sequences of operations on a log (append k events, close and reopen,
//! drop and reopen, read after a random sequence number) behave exactly like a plain
//! in-memory `Vec` of events: after every operation `last_seq` is the model's length, every
//! read returns the model's suffix, and the projection always matches the events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{counts_of, expected_counts, open_counts, read_all};
use proptest::prelude::*;
use toystore_events::CatalogEvent;
use toystore_store::Seq;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<CatalogEvent>),
    Close,
    Drop,
    ReadAfter(u64),
}

fn catalog_event() -> impl Strategy<Value = CatalogEvent> {
    let name = prop::sample::select(vec!["tux", "uno", "lego", "barbie", "élan 🧸"]);
    prop_oneof![
        (name.clone(), 0u32..10_000, any::<u32>()).prop_map(|(n, cents, quantity)| {
            CatalogEvent::ProductAdded {
                name: n.try_into().unwrap(),
                price: f64::from(cents) / 100.0,
                quantity,
            }
        }),
        (name.clone(), "[a-z0-9-]{1,12}", 1u32..100).prop_map(|(n, request_id, quantity)| {
            CatalogEvent::Purchased {
                request_id: request_id.try_into().unwrap(),
                name: n.try_into().unwrap(),
                quantity: quantity.try_into().unwrap(),
            }
        }),
        (name, any::<u32>()).prop_map(|(n, added)| CatalogEvent::Restocked {
            name: n.try_into().unwrap(),
            added,
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(catalog_event(), 0..6).prop_map(Op::Append),
        1 => Just(Op::Close),
        1 => Just(Op::Drop),
        // Often past the end, to cover reads after the last event.
        2 => (0u64..40).prop_map(Op::ReadAfter),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn the_log_behaves_like_a_vec(ops in prop::collection::vec(op(), 1..24)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        let mut model: Vec<CatalogEvent> = Vec::new();
        let mut log = open_counts(&path);

        for op in ops {
            match op {
                Op::Append(events) => {
                    let seqs = log.append_blocking(events.clone()).unwrap();
                    let first = model.len() as u64 + 1;
                    let expected: Vec<_> = (first..first + events.len() as u64).map(Seq).collect();
                    prop_assert_eq!(seqs, expected);
                    model.extend(events);
                }
                Op::Close => {
                    log.close();
                    log = open_counts(&path);
                }
                Op::Drop => {
                    drop(log);
                    log = open_counts(&path);
                }
                Op::ReadAfter(after) => {
                    let got: Vec<_> = log
                        .read_after(Seq(after))
                        .unwrap()
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap();
                    let expected: Vec<_> = model
                        .iter()
                        .cloned()
                        .enumerate()
                        .map(|(i, e)| (Seq(i as u64 + 1), e))
                        .skip(usize::try_from(after).unwrap())
                        .collect();
                    prop_assert_eq!(got, expected);
                }
            }
            prop_assert_eq!(log.last_seq(), Seq(model.len() as u64));
        }

        let stored: Vec<_> = read_all(&log).into_iter().map(|(_, e)| e).collect();
        prop_assert_eq!(&stored, &model);
        prop_assert_eq!(counts_of(&log), expected_counts(&model));
    }
}
