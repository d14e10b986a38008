//! The named points (design section 4): every moment where the model lets
//! an observer crash or pause a host. Saga node points are
//! `<saga>.<NODE>.after_action` (done, completion not yet logged) and
//! `<saga>.<NODE>.after_log`; a saga's record is logged before its first
//! node runs, so every node point comes after the saga exists.

/// Points that are not saga nodes.
pub const PLAIN_POINTS: &[&str] = &[
    // Nexus::project_create_instance: the create saga finished, the start
    // saga not yet prepared (the gap PR #8053 leaves open).
    "create.between_create_and_start",
    // The API handlers, right after writing the intent.
    "start.after_intent_write",
    "stop.after_intent_write",
    "reboot.after_intent_write",
    "delete.after_intent_write",
    // instance_reincarnation chose an instance; its start saga not yet run.
    "reincarnation.selected",
    // The start saga re-fetched the instance, about to write Vmm.
    "start.before_mark_as_starting",
    // The update saga read its snapshot under the lock.
    "update.after_snapshot",
    // The watcher got a sled's answer, about to write it.
    "watcher.before_update",
    // LOCK_INSTANCE, about to try the lock (each execution, replays too).
    "update.before_lock",
    // BECOME_UPDATER, about to inherit the lock (each execution).
    "update.before_inherit_lock",
    // The create saga's record undo without #7437: the record is Failed,
    // not yet deleted.
    "create.undo_after_fail",
];

/// Every saga's nodes, in order, with the point prefix of its saga.
pub const SAGA_NODES: &[(&str, &[&str])] = &[
    ("create", &["CREATE_INSTANCE_RECORD", "MOVE_TO_STOPPED"]),
    (
        "start",
        &[
            "GENERATE_PROPOLIS_ID",
            "ALLOC_SERVER",
            "CREATE_VMM_RECORD",
            "MARK_AS_STARTING",
            "ENSURE_REGISTERED",
            "ENSURE_RUNNING",
        ],
    ),
    (
        "start_update",
        &["LOCK_INSTANCE", "FETCH_STATE_AND_START_REAL_SAGA"],
    ),
    (
        "update",
        &[
            "BECOME_UPDATER",
            "COMMIT_INSTANCE_UPDATES",
            "RELEASE_SLED_RESOURCES",
            "MARK_VMM_DELETED",
            "CHAIN_SUCCESSOR_SAGA",
        ],
    ),
    ("delete", &["INSTANCE_DELETE_RECORD"]),
];

/// The two points of every saga node.
pub const NODE_SUFFIXES: [&str; 2] = ["after_action", "after_log"];

/// Whether `name` is a named point.
pub fn is_known(name: &str) -> bool {
    all().any(|p| p == name)
}

/// Every named point, plain points first.
pub fn all() -> impl Iterator<Item = String> {
    PLAIN_POINTS
        .iter()
        .map(|p| p.to_string())
        .chain(SAGA_NODES.iter().flat_map(|(saga, nodes)| {
            nodes.iter().flat_map(move |node| {
                NODE_SUFFIXES
                    .iter()
                    .map(move |suffix| format!("{saga}.{node}.{suffix}"))
            })
        }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn points_are_unique_and_known() {
        let all: Vec<String> = super::all().collect();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert!(super::is_known("start.MARK_AS_STARTING.after_log"));
        assert!(super::is_known("create.between_create_and_start"));
        assert!(!super::is_known("create.between_create_and_stop"));
    }
}
