//! Line charts as SVG files (plotters): the evaluation's latency plots ([`line_chart`]) and
//! any chart with chosen axis scales, e.g. log-log growth plots ([`chart`]).

use anyhow::Context;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// (x, y) points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Draw with hollow markers and a thin line (e.g. the "cache off" variant).
    pub dashed: bool,
}

/// Series colours. [`line_chart`] cycles through the first three (so that series `i` and
/// `i + 3` share a colour, e.g. one request type with the cache on and off); [`chart`] uses
/// all of them.
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Colours [`line_chart`] cycles through.
const LINE_CHART_COLORS: usize = 3;

/// Writes a line chart of `series` to `path` (SVG) with a linear x axis and a logarithmic y
/// axis, so that fast and slow request types are both readable on one chart. Colours cycle
/// through the first [`LINE_CHART_COLORS`], so series `i` and `i + 3` share one (a request
/// type with the cache on and off).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    let x = Axis {
        label: x_label,
        scale: Scale::Linear,
    };
    let y = Axis {
        label: y_label,
        scale: Scale::Log,
    };
    draw_chart(path, title, (x, y), series, LINE_CHART_COLORS)
}

/// How an axis maps values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Equal differences are equal distances.
    Linear,
    /// Equal ratios are equal distances; values at or below zero are not drawn.
    Log,
}

impl Scale {
    /// The position of a value on the axis (log10 of it on a log axis).
    fn position(self, value: f64) -> f64 {
        match self {
            Scale::Linear => value,
            Scale::Log => value.log10(),
        }
    }

    /// The value at a position.
    fn value(self, position: f64) -> f64 {
        match self {
            Scale::Linear => position,
            Scale::Log => 10f64.powf(position),
        }
    }

    fn shows(self, value: f64) -> bool {
        value.is_finite() && (self == Scale::Linear || value > 0.0)
    }
}

/// One axis of a [`chart`].
#[derive(Debug, Clone, Copy)]
pub struct Axis<'a> {
    /// The axis title.
    pub label: &'a str,
    /// Its scale.
    pub scale: Scale,
}

/// Writes a line chart of `series` to `path` (SVG) with the given axes, e.g. time against
/// size on log-log axes. Unlike [`line_chart`], every series gets its own colour (eight,
/// then they repeat); a `dashed` series is drawn thin with hollow markers. Ticks fall on
/// 1, 2 and 5 times powers of ten (a log axis) or on a round step (a linear one), and are
/// labelled compactly (`20k`, `1M`, `0.05`).
pub fn chart(
    path: &Path,
    title: &str,
    x: Axis<'_>,
    y: Axis<'_>,
    series: &[Series],
) -> anyhow::Result<()> {
    draw_chart(path, title, (x, y), series, PALETTE.len())
}

/// [`chart`], with colours cycling through the first `colors` of the palette.
fn draw_chart(
    path: &Path,
    title: &str,
    (x, y): (Axis<'_>, Axis<'_>),
    series: &[Series],
    colors: usize,
) -> anyhow::Result<()> {
    let placed: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter(|(a, b)| x.scale.shows(*a) && y.scale.shows(*b))
                .map(|(a, b)| (x.scale.position(*a), y.scale.position(*b)))
                .collect()
        })
        .collect();
    let x_range = padded(bounds(placed.iter().flatten().map(|p| p.0)), x.scale, 1.0);
    // Room at the top for the legend.
    let y_range = padded(bounds(placed.iter().flatten().map(|p| p.1)), y.scale, 4.0);
    let x_ticks = ticks(x.scale, &x_range);
    let y_ticks = ticks(y.scale, &y_range);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let draw = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(
            Ticked {
                inner: x_range.into(),
                ticks: x_ticks,
            },
            Ticked {
                inner: y_range.into(),
                ticks: y_ticks,
            },
        )
        .map_err(|e| draw(&e))?;
    chart
        .configure_mesh()
        .x_desc(x.label)
        .y_desc(y.label)
        .x_label_formatter(&|p| compact(x.scale.value(*p)))
        .y_label_formatter(&|p| compact(y.scale.value(*p)))
        .draw()
        .map_err(|e| draw(&e))?;
    for (i, (s, points)) in series.iter().zip(&placed).enumerate() {
        let color = PALETTE[i % colors.clamp(1, PALETTE.len())];
        let line = if s.dashed {
            color.mix(0.7).stroke_width(1)
        } else {
            color.stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(points.iter().copied(), line))
            .map_err(|e| draw(&e))?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
        let marker = if s.dashed {
            color.stroke_width(1)
        } else {
            color.filled()
        };
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, marker)))
            .map_err(|e| draw(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| draw(&e))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A linear axis of positions (values, or log10 of values) with the ticks we chose.
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// The drawn range of positions `lo..hi`, padded; `top` times the usual padding above
/// (room for a legend). A single value gets a range around it.
fn padded((lo, hi): (f64, f64), scale: Scale, top: f64) -> std::ops::Range<f64> {
    let span = hi - lo;
    let pad = match scale {
        // In decades.
        Scale::Log => (span * 0.06).max(0.1),
        Scale::Linear if span > 0.0 => span * 0.06,
        Scale::Linear => (hi.abs() * 0.1).max(1.0),
    };
    (lo - pad)..(hi + pad * top)
}

/// Tick positions within `range`: 1, 2 and 5 times powers of ten on a log axis (only the
/// powers of ten when it spans more than four decades), a round step on a linear one.
fn ticks(scale: Scale, range: &std::ops::Range<f64>) -> Vec<f64> {
    if scale == Scale::Log {
        let decades = range.end - range.start;
        let steps: &[f64] = if decades > 4.0 {
            &[1.0]
        } else {
            &[1.0, 2.0, 5.0]
        };
        let first = range.start.floor() as i32;
        let last = range.end.ceil() as i32;
        let ticks: Vec<f64> = (first..=last)
            .flat_map(|k| steps.iter().map(move |m| m.log10() + f64::from(k)))
            .filter(|p| range.contains(p))
            .collect();
        if ticks.len() >= 2 {
            return ticks;
        }
    }
    let raw = (range.end - range.start) / 6.0;
    if !(raw.is_finite() && raw > 0.0) {
        return Vec::new();
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let start = (range.start / step).ceil() as i64;
    let end = (range.end / step).floor() as i64;
    (start..=end).map(|i| i as f64 * step).collect()
}

/// A tick label: at most four significant digits, `k`, `M` and `G` for thousands, millions
/// and billions.
pub fn compact(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let digits = if scaled == 0.0 {
        0
    } else {
        (3 - scaled.abs().log10().floor() as i32).clamp(0, 6) as usize
    };
    let mut text = format!("{scaled:.digits$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if text == "-0" {
        text = "0".into();
    }
    format!("{text}{suffix}")
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn compact_labels() {
        assert_eq!(compact(10_000.0), "10k");
        assert_eq!(compact(1_000_000.0), "1M");
        assert_eq!(compact(250_000.0), "250k");
        assert_eq!(compact(0.05), "0.05");
        assert_eq!(compact(2.0), "2");
        assert_eq!(compact(12.5), "12.5");
        assert_eq!(compact(0.0), "0");
    }

    #[test]
    fn log_ticks_fall_on_1_2_5_and_linear_ticks_on_a_round_step() {
        let t = ticks(Scale::Log, &(3.9..6.1));
        let values: Vec<f64> = t.iter().map(|p| (Scale::Log.value(*p)).round()).collect();
        assert_eq!(
            values,
            vec![
                10_000.0,
                20_000.0,
                50_000.0,
                100_000.0,
                200_000.0,
                500_000.0,
                1_000_000.0
            ]
        );
        assert_eq!(
            ticks(Scale::Linear, &(0.0..30.0)),
            vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
    }

    #[test]
    fn chart_writes_an_svg_on_log_axes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.svg");
        let series = vec![
            Series {
                label: "linear".into(),
                points: vec![(1e4, 0.01), (1e5, 0.1), (1e6, 1.0)],
                dashed: false,
            },
            Series {
                label: "flat".into(),
                points: vec![(1e4, 0.2), (1e5, 0.2), (1e6, 0.0)],
                dashed: true,
            },
        ];
        let log = |label| Axis {
            label,
            scale: Scale::Log,
        };
        chart(&path, "t", log("orders"), log("seconds"), &series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg") && svg.contains("linear") && svg.contains("1M"));
    }
}
