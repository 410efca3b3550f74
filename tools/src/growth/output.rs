//! What `tools growth --out DIR` writes: `growth.csv` (one row per N), `growth.md` (the
//! printed text) and SVG plots of time, throughput and peak RSS against N on log axes.

use super::figures::{
    mem_mb, SizeResult, GOAL_CATCHUP_PER_SEC, GOAL_REPLAY_PER_SEC, GOAL_RSS_MB, GOAL_STARTUP_SECS,
};
use crate::plot::{chart, Axis, Scale, Series};
use anyhow::Context;
use std::path::Path;
use toystore_harness::memory::Memory;
use toystore_harness::table::Table;

/// `growth.csv`: one row per N.
pub fn csv(results: &[SizeResult]) -> String {
    let mut t = Table::new([
        "orders",
        "generate_secs",
        "generate_orders_per_sec",
        "file_bytes",
        "replay_secs",
        "replay_events_per_sec",
        "replay_consistent",
        "diff_secs",
        "diff_identical",
        "startup_alone_secs",
        "startup_alone_rss_kib",
        "startup_alone_hwm_kib",
        "startup_with_peer_secs",
        "startup_with_peer_rss_kib",
        "startup_with_peer_hwm_kib",
        "catchup_secs",
        "catchup_ready_secs",
        "catchup_orders_per_sec",
        "catchup_file_bytes",
        "catchup_rss_kib",
        "catchup_hwm_kib",
        "catchup_source_rss_kib",
        "catchup_source_hwm_kib",
        "max_hwm_kib",
        "snapshot_events",
        "snapshot_build_secs",
        "snapshot_transfer_secs",
        "snapshot_install_secs",
        "event_bytes",
        "page_bytes",
        "buys_empty_per_sec",
        "buys_per_sec",
        "buys_empty_p99_ms",
        "buys_p99_ms",
        "buys_p999_ms",
        "buys_snapshots",
        "buys_max_ms",
        "backup_secs",
        "backup_bytes",
        "buys_during_backup_per_sec",
        "buys_during_backup_p999_ms",
        "buys_during_backup_max_ms",
    ]);
    for r in results {
        let buy = |f: fn(&super::figures::BuyFigures) -> String| {
            r.buys.as_ref().map(f).unwrap_or_default()
        };
        t.push([
            r.orders.to_string(),
            format!("{:.4}", r.generate.secs),
            format!("{:.0}", r.generate.orders_per_sec),
            r.generate.file_bytes.to_string(),
            format!("{:.4}", r.replay.secs),
            format!("{:.0}", r.replay.events_per_sec),
            r.replay.consistent.to_string(),
            format!("{:.4}", r.diff.secs),
            r.diff.identical.to_string(),
            format!("{:.4}", r.startup_alone.secs),
            r.startup_alone.memory.rss_kib.to_string(),
            r.startup_alone.memory.hwm_kib.to_string(),
            format!("{:.4}", r.startup_with_peer.secs),
            r.startup_with_peer.memory.rss_kib.to_string(),
            r.startup_with_peer.memory.hwm_kib.to_string(),
            format!("{:.4}", r.catchup.secs),
            format!("{:.4}", r.catchup.ready_secs),
            format!("{:.0}", r.catchup.orders_per_sec),
            r.catchup.file_bytes.to_string(),
            r.catchup.memory.rss_kib.to_string(),
            r.catchup.memory.hwm_kib.to_string(),
            r.catchup.source_memory.rss_kib.to_string(),
            r.catchup.source_memory.hwm_kib.to_string(),
            r.max_hwm_kib.to_string(),
            r.snapshot.events.to_string(),
            format!("{:.6}", r.generate.snapshot_build_secs),
            format!("{:.4}", r.snapshot.transfer_secs),
            format!("{:.4}", r.snapshot.install_secs),
            r.generate.space.event_bytes.to_string(),
            r.generate.space.page_bytes.to_string(),
            buy(|b| format!("{:.0}", b.empty.buys_per_sec)),
            buy(|b| format!("{:.0}", b.full.buys_per_sec)),
            buy(|b| format!("{:.3}", b.empty.p99_ms)),
            buy(|b| format!("{:.3}", b.full.p99_ms)),
            buy(|b| format!("{:.3}", b.full.p999_ms)),
            buy(|b| b.full.snapshots.to_string()),
            buy(|b| format!("{:.3}", b.full.max_ms)),
            buy(|b| format!("{:.4}", b.with_backup.secs)),
            buy(|b| b.with_backup.bytes.to_string()),
            buy(|b| format!("{:.0}", b.with_backup.run.buys_per_sec)),
            buy(|b| format!("{:.3}", b.with_backup.run.p999_ms)),
            buy(|b| format!("{:.3}", b.with_backup.run.max_ms)),
        ]);
    }
    t.csv()
}

fn series(
    results: &[SizeResult],
    label: &str,
    dashed: bool,
    y: impl Fn(&SizeResult) -> Option<f64>,
) -> Option<Series> {
    let mut points: Vec<(f64, f64)> = results
        .iter()
        .filter_map(|r| y(r).map(|v| (r.orders as f64, v)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    (!points.is_empty()).then(|| Series {
        label: label.to_string(),
        points,
        dashed,
    })
}

fn goal_line(results: &[SizeResult], label: &str, value: f64) -> Option<Series> {
    series(results, label, true, |_| Some(value))
}

/// Writes `growth.csv`, `growth.md` (the text) and the plots to `out`.
pub fn write(out: &Path, results: &[SizeResult]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("growth.csv", &csv(results))?;
    write("growth.md", &super::report::text(results))?;
    let orders = Axis {
        label: "orders in the log (N)",
        scale: Scale::Log,
    };

    let times: Vec<Series> = [
        series(results, "generate", false, |r| Some(r.generate.secs)),
        series(results, "tools replay", false, |r| Some(r.replay.secs)),
        series(results, "tools diff (3 files)", false, |r| {
            Some(r.diff.secs)
        }),
        series(results, "start-up alone", false, |r| {
            Some(r.startup_alone.secs)
        }),
        series(results, "start-up with a peer", false, |r| {
            Some(r.startup_with_peer.secs)
        }),
        series(results, "catch-up of an empty replica", false, |r| {
            Some(r.catchup.secs)
        }),
        series(results, "snapshot install", false, |r| {
            Some(r.snapshot.install_secs)
        }),
        goal_line(results, "goal: start-up < 2 s", GOAL_STARTUP_SECS),
    ]
    .into_iter()
    .flatten()
    .collect();
    chart(
        &out.join("growth_time.svg"),
        "Time as the log grows",
        orders,
        Axis {
            label: "seconds",
            scale: Scale::Log,
        },
        &times,
    )?;

    let rates: Vec<Series> = [
        series(results, "generate, orders/s", false, |r| {
            Some(r.generate.orders_per_sec)
        }),
        series(results, "tools replay, events/s", false, |r| {
            Some(r.replay.events_per_sec)
        }),
        series(results, "catch-up, orders/s", false, |r| {
            Some(r.catchup.orders_per_sec)
        }),
        goal_line(results, "goal: replay >= 1M events/s", GOAL_REPLAY_PER_SEC),
        goal_line(
            results,
            "goal: catch-up >= 200k orders/s",
            GOAL_CATCHUP_PER_SEC,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    chart(
        &out.join("growth_rate.svg"),
        "Throughput as the log grows",
        orders,
        Axis {
            label: "per second",
            scale: Scale::Log,
        },
        &rates,
    )?;

    let hwm = |m: &Memory| Some(mem_mb(m.hwm_kib));
    let memory: Vec<Series> = [
        series(results, "started alone", false, |r| {
            hwm(&r.startup_alone.memory)
        }),
        series(results, "started with a peer", false, |r| {
            hwm(&r.startup_with_peer.memory)
        }),
        series(results, "caught up", false, |r| hwm(&r.catchup.memory)),
        series(results, "catch-up source (leader)", false, |r| {
            hwm(&r.catchup.source_memory)
        }),
        goal_line(results, "goal: < 30 MB", GOAL_RSS_MB),
    ]
    .into_iter()
    .flatten()
    .collect();
    chart(
        &out.join("growth_rss.svg"),
        "Replica peak RSS (VmHWM) as the log grows",
        orders,
        Axis {
            label: "MB",
            scale: Scale::Log,
        },
        &memory,
    )?;
    Ok(())
}
