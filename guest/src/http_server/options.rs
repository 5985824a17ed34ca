//! The options of the HTTP server: every field is an `eddy serve` flag, read from the
//! `(name, value)` pairs the host passes at start-up.

use std::time::Duration;

use eddy_http::Limits;

/// The default body budget of a worker when the host passes none (a quarter of the default
/// 256 MiB guest memory).
pub const DEFAULT_BODY_BUDGET: usize = 64 * 1024 * 1024;

/// How the HTTP server behaves; every field is an `eddy serve` flag.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Head and body limits.
    pub limits: Limits,
    /// Close after every response (`--no-keep-alive`).
    pub no_keep_alive: bool,
    /// How long a kept-alive connection may wait for the next request.
    pub idle_timeout: Duration,
    /// How long a request head may take from its first byte.
    pub header_timeout: Duration,
    /// How long a whole body may take from the end of its head (a deadline, not a per-read
    /// timer).
    pub body_timeout: Duration,
    /// How long a response may make no progress (the client takes no bytes) before the
    /// connection is cut.
    pub write_timeout: Duration,
    /// Bytes of request bodies the worker may buffer at once, all connections together; a
    /// body that does not fit gets 503.
    pub body_budget: usize,
    /// Trust X-Real-Ip / X-Forwarded-For / X-Scheme / X-Forwarded-Proto (`--xheaders`).
    pub xheaders: bool,
    /// Proxies skipped when walking X-Forwarded-For from the right.
    pub trusted_downstream: Vec<String>,
    /// The protocol requests report (`--protocol`), `http` by default.
    pub protocol: Option<String>,
    /// Compress responses (`--gzip`).
    pub gzip: bool,
    /// Write an access-log entry per request (on unless `--no-access-log`).
    pub access_log: bool,
    /// The Host of HTTP/1.0 requests without one.
    pub default_host: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            no_keep_alive: false,
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            body_budget: DEFAULT_BODY_BUDGET,
            xheaders: false,
            trusted_downstream: Vec::new(),
            protocol: None,
            gzip: false,
            access_log: true,
            default_host: "127.0.0.1".into(),
        }
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("option {name}: {value:?} is not valid"))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("option {name}: {value:?} is not true or false")),
    }
}

impl HttpOptions {
    /// Reads the options the host passed at start-up (sizes in bytes, durations in
    /// milliseconds, booleans as `true`/`false`); unknown names are left for others.
    ///
    /// # Errors
    /// A known option with a value that does not parse, named in the message.
    pub fn from_start_options(options: &[(String, String)]) -> Result<Self, String> {
        let mut out = Self::default();
        let millis = |name: &str, value: &str| parse::<u64>(name, value).map(Duration::from_millis);
        for (name, value) in options {
            let (name, value) = (name.as_str(), value.as_str());
            match name {
                "max-header-size" => out.limits.max_header_size = parse(name, value)?,
                "max-body-size" => out.limits.max_body_size = parse(name, value)?,
                "decompress-request" => out.limits.decompress = parse_bool(name, value)?,
                "no-keep-alive" => out.no_keep_alive = parse_bool(name, value)?,
                "idle-timeout" => out.idle_timeout = millis(name, value)?,
                "header-timeout" => out.header_timeout = millis(name, value)?,
                "body-timeout" => out.body_timeout = millis(name, value)?,
                "write-timeout" => out.write_timeout = millis(name, value)?,
                "body-budget" => out.body_budget = parse(name, value)?,
                "xheaders" => out.xheaders = parse_bool(name, value)?,
                "trusted-downstream" => out.trusted_downstream.push(value.to_owned()),
                "protocol" => out.protocol = Some(value.to_owned()),
                "gzip" => out.gzip = parse_bool(name, value)?,
                "access-log" => out.access_log = parse_bool(name, value)?,
                "default-host" => out.default_host = value.to_owned(),
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_name_bad_values() {
        let opts = |pairs: &[(&str, &str)]| {
            HttpOptions::from_start_options(
                &pairs
                    .iter()
                    .map(|(a, b)| ((*a).into(), (*b).into()))
                    .collect::<Vec<_>>(),
            )
        };
        let parsed = opts(&[
            ("max-body-size", "5"),
            ("idle-timeout", "1500"),
            ("trusted-downstream", "10.0.0.1"),
        ])
        .expect("valid options");
        assert_eq!(parsed.limits.max_body_size, 5);
        assert_eq!(parsed.idle_timeout, Duration::from_millis(1500));
        assert_eq!(parsed.trusted_downstream, ["10.0.0.1"]);
        let error = opts(&[("gzip", "yes")]).expect_err("bad bool");
        assert!(error.contains("gzip"), "{error}");
    }
}
