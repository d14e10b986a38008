//! The named points (design section 4): every moment where the model lets
//! an observer crash or pause a host, as a typed value. Saga node points are
//! `<saga>.<NODE>.after_action` (done, completion not yet logged) and
//! `<saga>.<NODE>.after_log`; a saga's record is logged before its first
//! node runs, so every node point comes after the saga exists.
//!
//! Why typed: model code names a plain point by its [`Plain`] variant, so a
//! misspelt point is a compile error, and a node point is built by the saga
//! executor from the node it runs, so it names a node that exists. The
//! catalogue of every point (which needs each saga's `NODES`, a layer
//! above this one) is `nexus::sagas::named_points`.

use crate::db::rows::SagaName;
use std::fmt;

/// Declares [`Plain`] from one list: each variant with its doc and its name
/// in scenario files, written once.
macro_rules! plain_points {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A named point that is not a saga node's.
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum Plain {
            $($(#[$doc])* $variant,)*
        }

        impl Plain {
            /// Every plain point, in declaration order.
            pub const ALL: &[Plain] = &[$(Plain::$variant,)*];

            /// The point's name in scenario files and traces
            /// (`create.between_create_and_start`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Plain::$variant => $name,)*
                }
            }
        }
    };
}

plain_points! {
    /// `Nexus::project_create_instance`: the create saga finished, the
    /// start saga not yet prepared (the gap PR #8053 leaves open).
    CreateBetweenCreateAndStart => "create.between_create_and_start",
    /// A start, stop, reboot or delete handler read the instance (its
    /// lookup) and has neither validated the request nor written its
    /// intent: in `fixed`, the start of branch 1's window (the validated
    /// intent write requires the state this read saw).
    ApiAfterLookup => "api.after_lookup",
    /// The start handler, right after writing the intent.
    StartAfterIntentWrite => "start.after_intent_write",
    /// The stop handler, right after writing the intent.
    StopAfterIntentWrite => "stop.after_intent_write",
    /// The reboot handler, right after writing the intent.
    RebootAfterIntentWrite => "reboot.after_intent_write",
    /// The delete handler, right after writing the intent.
    DeleteAfterIntentWrite => "delete.after_intent_write",
    /// `instance_reincarnation` chose an instance; its start saga not yet run.
    ReincarnationSelected => "reincarnation.selected",
    /// The start saga re-fetched the instance, about to write Vmm.
    StartBeforeMarkAsStarting => "start.before_mark_as_starting",
    /// The update saga read its snapshot under the lock.
    UpdateAfterSnapshot => "update.after_snapshot",
    /// The watcher got a sled's answer, about to write it.
    WatcherBeforeUpdate => "watcher.before_update",
    /// `LOCK_INSTANCE`, about to try the lock (each execution, replays too).
    UpdateBeforeLock => "update.before_lock",
    /// `BECOME_UPDATER`, about to inherit the lock (each execution).
    UpdateBeforeInheritLock => "update.before_inherit_lock",
    /// The create saga's record undo without #7437: the record is Failed,
    /// not yet deleted.
    CreateUndoAfterFail => "create.undo_after_fail",
}

/// A saga node as points and error injections name it:
/// `<saga prefix>.<NODE>` (`start.ALLOC_SERVER`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SagaNode {
    pub saga: SagaName,
    /// omicron's node name, from the saga's `NODES`.
    pub node: &'static str,
}

impl fmt::Display for SagaNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.saga.point_prefix(), self.node)
    }
}

/// The two points of every saga node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeMoment {
    /// The action is done; its completion not yet logged.
    AfterAction,
    /// The completion is logged.
    AfterLog,
}

impl NodeMoment {
    /// Both moments, in the order a node reaches them.
    pub const ALL: [NodeMoment; 2] = [NodeMoment::AfterAction, NodeMoment::AfterLog];

    /// The suffix of the point's name (`after_action`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeMoment::AfterAction => "after_action",
            NodeMoment::AfterLog => "after_log",
        }
    }
}

impl fmt::Display for NodeMoment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named point. Its `Display` is its name in scenario files and traces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Point {
    /// A point in handler, task or saga code.
    Plain(Plain),
    /// `<saga>.<NODE>.<moment>`, reached by the saga executor.
    Node(SagaNode, NodeMoment),
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Point::Plain(p) => f.write_str(p.as_str()),
            Point::Node(node, moment) => write!(f, "{node}.{moment}"),
        }
    }
}

impl From<Plain> for Point {
    fn from(p: Plain) -> Point {
        Point::Plain(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_points_are_unique_and_not_node_shaped() {
        let mut names: Vec<&str> = Plain::ALL.iter().map(|p| p.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Plain::ALL.len());
        assert!(names.iter().all(|n| n.split('.').count() == 2));
    }

    #[test]
    fn points_print_as_scenario_files_name_them() {
        let node = SagaNode {
            saga: SagaName::InstanceStart,
            node: "MARK_AS_STARTING",
        };
        assert_eq!(node.to_string(), "start.MARK_AS_STARTING");
        assert_eq!(
            Point::Node(node, NodeMoment::AfterLog).to_string(),
            "start.MARK_AS_STARTING.after_log"
        );
        assert_eq!(
            Point::from(Plain::CreateBetweenCreateAndStart).to_string(),
            "create.between_create_and_start"
        );
    }
}
