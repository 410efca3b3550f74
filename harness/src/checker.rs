//! The history checker: what a chaos run must never show, judged from what the clients saw
//! and what the files hold afterwards.
//!
//! Inputs ([`Evidence`]): the clients' history (one [`Line`] per invocation, answer and fault,
//! as written to JSONL), every replica's order log, the catalog's event log and the stock the
//! catalog reports per toy at the end. [`check`] returns a [`Verdict`]:
//!
//! - **lost**: an acknowledged purchase (`ok` with an order number) whose order is not in the
//!   log under that number with that request id, toy and quantity;
//! - **duplicated**: a request id with two orders, or an order number acknowledged to two
//!   request ids;
//! - **gaps**: an order log whose numbers are not exactly 0, 1, 2, …;
//! - **stock**: per toy, initial + restocked − sold ≠ current (the catalog's log against its
//!   own report), or sold ≠ the quantity the order log holds for that toy (the issue's
//!   "+ released" terms are zero: a purchase left without an order is completed by the
//!   leader, never released, so the catalog's log has no release to count);
//! - **diverged**: replicas whose order logs differ;
//! - and, not a fault but a figure, the **longest window with no successful purchase** after
//!   each fault kind (from the fault's start to the next fault or the end of the history).
//!
//! It is a plain function over data, so its own tests feed it crafted histories that must
//! fail.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use toystore_events::{CatalogEvent, OrderEvent};

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    /// A client sends a purchase.
    Invoke {
        /// Milliseconds since the run began.
        t: f64,
        /// The idempotency key.
        key: String,
        /// The toy.
        name: String,
        /// Units.
        quantity: u32,
    },
    /// The store acknowledged it as order `order`.
    Ok {
        /// Milliseconds since the run began.
        t: f64,
        /// The idempotency key.
        key: String,
        /// The order number.
        order: u64,
    },
    /// The store refused it for good (e.g. sold out): nothing was bought.
    Fail {
        /// Milliseconds since the run began.
        t: f64,
        /// The idempotency key.
        key: String,
    },
    /// No answer, or one that does not say (a 503): it may or may not have happened.
    Unknown {
        /// Milliseconds since the run began.
        t: f64,
        /// The idempotency key.
        key: String,
    },
    /// A fault began.
    Fault {
        /// Milliseconds since the run began.
        t: f64,
        /// Its kind (`kill-leader`, `pause-follower`, …).
        kind: String,
    },
    /// The fault that began last was undone (restarted, resumed, healed).
    Heal {
        /// Milliseconds since the run began.
        t: f64,
        /// The kind of the fault undone.
        kind: String,
    },
}

impl Line {
    /// When it happened: milliseconds since the run began.
    pub fn t(&self) -> f64 {
        match self {
            Line::Invoke { t, .. }
            | Line::Ok { t, .. }
            | Line::Fail { t, .. }
            | Line::Unknown { t, .. }
            | Line::Fault { t, .. }
            | Line::Heal { t, .. } => *t,
        }
    }
}

/// What the checker looks at.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The clients' history, in time order.
    pub history: Vec<Line>,
    /// Each replica's order log, by replica id.
    pub replicas: BTreeMap<u32, Vec<OrderEvent>>,
    /// The catalog's event log.
    pub catalog: Vec<CatalogEvent>,
    /// The stock the catalog reports per toy at the end.
    pub stock: BTreeMap<String, u64>,
}

/// What the checker found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verdict {
    /// Acknowledged purchases missing from the log or recorded differently: (key, number).
    pub lost: Vec<(String, u64)>,
    /// Request ids with two orders, or numbers acknowledged to two keys.
    pub duplicated: Vec<String>,
    /// Replicas whose numbers are not 0, 1, 2, … (replica id, first bad position).
    pub gaps: Vec<(u32, usize)>,
    /// Toys whose stock does not add up, with why.
    pub stock: Vec<String>,
    /// Replicas whose logs differ from the first replica's.
    pub diverged: Vec<u32>,
    /// Purchases acknowledged.
    pub acknowledged: usize,
    /// Longest window with no successful purchase after each fault kind, in ms.
    pub windows_ms: BTreeMap<String, f64>,
}

impl Verdict {
    /// True when nothing was lost, duplicated, gapped, miscounted or diverged.
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.gaps.is_empty()
            && self.stock.is_empty()
            && self.diverged.is_empty()
    }
}

/// Judges the evidence.
pub fn check(e: &Evidence) -> Verdict {
    let mut v = Verdict::default();
    // No replica file at all is an empty log: every acknowledged order is then lost.
    let empty = Vec::new();
    let log = e.replicas.values().next().unwrap_or(&empty);
    for (id, other) in &e.replicas {
        if other != log {
            v.diverged.push(*id);
        }
    }
    for (id, events) in &e.replicas {
        if let Some(at) = events
            .iter()
            .enumerate()
            .position(|(i, ev)| order_number(ev) != i as u64)
        {
            v.gaps.push((*id, at));
        }
    }
    // The log by number and by key (the first replica's; the others must equal it).
    let by_number: BTreeMap<u64, &OrderEvent> =
        log.iter().map(|ev| (order_number(ev), ev)).collect();
    let mut keys: BTreeMap<&str, u64> = BTreeMap::new();
    for ev in log {
        let OrderEvent::OrderPlaced {
            number, request_id, ..
        } = ev;
        if keys.insert(request_id.as_str(), number.get()).is_some() {
            v.duplicated
                .push(format!("request id {request_id} has two orders"));
        }
    }
    // What each key asked for, then what was acknowledged.
    let mut asked: BTreeMap<&str, (&str, u32)> = BTreeMap::new();
    let mut acked: BTreeMap<u64, &str> = BTreeMap::new();
    for line in &e.history {
        match line {
            Line::Invoke {
                key,
                name,
                quantity,
                ..
            } => {
                asked.insert(key, (name, *quantity));
            }
            Line::Ok { key, order, .. } => {
                v.acknowledged += 1;
                if let Some(other) = acked.insert(*order, key) {
                    if other != key {
                        v.duplicated
                            .push(format!("order {order} acknowledged to {other} and {key}"));
                    }
                }
                let recorded = by_number.get(order).is_some_and(|ev| {
                    let OrderEvent::OrderPlaced {
                        request_id,
                        name,
                        quantity,
                        ..
                    } = ev;
                    request_id == key
                        && asked
                            .get(key.as_str())
                            .is_none_or(|(n, q)| name == n && *q == quantity.get())
                });
                if !recorded {
                    v.lost.push((key.clone(), *order));
                }
            }
            Line::Fail { .. } | Line::Unknown { .. } | Line::Fault { .. } | Line::Heal { .. } => {}
        }
    }
    v.stock = stock_errors(e, log);
    v.windows_ms = windows(&e.history);
    v
}

fn order_number(ev: &OrderEvent) -> u64 {
    let OrderEvent::OrderPlaced { number, .. } = ev;
    number.get()
}

/// Per toy: initial + restocked − sold = current, and sold = ordered.
fn stock_errors(e: &Evidence, log: &[OrderEvent]) -> Vec<String> {
    let mut added: BTreeMap<&str, i128> = BTreeMap::new();
    let mut sold: BTreeMap<&str, i128> = BTreeMap::new();
    for ev in &e.catalog {
        match ev {
            CatalogEvent::ProductAdded { name, quantity, .. } => {
                *added.entry(name).or_default() += i128::from(*quantity);
            }
            CatalogEvent::Restocked { name, added: n } => {
                *added.entry(name).or_default() += i128::from(*n);
            }
            CatalogEvent::Purchased { name, quantity, .. } => {
                *sold.entry(name).or_default() += i128::from(quantity.get());
            }
        }
    }
    let mut ordered: BTreeMap<&str, i128> = BTreeMap::new();
    for ev in log {
        let OrderEvent::OrderPlaced { name, quantity, .. } = ev;
        *ordered.entry(name).or_default() += i128::from(quantity.get());
    }
    let toys: BTreeSet<&str> = added
        .keys()
        .chain(sold.keys())
        .chain(ordered.keys())
        .copied()
        .chain(e.stock.keys().map(String::as_str))
        .collect();
    let mut errors = Vec::new();
    for toy in toys {
        let (a, s, o) = (
            added.get(toy).copied().unwrap_or(0),
            sold.get(toy).copied().unwrap_or(0),
            ordered.get(toy).copied().unwrap_or(0),
        );
        let current = e.stock.get(toy).map(|c| i128::from(*c));
        if current != Some(a - s) {
            errors.push(format!(
                "{toy}: added {a} − sold {s} = {} but the catalog reports {current:?}",
                a - s
            ));
        }
        if s != o {
            errors.push(format!("{toy}: the catalog sold {s}, the orders hold {o}"));
        }
    }
    errors
}

/// The window after one fault: from its start to the next fault's (or the history's end).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// The fault's kind.
    pub kind: String,
    /// When the fault began, ms into the history.
    pub at_ms: f64,
    /// The longest time in the window with no acknowledged purchase, ms.
    pub longest_ms: f64,
    /// When that longest stretch began, ms after the fault.
    pub began_ms: f64,
    /// Purchases acknowledged in the window.
    pub acknowledged: usize,
}

/// Every fault's window, in order: the longest stretch with no acknowledged purchase while
/// it is the latest fault (from its start to the next fault's, or the end of the history).
/// An outage that runs into the next fault is split at that fault's start: the rest is the
/// next fault's.
pub fn fault_windows(history: &[Line]) -> Vec<Window> {
    let end = history.iter().map(Line::t).fold(0.0, f64::max);
    let oks: Vec<f64> = history
        .iter()
        .filter_map(|l| match l {
            Line::Ok { t, .. } => Some(*t),
            _ => None,
        })
        .collect();
    let faults: Vec<(f64, &str)> = history
        .iter()
        .filter_map(|l| match l {
            Line::Fault { t, kind } => Some((*t, kind.as_str())),
            _ => None,
        })
        .collect();
    faults
        .iter()
        .enumerate()
        .map(|(i, (start, kind))| {
            let stop = faults.get(i + 1).map_or(end, |(t, _)| *t);
            let inside: Vec<f64> = oks
                .iter()
                .copied()
                .filter(|t| *t > *start && *t <= stop)
                .collect();
            let mut prev = *start;
            let (mut longest, mut began) = (0.0_f64, 0.0_f64);
            for t in inside.iter().copied().chain(std::iter::once(stop)) {
                if t - prev > longest {
                    (longest, began) = (t - prev, prev - start);
                }
                prev = t;
            }
            Window {
                kind: (*kind).to_string(),
                at_ms: *start,
                longest_ms: longest,
                began_ms: began,
                acknowledged: inside.len(),
            }
        })
        .collect()
}

/// The longest window with no acknowledged purchase per fault kind, over its faults.
fn windows(history: &[Line]) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for w in fault_windows(history) {
        let entry = out.entry(w.kind).or_default();
        *entry = entry.max(w.longest_ms);
    }
    out
}

/// Reads a JSONL history.
pub fn read_history(text: &str) -> Result<Vec<Line>, serde_json::Error> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(number: u64, key: &str, name: &str, quantity: u32) -> OrderEvent {
        OrderEvent::OrderPlaced {
            number: number.into(),
            request_id: key.try_into().unwrap(),
            name: name.try_into().unwrap(),
            quantity: quantity.try_into().unwrap(),
        }
    }

    fn bought(key: &str, name: &str, quantity: u32) -> CatalogEvent {
        CatalogEvent::Purchased {
            request_id: key.try_into().unwrap(),
            name: name.try_into().unwrap(),
            quantity: quantity.try_into().unwrap(),
        }
    }

    fn invoke(t: f64, key: &str, name: &str, quantity: u32) -> Line {
        Line::Invoke {
            t,
            key: key.into(),
            name: name.into(),
            quantity,
        }
    }

    fn ok(t: f64, key: &str, number: u64) -> Line {
        Line::Ok {
            t,
            key: key.into(),
            order: number,
        }
    }

    /// A clean run: two purchases, both acknowledged, one restock, three equal replicas.
    fn clean() -> Evidence {
        let log = vec![order(0, "a", "Tux", 2), order(1, "b", "Uno", 1)];
        Evidence {
            history: vec![
                invoke(0.0, "a", "Tux", 2),
                ok(5.0, "a", 0),
                Line::Fault {
                    t: 10.0,
                    kind: "kill-leader".into(),
                },
                invoke(11.0, "b", "Uno", 1),
                Line::Unknown {
                    t: 400.0,
                    key: "b".into(),
                },
                ok(900.0, "b", 1),
                invoke(950.0, "c", "Uno", 500),
                Line::Fail {
                    t: 960.0,
                    key: "c".into(),
                },
            ],
            replicas: (1..=3).map(|id| (id, log.clone())).collect(),
            catalog: vec![
                CatalogEvent::ProductAdded {
                    name: "Tux".try_into().unwrap(),
                    price: 1.0,
                    quantity: 2,
                },
                CatalogEvent::ProductAdded {
                    name: "Uno".try_into().unwrap(),
                    price: 1.0,
                    quantity: 10,
                },
                bought("a", "Tux", 2),
                CatalogEvent::Restocked {
                    name: "Tux".try_into().unwrap(),
                    added: 2,
                },
                bought("b", "Uno", 1),
            ],
            stock: BTreeMap::from([("Tux".into(), 2), ("Uno".into(), 9)]),
        }
    }

    #[test]
    fn a_clean_run_passes_and_reports_its_window() {
        let v = check(&clean());
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.acknowledged, 2);
        assert_eq!(v.windows_ms.get("kill-leader"), Some(&890.0));
    }

    #[test]
    fn an_outage_is_split_at_the_next_fault() {
        let fault = |t: f64, kind: &str| Line::Fault {
            t,
            kind: kind.into(),
        };
        let history = vec![
            ok(0.0, "a", 0),
            fault(100.0, "kill-leader"),
            ok(150.0, "b", 1),
            // Nothing sells from 150 to 2,000, across the next fault.
            fault(1000.0, "pause-follower"),
            ok(2000.0, "c", 2),
            ok(2900.0, "d", 3),
            fault(3000.0, "kill-leader"),
            ok(3300.0, "e", 4),
        ];
        let w = windows(&history);
        assert_eq!(w.get("kill-leader"), Some(&850.0), "150 to the next fault");
        assert_eq!(w.get("pause-follower"), Some(&1000.0), "its start to 2,000");
        let each = fault_windows(&history);
        let figures: Vec<(f64, f64, usize)> = each
            .iter()
            .map(|w| (w.longest_ms, w.began_ms, w.acknowledged))
            .collect();
        // (longest, began after the fault, acknowledged inside)
        assert_eq!(
            figures,
            [(850.0, 50.0, 1), (1000.0, 0.0, 2), (300.0, 0.0, 1)]
        );
    }

    #[test]
    fn a_lost_or_altered_order_fails() {
        let mut e = clean();
        for log in e.replicas.values_mut() {
            log.pop();
        }
        e.catalog.pop();
        e.stock.insert("Uno".into(), 10);
        let v = check(&e);
        assert_eq!(v.lost, vec![("b".to_string(), 1)]);
        let mut e = clean();
        for log in e.replicas.values_mut() {
            log[1] = order(1, "b", "Uno", 2);
        }
        assert_eq!(check(&e).lost, vec![("b".to_string(), 1)]);
    }

    #[test]
    fn a_number_given_twice_or_a_key_ordered_twice_fails() {
        let mut e = clean();
        e.history.push(ok(970.0, "c", 1));
        assert!(!check(&e).duplicated.is_empty());
        let mut e = clean();
        for log in e.replicas.values_mut() {
            log.push(order(2, "a", "Tux", 2));
        }
        let v = check(&e);
        assert!(
            v.duplicated.iter().any(|d| d.contains("two orders")),
            "{v:?}"
        );
    }

    #[test]
    fn a_gap_fails() {
        let mut e = clean();
        for log in e.replicas.values_mut() {
            log[1] = order(2, "b", "Uno", 1);
        }
        assert_eq!(check(&e).gaps.len(), 3);
    }

    #[test]
    fn stock_that_does_not_add_up_fails() {
        let mut e = clean();
        e.stock.insert("Tux".into(), 3);
        assert_eq!(check(&e).stock.len(), 1);
        // Sold by the catalog but never ordered (a half-done purchase).
        let mut e = clean();
        e.catalog.push(bought("z", "Tux", 1));
        e.stock.insert("Tux".into(), 1);
        let v = check(&e);
        assert_eq!(
            v.stock,
            vec!["Tux: the catalog sold 3, the orders hold 2".to_string()]
        );
    }

    #[test]
    fn no_replica_files_lose_every_acknowledged_order() {
        let mut e = clean();
        e.replicas.clear();
        assert_eq!(check(&e).lost.len(), 2);
    }

    #[test]
    fn diverged_replicas_fail() {
        let mut e = clean();
        e.replicas.get_mut(&3).unwrap().pop();
        let v = check(&e);
        assert_eq!(v.diverged, vec![3]);
        assert!(!v.ok());
    }

    #[test]
    fn a_history_round_trips_through_jsonl() {
        let e = clean();
        let text: String = e
            .history
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect();
        assert_eq!(read_history(&text).unwrap(), e.history);
        assert!(read_history("{\"type\":\"nope\"}").is_err());
    }
}
