//! The offline schema update PR #8053 shipped with: omicron's
//! `schema/crdb/instance-intended-state/up01..up05.sql`, schema 139 to
//! 140.0.0. up01 creates the enum, up02 adds the nullable `intended_state`
//! column, up03 and up04 back-fill it, up05 makes it NOT NULL.
//!
//! Why a module of its own: the back-fill is a db transaction no Nexus
//! sends. The harness applies it while every Nexus is down (omicron's
//! upgrade parks the control plane), then brings Nexus back in a variant
//! that reads the column.

use super::datastore::Db;
use crate::event::{Cause, Event};
use crate::states::{InstanceState, IntendedState, VmmState};

/// The schema version the back-fill brings the db to.
pub const VERSION: &str = "140.0.0";

/// up03's `CASE`, for an instance joined to its active VMM
/// (`instance.active_propolis_id = vmm.id`).
pub fn up03_intended_state(instance: InstanceState, vmm: VmmState) -> IntendedState {
    match (instance, vmm) {
        (InstanceState::Destroyed, _) => IntendedState::Destroyed,
        (InstanceState::Failed, _) => IntendedState::Running,
        (InstanceState::Vmm, VmmState::Stopped | VmmState::Stopping) => IntendedState::Stopped,
        (
            InstanceState::Vmm,
            VmmState::Creating
            | VmmState::Starting
            | VmmState::Running
            | VmmState::Rebooting
            | VmmState::Migrating
            | VmmState::Failed
            | VmmState::Destroyed
            | VmmState::SagaUnwound,
        ) => IntendedState::Running,
        (InstanceState::Creating | InstanceState::NoVmm, _) => IntendedState::Stopped,
    }
}

/// up04's `CASE`, for the instances up03 did not touch (no active VMM row).
pub fn up04_intended_state(instance: InstanceState) -> IntendedState {
    match instance {
        InstanceState::Destroyed => IntendedState::Destroyed,
        InstanceState::Failed => IntendedState::Running,
        InstanceState::Creating | InstanceState::NoVmm | InstanceState::Vmm => {
            IntendedState::Stopped
        }
    }
}

impl Db {
    /// Applies up02..up05 to every instance row (deleted ones too: the
    /// `UPDATE`s have no `time_deleted` filter), appending one write event
    /// per row. Before the update the model's rows
    /// carry the intent their create wrote, which no pre-#8053 Nexus reads;
    /// the back-fill overwrites it, as up02's fresh NULL column would be.
    pub fn migrate_instance_intended_state(&mut self, events: &mut Vec<Event>) {
        let cause = Cause::SchemaUpdate {
            version: VERSION.to_string(),
        };
        let rows: Vec<_> = self.instances().cloned().collect();
        for before in rows {
            let active = before.runtime.propolis_id.and_then(|v| self.vmm(v));
            let intent = match active {
                Some(vmm) => up03_intended_state(before.runtime.nexus_state, vmm.runtime.state),
                None => up04_intended_state(before.runtime.nexus_state),
            };
            self.backfill_intent(&cause, &before, intent, events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// omicron's schema test `before_140_0_0` / `after_140_0_0`
    /// (`nexus/tests/integration_tests/schema.rs`): its four rows.
    #[test]
    fn the_schema_tests_four_rows() {
        // instance1: no_vmm -> stopped (up04).
        assert_eq!(
            up04_intended_state(InstanceState::NoVmm),
            IntendedState::Stopped
        );
        // instance2: vmm with a running VMM -> running (up03).
        assert_eq!(
            up03_intended_state(InstanceState::Vmm, VmmState::Running),
            IntendedState::Running
        );
        // instance3: failed -> running (up04: a Failed instance has no
        // active VMM).
        assert_eq!(
            up04_intended_state(InstanceState::Failed),
            IntendedState::Running
        );
        // instance4: vmm with a stopped VMM -> stopped (up03).
        assert_eq!(
            up03_intended_state(InstanceState::Vmm, VmmState::Stopped),
            IntendedState::Stopped
        );
    }

    /// The same four rows in a db, through `migrate_instance_intended_state`
    /// (up03 joins the active VMM; up04 takes the rest).
    #[test]
    fn the_schema_tests_four_rows_in_a_db() {
        use crate::db::protocol::{DbCall, DbRequest};
        use crate::db::rows::{InstanceRow, InstanceRuntime, VmmRow, VmmRuntime};
        use crate::ids::{InstanceId, Millis, SledId, VmmId};
        use crate::states::Generation;

        let mut db = Db::default();
        let mut events = Vec::new();
        let exec = |db: &mut Db, request: DbRequest| {
            let call = DbCall {
                cause: Cause::SchemaUpdate {
                    version: VERSION.into(),
                },
                request,
            };
            db.execute(call, Millis(0), &mut Vec::new())
        };
        let rows = [
            (1, InstanceState::NoVmm, None),
            (2, InstanceState::Vmm, Some(VmmState::Running)),
            (3, InstanceState::Failed, None),
            (4, InstanceState::Vmm, Some(VmmState::Stopped)),
        ];
        for (n, state, vmm) in rows {
            let id = InstanceId(n);
            let propolis_id = vmm.map(|_| VmmId(100 + n));
            if let (Some(v), Some(vmm_state)) = (propolis_id, vmm) {
                let row = VmmRow {
                    id: v,
                    instance_id: id,
                    sled_id: SledId(0),
                    runtime: VmmRuntime {
                        state: vmm_state,
                        gen: Generation::FIRST,
                        stop_requested: false,
                    },
                    time_deleted: None,
                    failure_reason: None,
                };
                exec(&mut db, DbRequest::VmmInsert { row });
            }
            let row = InstanceRow {
                id,
                name: format!("instance{n}"),
                runtime: InstanceRuntime {
                    nexus_state: state,
                    gen: Generation::FIRST,
                    propolis_id,
                    time_last_auto_restarted: None,
                    time_updated: Millis(0),
                },
                // What a pre-#8053 row holds does not matter: the back-fill
                // overwrites it.
                intended_state: IntendedState::Destroyed,
                auto_restart_policy: None,
                auto_restart_cooldown: None,
                time_deleted: None,
                updater_id: None,
                updater_gen: Generation::FIRST,
            };
            exec(&mut db, DbRequest::InstanceInsert { row });
        }
        db.migrate_instance_intended_state(&mut events);
        let got: Vec<IntendedState> = (1..=4)
            .map(|n| db.instance(InstanceId(n)).expect("row").intended_state)
            .collect();
        assert_eq!(
            got,
            [
                IntendedState::Stopped,
                IntendedState::Running,
                IntendedState::Running,
                IntendedState::Stopped
            ]
        );
        assert_eq!(events.len(), 4, "one write per row");
    }

    #[test]
    fn the_rest_of_the_case_arms() {
        assert_eq!(
            up03_intended_state(InstanceState::Vmm, VmmState::Stopping),
            IntendedState::Stopped
        );
        assert_eq!(
            up03_intended_state(InstanceState::Vmm, VmmState::Destroyed),
            IntendedState::Running
        );
        assert_eq!(
            up03_intended_state(InstanceState::Failed, VmmState::Failed),
            IntendedState::Running
        );
        assert_eq!(
            up04_intended_state(InstanceState::Destroyed),
            IntendedState::Destroyed
        );
    }
}
