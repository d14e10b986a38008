//! `updater_lock_exclusive` (safety): the instance-updater lock
//! (`updater_id`, `updater_gen`) has one holder at a time, and only its
//! holder commits an update.
//!
//! The lock is what makes update sagas mutually exclusive
//! (`instance_updater_lock`, `instance_updater_inherit_lock`,
//! `instance_commit_update` in nexus/db-queries/src/db/datastore/instance.rs;
//! nexus/src/app/sagas/instance_update/mod.rs). Generations keep a second
//! updater's stale commit from landing, so a broken lock may do no harm in
//! a given run, which is why it is judged on its own: from the db's
//! history of applied writes (each carries its row before and after):
//!
//! - `LOCK_INSTANCE`'s try-lock takes a free lock: an applied
//!   `InstanceUpdaterLock` whose row was held by another lock passed the
//!   lock from one holder to another with no release;
//! - `BECOME_UPDATER` inherits the lock of the `start-instance-update` saga
//!   that started it: an applied `InstanceUpdaterInheritLock` must find the
//!   lock held, by a lock a `LOCK_INSTANCE` took (not one another
//!   `instance-update` saga inherited). The history does not name a child's
//!   parent, so this is as close as the records let it judge;
//! - `COMMIT_INSTANCE_UPDATES` commits (and releases) only the lock its own
//!   saga holds: an applied `InstanceCommitUpdate` whose row was not held by
//!   the lock that saga took, or by a saga that never took one.
//!
//! A replayed lock or inherit that finds its own lock is no write at all
//! (the db answers `true`), and a dropped write is the CAS working; neither
//! is judged.

use super::history::Seq;
use super::view::View;
use super::{Checker, Violation};
use crate::record::{Record, RecordKind};
use model::event::{Cause, Event, Query, WriteOutcome};
use model::ids::{InstanceId, LockId, SagaId};
use std::collections::BTreeMap;

/// The checker's name, as scenario files and verdicts write it.
pub const NAME: &str = "updater_lock_exclusive";

/// How a lock was taken.
#[derive(Clone, Copy, Debug)]
struct Taken {
    query: Query,
    line: Seq,
}

/// The checker: which write took each lock, and which lock each saga took.
#[derive(Debug, Default)]
pub struct UpdaterLockExclusive {
    /// Each lock id, by the applied write that took it.
    taken: BTreeMap<LockId, Taken>,
    /// The lock each saga took (its `LOCK_INSTANCE` or `BECOME_UPDATER`).
    lock_of: BTreeMap<SagaId, LockId>,
}

impl UpdaterLockExclusive {
    /// A checker that has seen no record.
    pub fn new() -> UpdaterLockExclusive {
        UpdaterLockExclusive::default()
    }

    /// The line that took `lock` (or this one, if the history does not
    /// show it), then this one.
    fn evidence(&self, lock: Option<LockId>, line: Seq) -> Vec<Seq> {
        let mut ev: Vec<Seq> = lock
            .and_then(|l| self.taken.get(&l))
            .map(|t| t.line)
            .into_iter()
            .collect();
        ev.push(line);
        ev
    }
}

fn violation(
    record: &Record,
    mechanism: &str,
    instance: InstanceId,
    message: String,
    evidence: Vec<Seq>,
) -> Violation {
    Violation {
        checker: NAME,
        mechanism: mechanism.to_string(),
        instance: Some(instance),
        at: record.at,
        message,
        evidence,
    }
}

impl Checker for UpdaterLockExclusive {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, record: &Record, view: &View, out: &mut Vec<Violation>) {
        let RecordKind::Model(Event::InstanceWrite {
            query,
            cause,
            outcome: WriteOutcome::Applied,
            before: Some(before),
            after: Some(after),
        }) = &record.kind
        else {
            return;
        };
        let line = view.seq();
        let id = after.id;
        let held = before.updater_id;
        let saga = match cause {
            Cause::Saga { saga, .. } => Some(*saga),
            Cause::Api { .. }
            | Cause::Task { .. }
            | Cause::SledPush { .. }
            | Cause::SchemaUpdate { .. } => None,
        };
        match query {
            Query::InstanceUpdaterLock => {
                if let Some(h) = held.filter(|h| Some(*h) != after.updater_id) {
                    out.push(violation(
                        record,
                        "lock taken while another holder had it",
                        id,
                        format!(
                            "LOCK_INSTANCE took the updater lock of {id} as {} while {h} held it, with no release in between",
                            after.updater_id.map(|l| l.to_string()).unwrap_or_default()
                        ),
                        self.evidence(Some(h), line),
                    ));
                }
            }
            Query::InstanceUpdaterInheritLock => match held {
                None => out.push(violation(
                    record,
                    "lock inherited while nobody held it",
                    id,
                    format!("BECOME_UPDATER inherited the updater lock of {id}, which nobody held"),
                    vec![line],
                )),
                Some(h) => {
                    if let Some(t) = self
                        .taken
                        .get(&h)
                        .filter(|t| t.query != Query::InstanceUpdaterLock)
                    {
                        out.push(violation(
                            record,
                            "lock inherited from a holder that is no parent",
                            id,
                            format!(
                                "BECOME_UPDATER took the updater lock of {id} from {h}, which an instance-update saga held ({:?}), not the start-instance-update saga that hands it on",
                                t.query
                            ),
                            self.evidence(Some(h), line),
                        ));
                    }
                }
            },
            Query::InstanceCommitUpdate => {
                let mine = saga.and_then(|s| self.lock_of.get(&s).copied());
                if mine.is_none() || held != mine {
                    let holder = match held {
                        Some(h) => format!("{h} held it"),
                        None => "nobody held it".to_string(),
                    };
                    let own = match mine {
                        Some(l) => format!("its saga's lock is {l}"),
                        None => "its saga never took the lock".to_string(),
                    };
                    let mut evidence = self.evidence(mine, line);
                    if let Some(t) = held.and_then(|h| self.taken.get(&h)) {
                        if !evidence.contains(&t.line) {
                            evidence.insert(evidence.len() - 1, t.line);
                        }
                    }
                    out.push(violation(
                        record,
                        "update committed without holding the lock",
                        id,
                        format!("COMMIT_INSTANCE_UPDATES committed {id} while {holder} ({own})"),
                        evidence,
                    ));
                }
            }
            _ => {}
        }
        if matches!(
            query,
            Query::InstanceUpdaterLock | Query::InstanceUpdaterInheritLock
        ) {
            if let Some(l) = after.updater_id.filter(|l| Some(*l) != held) {
                self.taken.insert(
                    l,
                    Taken {
                        query: *query,
                        line,
                    },
                );
                if let Some(s) = saga {
                    self.lock_of.insert(s, l);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use model::db::protocol::DbRequest;
    use model::db::rows::{InstanceRow, SagaName};
    use model::ids::HostId;
    use model::states::InstanceState;

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut UpdaterLockExclusive::new())
    }

    /// A write as a db without the CAS would have applied it.
    fn applied(
        s: &mut Story,
        id: InstanceId,
        query: Query,
        cause: Cause,
        f: impl FnOnce(&mut InstanceRow),
    ) {
        let before = s.row(id);
        let mut after = before.clone();
        f(&mut after);
        s.model(
            HostId::Db,
            Event::InstanceWrite {
                query,
                cause,
                outcome: WriteOutcome::Applied,
                before: Some(Box::new(before)),
                after: Some(Box::new(after)),
            },
        );
    }

    /// The real protocol: a start-instance-update saga locks, its child
    /// inherits and commits; a second try-lock while it is held is
    /// refused (no applied write). Also the checkers' usual lifecycles.
    #[test]
    fn quiet_on_the_lock_handed_from_parent_to_child() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let (parent, child) = (
            s.saga(SagaName::StartInstanceUpdate, id, None),
            s.saga(SagaName::InstanceUpdate, id, None),
        );
        let (pl, cl) = (LockId(0x900), LockId(0x901));
        s.db(
            Story::cause(parent, SagaName::StartInstanceUpdate, "LOCK_INSTANCE"),
            DbRequest::InstanceUpdaterLock { id, lock: pl },
        );
        // Another updater's try-lock: the CAS refuses it.
        let other = s.saga(SagaName::StartInstanceUpdate, id, None);
        s.db(
            Story::cause(other, SagaName::StartInstanceUpdate, "LOCK_INSTANCE"),
            DbRequest::InstanceUpdaterLock {
                id,
                lock: LockId(0x902),
            },
        );
        s.db(
            Story::cause(child, SagaName::InstanceUpdate, "BECOME_UPDATER"),
            DbRequest::InstanceUpdaterInheritLock {
                id,
                parent: pl,
                child: cl,
            },
        );
        let mut rt = s.row(id).runtime;
        rt.gen = rt.gen.next();
        s.db(
            Story::cause(child, SagaName::InstanceUpdate, "COMMIT_INSTANCE_UPDATES"),
            DbRequest::InstanceCommitUpdate {
                id,
                lock: cl,
                new: rt,
                new_intent: None,
            },
        );
        assert!(s.trace().contains("DROPPED (conflict)"), "{}", s.trace());
        // The testkit's update sagas (lock, commit) on another instance.
        let (other, _) = s.create("db", true, None);
        s.guest_shutdown(other);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// `db-lock-cas-ignores-holder`: a second try-lock lands while the
    /// first saga holds the lock.
    #[test]
    fn fires_when_the_lock_is_taken_while_held() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let first = s.saga(SagaName::StartInstanceUpdate, id, None);
        s.db(
            Story::cause(first, SagaName::StartInstanceUpdate, "LOCK_INSTANCE"),
            DbRequest::InstanceUpdaterLock {
                id,
                lock: LockId(0x900),
            },
        );
        let second = s.saga(SagaName::StartInstanceUpdate, id, None);
        applied(
            &mut s,
            id,
            Query::InstanceUpdaterLock,
            Story::cause(second, SagaName::StartInstanceUpdate, "LOCK_INSTANCE"),
            |r| {
                r.updater_id = Some(LockId(0x902));
                r.updater_gen = r.updater_gen.next();
            },
        );
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "lock taken while another holder had it");
        let ev = s.evidence(&v[0]);
        assert!(ev[0].contains("InstanceUpdaterLock"), "{ev:?}");
        assert!(ev[0].contains(&first.to_string()), "{ev:?}");
        assert!(ev[1].contains(&second.to_string()), "{ev:?}");
    }

    /// `db-commit-ignores-lock`: a commit lands while another saga holds
    /// the lock.
    #[test]
    fn fires_when_a_commit_lands_without_the_lock() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let (holder, loser) = (
            s.saga(SagaName::InstanceUpdate, id, None),
            s.saga(SagaName::InstanceUpdate, id, None),
        );
        s.db(
            Story::cause(holder, SagaName::InstanceUpdate, "BECOME_UPDATER"),
            DbRequest::InstanceUpdaterLock {
                id,
                lock: LockId(0x900),
            },
        );
        applied(
            &mut s,
            id,
            Query::InstanceCommitUpdate,
            Story::cause(loser, SagaName::InstanceUpdate, "COMMIT_INSTANCE_UPDATES"),
            |r| {
                r.runtime.gen = r.runtime.gen.next();
                r.runtime.nexus_state = InstanceState::Failed;
                r.runtime.propolis_id = None;
                r.updater_id = None;
                r.updater_gen = r.updater_gen.next();
            },
        );
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "update committed without holding the lock");
        assert!(
            v[0].message.contains("never took the lock"),
            "{}",
            v[0].message
        );
        assert!(s.evidence(&v[0])[0].contains("InstanceUpdaterLock"));
    }

    /// An inherit that finds the lock free, or held by a lock another
    /// instance-update saga inherited (not a parent's).
    #[test]
    fn fires_when_the_lock_is_inherited_from_no_parent() {
        for held_by_child in [false, true] {
            let mut s = Story::new();
            let (id, _) = s.create("web", true, None);
            if held_by_child {
                let parent = s.saga(SagaName::StartInstanceUpdate, id, None);
                let first = s.saga(SagaName::InstanceUpdate, id, None);
                s.db(
                    Story::cause(parent, SagaName::StartInstanceUpdate, "LOCK_INSTANCE"),
                    DbRequest::InstanceUpdaterLock {
                        id,
                        lock: LockId(0x900),
                    },
                );
                s.db(
                    Story::cause(first, SagaName::InstanceUpdate, "BECOME_UPDATER"),
                    DbRequest::InstanceUpdaterInheritLock {
                        id,
                        parent: LockId(0x900),
                        child: LockId(0x901),
                    },
                );
            }
            let c = s.saga(SagaName::InstanceUpdate, id, None);
            applied(
                &mut s,
                id,
                Query::InstanceUpdaterInheritLock,
                Story::cause(c, SagaName::InstanceUpdate, "BECOME_UPDATER"),
                |r| r.updater_id = Some(LockId(0x903)),
            );
            let v = check(&s);
            let want = if held_by_child {
                "lock inherited from a holder that is no parent"
            } else {
                "lock inherited while nobody held it"
            };
            let got: Vec<&str> = v.iter().map(|v| v.mechanism.as_str()).collect();
            assert_eq!(got, [want], "{}", s.trace());
        }
    }
}
