//! The targets ("The hot path, redesigned"), checked against one `http` run and
//! printed as the last table: each met, or missed and by how much.

use crate::http::{EMBEDDED, HANDLER, HANDLER_PER_REQUEST, Results};
use crate::workers::Workers;

/// Which way a target points.
enum Goal {
    /// The value must be at least the target.
    AtLeast,
    /// The value must be at most the target.
    AtMost,
}

/// One target line: what, the value measured, the bound, and its unit for display.
struct Target {
    what: String,
    value: Option<f64>,
    bound: f64,
    goal: Goal,
    unit: &'static str,
    note: &'static str,
}

impl Target {
    fn status(&self) -> String {
        let Some(value) = self.value else {
            return "not measured".to_owned();
        };
        let (met, gap) = match self.goal {
            Goal::AtLeast => (value >= self.bound, self.bound - value),
            Goal::AtMost => (value <= self.bound, value - self.bound),
        };
        if met {
            "met".to_owned()
        } else {
            format!("missed by {}", show(gap, self.unit))
        }
    }
}

/// A value with its unit: `0.39×`, `12.5%`, `1350 B`.
fn show(value: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{:.1}%", value * 100.0),
        "B" => format!("{value:.0} B"),
        _ => format!("{value:.2}{unit}"),
    }
}

fn targets(results: &Results) -> Vec<Target> {
    let at_least = |what: &str, value: Option<f64>, bound: f64, note: &'static str| Target {
        what: what.to_owned(),
        value,
        bound,
        goal: Goal::AtLeast,
        unit: "×",
        note,
    };
    let at_most = |what: &str, value: Option<f64>, bound: f64, unit, note| Target {
        what: what.to_owned(),
        value,
        bound,
        goal: Goal::AtMost,
        unit,
        note,
    };
    let idle = |label_start: &str| {
        results
            .idle
            .iter()
            .find(|(label, _)| label.starts_with(label_start))
            .map(|(_, idle)| idle.bytes_per_connection())
    };
    let workers = results.workers.as_ref();
    let (eddy_echo, native_echo) = results.echo;
    vec![
        at_least(
            "embedded default / native",
            Some(results.rate_ratio(EMBEDDED)),
            0.9,
            "",
        ),
        at_least(
            "`--handler hello.wasm` (access log on) / native",
            Some(results.rate_ratio(HANDLER)),
            0.75,
            "",
        ),
        at_least(
            "`--isolation request` / native",
            Some(results.rate_ratio(HANDLER_PER_REQUEST)),
            0.4,
            "",
        ),
        at_most(
            "access log cost (1 − with / without, paired per round)",
            Some(results.access_log_cost),
            0.05,
            "%",
            "",
        ),
        at_most(
            "idle RSS per connection, embedded default",
            idle("`eddy serve` (embedded"),
            1024.0,
            "B",
            "",
        ),
        at_most(
            "idle RSS per connection, `--handler hello.wasm`",
            idle("`eddy serve --handler"),
            1024.0,
            "B",
            "",
        ),
        at_least(
            "`--workers 2` / `--workers 1`, wrk pinned apart",
            workers.filter(|w| w.is_pinned_apart()).map(Workers::ratio),
            1.7,
            "needs a third core for wrk (see above)",
        ),
        at_most(
            "p99 embedded default / nginx p99",
            Some(results.p99_ratio(EMBEDDED)),
            2.0,
            "×",
            "",
        ),
        at_most(
            "p99 `--handler hello.wasm` / nginx p99",
            Some(results.p99_ratio(HANDLER)),
            2.0,
            "×",
            "",
        ),
        at_least(
            "echo stream / native mio echo",
            Some(eddy_echo / native_echo),
            0.8,
            "",
        ),
    ]
}

/// Prints the targets table.
pub fn print(results: &Results) {
    println!("| target | measured | bound | status |");
    println!("|---|---|---|---|");
    for target in targets(results) {
        let measured = target
            .value
            .map_or_else(|| target.note.to_owned(), |v| show(v, target.unit));
        let bound = match target.goal {
            Goal::AtLeast => format!("≥ {}", show(target.bound, target.unit)),
            Goal::AtMost => format!("≤ {}", show(target.bound, target.unit)),
        };
        println!(
            "| {} | {measured} | {bound} | {} |",
            target.what,
            target.status()
        );
    }
}
