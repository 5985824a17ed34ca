//! The outbound connection policy: deny everything except the `--allow-connect` addresses.

use std::net::{SocketAddr, ToSocketAddrs};

/// Which outbound connections guests may open.
#[derive(Clone, Debug, Default)]
pub struct ConnectPolicy {
    /// The allowed entries as given (`host:port`), with what each resolved to at start-up.
    allowed: Vec<(String, Vec<SocketAddr>)>,
}

impl ConnectPolicy {
    /// Builds the policy from `--allow-connect` values.
    ///
    /// # Errors
    /// An entry is not `host:port` or does not resolve.
    pub fn new(entries: &[String]) -> anyhow::Result<Self> {
        let mut allowed = Vec::new();
        for entry in entries {
            let addrs: Vec<SocketAddr> = entry
                .to_socket_addrs()
                .map_err(|e| {
                    anyhow::anyhow!("--allow-connect {entry}: not a resolvable host:port ({e})")
                })?
                .collect();
            allowed.push((entry.clone(), addrs));
        }
        Ok(Self { allowed })
    }

    /// Whether a guest may connect to `address`, which resolved to `resolved`.
    pub fn allows(&self, address: &str, resolved: &SocketAddr) -> bool {
        self.allowed
            .iter()
            .any(|(entry, addrs)| entry == address || addrs.contains(resolved))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_addresses_are_allowed() {
        let policy = ConnectPolicy::new(&["127.0.0.1:8000".into()]).expect("valid");
        let allowed: SocketAddr = "127.0.0.1:8000".parse().expect("addr");
        let other: SocketAddr = "127.0.0.1:8001".parse().expect("addr");
        assert!(policy.allows("127.0.0.1:8000", &allowed));
        assert!(
            policy.allows("localhost:8000", &allowed),
            "the same address by another name"
        );
        assert!(!policy.allows("127.0.0.1:8001", &other));
        assert!(
            !ConnectPolicy::default().allows("127.0.0.1:8000", &allowed),
            "deny by default"
        );
    }

    #[test]
    fn unresolvable_entry_is_a_clear_error() {
        let error = ConnectPolicy::new(&["no-port".into()]).expect_err("no port");
        assert!(
            error
                .to_string()
                .starts_with("--allow-connect no-port: not a resolvable host:port"),
            "{error}"
        );
    }
}
