//! Runs `wrk` and reads its report: requests per second and latency percentiles.

use std::net::SocketAddr;
use std::process::Command;

use crate::server::fail;

/// A wrk load: `wrk -t THREADS -c CONNECTIONS -d DURATION --latency`, optionally pinned.
pub struct Load {
    /// wrk threads (`-t`).
    pub threads: usize,
    /// Open keep-alive connections (`-c`).
    pub connections: usize,
    /// How long to run (`-d`, wrk's syntax: `5s`).
    pub duration: String,
    /// CPUs wrk may run on (`taskset -c`), or anywhere.
    pub cpus: Option<String>,
    /// Over TLS (`https://`).
    pub https: bool,
    /// `Connection: close`: a new connection (and handshake) per request.
    pub close: bool,
    /// The request target (`/`, or a path with a query).
    pub target: String,
}

impl Load {
    /// The flags as they appear in a table heading: `-t1 -c64 -d5s`.
    pub fn flags(&self) -> String {
        format!(
            "-t{} -c{} -d{}",
            self.threads, self.connections, self.duration
        )
    }
}

/// One wrk measurement.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Requests per second.
    pub rate: f64,
    /// 99th percentile latency in microseconds.
    pub p99_us: f64,
}

/// Runs wrk against `addr`. Fails on non-2xx answers; socket errors are reported and kept.
pub fn run(addr: SocketAddr, load: &Load) -> Measurement {
    let mut command = match &load.cpus {
        Some(cpus) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cpus, "wrk"]);
            command
        }
        None => Command::new("wrk"),
    };
    command
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}", load.duration))
        .arg("--latency")
        .arg("-H")
        .arg(if load.close {
            "Connection: close"
        } else {
            "Connection: keep-alive"
        })
        .arg(format!(
            "{}://{addr}{}",
            if load.https { "https" } else { "http" },
            load.target
        ));
    let output = command
        .output()
        .unwrap_or_else(|e| fail(&format!("run {command:?}: {e}")));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    if text.contains("Non-2xx") {
        fail(&format!("wrk saw non-2xx answers from {addr}:\n{text}"));
    }
    if let Some(errors) = text.lines().find(|l| l.contains("Socket errors")) {
        eprintln!("  wrk: {}", errors.trim());
    }
    let rate = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(&format!("no Requests/sec in wrk output:\n{text}")));
    let p99_us = field("99%")
        .and_then(micros)
        .unwrap_or_else(|| fail(&format!("no 99% latency in wrk output:\n{text}")));
    Measurement { rate, p99_us }
}

/// A wrk duration (`509.00us`, `1.15ms`, `2.00s`, `1.00m`) in microseconds.
fn micros(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number * scale)
}

/// Microseconds as wrk would print them, for tables.
pub fn show_micros(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2}s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{us:.0}us")
    }
}

#[cfg(test)]
mod tests {
    use super::micros;

    #[test]
    fn micros_reads_every_wrk_unit() {
        let close = |text: &str, want: f64| {
            let got = micros(text).unwrap_or(f64::NAN);
            assert!((got - want).abs() < 1e-6, "{text}: {got} != {want}");
        };
        close("509.00us", 509.0);
        close("1.15ms", 1150.0);
        close("2.00s", 2e6);
        close("1.00m", 60e6);
        assert_eq!(micros("12"), None);
    }
}
