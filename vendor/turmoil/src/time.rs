//! Timers the simulation can see.
//!
//! `tokio::time` timers live in each host runtime's timer wheel, which tokio
//! does not let anyone read. A host that sleeps through most ticks still
//! costs a full runtime turn every tick unless the simulation knows when
//! its next timer is due. With [`Builder::skip_idle_hosts`], a host whose
//! timers are made here (and who has no message to receive and no task
//! woken) is not run in a tick that ends before its next deadline; its clock
//! catches up, in one move, before it next runs.
//!
//! These functions behave exactly as their `tokio::time` namesakes (they
//! wrap them). Outside a simulated host they are just the tokio timers.
//!
//! [`Builder::skip_idle_hosts`]: crate::Builder::skip_idle_hosts

use crate::world::World;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::time::error::Elapsed;
use tokio::time::{Duration, Instant};

/// The deadlines of one host's live timers (made with this module), with
/// how many timers share each.
#[derive(Default)]
pub(crate) struct Timers {
    deadlines: Mutex<BTreeMap<Instant, usize>>,
}

impl Timers {
    fn add(&self, deadline: Instant) {
        *self.deadlines.lock().unwrap().entry(deadline).or_default() += 1;
    }

    fn remove(&self, deadline: Instant) {
        let mut deadlines = self.deadlines.lock().unwrap();
        if let Some(n) = deadlines.get_mut(&deadline) {
            *n -= 1;
            if *n == 0 {
                deadlines.remove(&deadline);
            }
        }
    }

    /// The earliest deadline of a live timer.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines
            .lock()
            .unwrap()
            .first_key_value()
            .map(|(d, _)| *d)
    }
}

/// A deadline registered with the current host's [`Timers`] until dropped.
struct Registration {
    timers: Arc<Timers>,
    deadline: Instant,
}

impl Registration {
    /// Registers `deadline` with the host whose software is running, if any.
    fn new(deadline: Instant) -> Option<Registration> {
        let timers = World::try_current(|world| {
            world
                .try_current_host()
                .map(|host| host.timers.clone())
                .ok()
        })
        .ok()
        .flatten()?;
        timers.add(deadline);
        Some(Registration { timers, deadline })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.timers.remove(self.deadline);
    }
}

/// [`tokio::time::sleep`], visible to the simulation.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// [`tokio::time::sleep_until`], visible to the simulation.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        registration: Registration::new(deadline),
        inner: Box::pin(tokio::time::sleep_until(deadline)),
    }
}

/// Future returned by [`sleep`] and [`sleep_until`].
pub struct Sleep {
    registration: Option<Registration>,
    inner: Pin<Box<tokio::time::Sleep>>,
}

impl Sleep {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.inner.deadline()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let ready = self.inner.as_mut().poll(cx);
        if ready.is_ready() {
            // A completed timer no longer keeps its host awake.
            self.registration = None;
        }
        ready
    }
}

/// [`tokio::time::timeout`], visible to the simulation.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let _registration = Registration::new(Instant::now() + duration);
    tokio::time::timeout(duration, future).await
}
