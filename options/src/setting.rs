//! One option: its key, its typed value, and how both look on the wire.

use std::time::Duration;

use crate::{ByteSize, OptionError};

/// The keys, as the host writes them.
pub mod key {
    /// [`super::Setting::MaxBufferSize`].
    pub const MAX_BUFFER_SIZE: &str = "max-buffer-size";
    /// [`super::Setting::MaxWriteBufferSize`].
    pub const MAX_WRITE_BUFFER_SIZE: &str = "max-write-buffer-size";
    /// [`super::Setting::MaxHeaderSize`].
    pub const MAX_HEADER_SIZE: &str = "max-header-size";
    /// [`super::Setting::MaxBodySize`].
    pub const MAX_BODY_SIZE: &str = "max-body-size";
    /// [`super::Setting::BodyBudget`].
    pub const BODY_BUDGET: &str = "body-budget";
    /// [`super::Setting::ResponseBudget`].
    pub const RESPONSE_BUDGET: &str = "response-budget";
    /// [`super::Setting::DecompressRequest`].
    pub const DECOMPRESS_REQUEST: &str = "decompress-request";
    /// [`super::Setting::NoKeepAlive`].
    pub const NO_KEEP_ALIVE: &str = "no-keep-alive";
    /// [`super::Setting::IdleTimeout`].
    pub const IDLE_TIMEOUT: &str = "idle-timeout";
    /// [`super::Setting::HeaderTimeout`].
    pub const HEADER_TIMEOUT: &str = "header-timeout";
    /// [`super::Setting::BodyTimeout`].
    pub const BODY_TIMEOUT: &str = "body-timeout";
    /// [`super::Setting::WriteTimeout`].
    pub const WRITE_TIMEOUT: &str = "write-timeout";
    /// [`super::Setting::Xheaders`].
    pub const XHEADERS: &str = "xheaders";
    /// [`super::Setting::TrustedDownstream`].
    pub const TRUSTED_DOWNSTREAM: &str = "trusted-downstream";
    /// [`super::Setting::Protocol`].
    pub const PROTOCOL: &str = "protocol";
    /// [`super::Setting::Gzip`].
    pub const GZIP: &str = "gzip";
    /// [`super::Setting::AccessLog`].
    pub const ACCESS_LOG: &str = "access-log";
    /// [`super::Setting::DefaultHost`].
    pub const DEFAULT_HOST: &str = "default-host";
    /// [`super::Setting::Route`].
    pub const ROUTE: &str = "route";
}

/// One option with its typed value; see the crate docs for keys, wire forms and defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `max-buffer-size`: unread bytes buffered per stream.
    MaxBufferSize(ByteSize),
    /// `max-write-buffer-size`: unsent bytes queued per stream.
    MaxWriteBufferSize(ByteSize),
    /// `max-header-size`: bytes of a request head.
    MaxHeaderSize(ByteSize),
    /// `max-body-size`: bytes of a request body after decompression.
    MaxBodySize(ByteSize),
    /// `body-budget`: request-body bytes one worker buffers at once.
    BodyBudget(ByteSize),
    /// `response-budget`: response bytes one worker holds at once for its clients.
    ResponseBudget(ByteSize),
    /// `decompress-request`: decompress gzip request bodies.
    DecompressRequest(bool),
    /// `no-keep-alive`: close after every response.
    NoKeepAlive(bool),
    /// `idle-timeout`: wait for the next request on a kept-alive connection.
    IdleTimeout(Duration),
    /// `header-timeout`: deadline of a request head from its first byte.
    HeaderTimeout(Duration),
    /// `body-timeout`: deadline of a request body from the end of its head.
    BodyTimeout(Duration),
    /// `write-timeout`: longest a response may make no progress.
    WriteTimeout(Duration),
    /// `xheaders`: trust the proxy headers.
    Xheaders(bool),
    /// `trusted-downstream`: one proxy skipped in X-Forwarded-For (repeatable).
    TrustedDownstream(String),
    /// `protocol`: the protocol requests report.
    Protocol(String),
    /// `gzip`: compress responses.
    Gzip(bool),
    /// `access-log`: one access-log entry per request.
    AccessLog(bool),
    /// `default-host`: the Host of HTTP/1.0 requests without one.
    DefaultHost(String),
    /// `route`: the path pattern of the next plugin (repeatable, in plugin order).
    Route(String),
}

impl Setting {
    /// Reads one pair; `Ok(None)` for a key this crate does not know.
    ///
    /// # Errors
    /// A known key whose value does not parse.
    pub fn parse(name: &str, value: &str) -> Result<Option<Self>, OptionError> {
        let bytes = || parse_bytes(name, value);
        let millis = || parse_millis(name, value);
        let flag = || parse_bool(name, value);
        let text = || value.to_owned();
        Ok(Some(match name {
            key::MAX_BUFFER_SIZE => Self::MaxBufferSize(bytes()?),
            key::MAX_WRITE_BUFFER_SIZE => Self::MaxWriteBufferSize(bytes()?),
            key::MAX_HEADER_SIZE => Self::MaxHeaderSize(bytes()?),
            key::MAX_BODY_SIZE => Self::MaxBodySize(bytes()?),
            key::BODY_BUDGET => Self::BodyBudget(bytes()?),
            key::RESPONSE_BUDGET => Self::ResponseBudget(bytes()?),
            key::DECOMPRESS_REQUEST => Self::DecompressRequest(flag()?),
            key::NO_KEEP_ALIVE => Self::NoKeepAlive(flag()?),
            key::IDLE_TIMEOUT => Self::IdleTimeout(millis()?),
            key::HEADER_TIMEOUT => Self::HeaderTimeout(millis()?),
            key::BODY_TIMEOUT => Self::BodyTimeout(millis()?),
            key::WRITE_TIMEOUT => Self::WriteTimeout(millis()?),
            key::XHEADERS => Self::Xheaders(flag()?),
            key::TRUSTED_DOWNSTREAM => Self::TrustedDownstream(text()),
            key::PROTOCOL => Self::Protocol(text()),
            key::GZIP => Self::Gzip(flag()?),
            key::ACCESS_LOG => Self::AccessLog(flag()?),
            key::DEFAULT_HOST => Self::DefaultHost(text()),
            key::ROUTE => Self::Route(text()),
            _ => return Ok(None),
        }))
    }

    /// The key on the wire.
    pub fn key(&self) -> &'static str {
        match self {
            Self::MaxBufferSize(_) => key::MAX_BUFFER_SIZE,
            Self::MaxWriteBufferSize(_) => key::MAX_WRITE_BUFFER_SIZE,
            Self::MaxHeaderSize(_) => key::MAX_HEADER_SIZE,
            Self::MaxBodySize(_) => key::MAX_BODY_SIZE,
            Self::BodyBudget(_) => key::BODY_BUDGET,
            Self::ResponseBudget(_) => key::RESPONSE_BUDGET,
            Self::DecompressRequest(_) => key::DECOMPRESS_REQUEST,
            Self::NoKeepAlive(_) => key::NO_KEEP_ALIVE,
            Self::IdleTimeout(_) => key::IDLE_TIMEOUT,
            Self::HeaderTimeout(_) => key::HEADER_TIMEOUT,
            Self::BodyTimeout(_) => key::BODY_TIMEOUT,
            Self::WriteTimeout(_) => key::WRITE_TIMEOUT,
            Self::Xheaders(_) => key::XHEADERS,
            Self::TrustedDownstream(_) => key::TRUSTED_DOWNSTREAM,
            Self::Protocol(_) => key::PROTOCOL,
            Self::Gzip(_) => key::GZIP,
            Self::AccessLog(_) => key::ACCESS_LOG,
            Self::DefaultHost(_) => key::DEFAULT_HOST,
            Self::Route(_) => key::ROUTE,
        }
    }

    /// The value on the wire: bytes and milliseconds in decimal, `true`/`false`, or the text.
    pub fn value(&self) -> String {
        match self {
            Self::MaxBufferSize(size)
            | Self::MaxWriteBufferSize(size)
            | Self::MaxHeaderSize(size)
            | Self::MaxBodySize(size)
            | Self::BodyBudget(size)
            | Self::ResponseBudget(size) => size.to_string(),
            Self::DecompressRequest(on)
            | Self::NoKeepAlive(on)
            | Self::Xheaders(on)
            | Self::Gzip(on)
            | Self::AccessLog(on) => on.to_string(),
            Self::IdleTimeout(time)
            | Self::HeaderTimeout(time)
            | Self::BodyTimeout(time)
            | Self::WriteTimeout(time) => time.as_millis().to_string(),
            Self::TrustedDownstream(text)
            | Self::Protocol(text)
            | Self::DefaultHost(text)
            | Self::Route(text) => text.clone(),
        }
    }

    /// The `(key, value)` pair the host passes.
    pub fn encode(&self) -> (String, String) {
        (self.key().to_owned(), self.value())
    }
}

fn error(key: &str, value: &str, expected: &'static str) -> OptionError {
    OptionError {
        key: key.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

fn parse_bytes(key: &str, value: &str) -> Result<ByteSize, OptionError> {
    value
        .parse()
        .map(ByteSize)
        .map_err(|_| error(key, value, "a byte count"))
}

fn parse_millis(key: &str, value: &str) -> Result<Duration, OptionError> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| error(key, value, "a duration in milliseconds"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, OptionError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(error(key, value, "true or false")),
    }
}
