//! How other parts of Nexus wake a background task early (omicron's
//! `Activator`, `nexus/background-task-interface/src/activator.rs`). A
//! leaf below the Nexus context that holds the activators and the tasks
//! and sagas that use them.

use std::rc::Rc;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// Wakes a task early (`Activator::activate`).
#[derive(Clone, Default)]
pub struct Activator(Rc<Notify>);

impl Activator {
    pub fn activate(&self) {
        // `notify_one` stores one permit: activations collapse into one.
        self.0.notify_one();
    }

    /// Resolves once the task is activated (the driver's wait, beside its
    /// period), taking the stored permit.
    pub fn notified(&self) -> Notified<'_> {
        self.0.notified()
    }
}

/// The activators other parts of Nexus use.
#[derive(Clone, Default)]
pub struct Activators {
    pub instance_watcher: Activator,
    pub reincarnation: Activator,
    pub instance_updater: Activator,
    pub abandoned_vmm_reaper: Activator,
    pub saga_recovery: Activator,
    pub intent_reconciler: Activator,
}
