//! One plugin call, from the request to its answer: a turn in the plugin's pool, an idle
//! instance or a new one, the plugin run on a fiber, and what a failure costs.
//!
//! The head of the response is due by `--handler-timeout` from the request (queueing,
//! instantiation and waits included); a `wasi:http` body that streams after its head is
//! bounded by the guest's write timeout and `--max-stream-duration` instead.

use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use super::backoff::Verdict;
use super::call_error::CallError;
use super::call_io::CallIo;
use super::calls::within;
use super::exchange::{Limits, Outcome};
use super::pipe::GuestBody;
use super::pipe::WHOLE_ANSWER;
use super::plugin_program::{Bindings, Live};
use super::pool::{Lease, Pool};
use super::server_wit::eddy::http::plugins::PluginError;
use super::server_wit::eddy::http::types::{Request, Response};
use super::server_wit::exports::eddy::http::plugin_results::{CallEvent, ResponseHead};
use super::trap::TrapReport;
use super::wasi_http;

/// A plugin's answer to one request.
pub type Answer = Result<Response, PluginError>;

/// What a call needs beyond its request.
pub struct CallSetup {
    /// The TLS server name the request arrived with.
    pub server_name: Option<String>,
    /// Where a streamed response goes; `None` for a guest that takes whole answers only.
    pub io: Option<CallIo>,
    /// The request body, when the guest streams it.
    pub body: Option<GuestBody>,
}

/// Why a call gave no response.
enum Failure {
    /// No instance could be made: the request gets 503.
    Instantiation(String),
    /// The plugin trapped, returned nothing usable, or ran past its deadline: 500.
    Call {
        verb: &'static str,
        report: TrapReport,
    },
}

/// One call: its whole answer, or `None` when its response streamed through its `io` (whose
/// events then say everything, the end included).
pub async fn call(pool: Rc<Pool>, request: Request, setup: CallSetup) -> Option<Answer> {
    let started = Instant::now();
    let settings = pool.settings();
    let queue_deadline = started + settings.queue_timeout.min(settings.timeout);
    let mut lease = match pool.acquire(queue_deadline).await {
        Ok(lease) => lease,
        Err(refusal) => return Some(Err(refusal)),
    };
    let io = setup.io.as_ref();
    let outcome = run(
        &pool,
        &mut lease,
        &request,
        setup.server_name,
        setup.body,
        io,
        started,
    )
    .await;
    drop(lease);
    let failure = match outcome {
        Ok(Outcome::Whole(response)) => {
            pool.with_health(|health, _| health.succeeded());
            return match io {
                // A large body goes in pieces the guest asks for, with its length: the guest
                // never holds more than a piece of it.
                Some(io) if response.body.len() > WHOLE_ANSWER => {
                    Box::pin(send_in_pieces(io, response)).await;
                    None
                }
                _ => Some(Ok(response)),
            };
        }
        Ok(Outcome::Streamed) => {
            pool.with_health(|health, _| health.succeeded());
            return None;
        }
        Err(failure) => failure,
    };
    let now = Instant::now();
    let answer = match failure {
        Failure::Instantiation(reason) => {
            let message = format!("instantiating {} failed: {reason}", pool.program().name());
            let verdict = pool.with_health(|health, _| health.start_failed(now));
            log_failure(&pool, &message, &verdict);
            Err(PluginError::Unavailable(message))
        }
        Failure::Call { verb, report } => {
            let key = format!("{} {}", request.method, request.path);
            let verdict = pool.with_health(|health, _| health.call_failed(now));
            let message = format!(
                "{} {verb} on {key}: {}",
                pool.program().name(),
                report.message()
            );
            log_failure(&pool, &message, &verdict);
            if let Some(io) = io.filter(|io| io.head_sent()) {
                // The head is out: the body breaks off instead of a 500.
                if !io.ended() {
                    io.emit(CallEvent::End(Some(report.reason)));
                }
                return None;
            }
            Err(PluginError::Trapped(report.reason))
        }
    };
    Some(answer)
}

/// Hands a whole response to the guest as a head with its length and pieces, each once the
/// guest asks for it. The plugin's instance is free meanwhile.
async fn send_in_pieces(io: &CallIo, response: Response) {
    let Response {
        status,
        headers,
        body,
    } = response;
    io.emit(CallEvent::Head(ResponseHead {
        status,
        headers,
        length: u64::try_from(body.len()).ok(),
    }));
    io.pipe().delivered(true);
    let mut rest = body.as_slice();
    while !rest.is_empty() {
        // The guest's `more-body` wakes this call.
        let room = std::future::poll_fn(|_| match io.pipe().may_deliver() {
            Some(room) => Poll::Ready(room),
            None => Poll::Pending,
        })
        .await;
        let (piece, later) = rest.split_at(room.min(rest.len()));
        rest = later;
        io.pipe().delivered(!rest.is_empty());
        io.emit(CallEvent::Body(piece.to_vec()));
    }
    io.emit(CallEvent::End(None));
}

/// Takes or makes an instance and calls it; a good instance goes back to the lease.
async fn run(
    pool: &Pool,
    lease: &mut Lease,
    request: &Request,
    server_name: Option<String>,
    body: Option<GuestBody>,
    io: Option<&CallIo>,
    started: Instant,
) -> Result<Outcome, Failure> {
    let deadline = started + pool.settings().timeout;
    let timed_out = || timed_out(pool, deadline);
    let mut live = match lease.take() {
        Some(live) => live,
        // Boxed: instantiation's state is large and rarely needed (an idle instance is there).
        None => within(deadline, Box::pin(pool.instantiate(deadline)))
            .await
            .ok_or_else(timed_out)?
            .map_err(|error| Failure::Instantiation(error.to_string()))?,
    };
    live.prepare(deadline, server_name);
    let result = invoke(&mut live, pool, request, body, io, deadline).await;
    live.store.data_mut().server_name = None;
    match result {
        Ok(outcome) => {
            lease.put_back(live);
            Ok(outcome)
        }
        Err(CallError::Trap(trap)) => {
            let denial = live.store.data_mut().limiter.take_denial();
            let mut report = TrapReport::new(&trap, started.elapsed(), "--handler-timeout", denial);
            if report.reason.contains("resource table has no free keys") {
                report.reason.push_str(&format!(
                    " (it holds --plugin-max-resources {} host resources)",
                    pool.settings().max_resources
                ));
            }
            Err(Failure::Call {
                verb: "trapped",
                report,
            })
        }
        Err(CallError::TimedOut) => Err(timed_out()),
        // Returned without a usable response: no backtrace, but the same cost as a trap.
        Err(CallError::Failed(reason)) => Err(Failure::Call {
            verb: "failed",
            report: TrapReport {
                reason,
                backtrace: String::new(),
            },
        }),
    }
}

/// The failure of a call with no response head by `deadline`.
fn timed_out(pool: &Pool, deadline: Instant) -> Failure {
    let timeout = pool.settings().timeout;
    let took = timeout + Instant::now().saturating_duration_since(deadline);
    Failure::Call {
        verb: "timed out",
        report: TrapReport {
            reason: format!("no response after {took:.2?} (--handler-timeout {timeout:?})"),
            backtrace: String::new(),
        },
    }
}

/// Calls the instance's export with `request`.
async fn invoke(
    live: &mut Live,
    pool: &Pool,
    request: &Request,
    body: Option<GuestBody>,
    io: Option<&CallIo>,
    deadline: Instant,
) -> Result<Outcome, CallError> {
    let settings = pool.settings();
    match &live.bindings {
        Bindings::Eddy(bindings) => within(
            deadline,
            bindings
                .eddy_http_handler()
                .call_handle(&mut live.store, request),
        )
        .await
        .ok_or(CallError::TimedOut)?
        .map(Outcome::Whole)
        .map_err(CallError::Trap),
        Bindings::WasiHttp(proxy) => {
            let limits = Limits {
                max_whole: settings.max_response_body,
                head_by: deadline,
                stream_for: settings.max_stream_duration,
                after_end: settings.timeout,
            };
            // Boxed: its state is large, and the `eddy:http` path should not carry it.
            Box::pin(wasi_http::call(
                &mut live.store,
                proxy,
                request,
                body,
                io,
                limits,
            ))
            .await
        }
    }
}

/// Logs a failure unless the rate limit holds it back.
fn log_failure(pool: &Pool, message: &str, verdict: &Verdict) {
    let Some(held_back) = verdict.report else {
        return;
    };
    let backoff = verdict.backoff;
    tracing::error!(
        plugin = pool.program().name(),
        held_back,
        instances = pool.instantiations(),
        idle_instances = pool.idle_count(),
        "{message}\nnext call {}",
        if backoff.is_zero() {
            "gets a fresh instance".to_owned()
        } else {
            format!("in {backoff:?} (the plugin rests)")
        }
    );
}
