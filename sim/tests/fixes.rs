//! omicron's fixes as switches (`model::fixes`): for each fix, a scenario on
//! which the model with the fix turned off gives the violation the
//! historical bug caused, and with the fix on does not. The mutants are
//! history, so these are the harness's mutation tests.
//!
//! A module of the `cases` binary (trials `fix/<id>`), not of `main`: the
//! cargo-mutants judge runs `cases` only, and a mutant that makes
//! `--without-fix` do nothing (`ModelConfig::has_fix -> true`) is caught
//! only here (issue 11's survivor triage, `mutants/README.md`).

use intent_sim::catalog;
use intent_sim::verdict::RunReport;
use libtest_mimic::{Failed, Trial};
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
    // #7282: without #7928 the sled agent forgets a VMM whose guest shut
    // itself down before Nexus heard of it; the watcher's 404 fails it and
    // reincarnation restarts the guest.
    Case {
        fix: Fix::PublishBeforeForget,
        scenario: "guest-shutdown-unrecorded-is-not-restarted",
        variant: Variant::Omicron,
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

fn run(case: &Case, without: &FixSet, seed: u64) -> Result<RunReport, Failed> {
    let s = catalog::find(case.scenario).map_err(|e| e.to_string())?;
    let (r, _) =
        catalog::run_without(&s, None, case.variant, without, seed).map_err(|e| e.to_string())?;
    Ok(r)
}

/// One trial per fix (`fix/<id>`: its bug fires with the fix off, seeds
/// 0..3, and holds with it on), and `fix/every-fix-has-a-case`.
pub fn trials() -> Vec<Trial> {
    let mut out = vec![Trial::test(
        "fix/every-fix-has-a-case",
        every_fix_has_a_case,
    )];
    for case in CASES {
        out.push(Trial::test(format!("fix/{}", case.fix.id()), move || {
            fires_with_its_fix_off_and_holds_with_it_on(case)
        }));
    }
    out
}

fn every_fix_has_a_case() -> Result<(), Failed> {
    match Fix::ALL
        .into_iter()
        .find(|fix| !CASES.iter().any(|c| c.fix == *fix))
    {
        Some(fix) => Err(format!("fix {fix} has no scenario that shows its bug").into()),
        None => Ok(()),
    }
}

fn fires_with_its_fix_off_and_holds_with_it_on(case: &Case) -> Result<(), Failed> {
    let without: FixSet = [case.fix].into_iter().collect();
    for seed in SEEDS {
        let off = run(case, &without, seed)?;
        if !off.fired().contains(case.checker) {
            return Err(format!(
                "{} seed {seed} {}: {} did not fire with {} off; fired {:?}",
                case.scenario,
                case.variant,
                case.checker,
                case.fix,
                off.fired()
            )
            .into());
        }
        if !off
            .repro_sim()
            .ends_with(&format!("--without-fix {}", case.fix.id()))
        {
            return Err(format!(
                "the repro line does not name the disabled fix: {}",
                off.repro_sim()
            )
            .into());
        }
        let on = run(case, &FixSet::none(), seed)?;
        if on.fired().contains(case.checker) {
            return Err(format!(
                "{} seed {seed} {}: {} fired with {} on",
                case.scenario, case.variant, case.checker, case.fix
            )
            .into());
        }
        if !on.matches_expectation() {
            return Err(format!(
                "{} seed {seed} {}: with every fix on the scenario is not as its file says: {:?}",
                case.scenario,
                case.variant,
                on.mismatch()
            )
            .into());
        }
    }
    Ok(())
}
