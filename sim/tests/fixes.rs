//! omicron's fixes as switches (`model::fixes`): for each fix, a scenario on
//! which the model with the fix turned off gives the violation the
//! historical bug caused, and with the fix on does not. The mutants are
//! history, so these are the harness's mutation tests. Some fixes have
//! further cases: another path the disabled fix's code takes (a sled's
//! error status rather than no answer), or a story the historical code
//! got right (no race, or a `fixed` branch that closes the same gap), so
//! that a fix turned off is judged on every branch it owns.
//!
//! A module of the `cases` binary (trials `fix/<id>/<scenario>/<variant>`),
//! not of `main`: the cargo-mutants judge runs `cases` only, and a mutant
//! that makes `--without-fix` do nothing (`ModelConfig::has_fix -> true`),
//! or breaks the code a disabled fix runs, is caught only here (issue 11's
//! survivor triage, `mutants/README.md`).

use intent_sim::verdict::RunReport;
use intent_sim::{catalog, trace};
use libtest_mimic::{Failed, Trial};
use model::fixes::{Fix, FixSet};
use model::variant::Variant;

/// What the run with the fix off must show.
enum Off {
    /// The historical bug: this checker fires.
    Fires(&'static str),
    /// The run is as the scenario's file says (its `violates`, its
    /// `must_reach`, its responses), as with the fix on: the story does
    /// not meet the bug.
    AsWritten,
}

/// A fix, the scenario that shows what the model does without it, the
/// variant it is shown in, what the run with the fix off must show, and
/// trace text that run must contain (the path taken only without the fix).
struct Case {
    fix: Fix,
    scenario: &'static str,
    variant: Variant,
    off: Off,
    off_reaches: &'static [&'static str],
    /// Trace text the run with the fix off may contain on at most this many
    /// lines (a retry loop's cadence).
    off_at_most: Option<(&'static str, usize)>,
}

const CASES: &[Case] = &[
    // #7326: reincarnation starts the record an unwinding create wrote
    // Failed; the delete then fails and the create saga is stuck.
    Case {
        fix: Fix::CreateUnwindSkipsFailed,
        scenario: "create-unwinds-through-failed",
        variant: Variant::Omicron,
        off: Off::Fires("sagas_settle"),
        off_reaches: &["CREATE_INSTANCE_RECORD (undo): Creating g1 intent=Running -> Failed g2"],
        off_at_most: None,
    },
    // The old undo without the race: a `never` instance is not
    // reincarnated while its record is Failed, so the delete succeeds and
    // the saga unwinds (the undo's success arm).
    Case {
        fix: Fix::CreateUnwindSkipsFailed,
        scenario: "create-unwinds-never-reincarnated",
        variant: Variant::Omicron,
        off: Off::AsWritten,
        off_reaches: &["ProjectDeleteInstance by instance-create"],
        off_at_most: None,
    },
    // #10166: the replayed LOCK_INSTANCE unwinds holding the lock; the
    // stop is never applied.
    Case {
        fix: Fix::LockInstanceRetries,
        scenario: "update-lock-replayed-after-db-error",
        variant: Variant::Omicron,
        off: Off::Fires("stop_intent_honored"),
        off_reaches: &[],
        off_at_most: None,
    },
    // #10801's twin of #10166, on BECOME_UPDATER.
    Case {
        fix: Fix::BecomeUpdaterRetries,
        scenario: "update-inherit-lock-replayed-after-db-error",
        variant: Variant::Omicron,
        off: Off::Fires("stop_intent_honored"),
        off_reaches: &[],
        off_at_most: None,
    },
    // #10784: the update saga retries the lock on a deleted instance for
    // ever, with the internal-service backoff (`retry_policy_internal_service`,
    // common/src/backoff.rs): 250 ms doubling to a cap of 180 s, so over
    // the story's ~21 virtual minutes it tries some 16 times, not once per
    // db round trip.
    Case {
        fix: Fix::LockGivesUpOnDeleted,
        scenario: "update-saga-outlives-its-instance",
        variant: Variant::Omicron,
        off: Off::Fires("sagas_settle"),
        off_reaches: &[
            "LOCK_INSTANCE: instance web is deleted; retry in 250ms",
            "LOCK_INSTANCE: instance web is deleted; retry in 500ms",
            "LOCK_INSTANCE: instance web is deleted; retry in 128000ms",
            "LOCK_INSTANCE: instance web is deleted; retry in 180000ms",
        ],
        off_at_most: Some(("LOCK_INSTANCE: instance web is deleted; retry in", 30)),
    },
    // #10784's loop retried only what was not "already locked": an update
    // saga that meets the lock held by another on a live instance gives up
    // (siu_lock_instance's try-lock) with the fix off as with it on.
    Case {
        fix: Fix::LockGivesUpOnDeleted,
        scenario: "update-saga-meets-held-lock",
        variant: Variant::Omicron,
        off: Off::AsWritten,
        off_reaches: &["intent=Stopped DROPPED (conflict)"],
        off_at_most: Some(("is deleted; retry in", 0)),
    },
    // #5235: a stop that could not reach the sled failed the instance,
    // which legacy then restarted, and its VMM was left running.
    Case {
        fix: Fix::OnlyVmmGoneFails,
        scenario: "sled-unreachable-during-stop",
        variant: Variant::Legacy,
        off: Off::Fires("no_unintended_restart"),
        off_reaches: &[],
        off_at_most: None,
    },
    // #5235's rule on a sled's error status: before RFD 486 any status but
    // 400 failed the VMM, so the stop's 500 fails the instance while the
    // sled still runs the VMM (leaked); legacy then restarts it.
    Case {
        fix: Fix::OnlyVmmGoneFails,
        scenario: "sled-error-does-not-fail-instance",
        variant: Variant::Legacy,
        off: Off::Fires("no_unintended_restart"),
        off_reaches: &["answers 500", "VmmUpdateRuntime by api"],
        off_at_most: None,
    },
    Case {
        fix: Fix::OnlyVmmGoneFails,
        scenario: "sled-error-does-not-fail-instance",
        variant: Variant::Omicron,
        off: Off::Fires("no_orphan_vmm"),
        off_reaches: &["answers 500", "VmmUpdateRuntime by api"],
        off_at_most: None,
    },
    // #7282: without #7928 the sled agent forgets a VMM whose guest shut
    // itself down before Nexus heard of it; the watcher's 404 fails it and
    // reincarnation restarts the guest.
    Case {
        fix: Fix::PublishBeforeForget,
        scenario: "guest-shutdown-unrecorded-is-not-restarted",
        variant: Variant::Omicron,
        off: Off::Fires("no_unintended_restart"),
        off_reaches: &[],
        off_at_most: None,
    },
    // The same without #7928 in `fixed`: branch 6 (the sled agent answers
    // the watcher's poll for the VMM it forgot with the Destroyed it is
    // still pushing) records the guest shutdown; nothing restarts it.
    Case {
        fix: Fix::PublishBeforeForget,
        scenario: "guest-shutdown-unrecorded-is-not-restarted",
        variant: Variant::Fixed,
        off: Off::AsWritten,
        off_reaches: &[
            "gone (Destroyed)",
            "instance_watcher web: vmm",
            " is Destroyed g",
        ],
        off_at_most: None,
    },
    // #6809: without the intended state, omicron restarts the instance a
    // stop failed.
    Case {
        fix: Fix::IntendedState,
        scenario: "stop-finds-vmm-gone",
        variant: Variant::Omicron,
        off: Off::Fires("no_unintended_restart"),
        off_reaches: &[],
        off_at_most: None,
    },
];

const SEEDS: std::ops::Range<u64> = 0..3;

fn run(case: &Case, without: &FixSet, seed: u64) -> Result<RunReport, Failed> {
    let s = catalog::find(case.scenario).map_err(|e| e.to_string())?;
    let (r, _) =
        catalog::run_without(&s, None, case.variant, without, seed).map_err(|e| e.to_string())?;
    Ok(r)
}

/// One trial per case (`fix/<id>/<scenario>/<variant>`: with the fix off,
/// seeds 0..3, its bug fires or the run is as written, as the case says;
/// with it on, the run is as written), and `fix/every-fix-has-a-case`.
pub fn trials() -> Vec<Trial> {
    let mut out = vec![Trial::test(
        "fix/every-fix-has-a-case",
        every_fix_has_a_case,
    )];
    for case in CASES {
        let name = format!("fix/{}/{}/{}", case.fix.id(), case.scenario, case.variant);
        out.push(Trial::test(name, move || off_and_on(case)));
    }
    out
}

fn every_fix_has_a_case() -> Result<(), Failed> {
    match Fix::ALL.into_iter().find(|fix| {
        !CASES
            .iter()
            .any(|c| c.fix == *fix && matches!(c.off, Off::Fires(_)))
    }) {
        Some(fix) => Err(format!("fix {fix} has no scenario that shows its bug").into()),
        None => Ok(()),
    }
}

fn off_and_on(case: &Case) -> Result<(), Failed> {
    let without: FixSet = [case.fix].into_iter().collect();
    let here = |seed: u64| format!("{} seed {seed} {}", case.scenario, case.variant);
    for seed in SEEDS {
        let off = run(case, &without, seed)?;
        match case.off {
            Off::Fires(checker) if !off.fired().contains(checker) => {
                return Err(format!(
                    "{}: {checker} did not fire with {} off; fired {:?}",
                    here(seed),
                    case.fix,
                    off.fired()
                )
                .into());
            }
            Off::Fires(_) => {}
            Off::AsWritten if !off.matches_expectation() => {
                return Err(format!(
                    "{}: with {} off the scenario is not as its file says: {:?}",
                    here(seed),
                    case.fix,
                    off.mismatch()
                )
                .into());
            }
            Off::AsWritten => {}
        }
        for text in case.off_reaches {
            if !off
                .records
                .iter()
                .any(|r| trace::render(r, &off.names).contains(text))
            {
                return Err(format!(
                    "{}: with {} off the trace never says {text:?}",
                    here(seed),
                    case.fix
                )
                .into());
            }
        }
        if let Some((text, most)) = case.off_at_most {
            let n = off
                .records
                .iter()
                .filter(|r| trace::render(r, &off.names).contains(text))
                .count();
            if n > most {
                return Err(format!(
                    "{}: with {} off the trace says {text:?} {n} times, at most {most} expected",
                    here(seed),
                    case.fix
                )
                .into());
            }
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
        if let Off::Fires(checker) = case.off {
            if on.fired().contains(checker) {
                return Err(format!("{}: {checker} fired with {} on", here(seed), case.fix).into());
            }
        }
        if !on.matches_expectation() {
            return Err(format!(
                "{}: with every fix on the scenario is not as its file says: {:?}",
                here(seed),
                on.mismatch()
            )
            .into());
        }
    }
    Ok(())
}
