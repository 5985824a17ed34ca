//! The plugins of one worker: a pool of instances per `--handler`, the calls in flight, and
//! what a failure costs. Called by the server guest through the `eddy:http/plugins` import.
//!
//! A call is a future: it waits for a turn in its plugin's pool, takes an idle instance or
//! makes one, and runs the plugin on a fiber under the call's deadline (`--handler-timeout`,
//! wall-clock time from the request). [`Plugins::start`] polls it once; a call that waits is
//! kept in [`Calls`] and polled by the worker's loop when its waker says so, and its answer
//! goes to the server guest later. A trap poisons only that call's Store: the request gets a
//! 500 and the instance is dropped (see [`backoff`](super::backoff) for when a plugin rests).

use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::backoff::Verdict;
use super::calls::{CallId, Calls, block_on, within};
use super::handler_table::HandlerTable;
use super::plugin_program::{Bindings, Live, PluginSettings};
use super::pool::{Lease, Pool};
use super::server_wit::eddy::http::plugins::PluginError;
use super::server_wit::eddy::http::types::{Request, Response};
use super::trap::TrapReport;
use super::wasi_http::{self, CallError};

/// A plugin's answer to one request.
pub type Answer = Result<Response, PluginError>;

/// What [`Plugins::start`] did with a request.
pub enum Started {
    /// The call finished at once: its answer (`None`: no route matches).
    Ready(Option<Answer>),
    /// The call waits; its answer comes from [`Plugins::poll_ready`] under this id.
    Pending(CallId),
}

/// How often idle instances are looked at for shrinking.
const SHRINK_EVERY: Duration = Duration::from_secs(5);

/// The plugins of one worker.
pub struct Plugins {
    /// The current table's plugins, in route order.
    pools: Vec<Rc<Pool>>,
    settings: Rc<PluginSettings>,
    table: Arc<HandlerTable>,
    /// The table's generation the pools were made from.
    generation: u64,
    calls: Calls<Answer>,
    last_shrink: Instant,
}

impl Plugins {
    /// The worker's plugins, not yet instantiated (each is on its first request); waiting
    /// calls wake the worker's loop with `loop_waker`.
    pub fn new(table: &Arc<HandlerTable>, settings: &PluginSettings, loop_waker: Waker) -> Self {
        let settings = Rc::new(settings.clone());
        let (generation, programs) = table.current();
        Self {
            pools: pools(&programs, &settings),
            settings,
            table: table.clone(),
            generation,
            calls: Calls::new(loop_waker),
            last_shrink: Instant::now(),
        }
    }

    /// Starts over with the table's new plugins when it was swapped since the last call.
    /// The old pools retire: calls in flight finish on their instances, which then go.
    fn follow_table(&mut self) {
        if self.table.generation() != self.generation {
            let (generation, programs) = self.table.current();
            for pool in &self.pools {
                pool.retire();
            }
            self.pools = pools(&programs, &self.settings);
            self.generation = generation;
        }
    }

    /// The call of the plugin whose route matches the request's path, in the current table;
    /// `None` when none matches.
    fn route(&mut self, request: Request, server_name: Option<String>) -> Option<CallFuture> {
        self.follow_table();
        let pool = self
            .pools
            .iter()
            .find(|pool| pool.program().answers(&request.path))?;
        Some(Box::pin(call(pool.clone(), request, server_name)))
    }

    /// Starts the call of the plugin whose route matches `request`, polling it once.
    pub fn start(&mut self, request: Request, server_name: Option<String>) -> Started {
        self.shrink_now_and_then();
        match self.route(request, server_name) {
            None => Started::Ready(None),
            Some(call) => match self.calls.start(call) {
                Ok(answer) => Started::Ready(Some(answer)),
                Err(id) => Started::Pending(id),
            },
        }
    }

    /// Answers `request` with the plugin of the matching route, waiting for it on this
    /// thread: for server guests that wait for their plugins (`plugins.dispatch`).
    pub fn dispatch_waiting(
        &mut self,
        request: Request,
        server_name: Option<String>,
    ) -> Option<Answer> {
        self.route(request, server_name).map(block_on)
    }

    /// Calls plugin `index` with `request`, waiting for it on this thread (`plugins.call`).
    pub fn call_waiting(
        &mut self,
        index: u32,
        request: Request,
        server_name: Option<String>,
    ) -> Answer {
        self.follow_table();
        let pool = usize::try_from(index)
            .ok()
            .and_then(|index| self.pools.get(index))
            .ok_or(PluginError::UnknownPlugin)?;
        block_on(call(pool.clone(), request, server_name))
    }

    /// Polls the calls woken since the last turn, once each; the finished ones are appended
    /// to `done`.
    pub fn poll_ready(&mut self, done: &mut Vec<(CallId, Answer)>) {
        self.calls.poll_ready(done);
        self.shrink_now_and_then();
    }

    /// Whether a waiting call was woken.
    pub fn has_ready(&self) -> bool {
        self.calls.has_ready()
    }

    /// How many calls wait.
    pub fn waiting(&self) -> usize {
        self.calls.len()
    }

    fn shrink_now_and_then(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_shrink) >= SHRINK_EVERY {
            self.last_shrink = now;
            for pool in &self.pools {
                pool.shrink(now);
            }
        }
    }
}

/// A call as [`Calls`] keeps it.
type CallFuture = super::calls::CallFuture<Answer>;

fn pools(
    programs: &[super::plugin_program::PluginProgram],
    settings: &Rc<PluginSettings>,
) -> Vec<Rc<Pool>> {
    programs
        .iter()
        .map(|program| Rc::new(Pool::new(program.clone(), settings.clone())))
        .collect()
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

/// One call, from the request to its answer, within the deadline.
async fn call(pool: Rc<Pool>, request: Request, server_name: Option<String>) -> Answer {
    let started = Instant::now();
    let settings = pool.settings();
    let deadline = started + settings.timeout;
    let queue_deadline = started + settings.queue_timeout.min(settings.timeout);
    let mut lease = pool.acquire(queue_deadline).await?;
    let outcome = within(
        deadline,
        run(&pool, &mut lease, &request, server_name, deadline),
    )
    .await
    .unwrap_or_else(|| {
        Err(Failure::Call {
            verb: "timed out",
            report: TrapReport {
                reason: format!(
                    "no response after {:.2?} (--handler-timeout {:?})",
                    started.elapsed(),
                    pool.settings().timeout
                ),
                backtrace: String::new(),
            },
        })
    });
    drop(lease);
    let now = Instant::now();
    match outcome {
        Ok(response) => {
            pool.with_health(|health, _| health.succeeded());
            Ok(response)
        }
        Err(Failure::Instantiation(reason)) => {
            let message = format!("instantiating {} failed: {reason}", pool.program().name());
            let verdict = pool.with_health(|health, _| health.start_failed(now));
            log_failure(&pool, &message, &verdict);
            Err(PluginError::Unavailable(message))
        }
        Err(Failure::Call { verb, report }) => {
            let key = format!("{} {}", request.method, request.path);
            let verdict = pool.with_health(|health, _| health.call_failed(now, &key));
            let message = format!(
                "{} {verb} on {key}: {}",
                pool.program().name(),
                report.message()
            );
            log_failure(&pool, &message, &verdict);
            Err(PluginError::Trapped(report.reason))
        }
    }
}

/// Takes or makes an instance and calls it; a good instance goes back to the lease.
async fn run(
    pool: &Pool,
    lease: &mut Lease,
    request: &Request,
    server_name: Option<String>,
    deadline: Instant,
) -> Result<Response, Failure> {
    let mut live = match lease.take() {
        Some(live) => live,
        None => pool
            .instantiate(deadline)
            .await
            .map_err(|error| Failure::Instantiation(error.to_string()))?,
    };
    live.prepare(deadline, server_name);
    let started = Instant::now();
    let result = invoke(&mut live, request, pool.settings().max_response_body).await;
    live.store.data_mut().server_name = None;
    match result {
        Ok(response) => {
            lease.put_back(live);
            Ok(response)
        }
        Err(CallError::Trap(trap)) => {
            let denial = live.store.data_mut().limiter.take_denial();
            let report = TrapReport::new(&trap, started.elapsed(), "--handler-timeout", denial);
            Err(Failure::Call {
                verb: "trapped",
                report,
            })
        }
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

/// Calls the instance's export with `request`.
async fn invoke(
    live: &mut Live,
    request: &Request,
    max_body: usize,
) -> Result<Response, CallError> {
    match &live.bindings {
        Bindings::Eddy(bindings) => bindings
            .eddy_http_handler()
            .call_handle(&mut live.store, request)
            .await
            .map_err(CallError::Trap),
        Bindings::WasiHttp(proxy) => {
            wasi_http::call(&mut live.store, proxy, request, max_body).await
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;
    use crate::runtime::plugin_program::PluginProgram;

    /// Counts the loop's wakes and unparks the test's thread.
    struct Unpark(std::thread::Thread, AtomicUsize);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.unpark();
        }
    }

    /// The plugins of one worker: `component` for `route`.
    fn plugins(component: &str, route: &str, settings: PluginSettings) -> Plugins {
        let engine = super::super::engine().expect("an engine");
        let bytes = std::fs::read(crate::guests::path(component)).expect("a built component");
        let program = PluginProgram::from_bytes(&engine, &bytes, component)
            .and_then(|program| program.with_route(route))
            .expect("a plugin");
        let waker = Waker::from(Arc::new(Unpark(
            std::thread::current(),
            AtomicUsize::new(0),
        )));
        Plugins::new(&HandlerTable::new(vec![program]), &settings, waker)
    }

    fn request(path: &str, query: &str) -> Request {
        Request {
            method: "GET".into(),
            uri: format!("{path}?{query}"),
            path: path.into(),
            query: query.into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            body: Vec::new(),
            remote_ip: "127.0.0.1".into(),
            protocol: "http".into(),
            host: "test".into(),
            start_time: 0,
        }
    }

    fn text(answer: &Answer) -> String {
        match answer {
            Ok(response) => String::from_utf8_lossy(&response.body).into_owned(),
            Err(error) => format!("{error:?}"),
        }
    }

    /// Polls like the worker's loop until `count` calls finished.
    fn finish(plugins: &mut Plugins, count: usize) -> Vec<(CallId, Answer)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut done = Vec::new();
        while done.len() < count {
            assert!(
                Instant::now() < deadline,
                "{} of {count} calls finished",
                done.len()
            );
            if !plugins.has_ready() {
                std::thread::park_timeout(Duration::from_millis(10));
            }
            plugins.poll_ready(&mut done);
        }
        done
    }

    #[test]
    fn a_plugin_that_does_not_wait_answers_within_start() {
        let _io = crate::runtime::enter_io_runtime();
        let mut plugins = plugins("hello", "/h.*", PluginSettings::default());
        match plugins.start(request("/hello", ""), None) {
            Started::Ready(Some(answer)) => assert_eq!(text(&answer), "Hello, world!"),
            _ => panic!("hello should answer at once"),
        }
        assert!(matches!(
            plugins.start(request("/other", ""), None),
            Started::Ready(None)
        ));
        assert_eq!(plugins.waiting(), 0);
    }

    #[test]
    fn guests_that_wait_for_their_plugins_still_get_answers() {
        let _io = crate::runtime::enter_io_runtime();
        let mut plugins = plugins("wasi-http", "/.*", PluginSettings::default());
        let answer = plugins
            .dispatch_waiting(request("/sleep", "ms=20"), None)
            .expect("a route");
        assert_eq!(text(&answer), "slept");
        assert_eq!(
            text(&plugins.call_waiting(0, request("/", ""), None)),
            "hello from wasi:http\n"
        );
        assert!(matches!(
            plugins.call_waiting(1, request("/", ""), None),
            Err(PluginError::UnknownPlugin)
        ));
    }

    #[test]
    fn overlapping_calls_get_instances_of_their_own_and_leave_them_pooled() {
        let _io = crate::runtime::enter_io_runtime();
        let mut plugins = plugins("wasi-http", "/.*", PluginSettings::default());
        let ids: Vec<CallId> = (0..3)
            .map(|_| match plugins.start(request("/sleep", "ms=50"), None) {
                Started::Pending(id) => id,
                _ => panic!("a sleep waits"),
            })
            .collect();
        assert_eq!(plugins.waiting(), 3);
        let done = finish(&mut plugins, 3);
        let mut finished: Vec<CallId> = done.iter().map(|(id, _)| *id).collect();
        finished.sort_unstable();
        assert_eq!(finished, ids);
        assert!(done.iter().all(|(_, answer)| text(answer) == "slept"));
        assert_eq!(plugins.pools[0].idle_count(), 3);
        assert_eq!(plugins.pools[0].instantiations(), 3);
        // The most recently used instance answers next: it has answered two requests.
        match plugins.start(request("/count", ""), None) {
            Started::Ready(Some(answer)) => assert_eq!(text(&answer), "2"),
            _ => panic!("count answers at once"),
        }
    }

    #[test]
    fn past_the_cap_requests_wait_in_line_then_get_503() {
        let _io = crate::runtime::enter_io_runtime();
        let settings = PluginSettings {
            max_calls: 1,
            queue_timeout: Duration::from_millis(100),
            ..PluginSettings::default()
        };
        let mut plugins = plugins("wasi-http", "/.*", settings);
        let Started::Pending(first) = plugins.start(request("/sleep", "ms=300"), None) else {
            panic!("a sleep waits");
        };
        let Started::Pending(second) = plugins.start(request("/", ""), None) else {
            panic!("the second request waits for the only instance");
        };
        let done = finish(&mut plugins, 2);
        assert_eq!(done[0].0, second, "the queued request gives up first");
        assert!(
            matches!(&done[0].1, Err(PluginError::Unavailable(reason)) if reason.contains("--max-plugin-calls")),
            "{}",
            text(&done[0].1)
        );
        assert_eq!((done[1].0, text(&done[1].1)), (first, "slept".into()));
    }

    #[test]
    fn a_call_past_its_deadline_is_dropped_and_its_instance_with_it() {
        let _io = crate::runtime::enter_io_runtime();
        let settings = PluginSettings {
            timeout: Duration::from_millis(100),
            ..PluginSettings::default()
        };
        let mut plugins = plugins("wasi-http", "/.*", settings);
        let started = Instant::now();
        assert!(matches!(
            plugins.start(request("/sleep", "ms=5000"), None),
            Started::Pending(_)
        ));
        let done = finish(&mut plugins, 1);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            matches!(&done[0].1, Err(PluginError::Trapped(reason)) if reason.contains("--handler-timeout")),
            "{}",
            text(&done[0].1)
        );
        assert_eq!(plugins.pools[0].idle_count(), 0);
    }
}
