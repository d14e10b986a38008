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
    /// Its race is pinned by `start-lands-within-delete-validation`.
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
    /// Pinned alone by `start-again-before-paused-saga-registers`.
    pub fn ensure_registered_requires_active_vmm(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (5): the intent reconciler asks every sled agent which
    /// VMMs it runs and unregisters one that is not its instance's active
    /// VMM (an orphan: nothing else in the control plane will ever stop
    /// it). It closes what branch 4 cannot: a stop that lands between the
    /// re-read and the registration, and a VMM an unwound start saga could
    /// not unregister (`sis_ensure_registered_undo` counts an unreachable
    /// sled as "already unregistered"; pinned alone by
    /// `start-saga-unwinds-with-sled-unreachable`).
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
    /// omicron's side is pinned by `reboot-while-start-saga-paused`.
    pub fn reboot_404_while_creating_is_inconclusive(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (9): a stop or reboot whose `VmmPutState` the sled
    /// agent answers 410 Gone (`Error::Terminating`, code
    /// NO_SUCH_INSTANCE: the runner has halted the VMM and is publishing
    /// its final `Destroyed` or `Failed`) is answered as a VMM that is gone,
    /// 503, instead of passing the 410 to the caller. The request's intent,
    /// which `fixed` commits with its validation (branch 1), stands, and
    /// the caller is not told it was refused: a stop has what it asked
    /// for, and a reboot's Running intent is carried out by the intent
    /// reconciler once the final state is processed. The VMM is not
    /// marked Failed: its final state is on its way in the sled's push.
    /// omicron's `vmm_gone` (`nexus/src/app/instance.rs`,
    /// `SledAgentInstanceError::vmm_gone`) matches only 404, so the 410
    /// reaches the user while the intent omicron wrote first stays: a
    /// "refused" stop is carried out anyway (swarm seeds 6600, 9806 at
    /// build abce611), and a "refused" reboot restarts an instance the
    /// user had stopped (seed 12709).
    pub fn sled_410_is_vmm_gone(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (10): when an intent reconciler start unwinds because
    /// a sled call got no answer, its backoff remembers that sled and the
    /// next start's `ALLOC_SERVER` tries it last. A lost sled stays a
    /// placement candidate (in omicron until an operator expunges it) and
    /// `sled_reservation_create` picks among candidates at random, so
    /// without this each retry may pick the lost sled again; with the
    /// backoff doubling to 8 minutes, a few unlucky draws leave an
    /// instance whose intent is Running stopped at the liveness deadline
    /// although up sleds have room (swarm seeds 3850 and 12198 at build
    /// abce611: five and six starts in a row on the lost sled).
    pub fn reconciler_retry_avoids_unreachable_sled(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (11): a reboot whose VMM is Stopping, Stopped,
    /// Destroyed or Failed (the instance shows Stopping) is refused (409)
    /// in its validation, so its Running intent is never written. omicron
    /// sends it to the sled (omicron-lifecycle section 4), whose Propolis
    /// refuses a stopping VM or whose runner answers 410; meanwhile the
    /// intent omicron wrote first is Running, and the update saga that
    /// processes the VMM's Destroyed reads "intent Running, VMM gone" as
    /// the guest powering itself off (`GuestShutdown`), although the
    /// user's stop destroyed it: a reboot accepted after a stop ends
    /// Stopped for ever (swarm seed 11372 at build abce611, once branch 9
    /// answered the 410 with 503).
    pub fn reboot_refused_while_stopping(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (12): an intent reconciler start saga whose
    /// `MARK_AS_STARTING` re-reads the instance Failed unwinds (409)
    /// instead of starting it. The reconciler selects NoVmm instances;
    /// when its saga is slow (held on the network, recovered after a
    /// crash) another start may run and fail in between, and
    /// `sis_move_to_starting` starts a Failed instance as readily as a
    /// stopped one, reviving an instance whose policy is `never`. A
    /// Failed instance is reincarnation's, which honors the policy and
    /// cooldown (swarm seeds 39098 and 39475 at build 16e650d:
    /// `auto_restart_respects_policy`).
    pub fn reconciler_start_leaves_failed_to_reincarnation(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (13): a sled agent reports, with each state of a VMM,
    /// whether it had been asked to stop it (`VmmPutState` Stopped), and
    /// Nexus keeps that on the VMM's row (`VmmRuntime::stop_requested`). The
    /// update saga reads "intent Running, VMM Destroyed" as the guest
    /// powering itself off (`GuestShutdown`, PR #8053) only when no stop
    /// was asked of that VMM; a VMM a stop destroyed leaves the intent as it
    /// is. omicron's `UpdatesRequired::for_instance`
    /// (`nexus/src/app/sagas/instance_update/mod.rs`) cannot tell the two
    /// apart: the sled agent's `SledVmmState` says only Destroyed. A stop
    /// whose put-state lands after a newer start or reboot re-asserted
    /// Running (held on the network, or sent by the intent reconciler
    /// from a read that the start overtook) is recorded as the guest's
    /// shutdown, and the accepted start ends Stopped for ever (swarm seeds
    /// 15396, 20513, 24486, 28912 and 36256 at build 8ba8231). With it the
    /// instance is NoVmm with intent Running and the intent reconciler
    /// starts it. Called by the sled agent only: in the other variants the
    /// flag is never set, so the update saga's reading is omicron's.
    pub fn sled_reports_requested_stop(self) -> bool {
        self == Variant::Fixed
    }

    /// Fixed branch (14): an unwinding start saga's `MARK_AS_STARTING`
    /// undo leaves the instance alone when the VMM it points at has
    /// already ended (its record is Destroyed or Failed: the sled
    /// reported it, and the write that recorded it started an update
    /// saga), and `CREATE_VMM_RECORD`'s undo does not overwrite such a
    /// record with SagaUnwound. Only the update saga unlinks an ended VMM,
    /// as omicron's update saga module doc says of every active VMM, so
    /// the fact the VMM's end carries (a guest shutdown, a failure) is
    /// recorded. omicron's `sis_move_to_starting_undo` writes NoVmm with
    /// the next generation whatever the VMM did; the update saga's
    /// generation-guarded commit (`GuestShutdown`) is then dropped, and
    /// `vmm_mark_saga_unwound` turns the Destroyed VMM into SagaUnwound, so
    /// the shutdown is lost: the instance is NoVmm with intent Running
    /// and the intent reconciler restarts a guest that powered itself off
    /// (swarm seed 22530 at build 8ba8231).
    pub fn start_undo_leaves_ended_vmm_to_update_saga(self) -> bool {
        self == Variant::Fixed
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scenario files, `--variant` and `INTENT_SIM_VARIANT` name the
    /// variants so; each name parses back to its variant.
    #[test]
    fn every_variant_parses_back_from_its_name() {
        let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
        assert_eq!(names, ["legacy", "omicron", "fixed"]);
        for v in Variant::ALL {
            assert_eq!(Variant::parse(v.name()), Some(v));
            assert_eq!(v.to_string(), v.name());
        }
    }

    #[test]
    fn unknown_variant_names_are_rejected() {
        for bad in ["", "all", "Legacy", "FIXED", "omicron ", "head", "fix"] {
            assert_eq!(Variant::parse(bad), None, "{bad:?}");
        }
    }
}
