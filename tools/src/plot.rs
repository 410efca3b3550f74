//! Line charts as SVG files (plotters): the evaluation's latency plots.

use anyhow::Context;
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

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Writes a line chart of `series` to `path` (SVG), with a logarithmic y axis so that
/// fast and slow request types are both readable on one chart.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (x_min, x_max) = bounds(xs);
    // The y axis is logarithmic: values are drawn as log10, labelled as values.
    let (y_min, y_max) = bounds(ys.filter(|y| *y > 0.0));
    let y_range = (y_min / 1.5).max(1e-3).log10()..(y_max * 1.5).max(1e-2).log10();
    let log = |(x, y): (f64, f64)| (x, y.log10());
    let x_pad = ((x_max - x_min) * 0.05).max(0.01);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let draw = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min - x_pad)..(x_max + x_pad), y_range)
        .map_err(|e| draw(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(6)
        .y_labels(12)
        .y_label_formatter(&|y| {
            let v = 10f64.powf(*y);
            if v < 10.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.0}")
            }
        })
        .draw()
        .map_err(|e| draw(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = if s.dashed {
            color.mix(0.6).stroke_width(1)
        } else {
            color.stroke_width(2)
        };
        let filled = !s.dashed;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied().filter(|p| p.1 > 0.0).map(log),
                line,
            ))
            .map_err(|e| draw(&e))?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
        chart
            .draw_series(
                s.points
                    .iter()
                    .copied()
                    .filter(|p| p.1 > 0.0)
                    .map(log)
                    .map(|(x, y)| {
                        let style = if filled {
                            color.filled()
                        } else {
                            color.stroke_width(1)
                        };
                        Circle::new((x, y), 4, style)
                    }),
            )
            .map_err(|e| draw(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::MiddleLeft)
        .draw()
        .map_err(|e| draw(&e))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
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
