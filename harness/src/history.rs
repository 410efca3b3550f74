//! [`History`]: a chaos run's history as it happens — what the clients invoked and what
//! they saw, and what the nemesis did — as one time-ordered list of the checker's
//! [`Line`]s, written out as JSONL.
//!
//! Cheap to clone (one shared list); every line is stamped with milliseconds since the run
//! began under the list's lock, so the list is in time order.

use crate::checker::Line;
use anyhow::Context;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// A shared, growing history.
#[derive(Debug, Clone)]
pub struct History {
    origin: Instant,
    lines: Arc<Mutex<Vec<Line>>>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// An empty history whose clock starts now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            lines: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn push(&self, line: impl FnOnce(f64) -> Line) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let t = self.now_ms();
        lines.push(line(t));
    }

    /// A client sends purchase `key`.
    pub fn invoke(&self, key: &str, name: &str, quantity: u32) {
        self.push(|t| Line::Invoke {
            t,
            key: key.to_string(),
            name: name.to_string(),
            quantity,
        });
    }

    /// Purchase `key` was acknowledged as order `order`.
    pub fn ok(&self, key: &str, order: u64) {
        self.push(|t| Line::Ok {
            t,
            key: key.to_string(),
            order,
        });
    }

    /// Purchase `key` was refused for good: nothing was bought.
    pub fn fail(&self, key: &str) {
        self.push(|t| Line::Fail {
            t,
            key: key.to_string(),
        });
    }

    /// Purchase `key` ended without saying whether it happened.
    pub fn unknown(&self, key: &str) {
        self.push(|t| Line::Unknown {
            t,
            key: key.to_string(),
        });
    }

    /// A fault of `kind` begins.
    pub fn fault(&self, kind: &str) {
        self.push(|t| Line::Fault {
            t,
            kind: kind.to_string(),
        });
    }

    /// The fault of `kind` was undone.
    pub fn heal(&self, kind: &str) {
        self.push(|t| Line::Heal {
            t,
            kind: kind.to_string(),
        });
    }

    /// When the latest acknowledged purchase was acknowledged (ms since the run began).
    pub fn last_ok_ms(&self) -> Option<f64> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().rev().find_map(|l| match l {
            Line::Ok { t, .. } => Some(*t),
            _ => None,
        })
    }

    /// Milliseconds since the run began, to the microsecond (so that the JSONL's decimal
    /// reads back as exactly the same number).
    pub fn now_ms(&self) -> f64 {
        self.origin.elapsed().as_micros() as f64 / 1000.0
    }

    /// A copy of every line so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes every line so far to `path`, one JSON object a line.
    pub fn write_jsonl(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = String::new();
        for line in self.lines() {
            out += &serde_json::to_string(&line)?;
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::checker::read_history;

    #[test]
    fn lines_are_in_time_order_and_read_back_as_written() {
        let h = History::new();
        h.fault("kill-leader");
        h.invoke("k1", "Tux", 2);
        h.clone().ok("k1", 7);
        h.invoke("k2", "Whale", 1);
        h.unknown("k2");
        h.heal("kill-leader");
        let lines = h.lines();
        assert_eq!(lines.len(), 6);
        let times: Vec<f64> = lines
            .iter()
            .map(|l| serde_json::to_value(l).unwrap()["t"].as_f64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        h.write_jsonl(&path).unwrap();
        let back = read_history(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, lines);
        assert!(matches!(&back[2], Line::Ok { key, order: 7, .. } if key == "k1"));
    }
}
