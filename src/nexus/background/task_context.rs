//! What a background task's activation sees: its Nexus and its name. Its
//! own module so that the tasks name it without naming the driver
//! (`background/mod.rs`) that spawns them.

use crate::event::{BackgroundTask, Cause, Decision, Event};
use crate::ids::InstanceId;
use crate::nexus::context::Nexus;
use std::rc::Rc;

/// What a task's activation needs from Nexus.
pub struct TaskContext {
    pub nexus: Rc<Nexus>,
    pub task: BackgroundTask,
}

impl TaskContext {
    pub fn cause(&self) -> Cause {
        Cause::Task { task: self.task }
    }

    pub fn decide(&self, instance: InstanceId, decision: Decision) {
        self.nexus.emit(Event::TaskDecision {
            task: self.task,
            instance,
            decision,
        });
    }
}
