//! The invariant checkers (design section 3). Each is a state machine over
//! the event stream, in its own module; checkers observe and never steer.
//! Safety checkers judge every record as it comes; liveness checkers judge
//! once, at the end, with the db's final rows.
//!
//! Every checker reads one shared [`view::View`] of the run (requests,
//! names, rows, sagas, sled tables), which the recorder updates once per
//! record before showing the record to the checkers; a checker keeps only
//! the state its own rule needs. Evidence is record sequence numbers; the
//! report renders them.
//!
//! # Which field written by the code under test does each checker trust?
//!
//! The audit of issue 8, item 4. Ground truth is what the control plane
//! under test does not write: the workload's requests and the responses it
//! got, the harness's faults, and the sled agents' own reports of their
//! VMM tables (`VmmOnSled`, `SledPutState`, `VmmGone`). Everything else,
//! the db's rows included, is written by the code under test; a checker
//! that reads it either judges that very write or says below why it may.
//!
//! | checker | trusts | verdict |
//! |---|---|---|
//! | `no_unintended_restart` | acceptance (`ApiAccepted`, `fixed`'s validated intent write); the start saga's reason; the db's active VMM | The #6809 rule judges every `MARK_AS_STARTING`, whatever its reason. The guest-shutdown rule takes the shutdown from the sled's reports; only its "automatic" filter reads the saga's reason, and the active VMM says whose guest it was (a VMM Nexus had let go of is an orphan, not the instance's guest; seed 10527). Kept. |
//! | `auto_restart_respects_policy` | the row in reincarnation's `Decision::Reincarnate`; the saga's reason | The decision's row is the code's claim: its state and active VMM are now taken from the db's history at the generation it names, and its policy and cooldown from the record (`RequestTracker::as_the_db_had_it`; a test lies in both). The cooldown is measured from the restarts the history shows, never from `time_last_auto_restarted`. Reconciler restarts of Failed instances are judged whatever their reason. |
//! | `single_active_vmm` | nothing | The sleds' reports and the lost-sled faults. |
//! | `generation_monotonic` | the db's applied/dropped outcome of each write | It judges the writes themselves (the db is the storage, not the lifecycle code); the sleds' generations come from their reports. |
//! | `destroyed_is_final` | applied instance rows | It judges those writes; registrations come from the sleds. |
//! | `db_constraints` | applied rows | It judges those writes. |
//! | `updater_lock_exclusive` | applied lock and commit writes (rows before and after) | It judges those writes; which saga took which lock comes from the writes' causes. |
//! | `start_intent_honored` | acceptance; the end rows; the recorded guest shutdown; the policy; the db's reservations | "Running" needs the sled's report too. The recorded guest shutdown (the update saga's `GuestShutdown` intent, or the Destroyed VMM it unlinked) now counts only when the sled says that VMM's guest went Stopping before any stop was asked of it (`RequestTracker::maybe_guest_shutdown`; seed 12709 and a test in which the code records a shutdown the sled never saw). The policy is set by the create from the request, never written since. "No up sled has room" counts the db's reservations, which is what placement obeys; a leaked one is `resources_released`'s. |
//! | `stop_intent_honored` | acceptance; the end rows | VMM presence comes from the sleds. |
//! | `delete_honored` | acceptance; the end rows and reservations | It judges that end; VMMs come from the sleds. |
//! | `sagas_settle` | the saga table and its node log | A saga that never logged would be invisible here, but then nothing of it ran; the run's quiet rule and deadline (the harness's) catch work that never ends. |
//! | `resources_released` | reservations and VMM rows | It judges those rows against the sleds' reports. |
//! | `no_orphan_vmm` | the db's active VMM at the end | An orphan is defined against that pointer; the VMMs are the sleds'. |
//!
//! Acceptance is the code under test's word (`ApiAccepted`) where it has
//! no db write to show; a Nexus that claimed to accept and did nothing
//! would be judged by the intent checkers against the request it claimed.

use crate::record::Record;
use history::Seq;
use model::db::Db;
use model::ids::{InstanceId, Millis, SledId};
use std::collections::BTreeSet;

pub mod end;
pub mod history;
pub mod requests;
pub mod reservations;
pub mod sleds;
pub mod view;

pub mod auto_restart_respects_policy;
pub mod db_constraints;
pub mod delete_honored;
pub mod destroyed_is_final;
pub mod generation_monotonic;
pub mod no_orphan_vmm;
pub mod no_unintended_restart;
pub mod resources_released;
pub mod sagas_settle;
pub mod single_active_vmm;
pub mod start_intent_honored;
pub mod stop_intent_honored;
pub mod updater_lock_exclusive;

#[cfg(test)]
pub mod testkit;

/// What the liveness checkers may read at the end of a run, besides the
/// records they observed.
pub struct FinalState<'a> {
    pub db: &'a Db,
    /// Sleds that are up at the end (not crashed, not lost).
    pub sleds_up: BTreeSet<SledId>,
    /// Sleds powered off for good.
    pub sleds_lost: BTreeSet<SledId>,
    /// The sled capacity (VMMs per sled), to tell whether an up sled has
    /// room for an instance.
    pub sled_capacity: u8,
    /// When the run ended.
    pub at: Millis,
}

/// A broken invariant, with the records that prove it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    /// The checker's name, as in design section 3.
    pub checker: &'static str,
    /// The mechanism: a short, stable phrase that groups violations of the
    /// same cause across seeds (the signature is `checker/mechanism`).
    pub mechanism: String,
    pub instance: Option<InstanceId>,
    pub at: Millis,
    /// What went wrong, in a sentence.
    pub message: String,
    /// The records that prove it, by sequence number in the run's record
    /// stream (rendered by the report).
    pub evidence: Vec<Seq>,
}

impl Violation {
    pub fn signature(&self) -> String {
        format!("{}/{}", self.checker, self.mechanism)
    }
}

/// A liveness exception a checker applied: the invariant would have been
/// judged broken but for a case the design excuses by name (for
/// `start_intent_honored`: a recorded guest shutdown, a Failed instance
/// whose policy is `never`, no up sled with room). An applied exception is
/// not a violation, but a reader of the verdict must be able to see that
/// the checker looked and why it let the instance go, so the harness prints
/// these next to the verdict.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Note {
    pub checker: &'static str,
    pub instance: Option<InstanceId>,
    pub at: Millis,
    /// Names the exception, in a sentence.
    pub message: String,
    /// The exception in a few words, as the verdict prints it
    /// (`held (exception: no up sled has room for web)`); instance ids
    /// in it are written as names when rendered.
    pub exception: String,
}

/// An invariant checker.
pub trait Checker {
    /// The checker's name (`no_unintended_restart`, ...).
    fn name(&self) -> &'static str;
    /// Sees every record, in order, with the view already updated by it;
    /// reports safety violations at once. Liveness checkers, which judge
    /// only the end from the view, need not look.
    fn observe(&mut self, _record: &Record, _view: &view::View, _out: &mut Vec<Violation>) {}
    /// Judges the end state (liveness checkers); safety checkers do nothing.
    fn finish(&mut self, _view: &view::View, _end: &FinalState<'_>, _out: &mut Vec<Violation>) {}
    /// The exceptions this checker applied (see [`Note`]); most have none.
    fn notes(&self) -> &[Note] {
        &[]
    }
}

/// Every checker's name, in design order (safety first, then liveness).
pub const NAMES: [&str; 13] = [
    no_unintended_restart::NAME,
    auto_restart_respects_policy::NAME,
    single_active_vmm::NAME,
    generation_monotonic::NAME,
    destroyed_is_final::NAME,
    db_constraints::NAME,
    updater_lock_exclusive::NAME,
    start_intent_honored::NAME,
    stop_intent_honored::NAME,
    delete_honored::NAME,
    sagas_settle::NAME,
    resources_released::NAME,
    no_orphan_vmm::NAME,
];

/// One of each checker, in [`NAMES`] order. `default_cooldown_ms` is the
/// auto-restart cooldown a NULL `auto_restart_cooldown` means (omicron's
/// `DEFAULT_COOLDOWN`, 5 minutes, unless a scenario overrides it).
pub fn all(default_cooldown_ms: u64) -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(no_unintended_restart::NoUnintendedRestart::new()),
        Box::new(auto_restart_respects_policy::AutoRestartRespectsPolicy::new(default_cooldown_ms)),
        Box::new(single_active_vmm::SingleActiveVmm::new()),
        Box::new(generation_monotonic::GenerationMonotonic::new()),
        Box::new(destroyed_is_final::DestroyedIsFinal::new()),
        Box::new(db_constraints::DbConstraints::new()),
        Box::new(updater_lock_exclusive::UpdaterLockExclusive::new()),
        Box::new(start_intent_honored::StartIntentHonored::new()),
        Box::new(stop_intent_honored::StopIntentHonored::new()),
        Box::new(delete_honored::DeleteHonored::new()),
        Box::new(sagas_settle::SagasSettle::new()),
        Box::new(resources_released::ResourcesReleased::new()),
        Box::new(no_orphan_vmm::NoOrphanVmm::new()),
    ]
}

#[cfg(test)]
mod tests {
    use super::testkit::Story;
    use super::*;
    use model::event::ApiOp;
    use model::ids::{HostId, NexusId};
    use model::states::AutoRestartPolicy;

    /// Every checker over the story; the names of those that fired.
    fn fired(s: &Story) -> BTreeSet<&'static str> {
        let mut names = BTreeSet::new();
        for mut c in all(300_000) {
            for v in s.run(c.as_mut()) {
                names.insert(v.checker);
            }
        }
        names
    }

    fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
        names.iter().copied().collect()
    }

    /// The design's five must-not-fire histories, each judged by every
    /// checker, safety and liveness alike.
    #[test]
    fn no_checker_fires_on_the_designs_five_histories() {
        // A guest shutdown after a start.
        let (s, _) = Story::guest_shutdown_after_start();
        assert_eq!(
            fired(&s),
            set(&[]),
            "guest shutdown after a start\n{}",
            s.trace()
        );

        // A start overlapping a stop (the stop lands first, the start's
        // saga after it).
        let (s, _) = Story::start_overlapping_stop();
        assert_eq!(
            fired(&s),
            set(&[]),
            "start overlapping a stop\n{}",
            s.trace()
        );

        // A stop with no response, whether or not it took effect.
        for took_effect in [false, true] {
            let (mut s, id, stop) = Story::stop_accepted();
            if took_effect {
                s.stop_vmm(id);
            }
            s.no_response(stop, ApiOp::Stop, "web");
            assert_eq!(fired(&s), set(&[]), "stop with no response\n{}", s.trace());
        }

        // A reboot answered 503 then auto-restarted.
        let (s, _) = Story::reboot_503_then_auto_restart(Some(AutoRestartPolicy::BestEffort));
        assert_eq!(
            fired(&s),
            set(&[]),
            "reboot 503 then auto-restart\n{}",
            s.trace()
        );

        // A stale write dropped by the db.
        let (s, _) = Story::stale_vmm_write_dropped();
        assert!(s.trace().contains("DROPPED"));
        assert_eq!(fired(&s), set(&[]), "stale write dropped\n{}", s.trace());
    }

    /// Legacy #6809 as the whole checker set sees it: the restart itself,
    /// and the stop's intent not honored at the end.
    #[test]
    fn legacy_6809_fires_exactly_the_intent_checkers() {
        let (mut s, id) = Story::answered_503_vmm_gone(ApiOp::Stop, None);
        s.reincarnate(id);
        assert_eq!(
            fired(&s),
            set(&["no_unintended_restart", "stop_intent_honored"]),
            "{}",
            s.trace()
        );
    }

    /// A create with start=true whose Nexus died between the create and
    /// start sagas: NoVmm with intent Running, and nothing else wrong.
    #[test]
    fn create_start_true_left_stopped_fires_only_start_intent() {
        let mut s = Story::new();
        let op = Story::CREATE_START;
        let req = s.send(op, "web");
        s.insert("web", true, None);
        s.fault(crate::record::Fault::Crash {
            host: HostId::Nexus(NexusId(0)),
        });
        s.no_response(req, op, "web");
        assert_eq!(fired(&s), set(&["start_intent_honored"]), "{}", s.trace());
    }

    #[test]
    fn all_returns_one_of_each_in_names_order() {
        let names: Vec<&str> = all(300_000).iter().map(|c| c.name()).collect();
        assert_eq!(names, NAMES.to_vec());
        let unique: BTreeSet<&str> = NAMES.iter().copied().collect();
        assert_eq!(unique.len(), NAMES.len());
    }
}
