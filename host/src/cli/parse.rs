//! Parsers for flag values: durations, byte counts, the health path and `--handler` specs.
//! Their error messages show the accepted forms.

use std::path::PathBuf;
use std::time::Duration;

use eddy_options::{SizeTextError, parse_size_text};

/// Splits `[REGEX=]COMPONENT`; without `=`, the plugin answers every path.
pub(super) fn split_handler(spec: &str) -> (String, PathBuf) {
    match spec.split_once('=') {
        Some((pattern, path)) => (pattern.to_owned(), PathBuf::from(path)),
        None => (".*".to_owned(), PathBuf::from(spec)),
    }
}

/// Checks a `--health-path`: an absolute path of visible ASCII.
pub(super) fn parse_health_path(text: &str) -> Result<String, String> {
    if text.starts_with('/') && text.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not a path (use e.g. /healthz)"))
    }
}

/// Checks the form of a `--listen`/`--listen-tls` address: `ip:port`, `[ipv6]:port` or
/// `host:port` (a name is resolved when the listener binds). Checked here so that a config
/// file's bad address is reported with its line.
pub(super) fn parse_listen_address(text: &str) -> Result<String, String> {
    if text.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(text.to_owned());
    }
    let bad = |why: &str| {
        format!(
            "{text:?} is not an address to listen on ({why}; use e.g. 127.0.0.1:8080 or [::1]:8080)"
        )
    };
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(bad("no port"));
    };
    if port.parse::<u16>().is_err() {
        return Err(bad("the port must be a number from 0 to 65535"));
    }
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    if host.is_empty() || !host.bytes().all(name_byte) {
        return Err(bad("not an IP address or a host name"));
    }
    Ok(text.to_owned())
}

/// Parses a duration: a number with `ms`, `s`, `m` or `h` (plain numbers are seconds).
///
/// # Errors
/// Anything else, with a message that shows the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("{text:?} is not a duration (use e.g. 500ms, 10s, 2m)");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// Parses a byte count: digits with an optional K/KiB, M/MiB or G/GiB suffix (powers of 1024).
///
/// # Errors
/// Anything else, with a message that shows the accepted forms.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    parse_size_text(text).map_err(|error| match error {
        SizeTextError::TooLarge => format!("{text:?} is too large"),
        SizeTextError::Malformed | SizeTextError::CountTooLarge => {
            format!("{text:?} is not a byte count (use e.g. 65536, 64KiB, 1MiB)")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_accept_binary_suffixes() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_bytes("1m"), Ok(1 << 20));
        assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
        assert!(
            parse_bytes("lots")
                .expect_err("words")
                .contains("is not a byte count")
        );
        assert!(parse_bytes("-1").is_err());
    }

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(
            parse_duration("soon")
                .expect_err("words")
                .contains("is not a duration")
        );
    }

    #[test]
    fn handlers_split_on_the_first_equals_sign() {
        assert_eq!(
            split_handler("/api/.*=a.wasm"),
            ("/api/.*".to_owned(), PathBuf::from("a.wasm"))
        );
        assert_eq!(
            split_handler("a.wasm"),
            (".*".to_owned(), PathBuf::from("a.wasm"))
        );
    }
}
