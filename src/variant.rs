//! The behaviour variants. Every difference between them is one named
//! method here, called at exactly one place in the model, so a reader can
//! grep for the branch and see the code around it is shared.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum Variant {
    /// omicron before PR #8053: no intended state at all.
    Legacy,
    /// omicron at HEAD: intent written before validation; reincarnation
    /// only when the intent is Running; nothing carries out a Running
    /// intent after a Nexus crash.
    Omicron,
    /// `Omicron` plus the branches below.
    Fixed,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Legacy, Variant::Omicron, Variant::Fixed];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Legacy => "legacy",
            Variant::Omicron => "omicron",
            Variant::Fixed => "fixed",
        }
    }

    pub fn parse(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == s)
    }

    /// PR #8053: does the instance record carry an intended state that the
    /// API writes and the update saga and reincarnation read?
    pub fn tracks_intent(self) -> bool {
        match self {
            Variant::Legacy => false,
            Variant::Omicron | Variant::Fixed => true,
        }
    }

    /// Fixed branch (1): the intent is written in the same guarded db
    /// transaction as the request's validation, so a rejected request
    /// leaves it unchanged. In omicron it is written first, unconditionally.
    pub fn intent_written_with_validation(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (2): `MARK_AS_STARTING`'s conditional update also
    /// requires `intended_state = running`.
    pub fn mark_as_starting_requires_running_intent(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (3): the `instance_intent_reconciler` background task,
    /// which carries out recorded intents nothing else will (starts,
    /// stops, deletes, and creates whose saga failed after the record).
    pub fn runs_intent_reconciler(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (4): `ENSURE_REGISTERED` re-reads the instance and
    /// registers the VMM only while it is still the instance's active VMM
    /// and its record has not ended. omicron's `sis_ensure_registered`
    /// checks nothing, so a start saga that resumes after a user's stop
    /// found no such VMM (404, `mark_vmm_failed`) registers a guest no
    /// instance points at (the orphan of issue 8; omicron #8206's shape).
    pub fn ensure_registered_requires_active_vmm(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (5): the intent reconciler asks every sled agent which
    /// VMMs it runs and unregisters one that is not its instance's active
    /// VMM (an orphan: nothing else in the control plane will ever stop
    /// it). It closes what branch 4 cannot: a stop that lands between the
    /// re-read and the registration, and a VMM an unwound start saga could
    /// not unregister (`sis_ensure_registered_undo` counts an unreachable
    /// sled as "already unregistered").
    pub fn reconciler_reaps_orphan_vmms(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (6): a sled agent answers `vmm_get_state` for a VMM
    /// that has left its table while the push of its final `Destroyed` is
    /// still being retried with that final state, not 404
    /// NO_SUCH_INSTANCE. Without it (omicron #7282's mechanism), a guest
    /// that shut itself down while the sled could not reach Nexus is found
    /// "gone" by the instance_watcher, marked Failed with intent Running,
    /// and restarted by reincarnation. A restarted sled agent has lost its
    /// pushes and still answers 404, so a VMM lost with its sled is still
    /// failed.
    pub fn sled_reports_destroyed_while_pushing(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (7): `INSTANCE_DELETE_RECORD` (`project_delete_instance`)
    /// also requires `intended_state = destroyed`, so a start accepted
    /// after the delete saga was launched (its validated intent write
    /// commits Running in between) is not lost to the delete. omicron's
    /// `project_delete_instance` checks only the state (NoVmm or Failed,
    /// no active VMM). Closes the race of the intent reconciler's own
    /// delete (swarm seed 4012 at build 91bf77b: the reconciler read intent
    /// Destroyed, a start wrote Running, the delete committed anyway; the
    /// run ended Destroyed with intent Running).
    pub fn delete_requires_destroyed_intent(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (8): a reboot whose `VmmPutState` meets 404
    /// NO_SUCH_INSTANCE while the VMM's record (as the request read it) is
    /// still Creating does not fail the VMM: the sled has simply not
    /// registered it yet (`ENSURE_REGISTERED` is still on its way), so the
    /// 404 is inconclusive and the reboot is answered 503. omicron's
    /// `instance_reboot` (`nexus/src/app/instance.rs`) calls
    /// `mark_vmm_failed` on any NO_SUCH_INSTANCE; a still-booting VMM is
    /// failed, a stale update saga later commits the instance Failed with
    /// intent Running, and reincarnation restarts a guest that had shut
    /// itself down (swarm seed 9378 at build 91bf77b). Reboot only: a stop
    /// of a VMM whose start saga is paused before registration relies on
    /// failing it (`stop-while-start-saga-paused`, `orphan-vmm-after-stop`).
    pub fn reboot_404_while_creating_is_inconclusive(self) -> bool {
        self == Variant::Fixed
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
