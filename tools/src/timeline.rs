//! A chaos run's timeline as SVG: what the clients saw second by second, with the faults
//! drawn as bands behind it.
//!
//! Two panels share the time axis: purchases per second (acknowledged, and failed or unknown)
//! on top, the p99 latency of the acknowledged ones (log scale) below. Each fault is a band
//! from its start to its heal, coloured by nemesis (the kind's prefix before `-`: `kill`,
//! `pause`, `partition`, `catalog`, `frontend`, `wipe`, `disk-full`). Everything is computed from the history's
//! [`Line`]s alone ([`seconds`], [`bands`]), so the picture can be redrawn from a saved
//! JSONL history (`tools timeline`, [`run`]).

use crate::plot::{compact, PALETTE};
use anyhow::Context;
use plotters::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use toystore_harness::checker::{read_history, Line};
use toystore_harness::fault::Nemesis;

/// Arguments of `tools timeline`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  tools timeline history.jsonl --out timeline.svg")]
pub struct TimelineArgs {
    /// A history written by `tools chaos --history`.
    #[arg(value_name = "HISTORY")]
    pub history: PathBuf,
    /// Where to write the SVG.
    #[arg(long)]
    pub out: PathBuf,
    /// The chart's title.
    #[arg(long, default_value = "chaos timeline")]
    pub title: String,
}

/// Runs `tools timeline`: draws a saved history.
pub fn run(args: &TimelineArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.history)
        .with_context(|| format!("reading {}", args.history.display()))?;
    let history =
        read_history(&text).with_context(|| format!("parsing {}", args.history.display()))?;
    write_svg(&args.out, &args.title, &history)?;
    println!("wrote {}", args.out.display());
    Ok(0)
}

/// What the clients saw in one second of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Second {
    /// Seconds since the run began (the bucket's start).
    pub t: f64,
    /// Purchases acknowledged in this second.
    pub acknowledged: u32,
    /// Purchases that ended refused or unknown in this second.
    pub failed: u32,
    /// The p99 latency of this second's acknowledged purchases, in ms (none without any).
    pub p99_ms: Option<f64>,
}

/// One fault, from its start to its heal, in seconds since the run began.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// When it began.
    pub start: f64,
    /// When it was undone (the end of the history if it never was).
    pub end: f64,
    /// Its kind (`kill-leader`, `partition-split`, …).
    pub kind: String,
}

impl Band {
    /// The nemesis that caused it: the nemesis whose name starts its kind (`disk-full` for
    /// `disk-full-leader`), else the kind up to its first `-`.
    pub fn nemesis(&self) -> &str {
        use clap::ValueEnum;
        let named = Nemesis::value_variants().iter().find_map(|n| {
            let value = n.to_possible_value()?;
            let name = value.get_name();
            let rest = self.kind.strip_prefix(name)?;
            (rest.is_empty() || rest.starts_with('-')).then(|| &self.kind[..name.len()])
        });
        named.unwrap_or_else(|| self.kind.split('-').next().unwrap_or(&self.kind))
    }
}

/// The history in one-second buckets, from 0 to the last line (seconds with nothing are
/// there, with zero counts, so that an outage shows as a drop to zero). A last second the
/// history covers less than half of is left out: its low counts would read as an outage.
pub fn seconds(history: &[Line]) -> Vec<Second> {
    let end = history.iter().map(Line::t).fold(0.0, f64::max);
    let count = ((end / 1000.0).round() as usize).max(1);
    let mut buckets: Vec<(u32, u32, Vec<f64>)> = vec![(0, 0, Vec::new()); count];
    let mut invoked: HashMap<&str, f64> = HashMap::new();
    for line in history {
        let bucket = |t: f64| (t / 1000.0).floor().max(0.0) as usize;
        match line {
            Line::Invoke { t, key, .. } => {
                invoked.insert(key, *t);
            }
            Line::Ok { t, key, .. } => {
                if let Some(b) = buckets.get_mut(bucket(*t)) {
                    b.0 += 1;
                    if let Some(start) = invoked.get(key.as_str()) {
                        b.2.push(t - start);
                    }
                }
            }
            Line::Fail { t, .. } | Line::Unknown { t, .. } => {
                if let Some(b) = buckets.get_mut(bucket(*t)) {
                    b.1 += 1;
                }
            }
            Line::Fault { .. } | Line::Heal { .. } => {}
        }
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, (acknowledged, failed, mut latencies))| Second {
            t: i as f64,
            acknowledged,
            failed,
            p99_ms: p99(&mut latencies),
        })
        .collect()
}

/// The faults as bands: each `Fault` ends at the next `Heal` of the same kind, or at the end
/// of the history.
pub fn bands(history: &[Line]) -> Vec<Band> {
    let end = history.iter().map(Line::t).fold(0.0, f64::max) / 1000.0;
    let mut open: Vec<Band> = Vec::new();
    let mut done: Vec<Band> = Vec::new();
    for line in history {
        match line {
            Line::Fault { t, kind } => open.push(Band {
                start: t / 1000.0,
                end,
                kind: kind.clone(),
            }),
            Line::Heal { t, kind } => {
                if let Some(i) = open.iter().position(|b| &b.kind == kind) {
                    let mut band = open.remove(i);
                    band.end = t / 1000.0;
                    done.push(band);
                }
            }
            _ => {}
        }
    }
    done.extend(open);
    done.sort_by(|a, b| a.start.total_cmp(&b.start));
    done
}

/// The 99th percentile (nearest rank) of `values`, which it sorts.
fn p99(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64) * 0.99).ceil() as usize;
    values.get(rank.clamp(1, values.len()) - 1).copied()
}

/// Band colours by nemesis, in the order they are first met: the plots' palette after its
/// first colour, which is the acknowledged line's.
const NEMESIS_COLORS: &[RGBColor] = PALETTE.split_at(1).1;
const ACKED: RGBColor = PALETTE[0];
const FAILED: RGBColor = PALETTE[1];

/// Writes the timeline of `history` to `path` as SVG.
pub fn write_svg(path: &Path, title: &str, history: &[Line]) -> anyhow::Result<()> {
    let seconds = seconds(history);
    let bands = bands(history);
    let mut colors: BTreeMap<String, RGBColor> = BTreeMap::new();
    for band in &bands {
        let next = NEMESIS_COLORS[colors.len() % NEMESIS_COLORS.len()];
        colors.entry(band.nemesis().to_string()).or_insert(next);
    }
    let x_end = seconds.len().max(1) as f64;
    let top = seconds
        .iter()
        .map(|s| s.acknowledged.max(s.failed))
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.25;
    let (lo, hi) = seconds
        .iter()
        .filter_map(|s| s.p99_ms)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        ((lo / 2.0).max(0.1), hi * 3.0)
    } else {
        (1.0, 1000.0)
    };

    let draw = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {}: {e}", path.display());
    let root = SVGBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| draw(&e))?;
    let (upper, lower) = root.split_vertically(390);

    let mut rate = ChartBuilder::on(&upper)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_end, 0.0..top)
        .map_err(|e| draw(&e))?;
    rate.configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .y_desc("purchases / s")
        .x_label_formatter(&|x| compact(*x))
        .y_label_formatter(&|y| compact(*y))
        .draw()
        .map_err(|e| draw(&e))?;
    rate.draw_series(bands.iter().map(|b| {
        let color = colors.get(b.nemesis()).copied().unwrap_or(BLACK);
        Rectangle::new([(b.start, 0.0), (b.end, top)], color.mix(0.18).filled())
    }))
    .map_err(|e| draw(&e))?;
    for (nemesis, color) in &colors {
        let color = *color;
        rate.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(|e| draw(&e))?
            .label(nemesis.as_str())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.mix(0.35).filled())
            });
    }
    let acked = ACKED.stroke_width(2);
    rate.draw_series(LineSeries::new(
        seconds
            .iter()
            .map(|s| (s.t + 0.5, f64::from(s.acknowledged))),
        acked,
    ))
    .map_err(|e| draw(&e))?
    .label("acknowledged")
    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], acked));
    let failed = FAILED.stroke_width(1);
    rate.draw_series(LineSeries::new(
        seconds.iter().map(|s| (s.t + 0.5, f64::from(s.failed))),
        failed,
    ))
    .map_err(|e| draw(&e))?
    .label("failed or unknown")
    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], failed));
    rate.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| draw(&e))?;

    let mut latency = ChartBuilder::on(&lower)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_end, (lo..hi).log_scale())
        .map_err(|e| draw(&e))?;
    latency
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .x_desc("seconds since the run began")
        .y_desc("p99 of acknowledged (ms)")
        .x_label_formatter(&|x| compact(*x))
        .y_label_formatter(&|y| compact(*y))
        .draw()
        .map_err(|e| draw(&e))?;
    latency
        .draw_series(bands.iter().map(|b| {
            let color = colors.get(b.nemesis()).copied().unwrap_or(BLACK);
            Rectangle::new([(b.start, lo), (b.end, hi)], color.mix(0.18).filled())
        }))
        .map_err(|e| draw(&e))?;
    latency
        .draw_series(
            seconds
                .iter()
                .filter_map(|s| s.p99_ms.map(|p| (s.t + 0.5, p)))
                .map(|p| Circle::new(p, 2, ACKED.filled())),
        )
        .map_err(|e| draw(&e))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn invoke(t: f64, key: &str) -> Line {
        Line::Invoke {
            t,
            key: key.into(),
            name: "Tux".into(),
            quantity: 1,
        }
    }

    fn ok(t: f64, key: &str, order: u64) -> Line {
        Line::Ok {
            t,
            key: key.into(),
            order,
        }
    }

    fn crafted() -> Vec<Line> {
        vec![
            invoke(100.0, "a"),
            ok(110.0, "a", 0),
            invoke(200.0, "b"),
            ok(400.0, "b", 1),
            Line::Fault {
                t: 1000.0,
                kind: "kill-leader".into(),
            },
            invoke(1100.0, "c"),
            Line::Unknown {
                t: 2100.0,
                key: "c".into(),
            },
            Line::Heal {
                t: 2500.0,
                kind: "kill-leader".into(),
            },
            invoke(3000.0, "d"),
            ok(3020.0, "d", 2),
            Line::Fault {
                t: 3500.0,
                kind: "partition-split".into(),
            },
        ]
    }

    #[test]
    fn seconds_count_answers_and_take_p99_of_acknowledged_latency() {
        let s = seconds(&crafted());
        assert_eq!(s.len(), 4, "0..=3 s, an empty second included");
        let short = seconds(&crafted()[..10]);
        assert_eq!(short.len(), 3, "3.02 s: the last 0.02 s is left out");
        assert_eq!((s[0].acknowledged, s[0].failed), (2, 0));
        assert_eq!(s[0].p99_ms, Some(200.0), "the slower of 10 ms and 200 ms");
        assert_eq!((s[1].acknowledged, s[1].failed, s[1].p99_ms), (0, 0, None));
        assert_eq!((s[2].acknowledged, s[2].failed), (0, 1));
        assert_eq!(s[3].p99_ms, Some(20.0));
    }

    #[test]
    fn bands_run_from_fault_to_heal_or_to_the_end() {
        let b = bands(&crafted());
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].start, b[0].end), (1.0, 2.5));
        assert_eq!(b[0].nemesis(), "kill");
        assert_eq!((b[1].start, b[1].end), (3.5, 3.5), "never healed");
        assert_eq!(b[1].nemesis(), "partition");
        let band = |kind: &str| Band {
            start: 0.0,
            end: 1.0,
            kind: kind.into(),
        };
        assert_eq!(band("disk-full-follower").nemesis(), "disk-full");
        assert_eq!(band("catalog-disk-full-leader").nemesis(), "catalog");
        assert_eq!(band("frontend-kill").nemesis(), "frontend");
    }

    #[test]
    fn writes_an_svg_with_the_bands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.svg");
        write_svg(&path, "crafted", &crafted()).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("kill") && svg.contains("partition"));
        assert!(svg.contains("acknowledged"));
    }
}
