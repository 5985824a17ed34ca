//! The options contract between the eddy host and its guests: the keys, their typed values
//! and defaults, the parser a guest runs at `start` and the encoder the host writes with.
//!
//! Options cross the WIT boundary as `(name, value)` pairs (`start`'s
//! `list<tuple<string, string>>`), so adding one never changes the WIT. This crate has no
//! dependencies and performs no I/O; it is the one place where keys and defaults are written.
//!
//! | key | value on the wire | default | `eddy` flag |
//! |---|---|---|---|
//! | `max-buffer-size` | bytes | 1 MiB | `--max-buffer-size` |
//! | `max-write-buffer-size` | bytes | 16 MiB | `--max-write-buffer-size` |
//! | `max-header-size` | bytes | 64 KiB | `--max-header-size` |
//! | `max-body-size` | bytes | 10 MiB | `--max-body-size` |
//! | `body-budget` | bytes | 64 MiB | `--body-budget` |
//! | `response-budget` | bytes | 32 MiB | `--response-budget` |
//! | `decompress-request` | `true`/`false` | false | `--decompress-request` |
//! | `no-keep-alive` | `true`/`false` | false | `--no-keep-alive` |
//! | `idle-timeout` | milliseconds | 60 s | `--idle-timeout` |
//! | `header-timeout` | milliseconds | 10 s | `--header-timeout` |
//! | `body-timeout` | milliseconds | 60 s | `--body-timeout` |
//! | `write-timeout` | milliseconds | 30 s | `--write-timeout` |
//! | `xheaders` | `true`/`false` | false | `--xheaders` |
//! | `trusted-downstream` | an IP; repeated | none | `--trusted-downstream` |
//! | `protocol` | `http` or `https` | `http` | `--protocol` |
//! | `gzip` | `true`/`false` | false | `--gzip` |
//! | `access-log` | `true`/`false` | true | `--no-access-log` |
//! | `default-host` | `host:port` | `127.0.0.1` | the first `--listen` address |
//! | `route` | a path regex; repeated, in order | none | `--handler [REGEX=]COMPONENT` |
//!
//! Keys this crate does not know are skipped by [`Options::parse`], so a guest may read its
//! own with `eddy_guest::option`.

use std::fmt;
use std::time::Duration;

mod setting;
mod size_text;

pub use setting::{Setting, key};
pub use size_text::{SizeTextError, parse_size_text};

/// A size in bytes; on the wire, a decimal count of bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` KiB.
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// The size as a `usize`, saturating where `usize` is narrower (a 32-bit guest).
    pub const fn to_usize(self) -> usize {
        if self.0 > usize::MAX as u64 {
            usize::MAX
        } else {
            self.0 as usize
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The prefix of the start options that carry a config file's `[guest]` table
/// (`guest.NAME`): the guest program's own settings, which its `OptionParser` reads. Keys
/// with it are not part of [`Options`] and are skipped by [`Options::parse`].
pub const GUEST_OPTION_PREFIX: &str = "guest.";

/// Default of `max-buffer-size`: past it a stream closes with `BufferFull`. Tornado's
/// 100 MiB is far too much for a sandbox whose memory never shrinks.
pub const DEFAULT_MAX_BUFFER_SIZE: ByteSize = ByteSize::mib(1);
/// Default of `max-write-buffer-size`: a write that would pass it fails, the stream stays open.
pub const DEFAULT_MAX_WRITE_BUFFER_SIZE: ByteSize = ByteSize::mib(16);
/// Default of `max-header-size`: a longer request head gets 431.
pub const DEFAULT_MAX_HEADER_SIZE: ByteSize = ByteSize::kib(64);
/// Default of `max-body-size`: a longer request body gets 413.
pub const DEFAULT_MAX_BODY_SIZE: ByteSize = ByteSize::mib(10);
/// Default of `body-budget` when the host passes none (a quarter of the default 256 MiB guest
/// memory); a body that does not fit gets 503.
pub const DEFAULT_BODY_BUDGET: ByteSize = ByteSize::mib(64);
/// Default of `response-budget` when the host passes none (an eighth of the default 256 MiB
/// guest memory): past it new responses wait and clients that take nothing are cut.
pub const DEFAULT_RESPONSE_BUDGET: ByteSize = ByteSize::mib(32);
/// Default of `idle-timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `header-timeout`.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `body-timeout`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `write-timeout`.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `default-host`.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// An option whose value does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// The option's key.
    pub key: String,
    /// The value as passed.
    pub value: String,
    /// What the value should have been, e.g. `a byte count`.
    pub expected: &'static str,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "option {}: {:?} is not {}",
            self.key, self.value, self.expected
        )
    }
}

impl std::error::Error for OptionError {}

/// Options of every stream (IOStream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// Cap on unread bytes buffered per stream (`max-buffer-size`).
    pub max_buffer_size: ByteSize,
    /// Cap on unsent bytes queued per stream (`max-write-buffer-size`).
    pub max_write_buffer_size: ByteSize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            max_buffer_size: DEFAULT_MAX_BUFFER_SIZE,
            max_write_buffer_size: DEFAULT_MAX_WRITE_BUFFER_SIZE,
        }
    }
}

impl StreamOptions {
    /// Every field as a setting, in key order of the table above.
    pub fn settings(&self) -> Vec<Setting> {
        vec![
            Setting::MaxBufferSize(self.max_buffer_size),
            Setting::MaxWriteBufferSize(self.max_write_buffer_size),
        ]
    }
}

/// How the HTTP server behaves; every field is an `eddy serve` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpOptions {
    /// Cap on a request head; past it the request gets 431 (`max-header-size`).
    pub max_header_size: ByteSize,
    /// Cap on a request body after decompression; past it the request gets 413
    /// (`max-body-size`).
    pub max_body_size: ByteSize,
    /// Bytes of request bodies the worker may buffer at once, all connections together; a
    /// body that does not fit gets 503 (`body-budget`).
    pub body_budget: ByteSize,
    /// Bytes of responses the worker may hold at once for clients that have not taken them
    /// yet, all connections together; past it new responses wait (`response-budget`).
    pub response_budget: ByteSize,
    /// Decompress gzip request bodies (`decompress-request`).
    pub decompress_request: bool,
    /// Close after every response (`no-keep-alive`).
    pub no_keep_alive: bool,
    /// How long a kept-alive connection may wait for the next request (`idle-timeout`).
    pub idle_timeout: Duration,
    /// How long a request head may take from its first byte (`header-timeout`).
    pub header_timeout: Duration,
    /// How long a whole body may take from the end of its head, a deadline rather than a
    /// per-read timer (`body-timeout`).
    pub body_timeout: Duration,
    /// How long a response may make no progress (the client takes no bytes) before the
    /// connection is cut (`write-timeout`).
    pub write_timeout: Duration,
    /// Trust X-Real-Ip / X-Forwarded-For / X-Scheme / X-Forwarded-Proto (`xheaders`).
    pub xheaders: bool,
    /// Proxies skipped when walking X-Forwarded-For from the right (`trusted-downstream`).
    pub trusted_downstream: Vec<String>,
    /// The protocol requests report, `http` when `None` (`protocol`).
    pub protocol: Option<String>,
    /// Compress responses for clients that accept it (`gzip`).
    pub gzip: bool,
    /// Write an access-log entry per request (`access-log`).
    pub access_log: bool,
    /// The Host of HTTP/1.0 requests without one (`default-host`).
    pub default_host: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            body_budget: DEFAULT_BODY_BUDGET,
            response_budget: DEFAULT_RESPONSE_BUDGET,
            decompress_request: false,
            no_keep_alive: false,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            xheaders: false,
            trusted_downstream: Vec::new(),
            protocol: None,
            gzip: false,
            access_log: true,
            default_host: DEFAULT_HOST.to_owned(),
        }
    }
}

impl HttpOptions {
    /// Every field as settings (one per trusted proxy), in key order of the table above.
    pub fn settings(&self) -> Vec<Setting> {
        let mut out = vec![
            Setting::MaxHeaderSize(self.max_header_size),
            Setting::MaxBodySize(self.max_body_size),
            Setting::BodyBudget(self.body_budget),
            Setting::ResponseBudget(self.response_budget),
            Setting::DecompressRequest(self.decompress_request),
            Setting::NoKeepAlive(self.no_keep_alive),
            Setting::IdleTimeout(self.idle_timeout),
            Setting::HeaderTimeout(self.header_timeout),
            Setting::BodyTimeout(self.body_timeout),
            Setting::WriteTimeout(self.write_timeout),
            Setting::Xheaders(self.xheaders),
        ];
        out.extend(
            self.trusted_downstream
                .iter()
                .cloned()
                .map(Setting::TrustedDownstream),
        );
        out.extend(self.protocol.iter().cloned().map(Setting::Protocol));
        out.push(Setting::Gzip(self.gzip));
        out.push(Setting::AccessLog(self.access_log));
        out.push(Setting::DefaultHost(self.default_host.clone()));
        out
    }
}

/// Everything the host passes at start-up, typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Options of every stream.
    pub stream: StreamOptions,
    /// Options of the HTTP server.
    pub http: HttpOptions,
    /// Path patterns of the plugins, in order (`route`): plugin `i` answers requests whose
    /// whole path matches pattern `i`.
    pub routes: Vec<String>,
}

impl Options {
    /// Reads the `(name, value)` pairs the host passed; a later value of a key replaces an
    /// earlier one, except for the repeatable `trusted-downstream` and `route`, which add.
    ///
    /// # Errors
    /// The first known key whose value does not parse, named in the error.
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Result<Self, OptionError> {
        let mut options = Self::default();
        for (key, value) in pairs {
            if let Some(setting) = Setting::parse(key.as_ref(), value.as_ref())? {
                options.apply(setting);
            }
        }
        Ok(options)
    }

    /// Sets the field `setting` names (adds, for a repeatable key).
    pub fn apply(&mut self, setting: Setting) {
        let (stream, http) = (&mut self.stream, &mut self.http);
        match setting {
            Setting::MaxBufferSize(size) => stream.max_buffer_size = size,
            Setting::MaxWriteBufferSize(size) => stream.max_write_buffer_size = size,
            Setting::MaxHeaderSize(size) => http.max_header_size = size,
            Setting::MaxBodySize(size) => http.max_body_size = size,
            Setting::BodyBudget(size) => http.body_budget = size,
            Setting::ResponseBudget(size) => http.response_budget = size,
            Setting::DecompressRequest(on) => http.decompress_request = on,
            Setting::NoKeepAlive(on) => http.no_keep_alive = on,
            Setting::IdleTimeout(time) => http.idle_timeout = time,
            Setting::HeaderTimeout(time) => http.header_timeout = time,
            Setting::BodyTimeout(time) => http.body_timeout = time,
            Setting::WriteTimeout(time) => http.write_timeout = time,
            Setting::Xheaders(on) => http.xheaders = on,
            Setting::TrustedDownstream(ip) => http.trusted_downstream.push(ip),
            Setting::Protocol(protocol) => http.protocol = Some(protocol),
            Setting::Gzip(on) => http.gzip = on,
            Setting::AccessLog(on) => http.access_log = on,
            Setting::DefaultHost(host) => http.default_host = host,
            Setting::Route(pattern) => self.routes.push(pattern),
        }
    }

    /// The pairs that [`Options::parse`] reads back as `self`.
    pub fn encode(&self) -> Vec<(String, String)> {
        let mut settings = self.stream.settings();
        settings.extend(self.http.settings());
        settings.extend(self.routes.iter().cloned().map(Setting::Route));
        settings.iter().map(Setting::encode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parse_reads_typed_values_and_skips_unknown_keys() {
        let options = Options::parse(&pairs(&[
            ("max-body-size", "5"),
            ("idle-timeout", "1500"),
            ("trusted-downstream", "10.0.0.1"),
            ("trusted-downstream", "10.0.0.2"),
            ("route", "/a"),
            ("route", ".*"),
            ("gzip", "true"),
            ("my-own-key", "anything"),
        ]))
        .expect("valid options");
        assert_eq!(options.http.max_body_size, ByteSize(5));
        assert_eq!(options.http.idle_timeout, Duration::from_millis(1500));
        assert_eq!(options.http.trusted_downstream, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(options.routes, ["/a", ".*"]);
        assert!(options.http.gzip);
        assert_eq!(options.stream, StreamOptions::default());
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let error = |list: &[(&str, &str)]| {
            Options::parse(&pairs(list))
                .expect_err("a bad value")
                .to_string()
        };
        assert_eq!(
            error(&[("gzip", "yes")]),
            r#"option gzip: "yes" is not true or false"#
        );
        assert_eq!(
            error(&[("max-buffer-size", "1MiB")]),
            r#"option max-buffer-size: "1MiB" is not a byte count"#
        );
        assert_eq!(
            error(&[("write-timeout", "30s")]),
            r#"option write-timeout: "30s" is not a duration in milliseconds"#
        );
    }

    #[test]
    fn encode_then_parse_gives_the_same_options() {
        let defaults = Options::default();
        assert_eq!(Options::parse(&defaults.encode()), Ok(defaults));
        let options = Options {
            stream: StreamOptions {
                max_buffer_size: ByteSize(7),
                max_write_buffer_size: ByteSize(u64::MAX),
            },
            http: HttpOptions {
                idle_timeout: Duration::from_millis(1),
                response_budget: ByteSize(12_345),
                trusted_downstream: vec!["::1".into(), "10.0.0.1".into()],
                protocol: Some("https".into()),
                access_log: false,
                default_host: "[::1]:8888".into(),
                ..HttpOptions::default()
            },
            routes: vec!["/api/.*".into(), ".*".into()],
        };
        assert_eq!(Options::parse(&options.encode()), Ok(options));
    }

    #[test]
    fn no_pairs_give_the_defaults() {
        let none: &[(String, String)] = &[];
        assert_eq!(Options::parse(none), Ok(Options::default()));
        assert_eq!(ByteSize(u64::MAX).to_usize(), usize::MAX);
    }
}
