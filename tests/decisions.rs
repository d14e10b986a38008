//! Exhaustive tables for Nexus's pure decision functions
//! (`src/nexus/decisions.rs`), each checked against the rules in
//! `/work/shared/omicron-lifecycle.md`, written here independently of the
//! model's code:
//!
//! - `auto_restart_status` (section 1; `nexus/db-model/src/instance.rs`
//!   `Instance::auto_restart_status`), over every intent, nexus state,
//!   active VMM state, policy, cooldown case and variant, plus every fixture
//!   of omicron's `test_only_reincarnates_eligible_instances`
//!   (`nexus/src/app/background/tasks/instance_reincarnation.rs`), run
//!   through both `auto_restart_status` and the db's reincarnation query;
//! - `compute_state` (section 2; `nexus/db-model/src/vmm_state.rs`
//!   `InstanceStateComputer::compute_state`);
//! - `instance_start_allowed` and `select_runtime_change_action` (sections
//!   3.2 and 4; `nexus/src/app/instance.rs`);
//! - `UpdatesRequired::for_instance` (section 3.3;
//!   `nexus/src/app/sagas/instance_update/mod.rs`).
//!
//! A table row is one line. Where the model deliberately differs from the
//! document (or from omicron) the row says so in a comment, and the
//! difference is pinned in its own table so that a change on either side
//! shows up here.

use model::db::protocol::{DbCall, DbRequest, DbResponse, InstanceAndVmm};
use model::db::rows::{InstanceRow, InstanceRuntime, VmmRow, VmmRuntime};
use model::db::Db;
use model::event::{BackgroundTask, Cause, ReincarnationReason};
use model::ids::{InstanceId, Millis, SledId, VmmId};
use model::nexus::decisions::{
    auto_restart_status, compute_state, instance_start_allowed, select_runtime_change_action,
    AutoRestartStatus, Reincarnatability, RuntimeChangeAction, StartAllowed, UpdatesRequired,
};
use model::states::{
    AutoRestartPolicy, ExternalState, Generation, InstanceState, IntendedState, RequestedState,
    VmmState,
};
use model::variant::Variant;
use std::collections::BTreeSet;
use AutoRestartPolicy::{BestEffort, Never};
use ReincarnationReason::{Failed as ByFailed, SagaUnwound as ByUnwound};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const INSTANCE: InstanceId = InstanceId(0x1a57a4ce);
const VMM: VmmId = VmmId(0x0000_5a11);
/// The instance's generation in every fixture: the functions under test
/// compute "generation + 1" from it.
const GEN: Generation = Generation(7);
/// "Now" for the cooldown cases: far enough from zero that every
/// "restarted N seconds ago" is a valid time.
const NOW: Millis = Millis(10_000_000);
/// `DEFAULT_COOLDOWN`: 5 minutes since #9097 (section 8).
const DEFAULT_COOLDOWN: Millis = Millis(300_000);

/// Every instance state (`nexus/db-model/src/instance_state.rs`).
const INSTANCE_STATES: [InstanceState; 5] = [
    InstanceState::Creating,
    InstanceState::NoVmm,
    InstanceState::Vmm,
    InstanceState::Failed,
    InstanceState::Destroyed,
];

/// Every VMM state (`nexus/db-model/src/vmm_state.rs`).
const VMM_STATES: [VmmState; 10] = [
    VmmState::Creating,
    VmmState::Starting,
    VmmState::Running,
    VmmState::Stopping,
    VmmState::Stopped,
    VmmState::Rebooting,
    VmmState::Migrating,
    VmmState::Failed,
    VmmState::Destroyed,
    VmmState::SagaUnwound,
];

/// Every intended state (`nexus/db-model/src/instance_intended_state.rs`).
const INTENTS: [IntendedState; 4] = [
    IntendedState::Running,
    IntendedState::Stopped,
    IntendedState::GuestShutdown,
    IntendedState::Destroyed,
];

/// Every request `select_runtime_change_action` decides (migration is not
/// modelled).
const REQUESTS: [RequestedState; 3] = [
    RequestedState::Running,
    RequestedState::Stopped,
    RequestedState::Reboot,
];

/// An instance row in `state`; an instance in `Vmm` points at [`VMM`] (the
/// CHECK constraint).
fn instance(state: InstanceState, intent: IntendedState) -> InstanceRow {
    InstanceRow {
        id: INSTANCE,
        name: "fixture".to_string(),
        runtime: InstanceRuntime {
            nexus_state: state,
            gen: GEN,
            propolis_id: (state == InstanceState::Vmm).then_some(VMM),
            time_last_auto_restarted: None,
            time_updated: Millis(1234),
        },
        intended_state: intent,
        auto_restart_policy: None,
        auto_restart_cooldown: None,
        time_deleted: None,
        updater_id: None,
        updater_gen: Generation::FIRST,
    }
}

fn vmm(state: VmmState) -> VmmRow {
    VmmRow {
        id: VMM,
        instance_id: INSTANCE,
        sled_id: SledId(0),
        runtime: VmmRuntime {
            state,
            gen: Generation(3),
            stop_requested: false,
        },
        time_deleted: None,
        failure_reason: None,
    }
}

/// The instance with its active VMM, as the db hands it to Nexus.
fn iv(state: InstanceState, active: Option<VmmState>) -> InstanceAndVmm {
    let mut instance = instance(state, IntendedState::Running);
    instance.runtime.propolis_id = active.map(|_| VMM);
    InstanceAndVmm {
        instance,
        vmm: active.map(vmm),
    }
}

/// Whether omicron's CHECK constraint (`state = 'vmm'` exactly when an
/// active VMM is set) allows this pair. The db never hands Nexus any
/// other pair; `Vmm` with no VMM row is also impossible, but the model's
/// functions name it, so it is tabled too.
fn check_allows(state: InstanceState, active: Option<VmmState>) -> bool {
    (state == InstanceState::Vmm) == active.is_some()
}

// ---------------------------------------------------------------------------
// auto_restart_status (section 1)
// ---------------------------------------------------------------------------

/// The instance's nexus state and its active VMM's state, if any.
/// (`Vmm` with no active VMM is forbidden by the CHECK constraint; it is
/// here because the function accepts it.)
const NEXUS_AND_VMM: [(InstanceState, Option<VmmState>); 15] = [
    (InstanceState::Creating, None),
    (InstanceState::NoVmm, None),
    (InstanceState::Vmm, Some(VmmState::Creating)),
    (InstanceState::Vmm, Some(VmmState::Starting)),
    (InstanceState::Vmm, Some(VmmState::Running)),
    (InstanceState::Vmm, Some(VmmState::Stopping)),
    (InstanceState::Vmm, Some(VmmState::Stopped)),
    (InstanceState::Vmm, Some(VmmState::Rebooting)),
    (InstanceState::Vmm, Some(VmmState::Migrating)),
    (InstanceState::Vmm, Some(VmmState::Failed)),
    (InstanceState::Vmm, Some(VmmState::Destroyed)),
    (InstanceState::Vmm, Some(VmmState::SagaUnwound)),
    (InstanceState::Vmm, None),
    (InstanceState::Failed, None),
    (InstanceState::Destroyed, None),
];

/// `auto_restart_policy`: NULL means `DEFAULT_POLICY` = BestEffort.
const POLICIES: [Option<AutoRestartPolicy>; 3] = [
    None,
    Some(AutoRestartPolicy::Never),
    Some(AutoRestartPolicy::BestEffort),
];

/// A cooldown case: when the instance was last auto-restarted (seconds
/// before [`NOW`]) and its `auto_restart_cooldown` override (seconds).
struct CooldownCase {
    name: &'static str,
    restarted_secs_ago: Option<u64>,
    cooldown_override_secs: Option<u64>,
}

#[rustfmt::skip]
const COOLDOWNS: [CooldownCase; 8] = [
    CooldownCase { name: "never restarted", restarted_secs_ago: None, cooldown_override_secs: None },
    CooldownCase { name: "restarted within the default cooldown", restarted_secs_ago: Some(100), cooldown_override_secs: None },
    CooldownCase { name: "restarted just now", restarted_secs_ago: Some(0), cooldown_override_secs: None },
    CooldownCase { name: "restarted exactly one default cooldown ago", restarted_secs_ago: Some(300), cooldown_override_secs: None },
    CooldownCase { name: "restarted longer ago than the default cooldown", restarted_secs_ago: Some(1000), cooldown_override_secs: None },
    CooldownCase { name: "override longer than the default, still cooling", restarted_secs_ago: Some(1000), cooldown_override_secs: Some(3600) },
    CooldownCase { name: "override shorter than the default, cooled", restarted_secs_ago: Some(100), cooldown_override_secs: Some(10) },
    CooldownCase { name: "override never restarted", restarted_secs_ago: None, cooldown_override_secs: Some(3600) },
];

/// The oracle, from omicron-lifecycle section 1:
///
/// - `needs_reincarnation` when the intent is Running (always, in
///   `legacy`, which has no intent) and either the instance is `Failed` or
///   it is `Vmm` with a `SagaUnwound` active VMM;
/// - `can_reincarnate`: `Nirvana` if the policy is `Never`; `CoolingDown`
///   until `last + cooldown` while `now < last + cooldown` (cooldown: the
///   override, else `DEFAULT_COOLDOWN`); otherwise `WillReincarnate`.
fn karma_oracle(
    variant: Variant,
    intent: IntendedState,
    state: InstanceState,
    active: Option<VmmState>,
    policy: Option<AutoRestartPolicy>,
    case: &CooldownCase,
) -> AutoRestartStatus {
    let wants_running = variant == Variant::Legacy || intent == IntendedState::Running;
    let failed = state == InstanceState::Failed;
    let unwound = state == InstanceState::Vmm && active == Some(VmmState::SagaUnwound);
    let needs_reincarnation = wants_running && (failed || unwound);
    let can_reincarnate = if policy == Some(AutoRestartPolicy::Never) {
        Reincarnatability::Nirvana
    } else {
        let cooldown = case
            .cooldown_override_secs
            .map(Millis::from_secs)
            .unwrap_or(DEFAULT_COOLDOWN);
        match case.restarted_secs_ago {
            Some(ago) => {
                let until = Millis(NOW.0 - ago * 1000 + cooldown.0);
                if NOW < until {
                    Reincarnatability::CoolingDown { until }
                } else {
                    Reincarnatability::WillReincarnate
                }
            }
            None => Reincarnatability::WillReincarnate,
        }
    };
    AutoRestartStatus {
        needs_reincarnation,
        can_reincarnate,
    }
}

fn karma_row(
    intent: IntendedState,
    state: InstanceState,
    active: Option<VmmState>,
    policy: Option<AutoRestartPolicy>,
    case: &CooldownCase,
) -> (InstanceRow, Option<VmmRow>) {
    let mut row = instance(state, intent);
    row.runtime.propolis_id = active.map(|_| VMM);
    row.auto_restart_policy = policy;
    row.auto_restart_cooldown = case.cooldown_override_secs.map(Millis::from_secs);
    row.runtime.time_last_auto_restarted =
        case.restarted_secs_ago.map(|s| Millis(NOW.0 - s * 1000));
    (row, active.map(vmm))
}

/// Every intent x nexus state x VMM state x policy x cooldown x variant:
/// 4 x 15 x 3 x 8 x 3 = 4320 combinations.
#[test]
fn auto_restart_status_every_combination() {
    let mut checked = 0;
    for variant in Variant::ALL {
        for intent in INTENTS {
            for (state, active) in NEXUS_AND_VMM {
                for policy in POLICIES {
                    for case in &COOLDOWNS {
                        let (row, vmm) = karma_row(intent, state, active, policy, case);
                        let got =
                            auto_restart_status(variant, &row, vmm.as_ref(), NOW, DEFAULT_COOLDOWN);
                        let want = karma_oracle(variant, intent, state, active, policy, case);
                        assert_eq!(
                            got, want,
                            "{variant}: intent {intent}, {state} with VMM {active:?}, \
                             policy {policy:?}, {}",
                            case.name
                        );
                        assert_eq!(
                            got.should_reincarnate(),
                            want.needs_reincarnation
                                && want.can_reincarnate == Reincarnatability::WillReincarnate
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 4320);
}

/// A few rows written out by hand, so the oracle itself is checked against
/// literal values: (variant, intent, state, active VMM, policy, cooldown
/// case index, needs_reincarnation, can_reincarnate).
#[allow(clippy::type_complexity)]
#[rustfmt::skip]
const KARMA_SPOT_ROWS: &[(
    Variant,
    IntendedState,
    InstanceState,
    Option<VmmState>,
    Option<AutoRestartPolicy>,
    usize,
    bool,
    Reincarnatability,
)] = &[
    // A Failed instance with the default policy, never restarted: restart it.
    (Variant::Omicron, IntendedState::Running, InstanceState::Failed, None, None, 0, true, Reincarnatability::WillReincarnate),
    // #6809: the user stopped it; since PR #8053 it is not restarted...
    (Variant::Omicron, IntendedState::Stopped, InstanceState::Failed, None, None, 0, false, Reincarnatability::WillReincarnate),
    // ...but before it (legacy) it is.
    (Variant::Legacy, IntendedState::Stopped, InstanceState::Failed, None, None, 0, true, Reincarnatability::WillReincarnate),
    // The guest shut itself down: not a Running intent.
    (Variant::Fixed, IntendedState::GuestShutdown, InstanceState::Failed, None, None, 0, false, Reincarnatability::WillReincarnate),
    // A SagaUnwound active VMM counts as failed.
    (Variant::Fixed, IntendedState::Running, InstanceState::Vmm, Some(VmmState::SagaUnwound), Some(AutoRestartPolicy::BestEffort), 0, true, Reincarnatability::WillReincarnate),
    // A Failed active VMM does not: the update saga has not run yet.
    (Variant::Fixed, IntendedState::Running, InstanceState::Vmm, Some(VmmState::Failed), None, 0, false, Reincarnatability::WillReincarnate),
    // Policy never: nirvana, whatever the cooldown.
    (Variant::Omicron, IntendedState::Running, InstanceState::Failed, None, Some(AutoRestartPolicy::Never), 1, true, Reincarnatability::Nirvana),
    // Restarted 100 s ago with the 300 s default: cooling down for 200 s more.
    (Variant::Omicron, IntendedState::Running, InstanceState::Failed, None, None, 1, true, Reincarnatability::CoolingDown { until: Millis(NOW.0 + 200_000) }),
    // Exactly one cooldown ago: `now < last + cooldown` is false.
    (Variant::Omicron, IntendedState::Running, InstanceState::Failed, None, None, 3, true, Reincarnatability::WillReincarnate),
    // A 1 h override restarted 1000 s ago: cooling down for 2600 s more.
    (Variant::Legacy, IntendedState::Running, InstanceState::Failed, None, None, 5, true, Reincarnatability::CoolingDown { until: Millis(NOW.0 + 2_600_000) }),
    // A 10 s override restarted 100 s ago: ready, though the default would not be.
    (Variant::Legacy, IntendedState::Running, InstanceState::Failed, None, None, 6, true, Reincarnatability::WillReincarnate),
    // A running instance does not need reincarnation.
    (Variant::Legacy, IntendedState::Running, InstanceState::Vmm, Some(VmmState::Running), None, 0, false, Reincarnatability::WillReincarnate),
];

#[test]
fn auto_restart_status_spot_rows() {
    for (i, &(variant, intent, state, active, policy, case, needs, can)) in
        KARMA_SPOT_ROWS.iter().enumerate()
    {
        let case = &COOLDOWNS[case];
        let (row, vmm) = karma_row(intent, state, active, policy, case);
        let got = auto_restart_status(variant, &row, vmm.as_ref(), NOW, DEFAULT_COOLDOWN);
        let want = AutoRestartStatus {
            needs_reincarnation: needs,
            can_reincarnate: can,
        };
        assert_eq!(got, want, "spot row {i}");
        assert_eq!(
            karma_oracle(variant, intent, state, active, policy, case),
            want,
            "the oracle disagrees with spot row {i}"
        );
    }
}

// ---------------------------------------------------------------------------
// test_only_reincarnates_eligible_instances
// (nexus/src/app/background/tasks/instance_reincarnation.rs ~L709)
// ---------------------------------------------------------------------------

/// One instance of omicron's test. Every fixture is created fresh (never
/// auto-restarted, default cooldown). `create_instance` makes `Vmm`
/// instances with `start: true`, so they have a live (here: Running) VMM;
/// `attach_saga_unwound_vmm` points a `NoVmm` instance at a new
/// `SagaUnwound` VMM, making it `Vmm`.
struct Fixture {
    name: &'static str,
    policy: AutoRestartPolicy,
    state: InstanceState,
    active: Option<VmmState>,
    intent: IntendedState,
    /// The pass of the task that restarts it at HEAD (omicron and fixed),
    /// `None`: the test asserts it is not reincarnated.
    head: Option<ReincarnationReason>,
    /// The same before PR #8053 (`legacy`: no intent).
    legacy: Option<ReincarnationReason>,
}

#[rustfmt::skip]
const FIXTURES: [Fixture; 17] = [
    // Failed, BestEffort, intent Running: `will_reincarnate`.
    Fixture { name: "sotapanna-0", policy: BestEffort, state: InstanceState::Failed, active: None, intent: IntendedState::Running, head: Some(ByFailed), legacy: Some(ByFailed) },
    Fixture { name: "sotapanna-1", policy: BestEffort, state: InstanceState::Failed, active: None, intent: IntendedState::Running, head: Some(ByFailed), legacy: Some(ByFailed) },
    Fixture { name: "sotapanna-2", policy: BestEffort, state: InstanceState::Failed, active: None, intent: IntendedState::Running, head: Some(ByFailed), legacy: Some(ByFailed) },
    // SagaUnwound active VMM, BestEffort, intent Running: `will_reincarnate`.
    Fixture { name: "sadakagami-0", policy: BestEffort, state: InstanceState::Vmm, active: Some(VmmState::SagaUnwound), intent: IntendedState::Running, head: Some(ByUnwound), legacy: Some(ByUnwound) },
    Fixture { name: "sadakagami-1", policy: BestEffort, state: InstanceState::Vmm, active: Some(VmmState::SagaUnwound), intent: IntendedState::Running, head: Some(ByUnwound), legacy: Some(ByUnwound) },
    // Failed, policy Never: not.
    Fixture { name: "arahant-0", policy: Never, state: InstanceState::Failed, active: None, intent: IntendedState::Running, head: None, legacy: None },
    Fixture { name: "arahant-1", policy: Never, state: InstanceState::Failed, active: None, intent: IntendedState::Running, head: None, legacy: None },
    Fixture { name: "arahant-2", policy: Never, state: InstanceState::Failed, active: None, intent: IntendedState::Running, head: None, legacy: None },
    // SagaUnwound, policy Never: not.
    Fixture { name: "arahant-3", policy: Never, state: InstanceState::Vmm, active: Some(VmmState::SagaUnwound), intent: IntendedState::Running, head: None, legacy: None },
    Fixture { name: "arahant-4", policy: Never, state: InstanceState::Vmm, active: Some(VmmState::SagaUnwound), intent: IntendedState::Running, head: None, legacy: None },
    // BestEffort but not Failed: not.
    Fixture { name: "anagami-0", policy: BestEffort, state: InstanceState::Vmm, active: Some(VmmState::Running), intent: IntendedState::Running, head: None, legacy: None },
    Fixture { name: "anagami-1", policy: BestEffort, state: InstanceState::NoVmm, active: None, intent: IntendedState::Running, head: None, legacy: None },
    Fixture { name: "anagami-2", policy: BestEffort, state: InstanceState::Destroyed, active: None, intent: IntendedState::Running, head: None, legacy: None },
    // (There is no anagami-3 upstream.)
    // PR #8053: Failed, BestEffort, intent Stopped: not at HEAD; legacy
    // (no intent) restarts it, which is #6809.
    Fixture { name: "anagami-4", policy: BestEffort, state: InstanceState::Failed, active: None, intent: IntendedState::Stopped, head: None, legacy: Some(ByFailed) },
    // PR #8053: SagaUnwound, BestEffort, intent Stopped: likewise.
    Fixture { name: "anagami-5", policy: BestEffort, state: InstanceState::Vmm, active: Some(VmmState::SagaUnwound), intent: IntendedState::Stopped, head: None, legacy: Some(ByUnwound) },
    // Not in the test, but the same rule: the other non-Running intents.
    Fixture { name: "guest-shutdown-failed", policy: BestEffort, state: InstanceState::Failed, active: None, intent: IntendedState::GuestShutdown, head: None, legacy: Some(ByFailed) },
    Fixture { name: "destroyed-intent-unwound", policy: BestEffort, state: InstanceState::Vmm, active: Some(VmmState::SagaUnwound), intent: IntendedState::Destroyed, head: None, legacy: Some(ByUnwound) },
];

fn expected_pass(f: &Fixture, variant: Variant) -> Option<ReincarnationReason> {
    match variant {
        Variant::Legacy => f.legacy,
        Variant::Omicron | Variant::Fixed => f.head,
    }
}

fn fixture_rows(i: usize, f: &Fixture) -> (InstanceRow, Option<VmmRow>) {
    let mut row = instance(f.state, f.intent);
    row.id = InstanceId(0x1000 + i as u64);
    row.name = f.name.to_string();
    row.auto_restart_policy = Some(f.policy);
    let vmm = f.active.map(|s| {
        let mut v = vmm(s);
        v.id = VmmId(0x2000 + i as u64);
        v.instance_id = row.id;
        v
    });
    row.runtime.propolis_id = vmm.as_ref().map(|v| v.id);
    (row, vmm)
}

/// Each fixture through `auto_restart_status`, as the update saga's
/// `reincarnate_if_needed` asks it.
#[test]
fn reincarnation_fixtures_auto_restart_status() {
    for variant in Variant::ALL {
        for (i, f) in FIXTURES.iter().enumerate() {
            let (row, vmm) = fixture_rows(i, f);
            let status = auto_restart_status(variant, &row, vmm.as_ref(), NOW, DEFAULT_COOLDOWN);
            assert_eq!(
                status.should_reincarnate(),
                expected_pass(f, variant).is_some(),
                "{variant}: {} ({status:?})",
                f.name
            );
        }
    }
}

fn db_call(db: &mut Db, request: DbRequest) -> DbResponse {
    let call = DbCall {
        cause: Cause::Task {
            task: BackgroundTask::InstanceReincarnation,
        },
        request,
    };
    db.execute(call, NOW, &mut Vec::new())
}

/// All fixtures in one db, then the task's two queries (`Failed`, then
/// `SagaUnwound`), as the test activates the task once: exactly the
/// expected instances are found, each by the expected pass.
#[test]
fn reincarnation_fixtures_db_query() {
    for variant in Variant::ALL {
        let mut db = Db::default();
        for (i, f) in FIXTURES.iter().enumerate() {
            let (row, vmm) = fixture_rows(i, f);
            if let Some(v) = vmm {
                assert!(matches!(
                    db_call(&mut db, DbRequest::VmmInsert { row: v }),
                    DbResponse::Write(true)
                ));
            }
            assert!(matches!(
                db_call(&mut db, DbRequest::InstanceInsert { row }),
                DbResponse::Write(true)
            ));
        }
        for reason in [ByFailed, ByUnwound] {
            let found = match db_call(
                &mut db,
                DbRequest::FindReincarnatable {
                    reason,
                    require_intent_running: variant.tracks_intent(),
                    now: NOW,
                    default_cooldown: DEFAULT_COOLDOWN,
                },
            ) {
                DbResponse::Instances(found) => found,
                other => panic!("FindReincarnatable answered {other:?}"),
            };
            let got: BTreeSet<&str> = found
                .iter()
                .map(|iv| {
                    FIXTURES
                        .iter()
                        .find(|f| f.name == iv.instance.name)
                        .expect("a fixture")
                        .name
                })
                .collect();
            let want: BTreeSet<&str> = FIXTURES
                .iter()
                .filter(|f| expected_pass(f, variant) == Some(reason))
                .map(|f| f.name)
                .collect();
            assert_eq!(got, want, "{variant}, the {reason:?} pass");
        }
    }
}

// ---------------------------------------------------------------------------
// compute_state (section 2)
// ---------------------------------------------------------------------------

/// Instance `Vmm` with each active VMM state: rules 2-6 (rule 1, migration,
/// is not modelled). `None` is forbidden by the CHECK constraint; the plain
/// `From<InstanceState>` mapping says Running.
#[rustfmt::skip]
const COMPUTE_VMM_ROWS: [(Option<VmmState>, ExternalState); 11] = [
    (Some(VmmState::Creating), ExternalState::Starting),    // rule 5
    (Some(VmmState::Starting), ExternalState::Starting),    // rule 5
    (Some(VmmState::Running), ExternalState::Running),      // rule 6
    (Some(VmmState::Stopping), ExternalState::Stopping),    // rule 6
    (Some(VmmState::Stopped), ExternalState::Stopping),     // rule 2
    (Some(VmmState::Rebooting), ExternalState::Rebooting),  // rule 6
    (Some(VmmState::Migrating), ExternalState::Migrating),  // rule 6
    (Some(VmmState::Failed), ExternalState::Stopping),      // rule 3: not Failed until the update saga runs
    (Some(VmmState::Destroyed), ExternalState::Stopping),   // rule 2
    (Some(VmmState::SagaUnwound), ExternalState::Failed),   // rule 4
    (None, ExternalState::Running),                         // rule 8 (plain mapping)
];

/// The other instance states: rules 7 and 8, whatever VMM is passed (only
/// a `Vmm` instance's VMM decides what the user sees).
#[rustfmt::skip]
const COMPUTE_OTHER_ROWS: [(InstanceState, ExternalState); 4] = [
    (InstanceState::NoVmm, ExternalState::Stopped),         // rule 7
    (InstanceState::Creating, ExternalState::Creating),     // rule 8
    (InstanceState::Failed, ExternalState::Failed),         // rule 8
    (InstanceState::Destroyed, ExternalState::Destroyed),   // rule 8
];

#[test]
fn compute_state_every_pair() {
    let all_vmm: Vec<Option<VmmState>> = std::iter::once(None)
        .chain(VMM_STATES.into_iter().map(Some))
        .collect();
    let mut checked = 0;
    for state in INSTANCE_STATES {
        for &active in &all_vmm {
            let want = if state == InstanceState::Vmm {
                COMPUTE_VMM_ROWS
                    .iter()
                    .find(|(v, _)| *v == active)
                    .expect("a row per VMM state")
                    .1
            } else {
                COMPUTE_OTHER_ROWS
                    .iter()
                    .find(|(s, _)| *s == state)
                    .expect("a row per instance state")
                    .1
            };
            let p = iv(state, active);
            assert_eq!(
                compute_state(&p.instance, p.vmm.as_ref()),
                want,
                "{state} with VMM {active:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * 11);
}

// ---------------------------------------------------------------------------
// instance_start_allowed (section 3.2)
// ---------------------------------------------------------------------------

/// What a start request gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum StartOutcome {
    AlreadyStarted,
    Start,
    /// An error with this HTTP status.
    Err(u16),
}

/// Every pair the CHECK constraint allows (and `Vmm` without a VMM), from
/// section 3.2: Starting, Running, Rebooting or Migrating →
/// AlreadyStarted; Stopped or Failed with no VMM or a SagaUnwound VMM →
/// Start; Stopping → 409; Creating or anything else → 409.
#[rustfmt::skip]
const START_ROWS: [(InstanceState, Option<VmmState>, StartOutcome); 15] = [
    (InstanceState::Creating, None, StartOutcome::Err(409)),
    (InstanceState::NoVmm, None, StartOutcome::Start),
    (InstanceState::Failed, None, StartOutcome::Start),
    (InstanceState::Destroyed, None, StartOutcome::Err(409)),
    (InstanceState::Vmm, Some(VmmState::Creating), StartOutcome::AlreadyStarted),  // shows Starting
    (InstanceState::Vmm, Some(VmmState::Starting), StartOutcome::AlreadyStarted),
    (InstanceState::Vmm, Some(VmmState::Running), StartOutcome::AlreadyStarted),
    (InstanceState::Vmm, Some(VmmState::Stopping), StartOutcome::Err(409)),
    (InstanceState::Vmm, Some(VmmState::Stopped), StartOutcome::Err(409)),         // shows Stopping
    (InstanceState::Vmm, Some(VmmState::Rebooting), StartOutcome::AlreadyStarted),
    (InstanceState::Vmm, Some(VmmState::Migrating), StartOutcome::AlreadyStarted),
    (InstanceState::Vmm, Some(VmmState::Failed), StartOutcome::Err(409)),          // shows Stopping
    (InstanceState::Vmm, Some(VmmState::Destroyed), StartOutcome::Err(409)),       // shows Stopping
    (InstanceState::Vmm, Some(VmmState::SagaUnwound), StartOutcome::Start),        // shows Failed
    (InstanceState::Vmm, None, StartOutcome::AlreadyStarted),                      // CHECK-forbidden; shows Running
];

/// Pairs the CHECK constraint forbids (a non-`Vmm` instance with an active
/// VMM), which the db never returns. The model follows the document ("or
/// anything else → Conflict"); omicron answers 500 ("instance is Stopped
/// but still has an active VMM") for Stopped/Failed with a live VMM. Pinned
/// here; harmless, as the pairs cannot occur.
fn start_forbidden_pair(state: InstanceState, active: VmmState) -> StartOutcome {
    match (state, active) {
        (InstanceState::NoVmm, VmmState::SagaUnwound) => StartOutcome::Start,
        (InstanceState::Failed, VmmState::SagaUnwound) => StartOutcome::Start,
        _ => StartOutcome::Err(409),
    }
}

fn start_outcome(p: &InstanceAndVmm) -> StartOutcome {
    match instance_start_allowed(p) {
        Ok(StartAllowed::AlreadyStarted) => StartOutcome::AlreadyStarted,
        Ok(StartAllowed::Start) => StartOutcome::Start,
        Err(e) => StartOutcome::Err(e.status),
    }
}

#[test]
fn instance_start_allowed_every_pair() {
    let mut checked = 0;
    for state in INSTANCE_STATES {
        for active in std::iter::once(None).chain(VMM_STATES.into_iter().map(Some)) {
            let p = iv(state, active);
            let want =
                if check_allows(state, active) || (state, active) == (InstanceState::Vmm, None) {
                    START_ROWS
                        .iter()
                        .find(|(s, v, _)| *s == state && *v == active)
                        .unwrap_or_else(|| panic!("no row for {state} with {active:?}"))
                        .2
                } else {
                    start_forbidden_pair(state, active.expect("forbidden pairs have a VMM"))
                };
            assert_eq!(start_outcome(&p), want, "{state} with VMM {active:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * 11);
}

// ---------------------------------------------------------------------------
// select_runtime_change_action (section 4)
// ---------------------------------------------------------------------------

/// What a run/stop/reboot request gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ChangeOutcome {
    AlreadyDone,
    /// Write `NoVmm`, generation + 1, no active VMM, no sled call.
    ToNoVmm,
    SendToSled,
    Err(u16),
}

/// Without an active VMM, per request (Running, Stopped, Reboot), from
/// section 4: Stopped + Stop → AlreadyDone; Stopped + Run/Reboot → 400;
/// Creating → 400; Failed + Stop → UpdateRuntime (#6652); Failed or
/// Destroyed + anything else → 400. `Vmm` without a VMM is an internal
/// error (omicron: "instance is active but not resident on a sled").
#[rustfmt::skip]
const NO_VMM_ROWS: [(InstanceState, [ChangeOutcome; 3]); 5] = [
    (InstanceState::NoVmm, [ChangeOutcome::Err(400), ChangeOutcome::AlreadyDone, ChangeOutcome::Err(400)]),
    (InstanceState::Creating, [ChangeOutcome::Err(400), ChangeOutcome::Err(400), ChangeOutcome::Err(400)]),
    (InstanceState::Failed, [ChangeOutcome::Err(400), ChangeOutcome::ToNoVmm, ChangeOutcome::Err(400)]),
    (InstanceState::Destroyed, [ChangeOutcome::Err(400), ChangeOutcome::Err(400), ChangeOutcome::Err(400)]),
    (InstanceState::Vmm, [ChangeOutcome::Err(500), ChangeOutcome::Err(500), ChangeOutcome::Err(500)]),
];

/// With an active VMM (the instance is `Vmm`): Run, Reboot or Stop go to
/// the sled for effective states Creating, Starting, Running, Stopping,
/// Stopped, Rebooting, Migrating; otherwise 400. Only a SagaUnwound VMM
/// makes the effective state Failed.
#[rustfmt::skip]
const WITH_VMM_ROWS: [(VmmState, ChangeOutcome); 10] = [
    (VmmState::Creating, ChangeOutcome::SendToSled),     // shows Starting
    (VmmState::Starting, ChangeOutcome::SendToSled),
    (VmmState::Running, ChangeOutcome::SendToSled),
    (VmmState::Stopping, ChangeOutcome::SendToSled),
    (VmmState::Stopped, ChangeOutcome::SendToSled),      // shows Stopping
    (VmmState::Rebooting, ChangeOutcome::SendToSled),
    (VmmState::Migrating, ChangeOutcome::SendToSled),
    (VmmState::Failed, ChangeOutcome::SendToSled),       // shows Stopping; the sled answers NO_SUCH_INSTANCE
    (VmmState::Destroyed, ChangeOutcome::SendToSled),    // shows Stopping
    (VmmState::SagaUnwound, ChangeOutcome::Err(400)),    // shows Failed
];

fn change_outcome(p: &InstanceAndVmm, requested: RequestedState) -> ChangeOutcome {
    match select_runtime_change_action(p, requested) {
        Ok(RuntimeChangeAction::AlreadyDone) => ChangeOutcome::AlreadyDone,
        Ok(RuntimeChangeAction::UpdateRuntime(new)) => {
            // The #6652 write: NoVmm, generation + 1, nothing else changed.
            assert_eq!(new.nexus_state, InstanceState::NoVmm);
            assert_eq!(new.gen, GEN.next());
            assert_eq!(new.propolis_id, None);
            assert_eq!(
                new.time_last_auto_restarted,
                p.instance.runtime.time_last_auto_restarted
            );
            ChangeOutcome::ToNoVmm
        }
        Ok(RuntimeChangeAction::SendToSled(v)) => {
            assert_eq!(Some(v), p.vmm.as_ref().map(|v| v.id));
            ChangeOutcome::SendToSled
        }
        Err(e) => ChangeOutcome::Err(e.status),
    }
}

/// What the document says for a pair the CHECK constraint allows.
fn change_doc(state: InstanceState, active: Option<VmmState>, r: usize) -> ChangeOutcome {
    match active {
        Some(v) => {
            assert_eq!(state, InstanceState::Vmm);
            WITH_VMM_ROWS
                .iter()
                .find(|(s, _)| *s == v)
                .expect("a row")
                .1
        }
        None => {
            NO_VMM_ROWS
                .iter()
                .find(|(s, _)| *s == state)
                .expect("a row")
                .1[r]
        }
    }
}

#[test]
fn select_runtime_change_action_every_pair_and_request() {
    let mut checked = 0;
    for state in INSTANCE_STATES {
        for active in std::iter::once(None).chain(VMM_STATES.into_iter().map(Some)) {
            if !check_allows(state, active) && (state, active) != (InstanceState::Vmm, None) {
                continue; // forbidden_pairs below
            }
            let p = iv(state, active);
            for (r, requested) in REQUESTS.into_iter().enumerate() {
                let want = change_doc(state, active, r);
                assert_eq!(
                    change_outcome(&p, requested),
                    want,
                    "{state} with VMM {active:?}, request {requested}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, (4 + 10 + 1) * 3);
}

/// The document's expectation for every row without a VMM.
#[test]
fn select_runtime_change_action_matches_the_document_exactly() {
    for (state, outcomes) in NO_VMM_ROWS {
        for (r, requested) in REQUESTS.into_iter().enumerate() {
            assert_eq!(
                change_outcome(&iv(state, None), requested),
                outcomes[r],
                "{state}, request {requested}"
            );
        }
    }
}

/// A non-`Vmm` instance with an active VMM (CHECK-forbidden, so the db
/// never returns one): the model decides from the VMM alone, SendToSled
/// unless it is SagaUnwound. omicron decides from the effective state,
/// which for these pairs is the instance's own: NoVmm (Stopped) and
/// Creating go to the sled whatever the VMM (SagaUnwound included);
/// Failed and Destroyed get 400. Pinned here as the model's behaviour;
/// harmless, as the pairs cannot occur.
#[test]
fn select_runtime_change_action_forbidden_pairs() {
    for state in [
        InstanceState::Creating,
        InstanceState::NoVmm,
        InstanceState::Failed,
        InstanceState::Destroyed,
    ] {
        for v in VMM_STATES {
            for requested in REQUESTS {
                let want = if v == VmmState::SagaUnwound {
                    ChangeOutcome::Err(400)
                } else {
                    ChangeOutcome::SendToSled
                };
                assert_eq!(
                    change_outcome(&iv(state, Some(v)), requested),
                    want,
                    "{state} with VMM {v}, request {requested}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// UpdatesRequired::for_instance (section 3.3)
// ---------------------------------------------------------------------------

/// The active VMM's state and what the update saga commits: `None` when it
/// is not terminal; otherwise the new nexus state and whether a Running
/// intent becomes GuestShutdown (only after a Destroyed VMM, and only in a
/// variant that tracks intent).
#[rustfmt::skip]
const UPDATE_ROWS: [(VmmState, Option<(InstanceState, bool)>); 10] = [
    (VmmState::Creating, None),
    (VmmState::Starting, None),
    (VmmState::Running, None),
    (VmmState::Stopping, None),
    (VmmState::Stopped, None),
    (VmmState::Rebooting, None),
    (VmmState::Migrating, None),
    (VmmState::Failed, Some((InstanceState::Failed, false))),     // intent unchanged
    (VmmState::Destroyed, Some((InstanceState::NoVmm, true))),    // Running → GuestShutdown
    (VmmState::SagaUnwound, None),                                // not terminal: reincarnation's job
];

#[test]
fn updates_required_every_vmm_state_intent_and_variant() {
    let now = Millis(99_000);
    let mut checked = 0;
    for variant in Variant::ALL {
        for intent in INTENTS {
            // No active VMM: nothing to do.
            for state in [InstanceState::NoVmm, InstanceState::Failed] {
                let mut p = iv(state, None);
                p.instance.intended_state = intent;
                assert_eq!(UpdatesRequired::for_instance(variant, &p, now), None);
            }
            for (vmm_state, want) in UPDATE_ROWS {
                let mut p = iv(InstanceState::Vmm, Some(vmm_state));
                p.instance.intended_state = intent;
                p.instance.runtime.time_last_auto_restarted = Some(Millis(42));
                let got = UpdatesRequired::for_instance(variant, &p, now);
                let ctx = format!("{variant}: VMM {vmm_state}, intent {intent}");
                match want {
                    None => assert_eq!(got, None, "{ctx}"),
                    Some((nexus_state, guest_shutdown)) => {
                        let got = got.unwrap_or_else(|| panic!("{ctx}: no update"));
                        let new_intent = (guest_shutdown
                            && variant.tracks_intent()
                            && intent == IntendedState::Running)
                            .then_some(IntendedState::GuestShutdown);
                        assert_eq!(
                            got,
                            UpdatesRequired {
                                new_runtime: InstanceRuntime {
                                    nexus_state,
                                    gen: GEN.next(),
                                    propolis_id: None,
                                    time_last_auto_restarted: Some(Millis(42)),
                                    time_updated: now,
                                },
                                new_intent,
                                destroy_vmm: VMM,
                            },
                            "{ctx}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3 * 4 * 10);
}

/// Fixed branch 13: a Destroyed VMM the sled agent reports it was asked to
/// stop (`stop_requested`) leaves the intent as it is, whatever the intent;
/// one without the flag still turns Running into GuestShutdown. Only a
/// `fixed` sled agent sets the flag, so the rows hold for every variant.
#[test]
fn updates_required_keeps_intent_after_a_requested_stop() {
    let now = Millis(99_000);
    for variant in Variant::ALL {
        for intent in INTENTS {
            for stop_requested in [false, true] {
                let mut p = iv(InstanceState::Vmm, Some(VmmState::Destroyed));
                p.instance.intended_state = intent;
                if let Some(v) = p.vmm.as_mut() {
                    v.runtime.stop_requested = stop_requested;
                }
                let got = UpdatesRequired::for_instance(variant, &p, now)
                    .unwrap_or_else(|| panic!("{variant}: a Destroyed VMM needs an update"));
                let want = (!stop_requested
                    && variant.tracks_intent()
                    && intent == IntendedState::Running)
                    .then_some(IntendedState::GuestShutdown);
                assert_eq!(
                    got.new_intent, want,
                    "{variant}: intent {intent}, stop_requested {stop_requested}"
                );
                assert_eq!(got.new_runtime.nexus_state, InstanceState::NoVmm);
            }
        }
    }
}
