//! What `tools growth` prints: the tables, the goals with pass or miss, and how each
//! figure grows with N.

use super::buys::{CLIENTS, SNAPSHOT_EVERY};
use super::figures::{
    mb, mem_mb, SizeResult, GOAL_BUY_P99_FACTOR, GOAL_BUY_THROUGHPUT_FACTOR, GOAL_CATCHUP_PER_SEC,
    GOAL_FILE_FACTOR, GOAL_REPLAY_PER_SEC, GOAL_RSS_FLAT_FACTOR, GOAL_RSS_MB, GOAL_STARTUP_ORDERS,
    GOAL_STARTUP_SECS,
};
use serde::Serialize;
use std::fmt::Write as _;
use toystore_harness::memory::Memory;
use toystore_harness::table::Table;

/// The tables, goals and scaling, as printed at the end of `tools growth`.
pub fn text(results: &[SizeResult]) -> String {
    let mut s = String::new();
    let starts = results.first().map_or(0, |r| r.startup_alone.samples.len());
    let _ = writeln!(
        s,
        "Times (seconds; a start-up is the median of {starts} starts, stopped cleanly in between)\n"
    );
    let f3 = |x: f64| format!("{x:.3}");
    let mut times = Table::new([
        "orders",
        "generate",
        "replay",
        "diff (3 files)",
        "start-up alone",
        "start-up with a peer",
        "catch-up",
        "snapshot transfer",
        "snapshot install",
    ]);
    for r in results {
        times.push([
            r.orders.to_string(),
            f3(r.generate.secs),
            f3(r.replay.secs),
            f3(r.diff.secs),
            f3(r.startup_alone.secs),
            f3(r.startup_with_peer.secs),
            f3(r.catchup.secs),
            f3(r.snapshot.transfer_secs),
            f3(r.snapshot.install_secs),
        ]);
    }
    s += &times.markdown();
    let _ = writeln!(s, "\nRates and sizes\n");
    let mut rates = Table::new([
        "orders",
        "generate orders/s",
        "replay events/s",
        "catch-up orders/s",
        "file MB",
        "caught-up file MB",
        "snapshot events",
        "snapshot build ms",
    ]);
    for r in results {
        rates.push([
            r.orders.to_string(),
            format!("{:.0}", r.generate.orders_per_sec),
            format!("{:.0}", r.replay.events_per_sec),
            format!("{:.0}", r.catchup.orders_per_sec),
            format!("{:.1}", mb(r.generate.file_bytes)),
            format!("{:.1}", mb(r.catchup.file_bytes)),
            r.snapshot.events.to_string(),
            format!("{:.2}", r.generate.snapshot_build_secs * 1000.0),
        ]);
    }
    s += &rates.markdown();
    let _ = writeln!(
        s,
        "\nFile space, MB (10^6 bytes): the events' keys and values, the pages of the \
         request-id index and of every table, the file's length\n"
    );
    let mut space_table = Table::new([
        "orders",
        "events",
        "index pages",
        "all tables' pages",
        "file",
        "file / events",
        "caught-up: index pages, all pages, file",
    ]);
    let index = |space: &super::figures::FileSpace| {
        space
            .tables
            .iter()
            .find(|t| t.name == "request_index")
            .map_or(0, |t| t.page_bytes)
    };
    for r in results {
        let space = &r.generate.space;
        let caught_up = &r.catchup.space;
        space_table.push([
            r.orders.to_string(),
            format!("{:.1}", mb(space.event_bytes)),
            format!("{:.1}", mb(index(space))),
            format!("{:.1}", mb(space.page_bytes)),
            format!("{:.1}", mb(space.file_bytes)),
            format!("{:.2}", space.factor()),
            format!(
                "{:.1}, {:.1}, {:.1}",
                mb(index(caught_up)),
                mb(caught_up.page_bytes),
                mb(caught_up.file_bytes)
            ),
        ]);
    }
    s += &space_table.markdown();
    let _ = writeln!(
        s,
        "\nBuys through the whole store ({CLIENTS} clients, closed loop), on an empty store and \
         then on the replicas holding N orders; snapshots: changes of a replica's current \
         snapshot during the run (one every {SNAPSHOT_EVERY} entries)\n"
    );
    let mut buys = Table::new([
        "orders",
        "buys/s empty, N",
        "ratio",
        "p99 ms empty, N",
        "ratio",
        "p99.9 ms empty, N",
        "snapshots empty, N",
        "errors",
    ]);
    for r in results {
        let Some(b) = &r.buys else {
            continue;
        };
        buys.push([
            r.orders.to_string(),
            format!("{:.0}, {:.0}", b.empty.buys_per_sec, b.full.buys_per_sec),
            format!(
                "{:.2}",
                b.full.buys_per_sec / b.empty.buys_per_sec.max(1e-9)
            ),
            format!("{:.1}, {:.1}", b.empty.p99_ms, b.full.p99_ms),
            format!("{:.2}", b.full.p99_ms / b.empty.p99_ms.max(1e-9)),
            format!("{:.1}, {:.1}", b.empty.p999_ms, b.full.p999_ms),
            format!("{}, {}", b.empty.snapshots, b.full.snapshots),
            (b.empty.errors + b.full.errors).to_string(),
        ]);
    }
    s += &buys.markdown();
    let _ = writeln!(
        s,
        "\nA backup of the order leader (`tools backup`) taken a quarter into a third buy run \
         on the replicas holding N orders, against the run without it\n"
    );
    let mut backups = Table::new([
        "orders",
        "backup s",
        "MB",
        "events/s",
        "buys/s without, with",
        "p99.9 ms without, with",
        "longest buy ms without, with",
    ]);
    for r in results {
        let Some(b) = &r.buys else {
            continue;
        };
        let w = &b.with_backup;
        backups.push([
            r.orders.to_string(),
            format!("{:.2}", w.secs),
            format!("{:.1}", w.bytes as f64 / 1e6),
            format!("{:.0}", w.events as f64 / w.secs.max(1e-9)),
            format!("{:.0}, {:.0}", b.full.buys_per_sec, w.run.buys_per_sec),
            format!("{:.1}, {:.1}", b.full.p999_ms, w.run.p999_ms),
            format!("{:.1}, {:.1}", b.full.max_ms, w.run.max_ms),
        ]);
    }
    s += &backups.markdown();
    let _ = writeln!(s, "\nReplica memory, MB: peak VmHWM (VmRSS at the time)\n");
    let mut memory = Table::new([
        "orders",
        "started alone",
        "started with a peer",
        "caught up",
        "catch-up source (leader)",
    ]);
    let m = |x: &Memory| format!("{:.1} ({:.1})", mem_mb(x.hwm_kib), mem_mb(x.rss_kib));
    for r in results {
        memory.push([
            r.orders.to_string(),
            m(&r.startup_alone.memory),
            m(&r.startup_with_peer.memory),
            m(&r.catchup.memory),
            m(&r.catchup.source_memory),
        ]);
    }
    s += &memory.markdown();
    let _ = writeln!(s, "\nChecks\n");
    for r in results {
        let _ = writeln!(
            s,
            "- N = {}: ready alone at last_seq {}, with a peer at {}, caught up to {}; replay {} ({} events); diff {} ({} files, last seq {})",
            r.orders,
            r.startup_alone.last_seq,
            r.startup_with_peer.last_seq,
            r.catchup.last_seq,
            if r.replay.consistent { "consistent" } else { "INCONSISTENT" },
            r.replay.events,
            if r.diff.identical { "identical" } else { "DIFFERENT" },
            r.diff.files,
            r.diff.last_seq,
        );
    }
    s.push_str(&goals_text(results));
    s.push_str(&scaling_text(results));
    s
}

/// One goal at one N.
#[derive(Debug, Clone, Serialize)]
pub struct GoalCheck {
    /// The goal.
    pub goal: String,
    /// What was measured, with its unit.
    pub measured: String,
    /// Met.
    pub pass: bool,
    /// How far off a miss is (measured / target for a limit, target / measured for a
    /// floor); 1 or less for a pass.
    pub factor: f64,
}

fn at_most(goal: String, value: f64, limit: f64, unit: &str) -> GoalCheck {
    GoalCheck {
        goal,
        measured: format!("{value:.3} {unit}"),
        pass: value <= limit,
        factor: value / limit,
    }
}

fn at_least(goal: String, value: f64, floor: f64, unit: &str) -> GoalCheck {
    GoalCheck {
        goal,
        measured: format!("{value:.0} {unit}"),
        pass: value >= floor,
        factor: if value > 0.0 {
            floor / value
        } else {
            f64::INFINITY
        },
    }
}

/// The goals, checked at the largest N measured (the start-up goal is stated for 1M orders;
/// at a smaller N it is only indicative).
pub fn goals(results: &[SizeResult]) -> Vec<GoalCheck> {
    let Some(r) = results.iter().max_by_key(|r| r.orders) else {
        return Vec::new();
    };
    let n = r.orders;
    let mut checks = vec![
        at_most(
            format!("start-up to ready, alone, N = {n}: < {GOAL_STARTUP_SECS} s (stated for N = {GOAL_STARTUP_ORDERS})"),
            r.startup_alone.secs,
            GOAL_STARTUP_SECS,
            "s",
        ),
        at_most(
            format!("start-up to ready, with a ready peer, N = {n}: < {GOAL_STARTUP_SECS} s"),
            r.startup_with_peer.secs,
            GOAL_STARTUP_SECS,
            "s",
        ),
        at_least(
            format!("catch-up, N = {n}: >= {GOAL_CATCHUP_PER_SEC:.0} orders/s"),
            r.catchup.orders_per_sec,
            GOAL_CATCHUP_PER_SEC,
            "orders/s",
        ),
        at_least(
            format!("tools replay, N = {n}: >= {GOAL_REPLAY_PER_SEC:.0} events/s"),
            r.replay.events_per_sec,
            GOAL_REPLAY_PER_SEC,
            "events/s",
        ),
        at_most(
            format!("file over its events' bytes, N = {n}: <= {GOAL_FILE_FACTOR}x"),
            r.generate.space.factor(),
            GOAL_FILE_FACTOR,
            "x",
        ),
        at_most(
            format!("every replica's peak RSS, N = {n}: < {GOAL_RSS_MB} MB"),
            mem_mb(r.max_hwm_kib),
            GOAL_RSS_MB,
            "MB",
        ),
    ];
    if let Some(b) = &r.buys {
        let tput = b.full.buys_per_sec / b.empty.buys_per_sec.max(1e-9);
        checks.push(GoalCheck {
            goal: format!(
                "buys on N = {n} orders: >= {GOAL_BUY_THROUGHPUT_FACTOR}x an empty store's throughput"
            ),
            measured: format!(
                "{:.0} vs {:.0} buys/s ({tput:.2}x)",
                b.full.buys_per_sec, b.empty.buys_per_sec
            ),
            pass: tput >= GOAL_BUY_THROUGHPUT_FACTOR,
            factor: GOAL_BUY_THROUGHPUT_FACTOR / tput.max(1e-9),
        });
        let p99 = b.full.p99_ms / b.empty.p99_ms.max(1e-9);
        checks.push(GoalCheck {
            goal: format!("buys on N = {n} orders: p99 <= {GOAL_BUY_P99_FACTOR}x an empty store's"),
            measured: format!(
                "{:.1} vs {:.1} ms ({p99:.2}x; {} snapshots during the run)",
                b.full.p99_ms, b.empty.p99_ms, b.full.snapshots
            ),
            pass: p99 <= GOAL_BUY_P99_FACTOR,
            factor: p99 / GOAL_BUY_P99_FACTOR,
        });
    }
    if let Some(small) = results
        .iter()
        .min_by_key(|r| r.orders)
        .filter(|s| s.orders < n)
    {
        let ratio = r.max_hwm_kib as f64 / small.max_hwm_kib.max(1) as f64;
        checks.push(GoalCheck {
            goal: format!(
                "peak RSS flat: N = {n} at most {GOAL_RSS_FLAT_FACTOR}x N = {}",
                small.orders
            ),
            measured: format!(
                "{:.1} MB vs {:.1} MB ({ratio:.2}x)",
                mem_mb(r.max_hwm_kib),
                mem_mb(small.max_hwm_kib)
            ),
            pass: ratio <= GOAL_RSS_FLAT_FACTOR,
            factor: ratio / GOAL_RSS_FLAT_FACTOR,
        });
    }
    checks
}

fn goals_text(results: &[SizeResult]) -> String {
    let mut s = String::from("\nGoals\n\n");
    for g in goals(results) {
        let verdict = if g.pass {
            "PASS".to_string()
        } else {
            format!("MISS by {:.1}x", g.factor)
        };
        let _ = writeln!(s, "- {}: {} -> {verdict}", g.goal, g.measured);
    }
    s
}

/// How a figure grows with N between the two largest sizes: the exponent b of N^b.
pub fn exponent(results: &[SizeResult], figure: impl Fn(&SizeResult) -> f64) -> Option<f64> {
    let mut by_n: Vec<&SizeResult> = results.iter().collect();
    by_n.sort_by_key(|r| r.orders);
    let [.., a, b] = by_n.as_slice() else {
        return None;
    };
    let (ya, yb) = (figure(a), figure(b));
    (ya > 0.0 && yb > 0.0 && b.orders > a.orders)
        .then(|| (yb / ya).ln() / (b.orders as f64 / a.orders as f64).ln())
}

/// A figure whose growth is reported: its name, unit, and value (in that unit).
type Figure = (&'static str, &'static str, fn(&SizeResult) -> f64);

/// The figures whose growth is reported.
const FIGURES: [Figure; 12] = [
    ("generate", "s", |r| r.generate.secs),
    ("tools replay", "s", |r| r.replay.secs),
    ("tools diff", "s", |r| r.diff.secs),
    ("start-up alone", "s", |r| r.startup_alone.secs),
    ("start-up with a peer", "s", |r| r.startup_with_peer.secs),
    ("catch-up", "s", |r| r.catchup.secs),
    ("generated file", "MB", |r| mb(r.generate.file_bytes)),
    ("caught-up file", "MB", |r| mb(r.catchup.file_bytes)),
    ("peak RSS, started alone", "MB", |r| {
        mem_mb(r.startup_alone.memory.hwm_kib)
    }),
    ("peak RSS, started with a peer", "MB", |r| {
        mem_mb(r.startup_with_peer.memory.hwm_kib)
    }),
    ("peak RSS, caught up", "MB", |r| {
        mem_mb(r.catchup.memory.hwm_kib)
    }),
    ("peak RSS, catch-up source", "MB", |r| {
        mem_mb(r.catchup.source_memory.hwm_kib)
    }),
];

fn scaling_text(results: &[SizeResult]) -> String {
    let mut by_n: Vec<u64> = results.iter().map(|r| r.orders).collect();
    by_n.sort_unstable();
    let [.., a, b] = by_n.as_slice() else {
        return String::new();
    };
    let mut s = format!(
        "\nGrowth from N = {a} to N = {b} (figure ~ N^b: b below 0.25 flat, 0.8 to 1.25 linear)\n\n"
    );
    let at = |n: u64| results.iter().find(|r| r.orders == n);
    for (name, unit, figure) in FIGURES {
        let (Some(e), Some(ra), Some(rb)) = (exponent(results, figure), at(*a), at(*b)) else {
            continue;
        };
        let kind = if e < 0.25 {
            "flat"
        } else if (0.8..=1.25).contains(&e) {
            "linear"
        } else if e < 0.8 {
            "sublinear"
        } else {
            "superlinear"
        };
        let _ = writeln!(
            s,
            "- {name}: {:.3} {unit} -> {:.3} {unit}, b = {e:.2} ({kind})",
            figure(ra),
            figure(rb)
        );
    }
    s
}
