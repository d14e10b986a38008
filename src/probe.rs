//! The model's only window to whoever runs it: events out, named points in.
//!
//! The model calls [`emit`] for every event and awaits [`point`] at the
//! moments where a crash or a race is interesting. It does not know what
//! happens there: a [`Probe`] installed on the current thread (one
//! simulation per thread) decides. With no probe installed, events go only
//! to `tracing` and points return at once, so the model runs unobserved.
//!
//! Why a thread-local hook and not a dependency: `src/` must compile and make
//! sense without the harness (the model and harness never mix), and turmoil
//! runs every host of one simulation on one thread.

use crate::event::{Event, SledCall};
use crate::ids::HostId;
use crate::points::Point;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// What a host does when it reaches a named point.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PointAction {
    /// Go on.
    Continue,
    /// Halt: send and answer nothing more, never return. The observer
    /// crashes the host soon after.
    Halt,
    /// Wait here until [`Probe::is_paused`] says otherwise.
    Pause,
}

/// The observer of one simulation.
pub trait Probe {
    /// Called for every event, in order.
    fn event(&self, host: HostId, event: &Event);
    /// Called when `host` reaches the point `name`.
    fn point(&self, host: HostId, name: &str) -> PointAction;
    /// Polled while a host waits at a paused point.
    fn is_paused(&self, host: HostId, name: &str) -> bool;
    /// Whether the saga node `node` (`start.ALLOC_SERVER`) should fail
    /// instead of running its action, as steno's `saga_inject_error` makes
    /// it in omicron's saga tests (`action_failure_can_unwind`).
    fn inject_error(&self, _host: HostId, _node: &str) -> bool {
        false
    }
    /// How the sled agent `host` fails this `call`, if the observer makes
    /// it fail: an error status, or [`SledFault::Hang`] (no answer).
    fn sled_fault(&self, _host: HostId, _call: SledCall) -> Option<SledFault> {
        None
    }
    /// Whether a call from `from` to `to` made now keeps its connection
    /// after the caller times out, so that a request held on the link is
    /// delivered when the hold ends (see `crate::rpc`'s late delivery).
    fn delivers_late(&self, _from: HostId, _to: HostId) -> bool {
        false
    }
}

/// How an observer makes a sled-agent call fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SledFault {
    /// Answer with this HTTP status (not a 404 `NO_SUCH_INSTANCE`).
    Status(u16),
    /// Never answer: the caller's RPC times out.
    Hang,
}

thread_local! {
    static PROBE: RefCell<Option<Rc<dyn Probe>>> = const { RefCell::new(None) };
    /// Hosts that halted at a point: their sends and answers stop.
    static HALTED: RefCell<Vec<HostId>> = const { RefCell::new(Vec::new()) };
}

/// Installs `probe` on this thread until the guard drops.
pub fn install(probe: Rc<dyn Probe>) -> ProbeGuard {
    PROBE.with(|p| *p.borrow_mut() = Some(probe));
    HALTED.with(|h| h.borrow_mut().clear());
    ProbeGuard(())
}

/// Uninstalls the probe when dropped.
pub struct ProbeGuard(());

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        PROBE.with(|p| *p.borrow_mut() = None);
        HALTED.with(|h| h.borrow_mut().clear());
    }
}

fn current() -> Option<Rc<dyn Probe>> {
    PROBE.with(|p| p.borrow().clone())
}

/// Reports an event from `host`.
pub fn emit(host: HostId, event: Event) {
    tracing::debug!(target: "intent_sim::model", %host, "{event}");
    if let Some(p) = current() {
        p.event(host, &event);
    }
}

/// How often a paused host looks whether it was released.
const PAUSE_POLL: Duration = Duration::from_millis(100);

/// A named point (design section 4). Returns at once unless the probe armed
/// it; a halted host never returns from here.
pub async fn point(host: HostId, point: Point) {
    let Some(p) = current() else { return };
    let name = point.to_string();
    let name = name.as_str();
    match p.point(host, name) {
        PointAction::Continue => {}
        PointAction::Halt => {
            HALTED.with(|h| h.borrow_mut().push(host));
            std::future::pending::<()>().await;
        }
        PointAction::Pause => {
            while p.is_paused(host, name) {
                turmoil::time::sleep(PAUSE_POLL).await;
            }
        }
    }
}

/// Whether the observer injects an error into saga node `node` on `host`.
pub fn inject_error(host: HostId, node: &str) -> bool {
    current().is_some_and(|p| p.inject_error(host, node))
}

/// How the observer makes sled agent `host` fail `call`, if it does.
pub fn sled_fault(host: HostId, call: SledCall) -> Option<SledFault> {
    current().and_then(|p| p.sled_fault(host, call))
}

/// Whether a call from `from` to `to` made now is delivered late if it is
/// held past its caller's timeout (the observer holds the link with late
/// delivery).
pub fn delivers_late(from: HostId, to: HostId) -> bool {
    current().is_some_and(|p| p.delivers_late(from, to))
}

/// Whether `host` halted at a point. The network layer stops sending and
/// answering for a halted host, as a process frozen in place would.
pub fn is_halted(host: HostId) -> bool {
    HALTED.with(|h| h.borrow().contains(&host))
}

/// Forgets that `host` halted: the observer restarted it.
pub fn clear_halted(host: HostId) {
    HALTED.with(|h| h.borrow_mut().retain(|x| *x != host));
}
