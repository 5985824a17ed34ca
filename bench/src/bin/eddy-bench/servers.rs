//! The HTTP servers the `http` benchmark compares, each answering `GET /` with a small hello:
//! the native mio + httparse peer, nginx, eddy in its configurations, and Tornado.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::server::{Log, Ready, Server, Stop, fail, free_addr, sibling, start};

/// `native-peer hello`: mio + httparse, a fixed answer with no Date header and no checks
/// beyond httparse's.
pub fn native() -> Server {
    let mut command = Command::new(sibling("native-peer"));
    command.args(["hello", "127.0.0.1:0"]);
    start(command, Ready::LogLine, Stop::Kill, Log::Discard)
}

/// `eddy serve --listen 127.0.0.1:0 --workers N ARGS`, pinned to `cpus` if given. The log
/// filter is eddy's default (`info`), so the access log is written unless `--no-access-log`
/// is among `args`; this process reads and drops it, like a terminal or journald would.
pub fn eddy(workers: usize, args: &[&str], cpus: Option<&str>) -> Server {
    let mut command = pinned(&sibling("eddy"), cpus);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--workers"])
        .arg(workers.to_string())
        .args(args)
        .env_remove("EDDY_LOG");
    start(command, Ready::LogLine, Stop::Kill, Log::Discard)
}

/// A command running `program`, under `taskset -c CPUS` when `cpus` is given.
fn pinned(program: &Path, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cpus]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The path of a guest component built with eddy, as a string for the command line.
pub fn guest(name: &str) -> String {
    let path = eddy_host::guests::path(name);
    path.to_str()
        .unwrap_or_else(|| fail(&format!("non-UTF-8 path {path:?}")))
        .to_owned()
}

/// nginx's configuration: one worker, `return 200` with the hello body, no access log, and
/// keep-alive that never ends a benchmark connection (`keepalive_requests` defaults to 1000).
/// nginx allocates and links all `worker_connections` slots at start (a few hundred bytes
/// each), so the cap is set just above what the bench opens: `most` idle connections plus
/// room for wrk; the start-up RSS then holds the slots the idle measurement will use.
fn nginx_conf(dir: &Path, addr: SocketAddr, most: usize) -> String {
    let dir = dir.display();
    let slots = most + 1024;
    format!(
        "worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections {slots}; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {addr};
        default_type text/plain;
        location / {{ return 200 'Hello, world!'; }}
    }}
}}
"
    )
}

/// nginx with one worker process (master + worker), configured by [`nginx_conf`] for at
/// most `most` idle connections.
pub fn nginx(nginx: &Path, most: usize) -> Server {
    let addr = free_addr();
    let dir = scratch_dir("nginx");
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&dir, addr, most))
        .unwrap_or_else(|e| fail(&format!("write {conf:?}: {e}")));
    let mut command = Command::new(nginx);
    command
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr", "-g", "daemon off;"]);
    start(command, Ready::Accepts(addr), Stop::Terminate, Log::Discard)
}

/// A fresh scratch directory under the system's temporary directory.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("create {dir:?}: {e}")));
    dir
}

/// Tornado, one process, a hello `RequestHandler` (`bench/tornado_hello.py`).
pub fn tornado(python: &str, app: &Path) -> Server {
    let mut command = Command::new(python);
    command.arg(app).arg("127.0.0.1:0");
    start(command, Ready::LogLine, Stop::Kill, Log::Discard)
}

/// The installed Tornado's version, for the row's label.
pub fn tornado_version(python: &str) -> String {
    let output = Command::new(python)
        .args(["-c", "import tornado; print(tornado.version)"])
        .output()
        .unwrap_or_else(|e| fail(&format!("run {python}: {e}")));
    if !output.status.success() {
        fail(&format!(
            "{python} cannot import tornado (python3 -m pip install tornado): {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
