//! Bar charts drawn on the server as inline SVG: no chart library, no script, and nothing the
//! CSP has to allow (colours come from classes in `console.css`, not `style` attributes).
//!
//! One chart shape is enough for the console: groups of bars along a time axis (one group per
//! week), one bar per series, a y axis with round steps, and a `<title>` on every bar so a
//! pointer or a screen reader gets the exact value. Empty values (a week with nothing to
//! measure) draw no bar, which is different from a bar of zero.

use maud::{html, Markup};

/// One series: its legend text, its CSS class (the bar colour) and a value per group.
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<Option<f64>>,
}

/// A grouped bar chart.
pub struct BarChart<'a> {
    /// The `id` of the `<svg>`, also the prefix of its title's id.
    pub id: &'a str,
    /// What it shows, in words (the SVG's `<title>`).
    pub title: &'a str,
    /// One label per group.
    pub labels: Vec<String>,
    pub series: Vec<Series<'a>>,
    /// Candidate y-axis steps, smallest first: the first that covers the highest value in
    /// four steps is used.
    pub steps: &'a [f64],
    /// How a value is written on the axis and in the bars' titles.
    pub format: fn(f64) -> String,
}

const W: f64 = 640.0;
const H: f64 = 200.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;
const TICKS: usize = 4;

/// The y-axis step: the first candidate that reaches `max` in [`TICKS`] steps, else the last
/// candidate scaled up until it does.
pub fn step(max: f64, steps: &[f64]) -> f64 {
    let mut step = steps.iter().copied().find(|s| s * TICKS as f64 >= max);
    if step.is_none() {
        let mut s = steps.last().copied().unwrap_or(1.0);
        while s * (TICKS as f64) < max {
            s *= 2.0;
        }
        step = Some(s);
    }
    step.unwrap_or(1.0)
}

fn num(v: f64) -> String {
    format!("{v:.1}")
}

impl BarChart<'_> {
    pub fn render(&self) -> Markup {
        let groups = self.labels.len().max(1);
        let max = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .copied()
            .fold(0.0_f64, f64::max);
        let step = step(max, self.steps);
        let top_value = step * TICKS as f64;
        let plot_w = W - LEFT - RIGHT;
        let plot_h = H - TOP - BOTTOM;
        let y = |v: f64| TOP + plot_h - (v / top_value) * plot_h;
        let group_w = plot_w / groups as f64;
        let bar_w = group_w * 0.72 / self.series.len().max(1) as f64;
        // Label every group while they fit, else every second or fourth.
        let every = groups.div_ceil(12).next_power_of_two();
        let title_id = format!("{}-title", self.id);
        html! {
            figure.chart {
                svg id=(self.id) viewBox={"0 0 " (W) " " (H)} role="img" aria-labelledby=(title_id)
                    xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet" {
                    title id=(title_id) { (self.title) }
                    @for i in 0..=TICKS {
                        @let v = step * i as f64;
                        line.grid x1=(LEFT) x2=(W - RIGHT) y1=(num(y(v))) y2=(num(y(v))) {}
                        text.axis x=(LEFT - 6.0) y=(num(y(v) + 4.0)) text-anchor="end" { ((self.format)(v)) }
                    }
                    @for (g, label) in self.labels.iter().enumerate() {
                        @let x0 = LEFT + group_w * g as f64 + group_w * 0.14;
                        @for (k, s) in self.series.iter().enumerate() {
                            @if let Some(Some(v)) = s.values.get(g) {
                                rect class={"bar " (s.class)} x=(num(x0 + bar_w * k as f64)) y=(num(y(*v)))
                                    width=(num(bar_w - 1.0)) height=(num((y(0.0) - y(*v)).max(0.0))) {
                                    title { (label) " · " (s.name) ": " ((self.format)(*v)) }
                                }
                            }
                        }
                        @if g % every == 0 {
                            text.axis x=(num(LEFT + group_w * (g as f64 + 0.5))) y=(H - 8.0) text-anchor="middle" { (label) }
                        }
                    }
                    line.baseline x1=(LEFT) x2=(W - RIGHT) y1=(num(y(0.0))) y2=(num(y(0.0))) {}
                }
                figcaption.legend {
                    @for s in &self.series {
                        span.key { span class={"swatch " (s.class)} aria-hidden="true" {} (s.name) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_the_first_round_one_that_covers_the_maximum() {
        let counts = [1.0, 2.0, 5.0, 10.0];
        assert_eq!(step(0.0, &counts), 1.0);
        assert_eq!(step(4.0, &counts), 1.0);
        assert_eq!(step(5.0, &counts), 2.0);
        assert_eq!(step(39.0, &counts), 10.0);
        assert_eq!(step(90.0, &counts), 40.0);
    }

    #[test]
    fn bars_carry_their_values_and_empty_groups_draw_nothing() {
        let chart = BarChart {
            id: "c",
            title: "Breaches per week",
            labels: vec!["Nov 2".into(), "Nov 9".into()],
            series: vec![Series {
                name: "breaches",
                class: "bar-breach",
                values: vec![Some(3.0), None],
            }],
            steps: &[1.0, 2.0, 5.0],
            format: |v| format!("{v}"),
        }
        .render()
        .into_string();
        assert_eq!(chart.matches("<rect").count(), 1, "{chart}");
        assert!(chart.contains("<title>Nov 2 · breaches: 3</title>"));
        assert!(chart.contains(r#"aria-labelledby="c-title""#));
        assert!(!chart.contains("style="));
    }
}
