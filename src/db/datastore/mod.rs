//! The datastore: the tables and the transactions on them
//! (`nexus/db-queries/src/db/datastore/mod.rs`). Only the db host calls
//! [`Db::execute`]; the harness reads the tables directly for its final
//! checks. The store lives outside the db host's software, so it survives a
//! db crash: committed data is durable.
//!
//! Split by table as omicron's datastore is: [`instance`], [`vmm`],
//! [`sled`] (the VMM reservations) and [`saga`]. This module holds the
//! store, its readers and the one dispatch from a request to its query.

pub mod instance;
pub mod saga;
pub mod sled;
pub mod vmm;

use super::protocol::{DbCall, DbRequest, DbResponse, InstanceAndVmm};
use super::rows::{InstanceRow, ReservationRow, SagaNodeEventRow, SagaRow, VmmRow};
use crate::event::{Cause, Event, Query, WriteOutcome};
use crate::ids::{InstanceId, Millis, SagaId, VmmId};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The durable store, shared by the db host's software across restarts and
/// by the harness's final checks.
pub type DbHandle = Rc<RefCell<Db>>;

/// The tables: `instance`, `vmm`, `sled_resource_vmm`, `saga` and
/// `saga_node_event`, each keyed by its id.
#[derive(Default, Debug)]
pub struct Db {
    instances: BTreeMap<InstanceId, InstanceRow>,
    vmms: BTreeMap<VmmId, VmmRow>,
    reservations: BTreeMap<VmmId, ReservationRow>,
    sagas: BTreeMap<SagaId, SagaRow>,
    saga_events: BTreeMap<SagaId, Vec<SagaNodeEventRow>>,
}

/// Everything one transaction did, for the write events.
struct Tx<'a> {
    cause: &'a Cause,
    events: &'a mut Vec<Event>,
}

impl Tx<'_> {
    fn instance(
        &mut self,
        query: Query,
        outcome: WriteOutcome,
        before: Option<&InstanceRow>,
        after: Option<&InstanceRow>,
    ) {
        self.events.push(Event::InstanceWrite {
            query,
            cause: self.cause.clone(),
            outcome,
            before: before.cloned().map(Box::new),
            after: after.cloned().map(Box::new),
        });
    }

    fn vmm(
        &mut self,
        query: Query,
        outcome: WriteOutcome,
        before: Option<&VmmRow>,
        after: Option<&VmmRow>,
    ) {
        self.events.push(Event::VmmWrite {
            query,
            cause: self.cause.clone(),
            outcome,
            before: before.cloned().map(Box::new),
            after: after.cloned().map(Box::new),
        });
    }

    fn reservation(
        &mut self,
        query: Query,
        before: Option<&ReservationRow>,
        after: Option<&ReservationRow>,
    ) {
        self.events.push(Event::ReservationWrite {
            query,
            cause: self.cause.clone(),
            outcome: WriteOutcome::Applied,
            before: before.cloned(),
            after: after.cloned(),
        });
    }
}

impl Db {
    /// An empty store behind the handle the db host and the harness share.
    pub fn new_handle() -> DbHandle {
        Rc::new(RefCell::new(Db::default()))
    }

    /// Every instance row, deleted ones too, by id.
    pub fn instances(&self) -> impl Iterator<Item = &InstanceRow> {
        self.instances.values()
    }
    /// One instance row, deleted or not.
    pub fn instance(&self, id: InstanceId) -> Option<&InstanceRow> {
        self.instances.get(&id)
    }
    /// Every VMM row, deleted ones too, by id.
    pub fn vmms(&self) -> impl Iterator<Item = &VmmRow> {
        self.vmms.values()
    }
    /// One VMM row, deleted or not.
    pub fn vmm(&self, id: VmmId) -> Option<&VmmRow> {
        self.vmms.get(&id)
    }
    /// Every VMM reservation, by VMM id.
    pub fn reservations(&self) -> impl Iterator<Item = &ReservationRow> {
        self.reservations.values()
    }
    /// Every saga row, by id.
    pub fn sagas(&self) -> impl Iterator<Item = &SagaRow> {
        self.sagas.values()
    }

    /// `instance_fetch_with_vmm`'s join: the row and its active VMM.
    fn with_vmm(&self, instance: &InstanceRow) -> InstanceAndVmm {
        InstanceAndVmm {
            instance: instance.clone(),
            vmm: instance
                .runtime
                .propolis_id
                .and_then(|v| self.vmms.get(&v).cloned()),
        }
    }

    /// Runs one transaction at virtual time `now`, appending its write
    /// events to `events`.
    pub fn execute(&mut self, call: DbCall, now: Millis, events: &mut Vec<Event>) -> DbResponse {
        let mut tx = Tx {
            cause: &call.cause,
            events,
        };
        match call.request {
            DbRequest::InstanceInsert { row } => self.instance_insert(row, &mut tx),
            DbRequest::InstanceDeleteCreating { id } => self.instance_delete_creating(id, &mut tx),
            DbRequest::InstanceFetch { id } => {
                DbResponse::Instance(self.instances.get(&id).map(|r| self.with_vmm(r)))
            }
            DbRequest::InstanceFetchByName { name } => {
                DbResponse::Instance(self.instance_fetch_by_name(&name))
            }
            DbRequest::InstanceSetIntendedState {
                id,
                intent,
                validated_at,
            } => self.instance_set_intended_state(id, intent, validated_at, &mut tx),
            DbRequest::InstanceUpdateRuntime {
                id,
                new,
                require_intent,
            } => self.instance_update_runtime(id, new, require_intent, false, &mut tx),
            DbRequest::InstanceUpdateRuntimeUnlessVmmEnded { id, new } => {
                self.instance_update_runtime(id, new, None, true, &mut tx)
            }
            DbRequest::InstanceUpdaterLock { id, lock } => {
                self.updater_cas(id, None, lock, Query::InstanceUpdaterLock, &mut tx)
            }
            DbRequest::InstanceUpdaterInheritLock { id, parent, child } => self.updater_cas(
                id,
                Some(parent),
                child,
                Query::InstanceUpdaterInheritLock,
                &mut tx,
            ),
            DbRequest::InstanceUpdaterUnlock { id, lock } => self.updater_unlock(id, lock, &mut tx),
            DbRequest::InstanceCommitUpdate {
                id,
                lock,
                new,
                new_intent,
            } => self.instance_commit_update(id, lock, new, new_intent, &mut tx),
            DbRequest::ProjectDeleteInstance { id, require_intent } => {
                self.project_delete_instance(id, require_intent, now, &mut tx)
            }
            DbRequest::VmmInsert { row } => self.vmm_insert(row, &mut tx),
            DbRequest::VmmFetch { id } => DbResponse::Vmm(self.vmms.get(&id).cloned()),
            DbRequest::VmmUpdateRuntime {
                id,
                new,
                failure_reason,
            } => self.vmm_update_runtime(id, new, failure_reason, &mut tx),
            DbRequest::VmmMarkSagaUnwound { id, keep_ended } => {
                self.vmm_mark_saga_unwound(id, keep_ended, &mut tx)
            }
            DbRequest::VmmMarkDeleted { id } => self.vmm_mark_deleted(id, now, &mut tx),
            DbRequest::SledReservationCreate {
                vmm,
                instance,
                candidates,
                capacity,
            } => self.sled_reservation_create(vmm, instance, candidates, capacity, &mut tx),
            DbRequest::SledReservationDelete { vmm } => self.sled_reservation_delete(vmm, &mut tx),
            DbRequest::SagaCreate { row } => self.saga_create(row),
            DbRequest::SagaNodeEvent { row } => self.saga_create_event(row),
            DbRequest::SagaUpdateState { id, state } => self.saga_update_state(id, state),
            DbRequest::SagaListUnfinished { sec } => DbResponse::Sagas(self.unfinished_sagas(sec)),
            DbRequest::VmmListForWatcher => DbResponse::WatcherList(self.vmm_list_for_watcher()),
            DbRequest::FindReincarnatable {
                reason,
                require_intent_running,
                now,
                default_cooldown,
            } => DbResponse::Instances(self.find_reincarnatable(
                reason,
                require_intent_running,
                now,
                default_cooldown,
            )),
            DbRequest::FindInstancesNeedingUpdate => {
                DbResponse::Instances(self.find_instances_needing_update())
            }
            DbRequest::FindAbandonedVmms => DbResponse::Vmms(self.find_abandoned_vmms()),
            DbRequest::FindIntentMismatches => self.find_intent_mismatches(),
        }
    }
}
