//! Named mutations: plausible bugs an omicron engineer could write, each
//! switchable at one place in the model, so the harness can show that a
//! checker catches it (issue 11's mutation matrix, `sim/tests/mutations.rs`).
//!
//! Only a build with the `mutations` cargo feature can switch one on. In
//! every other build [`on`] is a constant `false` and each mutated branch
//! compiles away: normal builds, `cargo test` and `cargo sim` carry no
//! mutation.

/// One plausible bug. The README's mutation matrix says what each breaks
/// and which checker catches it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Mutation {
    /// db: `instance_update_runtime` applies a write whose generation is
    /// not newer (the guard of `nexus/db-queries/.../instance.rs` dropped).
    DbInstanceGuardOff,
    /// db: `vmm_update_runtime` applies a write whose generation is not
    /// newer.
    DbVmmGuardOff,
    /// db: `instance_updater_lock`/`inherit_lock` take the lock whoever
    /// holds it (the CAS on `updater_id` dropped).
    DbLockCasIgnoresHolder,
    /// db: `instance_commit_update` commits without holding the lock.
    DbCommitIgnoresLock,
    /// db: `project_delete_instance` deletes an instance that still has an
    /// active VMM.
    DbDeleteWithVmm,
    /// db: reincarnation's query selects instances whose policy is `never`.
    DbReincarnateNeverPolicy,
    /// db: reincarnation's query ignores the cooldown.
    DbReincarnateIgnoresCooldown,
    /// db: reincarnation's query ignores the intended state (#8053's filter).
    DbReincarnateIgnoresIntent,
    /// db (`fixed` branch 1 off): the validated intent write ignores that
    /// the state it validated against moved on.
    DbIntentWriteUnvalidated,
    /// instance-start (`fixed` branch 2 off): `MARK_AS_STARTING` does not
    /// require the intent to be Running.
    StartMarkIgnoresIntent,
    /// instance-start: an auto-restart's `MARK_AS_STARTING` does not stamp
    /// `time_last_auto_restarted`, so the cooldown never starts.
    StartNoRestartStamp,
    /// instance-start (`fixed` branch 4 off): `ENSURE_REGISTERED` registers
    /// its VMM even when it is no longer the instance's active VMM.
    StartRegistersAnyVmm,
    /// instance-start: `ALLOC_SERVER`'s undo forgets the reservation.
    StartAllocUndoKeepsReservation,
    /// instance-start: `MARK_AS_STARTING`'s undo does nothing, leaving the
    /// instance pointing at an unwound VMM.
    StartMarkUndoSkipped,
    /// instance-start: `MARK_AS_STARTING` writes from the saga's parameters
    /// instead of re-fetching the instance.
    StartSkipRefetch,
    /// instance-update: `RELEASE_SLED_RESOURCES` releases nothing.
    UpdateSkipRelease,
    /// instance-update: `MARK_VMM_DELETED` deletes nothing.
    UpdateSkipMarkDeleted,
    /// instance-update: the commit does not write the intent the update
    /// computed (a guest shutdown's `GuestShutdown`, say).
    UpdateCommitKeepsIntent,
    /// instance_watcher: a sled that no longer knows a VMM does not fail it.
    WatcherIgnoresGoneVmm,
    /// instance_watcher: a sled that does not answer is taken for powered
    /// off (MGS not asked), its VMMs marked Failed.
    WatcherFailsUnreachable,
    /// abandoned_vmm_reaper: reaps nothing.
    ReaperOff,
    /// saga_recovery: resumes nothing.
    RecoveryOff,
    /// instance_reincarnation: restarts nothing.
    ReincarnationOff,
    /// instance_updater: starts no update saga.
    UpdaterOff,
    /// `fixed` branch 3 off: no instance_intent_reconciler.
    ReconcilerOff,
    /// `fixed` branch 5 off: the reconciler leaves orphan VMMs running.
    ReconcilerKeepsOrphans,
    /// sled agent: a state change keeps the old generation.
    SledGenNotBumped,
    /// sled agent: a destroyed VMM reports `Destroyed` at its old
    /// generation.
    SledDestroySameGen,
    /// sled agent: a stop request is acknowledged but the VMM runs on.
    SledStopIgnored,
    /// sled agent (`fixed` branch 13 off): a stop Nexus asked for is not
    /// reported as asked for, so the update saga takes it for the guest's
    /// own shutdown.
    SledStopRequestUnreported,
    /// API: a stop writes the intent Running.
    ApiStopWritesRunning,
    /// API: a reboot writes the intent Stopped.
    ApiRebootWritesStopped,
}

impl Mutation {
    pub const ALL: [Mutation; 32] = [
        Mutation::DbInstanceGuardOff,
        Mutation::DbVmmGuardOff,
        Mutation::DbLockCasIgnoresHolder,
        Mutation::DbCommitIgnoresLock,
        Mutation::DbDeleteWithVmm,
        Mutation::DbReincarnateNeverPolicy,
        Mutation::DbReincarnateIgnoresCooldown,
        Mutation::DbReincarnateIgnoresIntent,
        Mutation::DbIntentWriteUnvalidated,
        Mutation::StartMarkIgnoresIntent,
        Mutation::StartNoRestartStamp,
        Mutation::StartRegistersAnyVmm,
        Mutation::StartAllocUndoKeepsReservation,
        Mutation::StartMarkUndoSkipped,
        Mutation::StartSkipRefetch,
        Mutation::UpdateSkipRelease,
        Mutation::UpdateSkipMarkDeleted,
        Mutation::UpdateCommitKeepsIntent,
        Mutation::WatcherIgnoresGoneVmm,
        Mutation::WatcherFailsUnreachable,
        Mutation::ReaperOff,
        Mutation::RecoveryOff,
        Mutation::ReincarnationOff,
        Mutation::UpdaterOff,
        Mutation::ReconcilerOff,
        Mutation::ReconcilerKeepsOrphans,
        Mutation::SledGenNotBumped,
        Mutation::SledDestroySameGen,
        Mutation::SledStopIgnored,
        Mutation::SledStopRequestUnreported,
        Mutation::ApiStopWritesRunning,
        Mutation::ApiRebootWritesStopped,
    ];

    /// The mutation's name in the matrix (kebab-case).
    pub fn name(self) -> &'static str {
        match self {
            Mutation::DbInstanceGuardOff => "db-instance-guard-off",
            Mutation::DbVmmGuardOff => "db-vmm-guard-off",
            Mutation::DbLockCasIgnoresHolder => "db-lock-cas-ignores-holder",
            Mutation::DbCommitIgnoresLock => "db-commit-ignores-lock",
            Mutation::DbDeleteWithVmm => "db-delete-with-vmm",
            Mutation::DbReincarnateNeverPolicy => "db-reincarnate-never-policy",
            Mutation::DbReincarnateIgnoresCooldown => "db-reincarnate-ignores-cooldown",
            Mutation::DbReincarnateIgnoresIntent => "db-reincarnate-ignores-intent",
            Mutation::DbIntentWriteUnvalidated => "db-intent-write-unvalidated",
            Mutation::StartMarkIgnoresIntent => "start-mark-ignores-intent",
            Mutation::StartNoRestartStamp => "start-no-restart-stamp",
            Mutation::StartRegistersAnyVmm => "start-registers-any-vmm",
            Mutation::StartAllocUndoKeepsReservation => "start-alloc-undo-keeps-reservation",
            Mutation::StartMarkUndoSkipped => "start-mark-undo-skipped",
            Mutation::StartSkipRefetch => "start-skip-refetch",
            Mutation::UpdateSkipRelease => "update-skip-release",
            Mutation::UpdateSkipMarkDeleted => "update-skip-mark-deleted",
            Mutation::UpdateCommitKeepsIntent => "update-commit-keeps-intent",
            Mutation::WatcherIgnoresGoneVmm => "watcher-ignores-gone-vmm",
            Mutation::WatcherFailsUnreachable => "watcher-fails-unreachable",
            Mutation::ReaperOff => "reaper-off",
            Mutation::RecoveryOff => "recovery-off",
            Mutation::ReincarnationOff => "reincarnation-off",
            Mutation::UpdaterOff => "updater-off",
            Mutation::ReconcilerOff => "reconciler-off",
            Mutation::ReconcilerKeepsOrphans => "reconciler-keeps-orphans",
            Mutation::SledGenNotBumped => "sled-gen-not-bumped",
            Mutation::SledDestroySameGen => "sled-destroy-same-gen",
            Mutation::SledStopIgnored => "sled-stop-ignored",
            Mutation::SledStopRequestUnreported => "sled-stop-request-unreported",
            Mutation::ApiStopWritesRunning => "api-stop-writes-running",
            Mutation::ApiRebootWritesStopped => "api-reboot-writes-stopped",
        }
    }
}

#[cfg(feature = "mutations")]
thread_local! {
    static ACTIVE: std::cell::Cell<Option<Mutation>> = const { std::cell::Cell::new(None) };
}

/// Switches `m` on (or every mutation off) for the runs on this thread.
#[cfg(feature = "mutations")]
pub fn set(m: Option<Mutation>) {
    ACTIVE.with(|a| a.set(m));
}

/// Whether mutation `m` is on (only ever in a `mutations` build).
#[cfg(feature = "mutations")]
pub fn on(m: Mutation) -> bool {
    ACTIVE.with(|a| a.get() == Some(m))
}

/// Whether mutation `m` is on: never, in a build without `mutations`.
#[cfg(not(feature = "mutations"))]
#[inline(always)]
pub const fn on(_: Mutation) -> bool {
    false
}
