//! Reading the end state the way a user would: the external state omicron
//! shows for an instance, and whether an up sled could take it. The
//! liveness checkers judge what a user sees, so they derive it exactly as
//! omicron does rather than reading the internal `nexus_state`.

use super::FinalState;
use model::db::rows::InstanceRow;
use model::db::Db;
use model::states::{ExternalState, InstanceState, VmmState};

/// `InstanceStateComputer::compute_state` (omicron-lifecycle.md section 2),
/// without migrations (the model has none).
pub fn external_state(db: &Db, row: &InstanceRow) -> ExternalState {
    let vmm = row
        .runtime
        .propolis_id
        .and_then(|v| db.vmm(v))
        .map(|v| v.runtime.state);
    match (row.runtime.nexus_state, vmm) {
        (InstanceState::Vmm, Some(s)) => match s {
            VmmState::Stopped | VmmState::Destroyed | VmmState::Failed => ExternalState::Stopping,
            VmmState::SagaUnwound => ExternalState::Failed,
            VmmState::Creating | VmmState::Starting => ExternalState::Starting,
            VmmState::Running => ExternalState::Running,
            VmmState::Stopping => ExternalState::Stopping,
            VmmState::Rebooting => ExternalState::Rebooting,
            VmmState::Migrating => ExternalState::Migrating,
        },
        // A `Vmm` instance whose VMM row is missing breaks the CHECK
        // constraint's spirit; `From<InstanceState>` maps it to Running,
        // which is what omicron would print.
        (InstanceState::Vmm, None) => ExternalState::Running,
        (InstanceState::NoVmm, _) => ExternalState::Stopped,
        (InstanceState::Creating, _) => ExternalState::Creating,
        (InstanceState::Failed, _) => ExternalState::Failed,
        (InstanceState::Destroyed, _) => ExternalState::Destroyed,
    }
}

/// Whether some up sled has a free slot for the instance, counting the
/// db's reservations (a reservation the instance itself holds is a slot it
/// can use).
pub fn up_sled_has_room(end: &FinalState<'_>, row: &InstanceRow) -> bool {
    end.sleds_up.iter().any(|s| {
        end.db.reservations_on(*s) < end.sled_capacity as usize
            || end.db.reservations().any(|r| {
                // Its own active VMM's slot is room for it; a slot leaked
                // by an earlier start saga is not (a new start reserves
                // anew, for a new VMM).
                r.sled_id == *s
                    && r.instance_id == row.id
                    && row.runtime.propolis_id == Some(r.vmm_id)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;

    #[test]
    fn states_as_a_user_sees_them() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let row = s.db.instance(id).unwrap().clone();
        assert_eq!(external_state(&s.db, &row), ExternalState::Running);
        s.guest_shutdown(id);
        let row = s.db.instance(id).unwrap().clone();
        assert_eq!(external_state(&s.db, &row), ExternalState::Stopped);
        let end = s.end();
        assert!(up_sled_has_room(&end, &row));
    }

    #[test]
    fn a_full_sled_has_no_room() {
        let mut s = Story::new();
        s.capacity = 1;
        s.sleds_up = [model::ids::SledId(0)].into_iter().collect();
        let (_a, _) = s.create("a", true, None);
        let (b, _) = s.create("b", false, None);
        let row = s.db.instance(b).unwrap().clone();
        assert!(!up_sled_has_room(&s.end(), &row));
    }
}
