//! A server under test: a child process started from a command, ready once it prints its
//! listening address or once its port accepts connections, stopped when dropped, and its
//! resident set read from /proc (the whole process tree, so nginx's master and worker count).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to become ready (a cold compile of the guests included).
const START_LIMIT: Duration = Duration::from_secs(120);

/// Prints `message` and exits: a benchmark that cannot measure has nothing to report.
pub fn fail(message: &str) -> ! {
    eprintln!("eddy-bench: {message}");
    std::process::exit(1);
}

/// A binary built next to this one (`eddy`, `native-peer`).
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("current exe: {e}")));
    exe.with_file_name(name)
}

/// A loopback address with a port that was free a moment ago (for servers that cannot
/// listen on port 0 and report the port, like nginx).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|e| fail(&format!("find a free port: {e}")))
}

/// How to tell that a server is ready.
pub enum Ready {
    /// It writes `listening on ADDR` to stderr (eddy, native-peer, the Tornado app).
    LogLine,
    /// It listens on this address (nginx).
    Accepts(SocketAddr),
}

/// How to stop a server.
#[derive(Clone, Copy)]
pub enum Stop {
    /// SIGKILL: the process holds nothing that must be cleaned up.
    Kill,
    /// SIGTERM, then wait: nginx's master must take its worker down with it.
    Terminate,
}

/// What happens to the server's stderr once it is ready.
#[derive(Clone, Copy, PartialEq)]
pub enum Log {
    /// Keep every line for [`Server::log`] (the debug crossings report).
    Keep,
    /// Read and drop (an access log at 100k lines/s must not pile up in memory).
    Discard,
}

/// A running server process, stopped on drop.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its stderr lines (all of them with [`Log::Keep`], else those before it was ready).
    pub log: mpsc::Receiver<String>,
    stop: Stop,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Stop::Terminate = self.stop {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` and waits until it is ready.
pub fn start(mut command: Command, ready: Ready, stop: Stop, log: Log) -> Server {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("start {command:?}: {e}")));
    let (tx, rx) = mpsc::channel();
    let mut server = Server {
        child,
        addr: match ready {
            Ready::LogLine => SocketAddr::from(([127, 0, 0, 1], 0)),
            Ready::Accepts(addr) => addr,
        },
        log: rx,
        stop,
    };
    let stderr = server
        .child
        .stderr
        .take()
        .unwrap_or_else(|| fail("no stderr"));
    std::thread::spawn(move || forward(stderr, tx, log));
    let deadline = Instant::now() + START_LIMIT;
    let started = match ready {
        Ready::LogLine => wait_for_log_line(&mut server, deadline),
        Ready::Accepts(addr) => wait_for_accept(&mut server, addr, deadline),
    };
    if let Err(why) = started {
        let early: Vec<String> = server.log.try_iter().collect();
        drop(server);
        fail(&format!(
            "{command:?} {why}; its stderr:\n{}",
            early.join("\n")
        ));
    }
    server
}

/// Forwards stderr lines; with [`Log::Discard`] only until the listening line.
fn forward(stderr: impl std::io::Read, tx: mpsc::Sender<String>, log: Log) {
    let mut forwarding = true;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if !forwarding {
            continue;
        }
        let ready = line.contains("listening on ");
        if tx.send(line).is_err() {
            forwarding = false;
        }
        if ready && log == Log::Discard {
            forwarding = false;
        }
    }
}

fn wait_for_log_line(server: &mut Server, deadline: Instant) -> Result<(), String> {
    loop {
        let Ok(line) = server
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            return Err("did not print `listening on`".into());
        };
        if let Some(addr) = line.split("listening on ").nth(1) {
            // The address is the first word (`listening on ADDR with TLS`).
            server.addr = addr
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .parse()
                .map_err(|e| format!("printed a bad address in {line:?}: {e}"))?;
            return Ok(());
        }
    }
}

fn wait_for_accept(server: &mut Server, addr: SocketAddr, deadline: Instant) -> Result<(), String> {
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("did not listen on {addr}"))
}

impl Server {
    /// The resident set of the process and all its descendants, in KiB. Threads share their
    /// process's resident set, so eddy's workers count once; nginx's worker is a child.
    pub fn rss_kib(&self) -> u64 {
        let root = self.child.id();
        let mut tree = vec![root];
        let parents = parent_links();
        let mut index = 0;
        while index < tree.len() {
            let pid = tree[index];
            tree.extend(parents.iter().filter(|(_, p)| *p == pid).map(|(c, _)| *c));
            index += 1;
        }
        tree.into_iter().map(vm_rss_kib).sum()
    }
}

/// (pid, parent pid) of every process, from /proc/PID/stat.
fn parent_links() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces and parentheses: fields resume after the last ')'.
            let rest = &stat[stat.rfind(')')? + 1..];
            let parent = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect()
}

/// `VmRSS` of one process in KiB (0 if it is gone).
fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}
