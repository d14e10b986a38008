use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use rand::rngs::SmallRng;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio::task::LocalSet;
use tokio::time::{sleep, Duration, Instant};

use super::Result;
use crate::time::Timers;

// To support re-creation, we need to store a factory of the future that
// represents the software. This is somewhat annoying in that it requires
// boxxing to avoid generics.
type Software<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result>>> + 'a>;

/// Runtime kinds.
pub enum Kind<'a> {
    /// A runtime for executing test code.
    Client,

    /// A runtime that is running simulated host software.
    Host { software: Software<'a> },
}

/// Runtime configuration.
#[derive(Clone, Default)]
pub struct Config {
    /// Whether io is enabled on the runtime.
    pub enable_io: bool,

    /// Rng used to seed the tokio runtime.
    ///
    /// Only used if the `tokio_unstable` cfg flag is set.
    #[cfg_attr(not(tokio_unstable), expect(dead_code))]
    pub rng: Option<SmallRng>,

    /// The host's timers made with [`crate::time`].
    pub timers: Arc<Timers>,
}

/// Per host simulated runtime.
///
/// The tokio runtime is paused (see [`Builder::start_paused`]), which gives us
/// control over when and how to advance time. In particular, see [`Rt::tick`],
/// which lets the runtime do a bit more work.
pub struct Rt<'a> {
    pub kind: Kind<'a>,

    /// Handle to the Tokio runtime driving this simulated host. Each runtime
    /// may have a different sense of "now" which simulates clock skew.
    tokio: Runtime,

    /// Local task set used for running !Send tasks.
    local: LocalSet,

    /// A user readable name to identify the node.
    pub nodename: Arc<str>,

    /// Optional handle to a host's software. When software finishes, the handle is
    /// consumed to check for error, which is propagated up to fail the simulation.
    handle: Option<JoinHandle<Result>>,

    /// Runtime configuration.
    config: Config,

    /// Set when a task of the `LocalSet` may be scheduled: the `LocalSet`
    /// was woken since it last ran (a message arrived, a timer fired, a
    /// task woke another), or new software was spawned.
    woken: Arc<WakeFlag>,

    /// The waker the `LocalSet` is polled with: it sets `woken`, then wakes
    /// the runtime.
    flag_waker: Waker,

    /// Turns skipped since the host last ran (see [`Rt::skip`]).
    skipped: u32,

    /// The runtime's clock when the host last ran (or was skipped up to).
    clock: Instant,
}

/// The `woken` flag of an [`Rt`] and the runtime waker it forwards to.
#[derive(Default)]
struct WakeFlag {
    woken: AtomicBool,
    inner: Mutex<Option<Waker>>,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Relaxed);
        if let Some(waker) = self.inner.lock().unwrap().as_ref() {
            waker.wake_by_ref();
        }
    }
}

/// Polls the host's `LocalSet` with the [`WakeFlag`] waker, clearing the
/// flag first: whatever is scheduled from then on wakes it again.
struct Flagged<'f, F> {
    flag: &'f Arc<WakeFlag>,
    waker: &'f Waker,
    inner: Pin<&'f mut F>,
}

impl<F: Future> Future for Flagged<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        {
            let mut inner = self.flag.inner.lock().unwrap();
            if !inner.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *inner = Some(cx.waker().clone());
            }
        }
        self.flag.woken.store(false, Ordering::Relaxed);
        let waker: &Waker = self.waker;
        self.inner.as_mut().poll(&mut Context::from_waker(waker))
    }
}

impl<'a> Rt<'a> {
    pub(crate) fn client<F>(nodename: Arc<str>, client: F, mut config: Config) -> Self
    where
        F: Future<Output = Result> + 'static,
    {
        let (tokio, local) = init(&mut config);

        let handle = with(&tokio, &local, || tokio::task::spawn_local(client));

        Self::new(Kind::Client, tokio, local, nodename, handle, config)
    }

    pub(crate) fn host<F, Fut>(nodename: Arc<str>, software: F, mut config: Config) -> Self
    where
        F: Fn() -> Fut + 'a,
        Fut: Future<Output = Result> + 'static,
    {
        let (tokio, local) = init(&mut config);

        let software: Software = Box::new(move || Box::pin(software()));
        let handle = with(&tokio, &local, || tokio::task::spawn_local(software()));

        Self::new(
            Kind::Host { software },
            tokio,
            local,
            nodename,
            handle,
            config,
        )
    }

    fn new(
        kind: Kind<'a>,
        tokio: Runtime,
        local: LocalSet,
        nodename: Arc<str>,
        handle: JoinHandle<Result>,
        config: Config,
    ) -> Self {
        let woken = Arc::new(WakeFlag::default());
        // The software just spawned is scheduled.
        woken.woken.store(true, Ordering::Relaxed);
        let clock = now(&tokio);
        Self {
            kind,
            tokio,
            local,
            nodename,
            handle: Some(handle),
            config,
            flag_waker: Waker::from(woken.clone()),
            woken,
            skipped: 0,
            clock,
        }
    }

    pub(crate) fn is_client(&self) -> bool {
        matches!(self.kind, Kind::Client)
    }

    fn is_host(&self) -> bool {
        matches!(self.kind, Kind::Host { .. })
    }

    pub(crate) fn is_software_running(&self) -> bool {
        self.handle.is_some()
    }

    pub(crate) fn now(&self) -> Instant {
        now(&self.tokio)
    }

    /// Whether the host has nothing to do in a turn of `duration`: no task
    /// of its `LocalSet` was woken, no runtime task is alive, and no timer
    /// made with [`crate::time`] is due before the turn ends. (Whether a
    /// message is ready for it is for the caller to check.)
    pub(crate) fn is_idle(&self, duration: Duration) -> bool {
        if self.woken.woken.load(Ordering::Relaxed) || self.tokio.metrics().num_alive_tasks() > 0 {
            return false;
        }
        let end = self.clock + duration * (self.skipped + 1);
        self.config.timers.next().is_none_or(|next| next > end)
    }

    /// Skips a turn of an idle host (see [`Rt::is_idle`]); [`Rt::catch_up`]
    /// moves its clock before it next runs.
    pub(crate) fn skip(&mut self) {
        self.skipped += 1;
    }

    /// Moves the clock of a host that skipped turns of `duration` to where
    /// running them would have left it, without running its tasks: one
    /// `block_on` sleeping through them all.
    ///
    /// Panics if a task is woken during the catch-up: a timer the
    /// simulation cannot see (not made with [`crate::time`]) fired in a
    /// skipped turn, so its task would run late.
    pub(crate) fn catch_up(&mut self, duration: Duration) {
        if self.skipped == 0 {
            return;
        }
        // Woken before the catch-up (from outside the host, e.g. by the
        // caller between steps): the woken task runs in this turn.
        let woken_before = self.woken.woken.swap(false, Ordering::Relaxed);
        let skipped = duration * self.skipped;
        self.tokio.block_on(async { sleep(skipped).await });
        self.skipped = 0;
        self.clock = self.now();
        let woken_during = self.woken.woken.swap(woken_before, Ordering::Relaxed);
        assert!(
            !woken_during,
            "host {} was woken while its idle turns were skipped: a timer not made with \
             turmoil::time fired (make it with turmoil::time, or turn skip_idle_hosts off)",
            self.nodename
        );
    }

    // This method is called by [`Sim::run`], which iterates through all the
    // runtimes and ticks each one. The magic of this method is described in the
    // documentation for [`LocalSet::run_until`], but it may not be entirely
    // obvious how things fit together.
    //
    // A [`LocalSet`] tracks the tasks to run, which may in turn spawn more
    // tasks. `run_until` drives a top level task to completion, but not its
    // children. If you look below, you may be confused. The task we run here
    // just sleeps and has no children! However, it's the _same `LocalSet`_ that
    // is used to run software on the host.
    //
    // In this way, every time `tick` is called, the following unfolds:
    //
    // 1. Time advances on the runtime
    // 2. We schedule a new task that simply sleeps
    // 3. Other tasks on the `LocalSet` get a chance to run
    // 4. The sleep finishes
    // 5. The runtime pauses
    //
    // Returns whether the software has finished successfully or the error
    // that caused failure. Subsequent calls do not return the error as it is
    // expected to fail the simulation.
    pub(crate) fn tick(&mut self, duration: Duration) -> Result<bool> {
        let run = self.local.run_until(async {
            sleep(duration).await;
        });
        tokio::pin!(run);
        self.tokio.block_on(Flagged {
            flag: &self.woken,
            waker: &self.flag_waker,
            inner: run,
        });
        self.clock = self.now();

        // pull for software completion
        match &self.handle {
            Some(handle) if handle.is_finished() => {
                // Consume handle to extract task result
                if let Some(h) = self.handle.take() {
                    match self.tokio.block_on(h) {
                        // If the host was crashed the JoinError is cancelled, which
                        // needs to be handled to not fail the simulation.
                        Err(je) if je.is_cancelled() => {}
                        res => res??,
                    }
                };
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Ok(true),
        }
    }

    pub(crate) fn crash(&mut self) {
        if !self.is_host() {
            panic!("can only crash host's software");
        }

        if self.handle.take().is_some() {
            self.cancel_tasks();
        };
    }

    pub(crate) fn bounce(&mut self) {
        if !self.is_host() {
            panic!("can only bounce host's software");
        }

        self.cancel_tasks();

        if let Kind::Host { software } = &self.kind {
            let handle = with(&self.tokio, &self.local, || {
                tokio::task::spawn_local(software())
            });
            self.handle.replace(handle);
        };
        // The software just spawned is scheduled.
        self.woken.woken.store(true, Ordering::Relaxed);
    }

    /// Cancel all tasks within the [`Rt`] by dropping the current tokio
    /// [`Runtime`].
    ///
    /// Dropping the runtime blocks the calling thread until all futures have
    /// completed, which is desired here to ensure host software completes and
    /// all resources are dropped.
    ///
    /// Both the [`Runtime`] and [`LocalSet`] are replaced with new instances.
    fn cancel_tasks(&mut self) {
        let (tokio, local) = init(&mut self.config);

        _ = mem::replace(&mut self.tokio, tokio);
        drop(mem::replace(&mut self.local, local));
        self.skipped = 0;
        self.clock = self.now();
    }
}

fn init(config: &mut Config) -> (Runtime, LocalSet) {
    let mut tokio_builder = tokio::runtime::Builder::new_current_thread();

    #[cfg(tokio_unstable)]
    tokio_builder.unhandled_panic(tokio::runtime::UnhandledPanic::ShutdownRuntime);

    if config.enable_io {
        tokio_builder.enable_io();
    }

    #[cfg(tokio_unstable)]
    if let Some(rng) = &mut config.rng {
        let bytes: [u8; 32] = rand::Rng::random(rng);
        let seed = tokio::runtime::RngSeed::from_bytes(&bytes);
        tokio_builder.rng_seed(seed);
    }

    let tokio = tokio_builder
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();

    tokio.block_on(async {
        // Sleep to "round" `Instant::now()` to the closest `ms`
        tokio::time::sleep(Duration::from_millis(1)).await;
    });

    (tokio, new_local())
}

fn new_local() -> LocalSet {
    #[cfg(not(tokio_unstable))]
    let local = LocalSet::new();

    #[cfg(tokio_unstable)]
    let mut local = LocalSet::new();

    #[cfg(tokio_unstable)]
    local.unhandled_panic(tokio::runtime::UnhandledPanic::ShutdownRuntime);

    local
}

fn now(tokio: &Runtime) -> Instant {
    let _guard = tokio.enter();
    Instant::now()
}

fn with<R>(tokio: &Runtime, local: &LocalSet, f: impl FnOnce() -> R) -> R {
    tokio.block_on(async { local.run_until(async { f() }).await })
}
