//! The outbound connection policy: deny everything except the `--allow-connect` entries.
//!
//! A guest's address is checked **as written**, before anything is resolved: the host name
//! (case-insensitively) and the port must equal an entry's. A denied name is never looked up,
//! so a guest cannot leak data through DNS queries, and a lookup can never block a worker:
//! allowed names are resolved once, at start-up, and connections use those addresses.
//! `127.0.0.1:80` allowed does not admit `localhost:80`, `127.1:80` or `2130706433:80`.

use std::net::{SocketAddr, ToSocketAddrs};

/// One allowed `host:port`, with the addresses it resolved to at start-up.
#[derive(Clone, Debug)]
struct Entry {
    /// The host as written, lower-cased, without IPv6 brackets.
    host: String,
    port: u16,
    addrs: Vec<SocketAddr>,
}

/// Which outbound connections guests may open.
#[derive(Clone, Debug, Default)]
pub struct ConnectPolicy {
    allowed: Vec<Entry>,
}

/// Splits `host:port` (`[v6]:port` for IPv6) into a lower-cased host and a port.
fn split_host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    if host.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host.to_ascii_lowercase(), port.parse().ok()?))
}

impl ConnectPolicy {
    /// Builds the policy from `--allow-connect` values, resolving each name once.
    ///
    /// # Errors
    /// An entry is not `host:port` or does not resolve.
    pub fn new(entries: &[String]) -> anyhow::Result<Self> {
        let mut allowed = Vec::new();
        for entry in entries {
            let (host, port) = split_host_port(entry).ok_or_else(|| {
                anyhow::anyhow!("--allow-connect {entry}: not a host:port (use e.g. api.example:443 or [::1]:8080)")
            })?;
            let addrs: Vec<SocketAddr> = entry
                .to_socket_addrs()
                .map_err(|e| anyhow::anyhow!("--allow-connect {entry}: cannot resolve ({e})"))?
                .collect();
            if addrs.is_empty() {
                anyhow::bail!("--allow-connect {entry}: resolves to no address");
            }
            allowed.push(Entry { host, port, addrs });
        }
        Ok(Self { allowed })
    }

    /// The addresses a guest may connect to for `address` (as the guest wrote it), resolved
    /// at start-up; `None` when the policy denies it. Never resolves anything.
    pub fn addresses(&self, address: &str) -> Option<&[SocketAddr]> {
        let (host, port) = split_host_port(address)?;
        self.allowed
            .iter()
            .find(|entry| entry.host == host && entry.port == port)
            .map(|entry| entry.addrs.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ports_match_as_written() {
        let policy =
            ConnectPolicy::new(&["127.0.0.1:8000".into(), "LocalHost:9000".into()]).expect("valid");
        let allowed: SocketAddr = "127.0.0.1:8000".parse().expect("addr");
        assert_eq!(policy.addresses("127.0.0.1:8000"), Some(&[allowed][..]));
        for other in [
            "127.0.0.1:8001",
            "localhost:8000",
            "127.1:8000",
            "2130706433:8000",
            "127.0.0.1",
            "[127.0.0.1]:8000x",
        ] {
            assert_eq!(policy.addresses(other), None, "{other}");
        }
        assert!(
            policy.addresses("localhost:9000").is_some(),
            "names ignore case"
        );
        assert!(policy.addresses("LOCALHOST:9000").is_some());
        assert_eq!(
            ConnectPolicy::default().addresses("127.0.0.1:8000"),
            None,
            "deny by default"
        );
    }

    #[test]
    fn ipv6_entries_use_brackets() {
        let policy = ConnectPolicy::new(&["[::1]:8000".into()]).expect("valid");
        assert!(policy.addresses("[::1]:8000").is_some());
        assert_eq!(policy.addresses("[0::1]:8000"), None, "as written");
        assert_eq!(
            split_host_port("::1:80"),
            None,
            "ambiguous without brackets"
        );
    }

    #[test]
    fn bad_entries_are_clear_errors() {
        let error = ConnectPolicy::new(&["no-port".into()]).expect_err("no port");
        assert!(
            error
                .to_string()
                .starts_with("--allow-connect no-port: not a host:port"),
            "{error}"
        );
    }
}
