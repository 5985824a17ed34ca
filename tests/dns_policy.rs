//! A denied outbound connection never resolves the name it was given: a guest cannot leak
//! data through DNS queries. Checked in a private network namespace whose only resolver is a
//! UDP listener of the test's own, which records every query it receives.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python listener on 127.0.0.1:53 that appends every query's raw bytes (as text) to a file.
const RESOLVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
open(sys.argv[2], "w").write("ready\n")
while True:
    data, _ = s.recvfrom(4096)
    with open(sys.argv[1], "a") as log:
        log.write(data.decode("latin-1") + "\n")
"#;

/// Runs `eddy ARGS` inside a fresh network and mount namespace whose resolver is the test's
/// listener; returns (eddy's stderr, the queries the resolver saw).
fn run_isolated(name: &str, args: &[&str]) -> (String, String) {
    let dir = std::env::temp_dir().join(format!("eddy-dns-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = |leaf: &str| -> PathBuf { dir.join(leaf) };
    std::fs::write(
        file("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .expect("resolv.conf");
    std::fs::write(file("resolver.py"), RESOLVER).expect("resolver");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "set -e
ip link set lo up
mount --bind {resolv} /etc/resolv.conf
python3 {resolver} {queries} {ready} </dev/null >/dev/null 2>&1 &
resolver=$!
trap 'kill $resolver' EXIT
while [ ! -s {ready} ]; do sleep 0.05; done
{eddy} {args} </dev/null >/dev/null 2> {stderr} || true
sleep 0.3",
        resolv = file("resolv.conf").display(),
        resolver = file("resolver.py").display(),
        queries = file("queries").display(),
        ready = file("ready").display(),
        eddy = env!("CARGO_BIN_EXE_eddy"),
        args = quoted.join(" "),
        stderr = file("stderr").display(),
    );
    let status = Command::new("unshare")
        .args(["--net", "--mount", "sh", "-c", &script])
        .status()
        .expect("run unshare (util-linux)");
    assert!(
        status.success(),
        "the isolated run failed (unshare needs root or user namespaces)"
    );
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let out = (read(&file("stderr")), read(&file("queries")));
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn a_denied_name_is_never_resolved() {
    let client = util::guest("http-client");
    let client = client.to_str().expect("utf-8 path");
    let (stderr, queries) =
        run_isolated("denied", &["run", client, "http://exfil-secret.example/"]);
    assert!(
        stderr.contains("not allowed"),
        "the guest is told it is denied:\n{stderr}"
    );
    assert!(
        !queries.contains("exfil-secret"),
        "a denied name reached the resolver: {queries:?}"
    );
    assert!(!stderr.contains("cannot resolve"), "{stderr}");

    // The control: an allowed name is resolved (once, at start-up), and the listener sees it,
    // so the check above could have failed.
    let (stderr, queries) = run_isolated(
        "allowed",
        &[
            "run",
            "--allow-connect",
            "allowed-name.example:80",
            client,
            "http://allowed-name.example/",
        ],
    );
    assert!(
        queries.contains("allowed-name"),
        "the resolver saw no query for an allowed name: {queries:?}\n{stderr}"
    );
}
