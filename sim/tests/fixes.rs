//! omicron's fixes as switches (`model::fixes`): for each fix, a scenario on
//! which the model with the fix turned off gives the violation the
//! historical bug caused, and with the fix on does not. The mutants are
//! history, so these are the harness's mutation tests.

use intent_sim::catalog;
use intent_sim::verdict::RunReport;
use model::fixes::{Fix, FixSet};
use model::variant::Variant;

/// A fix, the scenario that shows its bug, the variant it is shown in, and
/// the checker that must fire with the fix off.
struct Case {
    fix: Fix,
    scenario: &'static str,
    variant: Variant,
    checker: &'static str,
}

const CASES: &[Case] = &[
    // #7326: reincarnation starts the record an unwinding create wrote
    // Failed; the delete then fails and the create saga is stuck.
    Case {
        fix: Fix::CreateUnwindSkipsFailed,
        scenario: "create-unwinds-through-failed",
        variant: Variant::Omicron,
        checker: "sagas_settle",
    },
    // #10166: the replayed LOCK_INSTANCE unwinds holding the lock; the
    // stop is never applied.
    Case {
        fix: Fix::LockInstanceRetries,
        scenario: "update-lock-replayed-after-db-error",
        variant: Variant::Omicron,
        checker: "stop_intent_honored",
    },
    // #10801's twin of #10166, on BECOME_UPDATER.
    Case {
        fix: Fix::BecomeUpdaterRetries,
        scenario: "update-inherit-lock-replayed-after-db-error",
        variant: Variant::Omicron,
        checker: "stop_intent_honored",
    },
    // #10784: the update saga retries the lock on a deleted instance for
    // ever.
    Case {
        fix: Fix::LockGivesUpOnDeleted,
        scenario: "update-saga-outlives-its-instance",
        variant: Variant::Omicron,
        checker: "sagas_settle",
    },
    // #5235: a stop that could not reach the sled failed the instance,
    // which legacy then restarted, and its VMM was left running.
    Case {
        fix: Fix::OnlyVmmGoneFails,
        scenario: "sled-unreachable-during-stop",
        variant: Variant::Legacy,
        checker: "no_unintended_restart",
    },
    // #6809: without the intended state, omicron restarts the instance a
    // stop failed.
    Case {
        fix: Fix::IntendedState,
        scenario: "stop-finds-vmm-gone",
        variant: Variant::Omicron,
        checker: "no_unintended_restart",
    },
];

const SEEDS: std::ops::Range<u64> = 0..3;

fn run(case: &Case, without: &FixSet, seed: u64) -> RunReport {
    let s = catalog::find(case.scenario).expect("the scenario exists");
    let (r, _) = catalog::run_without(&s, None, case.variant, without, seed).expect("it runs");
    r
}

#[test]
fn every_fix_has_a_case() {
    for fix in Fix::ALL {
        assert!(
            CASES.iter().any(|c| c.fix == fix),
            "fix {fix} has no scenario that shows its bug"
        );
    }
}

#[test]
fn each_bug_fires_with_its_fix_off_and_holds_with_it_on() {
    for case in CASES {
        let without: FixSet = [case.fix].into_iter().collect();
        for seed in SEEDS {
            let off = run(case, &without, seed);
            assert!(
                off.fired().contains(case.checker),
                "{} seed {seed} {}: {} did not fire with {} off; fired {:?}",
                case.scenario,
                case.variant,
                case.checker,
                case.fix,
                off.fired()
            );
            assert!(
                off.repro_sim()
                    .ends_with(&format!("--without-fix {}", case.fix.id())),
                "the repro line names the disabled fix: {}",
                off.repro_sim()
            );
            let on = run(case, &FixSet::none(), seed);
            assert!(
                !on.fired().contains(case.checker),
                "{} seed {seed} {}: {} fired with {} on",
                case.scenario,
                case.variant,
                case.checker,
                case.fix
            );
            assert!(
                on.matches_expectation(),
                "{} seed {seed} {}: with every fix on the scenario is as its file says: {:?}",
                case.scenario,
                case.variant,
                on.mismatch()
            );
        }
    }
}
