//! omicron's fixes as switches: the upstream fixes the model embodies, each
//! one named branch that a run may turn off to replay the bug it closed.
//!
//! Why: a fix the model can turn off is a mutation test whose mutant is
//! history. With a fix off, the harness must report the violation the
//! historical bug caused (`sim/tests/fixes.rs` asserts it, fix by fix).
//!
//! Every variant embodies every fix; a run turns fixes off with a
//! [`FixSet`] in its [`crate::config::ModelConfig`]. PR #8053 is itself a
//! fix: with it off, a variant behaves as `legacy` (its branch is
//! [`crate::config::ModelConfig::intent_variant`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// One upstream omicron fix the model embodies.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum Fix {
    /// PR #7437 (issue #7326): the create saga's record undo deletes the
    /// record while it is still `Creating`. Before it, the undo first wrote
    /// the instance `Failed` (so that `project_delete_instance` would take
    /// it), and `instance_reincarnation` could start it in between.
    /// Branch: `sic_create_instance_record_undo`
    /// (`nexus/src/app/sagas/instance_create.rs`).
    CreateUnwindSkipsFailed,
    /// PR #10177 (issue #10166): `LOCK_INSTANCE` retries transient db
    /// errors for ever. Before it, a db error failed the node; a replay
    /// after a crash that had already locked the instance then unwound
    /// without its undo, leaving the instance locked for ever.
    /// Branch: `siu_lock_instance`
    /// (`nexus/src/app/sagas/instance_update/start.rs`).
    LockInstanceRetries,
    /// PR #10801: `BECOME_UPDATER`'s twin of #10177 (inheriting the lock
    /// retries transient db errors for ever).
    /// Branch: `siu_become_updater`
    /// (`nexus/src/app/sagas/instance_update/mod.rs`).
    BecomeUpdaterRetries,
    /// PR #10785 (issue #10784): `LOCK_INSTANCE` gives up when the instance
    /// was deleted. Before it, the #10177 retry loop retried the lock on a
    /// deleted instance for ever and the update saga never ended.
    /// Branch: `siu_lock_instance`
    /// (`nexus/src/app/sagas/instance_update/start.rs`).
    LockGivesUpOnDeleted,
    /// RFD 486 / PR #6455 (issue #5235): only a sled agent's 404
    /// `NO_SUCH_INSTANCE` fails an instance. Before it, any sled-agent
    /// error (a timeout, an unreachable sled) on a state change marked the
    /// instance Failed. Branch: `Request::request_state`
    /// (`nexus/src/app/instance.rs`, `instance_request_state`).
    OnlyVmmGoneFails,
    /// PR #7928: the sled agent publishes a halted VMM's final `Destroyed`
    /// before it forgets the VMM, and answers polls with that state until
    /// Nexus acknowledged the push. Before it, the VMM left the table as it
    /// halted, so an `instance_watcher` poll landing before the push got
    /// 404 `NO_SUCH_INSTANCE` and failed a VMM that stopped cleanly (#7282's
    /// mechanism: a guest that shut itself down was restarted).
    /// Branch: `SledAgentConfig::publish_before_forget`
    /// (`sled-agent/src/instance.rs`, the instance runner's exit).
    PublishBeforeForget,
    /// PR #8053 (issue #6809): the instance's intended state. Off, every
    /// variant behaves as `legacy`. Branch:
    /// [`crate::config::ModelConfig::intent_variant`].
    IntendedState,
}

impl Fix {
    /// Every fix, in the order `cargo sim fixes` lists them.
    pub const ALL: [Fix; 7] = [
        Fix::CreateUnwindSkipsFailed,
        Fix::LockInstanceRetries,
        Fix::BecomeUpdaterRetries,
        Fix::LockGivesUpOnDeleted,
        Fix::OnlyVmmGoneFails,
        Fix::PublishBeforeForget,
        Fix::IntendedState,
    ];

    /// The id a command line names it by: omicron's PR number.
    pub fn id(self) -> &'static str {
        match self {
            Fix::CreateUnwindSkipsFailed => "7437",
            Fix::LockInstanceRetries => "10177",
            Fix::BecomeUpdaterRetries => "10801",
            Fix::LockGivesUpOnDeleted => "10785",
            Fix::OnlyVmmGoneFails => "6455",
            Fix::PublishBeforeForget => "7928",
            Fix::IntendedState => "8053",
        }
    }

    /// One line: what the fix does.
    pub fn what(self) -> &'static str {
        match self {
            Fix::CreateUnwindSkipsFailed => {
                "an unwinding create deletes its Creating record without passing through Failed"
            }
            Fix::LockInstanceRetries => {
                "LOCK_INSTANCE retries db errors, so a replay never unwinds holding the lock"
            }
            Fix::BecomeUpdaterRetries => {
                "BECOME_UPDATER retries db errors, so a replay never unwinds holding the lock"
            }
            Fix::LockGivesUpOnDeleted => {
                "LOCK_INSTANCE gives up on a deleted instance instead of retrying for ever"
            }
            Fix::OnlyVmmGoneFails => {
                "only NO_SUCH_INSTANCE fails an instance; a timed-out stop does not"
            }
            Fix::PublishBeforeForget => {
                "a sled agent publishes Destroyed before it forgets the VMM, so no poll finds it gone"
            }
            Fix::IntendedState => {
                "the intended state: reincarnation restarts only instances meant to run"
            }
        }
    }

    /// The omicron change and the bug it closed.
    pub fn reference(self) -> &'static str {
        match self {
            Fix::CreateUnwindSkipsFailed => "PR #7437, issue #7326 (sagas/instance_create.rs)",
            Fix::LockInstanceRetries => "PR #10177, issue #10166 (sagas/instance_update/start.rs)",
            Fix::BecomeUpdaterRetries => "PR #10801 (sagas/instance_update/mod.rs)",
            Fix::LockGivesUpOnDeleted => "PR #10785, issue #10784 (sagas/instance_update/start.rs)",
            Fix::OnlyVmmGoneFails => "RFD 486, PR #6455, issue #5235 (app/instance.rs)",
            Fix::PublishBeforeForget => "PR #7928, issue #7282 (sled-agent/src/instance.rs)",
            Fix::IntendedState => "PR #8053, issue #6809 (app/instance.rs, db-model/instance.rs)",
        }
    }

    /// The fix with id `id`.
    pub fn parse(id: &str) -> Option<Fix> {
        let id = id.trim_start_matches('#');
        Fix::ALL.into_iter().find(|f| f.id() == id)
    }
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.id())
    }
}

/// The fixes a run turns off. Ordered, so it prints and hashes the same way
/// every time.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub struct FixSet(BTreeSet<Fix>);

impl FixSet {
    /// No fix turned off: omicron as it is.
    pub fn none() -> FixSet {
        FixSet::default()
    }

    /// Whether `fix` is turned off.
    pub fn is_disabled(&self, fix: Fix) -> bool {
        self.0.contains(&fix)
    }

    /// Whether no fix is turned off.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fixes turned off, in order.
    pub fn iter(&self) -> impl Iterator<Item = Fix> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Fix> for FixSet {
    fn from_iter<I: IntoIterator<Item = Fix>>(iter: I) -> FixSet {
        FixSet(iter.into_iter().collect())
    }
}

/// `--without-fix 7437 --without-fix 10177`, or nothing when none is off.
impl fmt::Display for FixSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for fix in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "--without-fix {}", fix.id())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_parse_back() {
        for fix in Fix::ALL {
            assert_eq!(Fix::parse(fix.id()), Some(fix));
            assert_eq!(Fix::parse(&format!("#{}", fix.id())), Some(fix));
        }
        let ids: BTreeSet<&str> = Fix::ALL.iter().map(|f| f.id()).collect();
        assert_eq!(ids.len(), Fix::ALL.len());
        assert_eq!(Fix::parse("1234"), None);
    }

    /// The ids are omicron's PR numbers, each the one its reference cites.
    #[test]
    fn ids_are_the_omicron_pull_requests() {
        let ids: Vec<(Fix, &str)> = Fix::ALL.iter().map(|&f| (f, f.id())).collect();
        assert_eq!(
            ids,
            [
                (Fix::CreateUnwindSkipsFailed, "7437"),
                (Fix::LockInstanceRetries, "10177"),
                (Fix::BecomeUpdaterRetries, "10801"),
                (Fix::LockGivesUpOnDeleted, "10785"),
                (Fix::OnlyVmmGoneFails, "6455"),
                (Fix::PublishBeforeForget, "7928"),
                (Fix::IntendedState, "8053"),
            ]
        );
        for fix in Fix::ALL {
            let pr = format!("PR #{}", fix.id());
            assert!(
                fix.reference().contains(&pr),
                "{fix:?}: {}",
                fix.reference()
            );
            assert_eq!(fix.to_string(), format!("#{}", fix.id()));
        }
    }

    /// The set prints as the command-line flags that replay it: nothing,
    /// one flag, or flags in the fixes' order joined by one space.
    #[test]
    fn set_prints_in_order() {
        assert_eq!(FixSet::none().to_string(), "");
        let one: FixSet = [Fix::LockInstanceRetries].into_iter().collect();
        assert_eq!(one.to_string(), "--without-fix 10177");
        let set: FixSet = [Fix::IntendedState, Fix::CreateUnwindSkipsFailed]
            .into_iter()
            .collect();
        assert_eq!(set.to_string(), "--without-fix 7437 --without-fix 8053");
    }
}
