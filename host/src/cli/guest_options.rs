//! The options the host passes to the guest's `start`, as `(name, value)` pairs: written
//! here, in one function, from the flags, with the keys and encodings of `eddy_options`
//! (the contract the guest parses with).

use std::net::SocketAddr;

use eddy_options::{
    ByteSize, DEFAULT_HOST, GUEST_OPTION_PREFIX, HttpOptions, Options, Setting, StreamOptions,
};

use super::args::{GuestOptions, HttpFlags};

/// Options for a guest's `start`, as `(name, value)` pairs.
pub(super) type StartOptions = Vec<(String, String)>;

/// What `eddy serve` passes beyond the options every guest gets.
pub(super) struct ServeOptions<'a> {
    /// The HTTP server guest's flags.
    pub http: &'a HttpFlags,
    /// Request-body bytes one worker may buffer (see [`body_budget`]).
    pub body_budget: u64,
    /// Response bytes one worker may hold (see [`response_budget`]).
    pub response_budget: u64,
    /// The `--handler` patterns, in order: route `i` goes to plugin `i`.
    pub routes: &'a [String],
    /// The first listen address, the host of HTTP/1.0 requests without `Host`; not known
    /// yet in the trial start.
    pub default_host: Option<SocketAddr>,
}

/// Writes the start-up options: the buffer caps every guest gets, then with `serve` the
/// HTTP flags, the body budget, one `route` per plugin and the default host.
///
/// Sizes are in bytes, durations in milliseconds, switches `true`/`false`; repeated flags
/// are repeated pairs.
pub(super) fn start_options(
    guest: &GuestOptions,
    serve: Option<&ServeOptions<'_>>,
) -> StartOptions {
    let stream = StreamOptions {
        max_buffer_size: ByteSize(guest.max_buffer_size),
        max_write_buffer_size: ByteSize(guest.max_write_buffer_size),
    };
    let Some(serve) = serve else {
        return stream.settings().iter().map(Setting::encode).collect();
    };
    let flags = serve.http;
    let http = HttpOptions {
        max_header_size: ByteSize(flags.max_header_size),
        max_body_size: ByteSize(flags.max_body_size),
        body_budget: ByteSize(serve.body_budget),
        response_budget: ByteSize(serve.response_budget),
        decompress_request: flags.decompress_request,
        no_keep_alive: flags.no_keep_alive,
        idle_timeout: flags.idle_timeout,
        header_timeout: flags.header_timeout,
        body_timeout: flags.body_timeout,
        write_timeout: flags.write_timeout,
        xheaders: flags.xheaders,
        trusted_downstream: flags.trusted_downstream.clone(),
        protocol: flags.protocol.clone(),
        gzip: flags.gzip,
        // Not even the crossing when the log filter drops access lines anyway.
        access_log: !flags.no_access_log
            && tracing::enabled!(target: "access", tracing::Level::INFO),
        default_host: serve
            .default_host
            .map_or_else(|| DEFAULT_HOST.to_owned(), |host| host.to_string()),
    };
    Options {
        stream,
        http,
        routes: serve.routes.to_vec(),
    }
    .encode()
}

/// The config file's `[guest]` pairs as start options, `guest.NAME`: the guest's own
/// settings (`eddy_guest::options`), which its arguments after `--` override.
pub(super) fn guest_pairs(pairs: &[(String, String)]) -> impl Iterator<Item = (String, String)> {
    pairs
        .iter()
        .map(|(name, value)| (format!("{GUEST_OPTION_PREFIX}{name}"), value.clone()))
}

/// The body budget of a worker: `--body-budget`, or a quarter of `--max-memory`.
///
/// # Errors
/// The budget is more than half of `--max-memory` (bodies would crowd out the guest's own
/// memory, and a flood of them could still trap it).
pub(super) fn body_budget(http: &HttpFlags, max_memory: u64) -> anyhow::Result<u64> {
    let budget = http.body_budget.unwrap_or(max_memory / 4);
    if budget > max_memory / 2 {
        anyhow::bail!(
            "--body-budget {budget} is more than half of --max-memory {max_memory}: raise --max-memory or lower the budget"
        );
    }
    Ok(budget)
}

/// The response budget of a worker: `--response-budget`, or an eighth of `--max-memory`.
///
/// # Errors
/// The budget is zero (no response could ever be sent) or more than a quarter of
/// `--max-memory` (with the body budget and a response in flight, it would not fit).
pub(super) fn response_budget(http: &HttpFlags, max_memory: u64) -> anyhow::Result<u64> {
    let budget = http.response_budget.unwrap_or(max_memory / 8);
    if budget == 0 {
        anyhow::bail!("--response-budget must be at least one byte");
    }
    if budget > max_memory / 4 {
        anyhow::bail!(
            "--response-budget {budget} is more than a quarter of --max-memory {max_memory}: raise --max-memory or lower the budget"
        );
    }
    Ok(budget)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::args::{Cli, Command};

    fn serve_args(flags: &[&str]) -> Box<crate::cli::args::ServeArgs> {
        let cli = Cli::try_parse_from(["eddy", "serve"].iter().chain(flags)).expect("flags");
        match cli.command {
            Command::Serve(args) => args,
            _ => unreachable!("parsed as serve"),
        }
    }

    fn values<'a>(options: &'a StartOptions, name: &str) -> Vec<&'a str> {
        options
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    #[test]
    fn run_passes_only_the_buffer_caps() {
        let args = serve_args(&["--max-buffer-size", "2KiB"]);
        let options = start_options(&args.guest, None);
        assert_eq!(
            options,
            vec![
                ("max-buffer-size".to_owned(), "2048".to_owned()),
                ("max-write-buffer-size".to_owned(), "16777216".to_owned()),
            ]
        );
    }

    #[test]
    fn serve_passes_units_in_bytes_and_milliseconds_and_repeats_routes() {
        let args = serve_args(&["--idle-timeout", "2s", "--trusted-downstream", "10.0.0.1"]);
        let routes = ["/a".to_owned(), "/b".to_owned()];
        let serve = ServeOptions {
            http: &args.http,
            body_budget: 1024,
            response_budget: 2048,
            routes: &routes,
            default_host: Some("127.0.0.1:8888".parse().expect("addr")),
        };
        let options = start_options(&args.guest, Some(&serve));
        assert_eq!(values(&options, "idle-timeout"), ["2000"]);
        assert_eq!(values(&options, "max-header-size"), ["65536"]);
        assert_eq!(values(&options, "trusted-downstream"), ["10.0.0.1"]);
        assert_eq!(values(&options, "body-budget"), ["1024"]);
        assert_eq!(values(&options, "response-budget"), ["2048"]);
        assert_eq!(values(&options, "route"), ["/a", "/b"]);
        assert_eq!(values(&options, "default-host"), ["127.0.0.1:8888"]);
        assert_eq!(values(&options, "protocol"), Vec::<&str>::new());
    }

    #[test]
    fn the_flags_default_to_the_contract_defaults() {
        // The flags spell their defaults as text for --help; this keeps them equal to the
        // defaults the guest applies when a key is missing.
        let args = serve_args(&[]);
        let serve = ServeOptions {
            http: &args.http,
            body_budget: eddy_options::DEFAULT_BODY_BUDGET.0,
            response_budget: eddy_options::DEFAULT_RESPONSE_BUDGET.0,
            routes: &[],
            default_host: None,
        };
        let written = Options::parse(&start_options(&args.guest, Some(&serve))).expect("parses");
        let mut expected = Options::default();
        // Whether access lines are wanted depends on the log filter of this test process.
        expected.http.access_log = written.http.access_log;
        assert_eq!(written, expected);
    }

    #[test]
    fn the_body_budget_defaults_to_a_quarter_and_is_capped_at_half() {
        let args = serve_args(&[]);
        assert_eq!(body_budget(&args.http, 1000).expect("default"), 250);
        let args = serve_args(&["--body-budget", "600"]);
        assert!(body_budget(&args.http, 1000).is_err());
    }

    #[test]
    fn the_response_budget_defaults_to_an_eighth_and_is_capped_at_a_quarter() {
        let args = serve_args(&[]);
        assert_eq!(response_budget(&args.http, 1000).expect("default"), 125);
        assert_eq!(
            response_budget(&args.http, eddy_options::DEFAULT_BODY_BUDGET.0 * 4).expect("default"),
            eddy_options::DEFAULT_RESPONSE_BUDGET.0,
            "the guest's own default matches the host's at the default --max-memory"
        );
        let args = serve_args(&["--response-budget", "300"]);
        assert!(response_budget(&args.http, 1000).is_err());
        let args = serve_args(&["--response-budget", "0"]);
        assert!(response_budget(&args.http, 1000).is_err());
    }
}
