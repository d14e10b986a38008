//! `no_orphan_vmm` (liveness): at the end, no VMM runs on an up sled unless
//! it is its instance's active VMM.
//!
//! The ground truth is the sled agents' own reports, not the db: an orphan
//! is exactly a guest Nexus no longer points at (its record ended, was
//! marked SagaUnwound, or another VMM became active) while a sled still
//! runs it. Nothing in the control plane will ever stop such a guest — the
//! watcher only polls active VMMs, the reaper only deletes records — so a
//! user who stopped, restarted or deleted the instance still has a guest
//! running (and paying for it). This checker has no known-upstream mechanism
//! to hide behind: whatever left the orphan, the guest runs.

use super::history::extend_unique;
use super::sleds::is_present_state;
use super::view::View;
use super::{Checker, FinalState, Violation};

pub const NAME: &str = "no_orphan_vmm";

#[derive(Debug, Default)]
pub struct NoOrphanVmm {}

impl NoOrphanVmm {
    pub fn new() -> NoOrphanVmm {
        NoOrphanVmm::default()
    }
}

impl Checker for NoOrphanVmm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn finish(&mut self, view: &View, end: &FinalState<'_>, out: &mut Vec<Violation>) {
        for (sled, vmm, on) in view.sleds().all() {
            if !end.sleds_up.contains(&sled) || !is_present_state(on.state) {
                continue;
            }
            let active = end
                .db
                .instance(on.instance)
                .and_then(|i| i.runtime.propolis_id);
            if active == Some(vmm) {
                continue;
            }
            let mechanism = match view.sleds().upstream_leak(vmm) {
                Some(leak) => format!("orphan VMM {leak}"),
                None => "orphan VMM".to_string(),
            };
            let pointed = match active {
                Some(a) => format!("the instance's active VMM is {a}"),
                None => "the instance has no active VMM".to_string(),
            };
            let mut evidence = vec![on.line];
            extend_unique(&mut evidence, view.requests().history(on.instance, 12));
            out.push(Violation {
                checker: NAME,
                mechanism,
                instance: Some(on.instance),
                at: end.at,
                message: format!(
                    "{sled} runs VMM {vmm} of {} ({}), but {pointed}: nothing will ever stop it",
                    on.instance, on.state
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
    use model::ids::{HostId, SledId};
    use model::states::StartReason;

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut NoOrphanVmm::new())
    }

    #[test]
    fn quiet_on_a_whole_lifecycle() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.guest_shutdown(id);
        s.start_saga(id, StartReason::User);
        s.stop(id, 202);
        s.create("db", true, None);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// Nexus failed the VMM and the update saga ended its record while the
    /// sled still runs it: an orphan guest.
    #[test]
    fn fires_on_a_running_vmm_nexus_gave_up_on() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.watcher_fails_vmm(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "orphan VMM");
        assert!(s.evidence(&v[0])[0].contains("sled-0 vmm"), "{:?}", v[0]);
        assert!(v[0].message.contains("no active VMM"), "{}", v[0].message);
    }

    #[test]
    fn quiet_when_that_sled_restarted_or_was_lost() {
        for f in [
            Fault::Restart {
                host: HostId::Sled(SledId(0)),
            },
            Fault::LoseSled { sled: SledId(0) },
        ] {
            let mut s = Story::new();
            let (id, _) = s.create("web", true, None);
            s.fault(f);
            s.watcher_fails_vmm(id);
            assert!(check(&s).is_empty(), "{}", s.trace());
        }
    }

    /// A sled that is down at the end (crashed, not lost) runs nothing.
    #[test]
    fn quiet_for_a_sled_not_up_at_the_end() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.watcher_fails_vmm(id);
        s.sleds_up.remove(&SledId(0));
        assert!(check(&s).is_empty(), "{}", s.trace());
    }
}
