//! `eddy serve --workers 2` against `--workers 1` (the embedded default), with the load
//! generator pinned away from the workers by `taskset`.
//!
//! That needs a core for wrk that no worker uses: with at least three usable cores, workers
//! run on the first two (one worker on the first) and wrk on the rest. With two cores there
//! is no such core; the ratio the target asks for cannot be measured, so the bench measures
//! what it can and labels it: one worker on core A with wrk on core B (a clean one-worker
//! number), and two workers on A and B with wrk also on B (wrk takes its share of B).

use crate::median;
use crate::server::fail;
use crate::servers;
use crate::wrk::{self, Load};

/// How the two measurements were placed on the cores.
pub enum Placement {
    /// wrk had cores of its own: the target's measurement.
    Apart {
        /// The cores of the two workers.
        workers: String,
        /// wrk's cores.
        wrk: String,
    },
    /// Only two cores: wrk shared the second core with the second worker.
    Shared {
        /// The two cores.
        cores: (usize, usize),
    },
}

/// What the multi-worker measurement found.
pub struct Workers {
    /// Median requests/s with one worker.
    pub one: f64,
    /// Median requests/s with two workers.
    pub two: f64,
    /// Where the servers and wrk ran.
    pub placement: Placement,
    /// The wrk flags used.
    pub flags: String,
}

impl Workers {
    /// Two workers' rate over one worker's.
    pub fn ratio(&self) -> f64 {
        self.two / self.one
    }

    /// Whether wrk ran on cores of its own, so that the ratio is the target's.
    pub fn is_pinned_apart(&self) -> bool {
        matches!(self.placement, Placement::Apart { .. })
    }

    /// One paragraph saying how this was measured.
    pub fn method(&self) -> String {
        match &self.placement {
            Placement::Apart { workers, wrk } => format!(
                "`eddy serve --workers 1` pinned to CPU {} and `--workers 2` pinned to CPUs \
                 {workers} (`taskset -c`), `wrk {}` pinned to CPUs {wrk}, which no worker uses.",
                workers.split(',').next().unwrap_or(workers),
                self.flags
            ),
            Placement::Shared { cores: (a, b) } => format!(
                "**Not measurable here**: the target needs wrk on a core no worker uses, and this \
                 machine has two cores. Measured instead: `eddy serve --workers 1` pinned to CPU \
                 {a} with `wrk {flags}` pinned to CPU {b}, and `--workers 2` pinned to CPUs \
                 {a},{b} with wrk still on CPU {b}, so the second worker shares its core with \
                 wrk. That ratio is not the target's; run on a machine with three or more cores.",
                flags = self.flags
            ),
        }
    }
}

/// The CPUs this process may run on (`Cpus_allowed_list` in /proc/self/status).
fn usable_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("0")
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(first), Ok(last)) = (first.parse::<usize>(), last.parse::<usize>()) {
            cpus.extend(first..=last);
        }
    }
    cpus
}

/// Measures both worker counts `rounds` times, alternating; None on a single core.
pub fn measure(rounds: usize, duration: &str) -> Option<Workers> {
    let cpus = usable_cpus();
    let (one_cpu, two_cpus, wrk_cpus, threads, placement) = match cpus.as_slice() {
        [] | [_] => return None,
        [a, b] => (
            a.to_string(),
            format!("{a},{b}"),
            b.to_string(),
            1,
            Placement::Shared { cores: (*a, *b) },
        ),
        [a, b, rest @ ..] => {
            let wrk_cpus = rest
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let placement = Placement::Apart {
                workers: format!("{a},{b}"),
                wrk: wrk_cpus.clone(),
            };
            (
                a.to_string(),
                format!("{a},{b}"),
                wrk_cpus,
                rest.len(),
                placement,
            )
        }
    };
    let load = Load {
        threads,
        connections: 64,
        duration: duration.to_owned(),
        cpus: Some(wrk_cpus),
        https: false,
        close: false,
        target: "/".to_owned(),
    };
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("workers round {}/{rounds}: --workers 1, then 2", round + 1);
        one.push(wrk::run(servers::eddy(1, &[], Some(&one_cpu)).addr, &load).rate);
        two.push(wrk::run(servers::eddy(2, &[], Some(&two_cpus)).addr, &load).rate);
    }
    if one.is_empty() {
        fail("no rounds");
    }
    Some(Workers {
        one: median(one),
        two: median(two),
        placement,
        flags: load.flags(),
    })
}
