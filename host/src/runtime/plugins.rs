//! The plugins of one worker: a pool of instances per `--handler`, the calls in flight, and
//! the streams between them and the server guest. Called by the server guest through the
//! `eddy:http/plugins` import.
//!
//! A call is a future ([`call`](super::call)): it waits for a turn in its plugin's pool,
//! takes an idle instance or makes one, and runs the plugin on a fiber. [`Plugins::start`]
//! polls it once; a call that waits is kept in [`Calls`] and polled by the worker's loop when
//! its waker says so. What happens to it afterwards (its answer, or its response head, body
//! pieces and end) goes to the server guest through one outbox, delivered once per loop turn.
//! A trap poisons only that call's Store: the request gets a 500 and the instance is dropped
//! (see [`backoff`](super::backoff) for when a plugin rests).

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use super::call::{Answer, CallSetup, call};
use super::call_io::{CallIo, Outbox, Pipes};
use super::calls::{CallId, Calls, POLL_BUDGET, block_on};
use super::handler_table::HandlerTable;
use super::plugin_program::PluginSettings;
use super::pool::Pool;
use super::server_wit::eddy::http::plugins::PluginError;
use super::server_wit::eddy::http::types::Request;
use super::server_wit::exports::eddy::http::plugin_results::{CallEvent, CallUpdate};

/// What [`Plugins::start`] did with a request.
pub enum Started {
    /// The call finished at once: its answer (`None`: no route matches).
    Ready(Option<Answer>),
    /// The call waits; what becomes of it comes from [`Plugins::poll_ready`] under this id.
    Pending(CallId),
}

/// How often idle instances are looked at for shrinking, and a reloaded handler table for
/// retiring the old pools, when no request comes.
const SHRINK_EVERY: Duration = Duration::from_secs(5);

/// The plugins of one worker.
pub struct Plugins {
    /// The current table's plugins, in route order.
    pools: Vec<Rc<Pool>>,
    settings: Rc<PluginSettings>,
    table: Arc<HandlerTable>,
    /// The table's generation the pools were made from.
    generation: u64,
    calls: Calls<Option<Answer>>,
    /// What waiting calls said since the guest last heard.
    outbox: Outbox,
    /// The pipes of calls that have one, for the guest's body imports.
    pipes: Pipes,
    /// Time spent polling calls inside `start` during the current call into the guest: past
    /// [`POLL_BUDGET`], new calls wait for the next turn.
    spent: Duration,
    /// Wakes the loop now and then to shrink idle pools and follow a reloaded table, even
    /// when no request comes.
    housekeeping: Housekeeping,
}

/// A timer on the io runtime that gives the loop a turn every [`SHRINK_EVERY`].
struct Housekeeping {
    wake: Arc<HousekeepingWake>,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// Marks the housekeeping due and wakes the loop.
struct HousekeepingWake {
    due: AtomicBool,
    loop_waker: Waker,
}

impl Wake for HousekeepingWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.due.store(true, Ordering::Release);
        self.loop_waker.wake_by_ref();
    }
}

impl Housekeeping {
    fn new(loop_waker: Waker) -> Self {
        let mut housekeeping = Self {
            wake: Arc::new(HousekeepingWake {
                due: AtomicBool::new(false),
                loop_waker,
            }),
            sleep: Box::pin(tokio::time::sleep(SHRINK_EVERY)),
        };
        housekeeping.arm();
        housekeeping
    }

    /// Registers the timer's waker.
    fn arm(&mut self) {
        let waker = Waker::from(self.wake.clone());
        let _ = self
            .sleep
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker));
    }

    /// Whether the loop must turn for the housekeeping.
    fn is_due(&self) -> bool {
        self.wake.due.load(Ordering::Acquire)
    }

    /// Takes the housekeeping when it is due, and arms the next.
    fn take(&mut self) -> bool {
        if !self.wake.due.swap(false, Ordering::AcqRel) {
            return false;
        }
        self.sleep
            .as_mut()
            .reset(tokio::time::Instant::now() + SHRINK_EVERY);
        self.arm();
        true
    }
}

impl Plugins {
    /// The worker's plugins, not yet instantiated (each is on its first request); waiting
    /// calls wake the worker's loop with `loop_waker`.
    pub fn new(table: &Arc<HandlerTable>, settings: &PluginSettings, loop_waker: Waker) -> Self {
        let settings = Rc::new(settings.clone());
        let (generation, programs) = table.current();
        let housekeeping = Housekeeping::new(loop_waker.clone());
        let calls = Calls::new(loop_waker);
        Self {
            pools: pools(&programs, &settings),
            settings,
            table: table.clone(),
            generation,
            calls,
            outbox: Outbox::default(),
            pipes: Pipes::default(),
            spent: Duration::ZERO,
            housekeeping,
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

    /// The pool of the plugin whose route matches `path`, in the current table.
    fn route(&mut self, path: &str) -> Option<Rc<Pool>> {
        self.follow_table();
        self.pools
            .iter()
            .find(|pool| pool.program().answers(path))
            .cloned()
    }

    /// Starts the call of the plugin whose route matches `request`, polling it once; its
    /// response may stream. With `streamed_body`, the request body follows through
    /// [`Plugins::write_body`].
    pub fn start(
        &mut self,
        request: Request,
        server_name: Option<String>,
        streamed_body: bool,
    ) -> Started {
        let Some(pool) = self.route(&request.path) else {
            return Started::Ready(None);
        };
        if streamed_body && !pool.program().streams_body() {
            // The routes changed (a reload) since the guest asked `streams-body`.
            return Started::Ready(Some(Err(PluginError::Unavailable(format!(
                "{} takes whole request bodies",
                pool.program().name()
            )))));
        }
        let reserved = self.calls.reserve();
        let id = reserved.id();
        let io = CallIo::new(
            id,
            self.outbox.clone(),
            self.pipes.clone(),
            reserved.waker(),
        );
        let body = streamed_body.then(|| io.pipe().body());
        let setup = CallSetup {
            server_name,
            io: Some(io),
            body,
        };
        let future = Box::pin(call(pool, request, setup));
        if self.spent >= POLL_BUDGET {
            // This turn has computed enough: the sockets first, this call next turn.
            return Started::Pending(self.calls.start_later(reserved, future));
        }
        match self.calls.start(reserved, future) {
            Ok(Some(answer)) => {
                self.pipes.borrow_mut().remove(&id);
                Started::Ready(Some(answer))
            }
            // Streamed already: its events are in the outbox for the next delivery.
            Ok(None) => {
                self.pipes.borrow_mut().remove(&id);
                Started::Pending(id)
            }
            Err(id) => Started::Pending(id),
        }
    }

    /// Whether the plugin that answers `path` reads its request body as a stream.
    pub fn streams_body(&mut self, path: &str) -> bool {
        self.route(path)
            .is_some_and(|pool| pool.program().streams_body())
    }

    /// Hands call `call` the next bytes of its request body; returns how many it took.
    pub fn write_body(&mut self, call: CallId, bytes: &[u8]) -> u32 {
        self.pipes.borrow().get(&call).map_or(0, |pipe| {
            u32::try_from(pipe.write(bytes)).unwrap_or(u32::MAX)
        })
    }

    /// Ends call `call`'s request body, whole or broken off.
    pub fn finish_body(&mut self, call: CallId, complete: bool) {
        if let Some(pipe) = self.pipes.borrow().get(&call) {
            pipe.finish(complete);
        }
    }

    /// The guest took the last response piece of call `call` and has room for `room` bytes.
    pub fn more_body(&mut self, call: CallId, room: u32) {
        if let Some(pipe) = self.pipes.borrow().get(&call) {
            pipe.more(usize::try_from(room).unwrap_or(usize::MAX));
        }
    }

    /// Drops call `call`: its request is gone.
    pub fn cancel(&mut self, call: CallId) {
        self.calls.cancel(call);
        self.pipes.borrow_mut().remove(&call);
    }

    /// Answers `request` with the plugin of the matching route, waiting for it on this
    /// thread: for server guests that wait for their plugins (`plugins.dispatch`), which
    /// take whole answers only.
    pub fn dispatch_waiting(
        &mut self,
        request: Request,
        server_name: Option<String>,
    ) -> Option<Answer> {
        let pool = self.route(&request.path)?;
        block_on(call(pool, request, whole_only(server_name)))
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
            .ok_or(PluginError::UnknownPlugin)?
            .clone();
        block_on(call(pool, request, whole_only(server_name)))
            .unwrap_or_else(|| Err(PluginError::Trapped("the response streamed".into())))
    }

    /// Polls the calls woken since the last turn, once each, and appends what the guest must
    /// hear to `updates`: what calls said, and the answers of those that finished.
    pub fn poll_ready(&mut self, updates: &mut Vec<CallUpdate>) {
        let mut finished = Vec::new();
        self.calls.poll_ready(&mut finished);
        for (id, answer) in finished {
            self.pipes.borrow_mut().remove(&id);
            if let Some(answer) = answer {
                self.outbox.push(id, CallEvent::Answer(answer));
            }
        }
        self.outbox.drain_into(updates);
        if self.housekeeping.take() {
            self.follow_table();
            let now = Instant::now();
            for pool in &self.pools {
                pool.shrink(now);
            }
        }
    }

    /// A new call into the guest begins: the time for first polls starts over.
    pub fn new_turn(&mut self) {
        self.spent = Duration::ZERO;
    }

    /// Counts `elapsed` (a `start`, measured by its caller) against this turn's time.
    pub fn spent(&mut self, elapsed: Duration) {
        self.spent += elapsed;
    }

    /// Whether a waiting call was woken, or said something the guest has not heard yet (or
    /// the housekeeping is due).
    pub fn has_ready(&self) -> bool {
        self.calls.has_ready() || !self.outbox.is_empty() || self.housekeeping.is_due()
    }

    /// How many calls wait.
    pub fn waiting(&self) -> usize {
        self.calls.len()
    }
}

/// A call for a guest that takes whole answers only.
fn whole_only(server_name: Option<String>) -> CallSetup {
    CallSetup {
        server_name,
        io: None,
        body: None,
    }
}

fn pools(
    programs: &[super::plugin_program::PluginProgram],
    settings: &Rc<PluginSettings>,
) -> Vec<Rc<Pool>> {
    programs
        .iter()
        .map(|program| Rc::new(Pool::new(program.clone(), settings.clone())))
        .collect()
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
            let mut updates = Vec::new();
            plugins.poll_ready(&mut updates);
            for update in updates {
                match update.event {
                    CallEvent::Answer(answer) => done.push((update.call, answer)),
                    _ => panic!("a whole answer was expected"),
                }
            }
        }
        done
    }

    #[test]
    fn a_plugin_that_does_not_wait_answers_within_start() {
        let _io = crate::runtime::enter_io_runtime();
        let mut plugins = plugins("hello", "/h.*", PluginSettings::default());
        match plugins.start(request("/hello", ""), None, false) {
            Started::Ready(Some(answer)) => assert_eq!(text(&answer), "Hello, world!"),
            _ => panic!("hello should answer at once"),
        }
        assert!(matches!(
            plugins.start(request("/other", ""), None, false),
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
            .map(
                |_| match plugins.start(request("/sleep", "ms=50"), None, false) {
                    Started::Pending(id) => id,
                    _ => panic!("a sleep waits"),
                },
            )
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
        match plugins.start(request("/count", ""), None, false) {
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
        let Started::Pending(first) = plugins.start(request("/sleep", "ms=300"), None, false)
        else {
            panic!("a sleep waits");
        };
        let Started::Pending(second) = plugins.start(request("/", ""), None, false) else {
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
            plugins.start(request("/sleep", "ms=5000"), None, false),
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
