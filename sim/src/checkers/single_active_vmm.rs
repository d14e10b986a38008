//! `single_active_vmm` (safety): never two VMMs of one instance present
//! (Starting, Running, Rebooting or Stopping) on sleds that are not lost.
//! Two VMMs of one instance mean two copies of the guest writing the same
//! disks: the worst thing a restart race can do. Judged on the sleds' own
//! reports, since the db may believe the old VMM is gone while its sled
//! still runs it.

use super::history::extend_unique;
use super::view::View;
use super::{Checker, Violation};
use crate::record::{Record, RecordKind};
use model::event::Event;
use model::ids::VmmId;
use std::collections::BTreeSet;

pub const NAME: &str = "single_active_vmm";

#[derive(Debug, Default)]
pub struct SingleActiveVmm {
    /// Pairs already reported, so one overlap is one violation.
    reported: BTreeSet<(VmmId, VmmId)>,
}

impl SingleActiveVmm {
    pub fn new() -> SingleActiveVmm {
        SingleActiveVmm::default()
    }
}

impl Checker for SingleActiveVmm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, record: &Record, view: &View, out: &mut Vec<Violation>) {
        let RecordKind::Model(Event::VmmOnSled { instance, vmm, .. }) = &record.kind else {
            return;
        };
        let present = view.sleds().present_of(*instance);
        if !present.iter().any(|(_, v, _)| v == vmm) {
            return;
        }
        for (sled, other, o) in &present {
            if other == vmm {
                continue;
            }
            let pair = ((*vmm).min(*other), (*vmm).max(*other));
            if !self.reported.insert(pair) {
                continue;
            }
            let mut evidence = vec![o.line, view.requests().line()];
            extend_unique(&mut evidence, view.requests().history(*instance, 12));
            let leak = view
                .sleds()
                .upstream_leak(*other)
                .or_else(|| view.sleds().upstream_leak(*vmm));
            let mechanism = match leak {
                Some(leak) => format!("two VMMs present, one {leak}"),
                None => "two VMMs present".to_string(),
            };
            out.push(Violation {
                checker: NAME,
                mechanism,
                instance: Some(*instance),
                at: record.at,
                message: format!(
                    "{instance} has VMM {vmm} present while VMM {other} is still {} on {sled}",
                    o.state
                ),
                evidence,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use crate::record::Fault;
    use model::event::{ApiOp, VmmGoneReason};
    use model::ids::{HostId, SledId};
    use model::states::{StartReason, VmmState};

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut SingleActiveVmm::new())
    }

    /// The watcher fails a VMM on a sled that is merely unreachable, and
    /// reincarnation starts a second copy on another sled while the first
    /// still runs.
    /// A start saga resumed after a Nexus crash registers its VMM after
    /// the user's stop ended that VMM's record (omicron's
    /// sis_ensure_registered checks nothing first): a signature of its own,
    /// distinct from a VMM that was present all along.
    #[test]
    fn names_a_vmm_registered_after_its_record_ended() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let old = s.active_vmm(id);
        s.forget(id);
        s.watcher_fails_vmm(id);
        s.sled_state(old, VmmState::Starting);
        s.sled = SledId(1);
        s.reincarnate(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "two VMMs present, one registered after Nexus gave up on it"
        );
    }

    #[test]
    fn fires_when_the_old_vmm_still_runs() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.watcher_fails_vmm(id);
        s.sled = SledId(1);
        s.reincarnate(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "two VMMs present");
        assert!(v[0].evidence.len() >= 2);
    }

    #[test]
    fn quiet_when_the_old_vmm_is_gone() {
        let (mut s, id) = Story::answered_503_vmm_gone(ApiOp::Reboot, None);
        s.sled = SledId(1);
        s.reincarnate(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn quiet_after_the_sled_restarted_or_was_lost() {
        for fault in [
            Fault::Restart {
                host: HostId::Sled(SledId(0)),
            },
            Fault::LoseSled { sled: SledId(0) },
        ] {
            let mut s = Story::new();
            let (id, _) = s.create("web", true, None);
            s.fault(fault);
            s.watcher_fails_vmm(id);
            s.sled = SledId(1);
            s.reincarnate(id);
            assert!(check(&s).is_empty(), "{}", s.trace());
        }
    }

    #[test]
    fn quiet_when_the_old_vmm_is_destroyed_but_not_yet_gone() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let old = s.row(id).runtime.propolis_id.unwrap();
        s.sled_state(old, VmmState::Stopping);
        s.watcher_fails_vmm(id);
        // The old VMM reaches Destroyed before the new one starts; its
        // table entry lingers until torn down.
        let row = s.db.vmm(old).unwrap().clone();
        s.model(
            HostId::Sled(row.sled_id),
            Event::VmmOnSled {
                sled: row.sled_id,
                vmm: old,
                instance: id,
                state: VmmState::Destroyed,
                gen: model::states::Generation(10),
            },
        );
        s.sled = SledId(1);
        s.start_saga(id, StartReason::AutoRestart);
        s.vmm_gone(old, VmmGoneReason::Destroyed);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }
}
