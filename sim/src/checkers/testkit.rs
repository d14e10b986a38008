//! Test builders: small synthetic histories told the way the model tells
//! them. A [`Story`] drives a real [`Db`] through `Db::execute`, so its
//! write events (rows before and after, dropped writes) and its final
//! tables are exactly what the model's db would produce; around them it
//! adds the workload's requests, Nexus's acceptances, saga events and the
//! sled agents' VMM reports. Every step advances virtual time by 1 ms so
//! the trace lines read in order.

use super::view::View;
use super::{Checker, FinalState, Violation};
use crate::record::{Fault, Record, RecordKind, RequestOutcome, WorkloadEvent};
use model::db::protocol::{DbCall, DbRequest, DbResponse};
use model::db::rows::{
    InstanceRow, InstanceRuntime, NodeEventKind, SagaName, SagaNodeEventRow, SagaRow, SagaState,
    VmmRow, VmmRuntime,
};
use model::db::Db;
use model::event::{
    ApiOp, BackgroundTask, Cause, Decision, Event, NodeStep, ReincarnationReason, VmmGoneReason,
};
use model::ids::{HostId, InstanceId, LockId, Millis, NexusId, ReqId, SagaId, SledId, VmmId};
use model::states::{
    AutoRestartPolicy, Generation, InstanceState, IntendedState, RequestedState, StartReason,
    VmmFailureReason, VmmState,
};
use std::collections::{BTreeMap, BTreeSet};

pub const NEXUS: HostId = HostId::Nexus(NexusId(0));

pub struct Story {
    pub db: Db,
    pub records: Vec<Record>,
    pub now: u64,
    next: u64,
    pub capacity: u8,
    pub sleds_up: BTreeSet<SledId>,
    pub sleds_lost: BTreeSet<SledId>,
    /// Where the next VMM goes.
    pub sled: SledId,
    /// The `auto_restart_cooldown` new instances get (NULL by default).
    pub cooldown: Option<Millis>,
    /// An auto-restart's MARK_AS_STARTING leaves `time_last_auto_restarted`
    /// as it was (the `start-no-restart-stamp` mutation).
    pub no_restart_stamp: bool,
    /// The generation each VMM's sled agent reported last (it owns them).
    sled_gen: BTreeMap<VmmId, Generation>,
}

impl Default for Story {
    fn default() -> Self {
        Story::new()
    }
}

impl Story {
    pub fn new() -> Story {
        Story {
            db: Db::default(),
            records: Vec::new(),
            now: 1000,
            next: 1,
            capacity: 4,
            sleds_up: [SledId(0), SledId(1)].into_iter().collect(),
            sleds_lost: BTreeSet::new(),
            sled: SledId(0),
            cooldown: None,
            no_restart_stamp: false,
            sled_gen: BTreeMap::new(),
        }
    }

    fn id(&mut self) -> u64 {
        self.next += 1;
        0x1000 + self.next
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
    }

    pub fn push(&mut self, host: HostId, kind: RecordKind) {
        self.now += 1;
        self.records.push(Record {
            at: Millis(self.now),
            host,
            kind,
        });
    }

    pub fn model(&mut self, host: HostId, e: Event) {
        self.push(host, RecordKind::Model(e));
    }

    pub fn fault(&mut self, f: Fault) {
        self.push(HostId::Workload, RecordKind::Fault(f));
    }

    /// Runs one db transaction and records its write events.
    pub fn db(&mut self, cause: Cause, request: DbRequest) -> DbResponse {
        let mut events = Vec::new();
        let resp = self
            .db
            .execute(DbCall { cause, request }, Millis(self.now), &mut events);
        for e in events {
            self.model(HostId::Db, e);
        }
        resp
    }

    pub fn row(&self, id: InstanceId) -> InstanceRow {
        self.db.instance(id).expect("instance row").clone()
    }

    // ---- requests ----

    pub fn send(&mut self, op: ApiOp, name: &str) -> ReqId {
        let req = ReqId(self.id());
        self.push(
            HostId::Workload,
            RecordKind::Workload(WorkloadEvent::RequestSent {
                req,
                op,
                instance: name.to_string(),
            }),
        );
        req
    }

    pub fn accept(&mut self, req: ReqId, op: ApiOp, instance: InstanceId) {
        self.model(NEXUS, Event::ApiAccepted { req, op, instance });
    }

    pub fn reject(&mut self, req: ReqId, op: ApiOp, instance: InstanceId, status: u16) {
        self.model(
            NEXUS,
            Event::ApiRejected {
                req,
                op,
                instance: Some(instance),
                status,
                message: "invalid state".into(),
            },
        );
    }

    /// Nexus writes its response (the client may not get it).
    pub fn server_respond(&mut self, req: ReqId, op: ApiOp, status: u16) {
        self.model(
            NEXUS,
            Event::ApiResponded {
                req,
                op,
                status,
                message: String::new(),
            },
        );
    }

    /// The client gets a status.
    pub fn outcome(&mut self, req: ReqId, op: ApiOp, name: &str, status: u16) {
        self.push(
            HostId::Workload,
            RecordKind::Workload(WorkloadEvent::Outcome {
                req,
                op,
                instance: name.to_string(),
                outcome: RequestOutcome::Status {
                    status,
                    instance: None,
                },
            }),
        );
    }

    /// Nexus responds and the client gets it.
    pub fn respond(&mut self, req: ReqId, op: ApiOp, name: &str, status: u16) {
        self.server_respond(req, op, status);
        self.outcome(req, op, name, status);
    }

    pub fn no_response(&mut self, req: ReqId, op: ApiOp, name: &str) {
        self.push(
            HostId::Workload,
            RecordKind::Workload(WorkloadEvent::Outcome {
                req,
                op,
                instance: name.to_string(),
                outcome: RequestOutcome::NoResponse,
            }),
        );
    }

    // ---- sagas ----

    pub fn saga(
        &mut self,
        name: SagaName,
        instance: InstanceId,
        reason: Option<StartReason>,
    ) -> SagaId {
        let saga = SagaId(self.id());
        self.saga_with_id(saga, name, instance, reason);
        saga
    }

    pub fn saga_with_id(
        &mut self,
        saga: SagaId,
        name: SagaName,
        instance: InstanceId,
        reason: Option<StartReason>,
    ) {
        self.db(
            Cause::Saga {
                saga,
                name,
                node: "CREATE".into(),
            },
            DbRequest::SagaCreate {
                row: SagaRow {
                    id: saga,
                    name,
                    instance_id: instance,
                    current_sec: NexusId(0),
                    state: SagaState::Running,
                    time_created: Millis(self.now),
                    params: Vec::new(),
                },
            },
        );
        self.model(
            NEXUS,
            Event::SagaCreated {
                saga,
                name,
                instance,
                reason,
            },
        );
    }

    pub fn node(&mut self, saga: SagaId, name: SagaName, node: &str, step: NodeStep) {
        let kind = match &step {
            NodeStep::Done => NodeEventKind::Done,
            NodeStep::Failed(_) => NodeEventKind::Failed,
            NodeStep::Undone => NodeEventKind::UndoDone,
            NodeStep::UndoFailed(_) => NodeEventKind::UndoFailed,
        };
        self.db(
            Cause::Saga {
                saga,
                name,
                node: node.into(),
            },
            DbRequest::SagaNodeEvent {
                row: SagaNodeEventRow {
                    saga_id: saga,
                    node: 0,
                    kind,
                    data: Vec::new(),
                },
            },
        );
        self.model(
            NEXUS,
            Event::SagaNode {
                saga,
                name,
                node: node.into(),
                step,
            },
        );
    }

    pub fn saga_finish(
        &mut self,
        saga: SagaId,
        name: SagaName,
        instance: InstanceId,
        state: SagaState,
    ) {
        self.db(
            Cause::Saga {
                saga,
                name,
                node: "END".into(),
            },
            DbRequest::SagaUpdateState { id: saga, state },
        );
        self.model(
            NEXUS,
            Event::SagaFinished {
                saga,
                name,
                instance,
                state,
            },
        );
    }

    pub fn cause(saga: SagaId, name: SagaName, node: &str) -> Cause {
        Cause::Saga {
            saga,
            name,
            node: node.into(),
        }
    }

    // ---- instance flows ----

    /// The create saga: insert in Creating with its intent, then NoVmm.
    pub fn insert(
        &mut self,
        name: &str,
        start: bool,
        policy: Option<AutoRestartPolicy>,
    ) -> InstanceId {
        let (id, saga) = self.insert_creating(name, start, policy);
        let c = Self::cause(saga, SagaName::InstanceCreate, "MOVE_TO_STOPPED");
        let mut rt = self.row(id).runtime;
        rt.nexus_state = InstanceState::NoVmm;
        rt.gen = rt.gen.next();
        self.db(
            c,
            DbRequest::InstanceUpdateRuntime {
                id,
                new: rt,
                require_intent: None,
            },
        );
        self.saga_finish(saga, SagaName::InstanceCreate, id, SagaState::Done);
        id
    }

    /// The create saga's first node: the record inserted in Creating with
    /// its intent. Returns the instance and the saga.
    pub fn insert_creating(
        &mut self,
        name: &str,
        start: bool,
        policy: Option<AutoRestartPolicy>,
    ) -> (InstanceId, SagaId) {
        let id = InstanceId(self.id());
        let saga = self.saga(SagaName::InstanceCreate, id, None);
        let c = Self::cause(saga, SagaName::InstanceCreate, "CREATE_INSTANCE_RECORD");
        let row = InstanceRow {
            id,
            name: name.to_string(),
            runtime: InstanceRuntime {
                nexus_state: InstanceState::Creating,
                gen: Generation::FIRST,
                propolis_id: None,
                time_last_auto_restarted: None,
                time_updated: Millis(self.now),
            },
            intended_state: if start {
                IntendedState::Running
            } else {
                IntendedState::Stopped
            },
            auto_restart_policy: policy,
            auto_restart_cooldown: self.cooldown,
            time_deleted: None,
            updater_id: None,
            updater_gen: Generation::FIRST,
        };
        self.db(c, DbRequest::InstanceInsert { row });
        (id, saga)
    }

    /// A whole create request: the create saga, the start saga if
    /// `start`, and a 201.
    pub fn create(
        &mut self,
        name: &str,
        start: bool,
        policy: Option<AutoRestartPolicy>,
    ) -> (InstanceId, ReqId) {
        let op = ApiOp::Create {
            start,
            auto_restart_policy: policy,
        };
        let req = self.send(op, name);
        let id = self.insert(name, start, policy);
        self.accept(req, op, id);
        if start {
            self.start_saga(id, StartReason::AutoStart);
        }
        self.respond(req, op, name, 201);
        (id, req)
    }

    /// A start saga that runs to the end: the instance Running on
    /// `self.sled`.
    pub fn start_saga(&mut self, id: InstanceId, reason: StartReason) -> (SagaId, VmmId) {
        let saga = self.saga(SagaName::InstanceStart, id, Some(reason));
        let vmm = self.run_start_saga(saga, id, reason);
        (saga, vmm)
    }

    /// The nodes of a start saga already created.
    pub fn run_start_saga(&mut self, saga: SagaId, id: InstanceId, reason: StartReason) -> VmmId {
        let vmm = self.start_until_marked(saga, id, reason);
        self.sled_state(vmm, VmmState::Starting);
        self.sled_state(vmm, VmmState::Running);
        self.saga_finish(saga, SagaName::InstanceStart, id, SagaState::Done);
        vmm
    }

    /// A start saga's nodes up to and including `MARK_AS_STARTING`.
    pub fn start_until_marked(
        &mut self,
        saga: SagaId,
        id: InstanceId,
        reason: StartReason,
    ) -> VmmId {
        let n = SagaName::InstanceStart;
        let vmm = VmmId(self.id());
        let sled = self.sled;
        self.db(
            Self::cause(saga, n, "ALLOC_SERVER"),
            DbRequest::SledReservationCreate {
                vmm,
                instance: id,
                candidates: vec![sled],
                capacity: self.capacity,
            },
        );
        self.db(
            Self::cause(saga, n, "CREATE_VMM_RECORD"),
            DbRequest::VmmInsert {
                row: VmmRow {
                    id: vmm,
                    instance_id: id,
                    sled_id: sled,
                    runtime: VmmRuntime {
                        state: VmmState::Creating,
                        gen: Generation::FIRST,
                        stop_requested: false,
                    },
                    time_deleted: None,
                    failure_reason: None,
                },
            },
        );
        self.sled_gen.insert(vmm, Generation::FIRST);
        self.mark_as_starting(saga, id, vmm, reason);
        vmm
    }

    /// `MARK_AS_STARTING`: Vmm with the re-fetched generation + 1.
    pub fn mark_as_starting(
        &mut self,
        saga: SagaId,
        id: InstanceId,
        vmm: VmmId,
        reason: StartReason,
    ) {
        let mut rt = self.row(id).runtime;
        rt.nexus_state = InstanceState::Vmm;
        rt.gen = rt.gen.next();
        rt.propolis_id = Some(vmm);
        rt.time_updated = Millis(self.now);
        if reason == StartReason::AutoRestart && !self.no_restart_stamp {
            rt.time_last_auto_restarted = Some(Millis(self.now));
        }
        self.db(
            Self::cause(saga, SagaName::InstanceStart, "MARK_AS_STARTING"),
            DbRequest::InstanceUpdateRuntime {
                id,
                new: rt,
                require_intent: None,
            },
        );
    }

    /// The VMM's sled agent changes its state (a new generation it owns),
    /// pushes it, and Nexus writes it; Destroyed also leaves the table.
    pub fn sled_state(&mut self, vmm: VmmId, state: VmmState) {
        let row = self.db.vmm(vmm).expect("vmm row").clone();
        let gen = self
            .sled_gen
            .get(&vmm)
            .copied()
            .unwrap_or(Generation::FIRST)
            .next();
        self.sled_gen.insert(vmm, gen);
        self.model(
            HostId::Sled(row.sled_id),
            Event::VmmOnSled {
                sled: row.sled_id,
                vmm,
                instance: row.instance_id,
                state,
                gen,
            },
        );
        self.db(
            Cause::SledPush { sled: row.sled_id },
            DbRequest::VmmUpdateRuntime {
                id: vmm,
                new: VmmRuntime {
                    state,
                    gen,
                    stop_requested: false,
                },
                failure_reason: None,
            },
        );
        if state == VmmState::Destroyed {
            self.vmm_gone(vmm, VmmGoneReason::Destroyed);
        }
    }

    pub fn vmm_gone(&mut self, vmm: VmmId, reason: VmmGoneReason) {
        let row = self.db.vmm(vmm).expect("vmm row").clone();
        self.model(
            HostId::Sled(row.sled_id),
            Event::VmmGone {
                sled: row.sled_id,
                vmm,
                instance: row.instance_id,
                reason,
            },
        );
    }

    /// The update saga for a terminal active VMM: lock, commit `state`
    /// (and `intent`, if given) with no VMM, release the reservation and
    /// mark the VMM deleted.
    pub fn update_saga(
        &mut self,
        id: InstanceId,
        state: InstanceState,
        intent: Option<IntendedState>,
    ) {
        let n = SagaName::InstanceUpdate;
        let saga = self.saga(n, id, None);
        let lock = LockId(self.id());
        let vmm = self.row(id).runtime.propolis_id;
        self.db(
            Self::cause(saga, n, "BECOME_UPDATER"),
            DbRequest::InstanceUpdaterLock { id, lock },
        );
        let mut rt = self.row(id).runtime;
        rt.nexus_state = state;
        rt.gen = rt.gen.next();
        rt.propolis_id = None;
        rt.time_updated = Millis(self.now);
        self.db(
            Self::cause(saga, n, "COMMIT_INSTANCE_UPDATES"),
            DbRequest::InstanceCommitUpdate {
                id,
                lock,
                new: rt,
                new_intent: intent,
            },
        );
        if let Some(vmm) = vmm {
            self.db(
                Self::cause(saga, n, "RELEASE_SLED_RESOURCES"),
                DbRequest::SledReservationDelete { vmm },
            );
            self.db(
                Self::cause(saga, n, "MARK_VMM_DELETED"),
                DbRequest::VmmMarkDeleted { id: vmm },
            );
        }
        self.saga_finish(saga, n, id, SagaState::Done);
    }

    pub fn active_vmm(&self, id: InstanceId) -> VmmId {
        self.row(id).runtime.propolis_id.expect("an active VMM")
    }

    /// The guest powers off: the VMM stops and is destroyed on its sled,
    /// and the update saga records it (intent GuestShutdown when it was
    /// Running, as omicron does).
    pub fn guest_shutdown(&mut self, id: InstanceId) {
        let name = self.row(id).name;
        self.fault(Fault::GuestShutdown { instance: name });
        self.vmm_halts(id);
        let intent = (self.row(id).intended_state == IntendedState::Running)
            .then_some(IntendedState::GuestShutdown);
        self.update_saga(id, InstanceState::NoVmm, intent);
    }

    fn vmm_halts(&mut self, id: InstanceId) {
        let vmm = self.active_vmm(id);
        self.sled_state(vmm, VmmState::Stopping);
        self.sled_state(vmm, VmmState::Destroyed);
    }

    /// Nexus asks the sled to stop the active VMM; it stops, and the
    /// update saga moves the instance to NoVmm.
    pub fn stop_vmm(&mut self, id: InstanceId) {
        let vmm = self.active_vmm(id);
        let sled = self.db.vmm(vmm).unwrap().sled_id;
        self.model(
            HostId::Sled(sled),
            Event::SledPutState {
                sled,
                vmm,
                requested: RequestedState::Stopped,
                accepted: true,
            },
        );
        self.vmm_halts(id);
        self.update_saga(id, InstanceState::NoVmm, None);
    }

    /// `req`'s intent write as `fixed` makes it: validated against the
    /// instance's current generation (no active VMM), in one transaction.
    pub fn set_intent_validated(&mut self, id: InstanceId, intent: IntendedState, req: ReqId) {
        let instance_gen = self.row(id).runtime.gen;
        self.db(
            Cause::Api { req },
            DbRequest::InstanceSetIntendedState {
                id,
                intent,
                validated_at: Some(model::db::protocol::ValidatedAt {
                    instance_gen,
                    vmm: None,
                }),
            },
        );
    }

    /// A create with `start = true` of `name` (no policy), its record
    /// inserted and the request accepted; not answered, no start saga yet.
    pub fn create_accepted(&mut self, name: &str) -> (InstanceId, ReqId) {
        let op = Self::CREATE_START;
        let create = self.send(op, name);
        let id = self.insert(name, true, None);
        self.accept(create, op, id);
        (id, create)
    }

    /// `ApiOp::Create` with `start = true` and no auto-restart policy.
    pub const CREATE_START: ApiOp = ApiOp::Create {
        start: true,
        auto_restart_policy: None,
    };

    /// A create with `start = true` of `name` whose record is inserted and
    /// accepted, then a delete of it accepted (its Destroyed intent
    /// validated) while the create's start half has not yet written its
    /// intent: the race of the swarm's `DeleteWhileCreating`.
    pub fn create_racing_delete(&mut self, name: &str) -> (InstanceId, ReqId, ReqId) {
        let (id, create) = self.create_accepted(name);
        let del = self.send(ApiOp::Delete, name);
        self.set_intent_validated(id, IntendedState::Destroyed, del);
        self.accept(del, ApiOp::Delete, id);
        (id, create, del)
    }

    pub fn set_intent(&mut self, id: InstanceId, intent: IntendedState, cause: Cause) {
        self.db(
            cause,
            DbRequest::InstanceSetIntendedState {
                id,
                intent,
                validated_at: None,
            },
        );
    }

    /// A user stop of a running instance, answered `status`.
    pub fn stop(&mut self, id: InstanceId, status: u16) -> ReqId {
        let name = self.row(id).name;
        let req = self.send(ApiOp::Stop, &name);
        self.set_intent(id, IntendedState::Stopped, Cause::Api { req });
        self.accept(req, ApiOp::Stop, id);
        self.stop_vmm(id);
        self.respond(req, ApiOp::Stop, &name, status);
        req
    }

    /// The sled agent forgets the active VMM (PR #8053's test).
    pub fn forget(&mut self, id: InstanceId) {
        let name = self.row(id).name;
        let vmm = self.active_vmm(id);
        self.fault(Fault::ForgetVmm { instance: name });
        self.vmm_gone(vmm, VmmGoneReason::Forgotten);
    }

    /// Nexus marks the active VMM Failed (its copy's generation + 1) and
    /// the update saga makes the instance Failed.
    pub fn fail_vmm(&mut self, id: InstanceId, cause: Cause) {
        let vmm = self.active_vmm(id);
        let row = self.db.vmm(vmm).unwrap().clone();
        self.db(
            cause,
            DbRequest::VmmUpdateRuntime {
                id: vmm,
                new: VmmRuntime {
                    state: VmmState::Failed,
                    gen: row.runtime.gen.next(),
                    stop_requested: false,
                },
                failure_reason: Some(VmmFailureReason::NoSuchInstance),
            },
        );
        self.update_saga(id, InstanceState::Failed, None);
    }

    /// A user stop or reboot that finds the VMM gone (404
    /// NO_SUCH_INSTANCE): the VMM is marked Failed and the answer is 503.
    pub fn request_finding_vmm_gone(&mut self, id: InstanceId, op: ApiOp) -> ReqId {
        let name = self.row(id).name;
        let req = self.send(op, &name);
        let intent = if op == ApiOp::Stop {
            IntendedState::Stopped
        } else {
            IntendedState::Running
        };
        self.set_intent(id, intent, Cause::Api { req });
        self.accept(req, op, id);
        let vmm = self.active_vmm(id);
        let sled = self.db.vmm(vmm).unwrap().sled_id;
        self.model(
            HostId::Sled(sled),
            Event::SledPutState {
                sled,
                vmm,
                requested: if op == ApiOp::Stop {
                    RequestedState::Stopped
                } else {
                    RequestedState::Reboot
                },
                accepted: false,
            },
        );
        self.fail_vmm(id, Cause::Api { req });
        self.respond(req, op, &name, 503);
        req
    }

    /// instance_reincarnation selects the instance as it is now and
    /// decides to start it; returns the start saga's id (not yet created).
    pub fn reincarnation_selects(&mut self, id: InstanceId) -> SagaId {
        let saga = SagaId(self.id());
        let selected = Box::new(self.row(id));
        self.model(
            NEXUS,
            Event::TaskDecision {
                task: BackgroundTask::InstanceReincarnation,
                instance: id,
                decision: Decision::Reincarnate {
                    saga,
                    reason: ReincarnationReason::Failed,
                    selected,
                },
            },
        );
        saga
    }

    /// A whole reincarnation: selection, then an AutoRestart start saga.
    pub fn reincarnate(&mut self, id: InstanceId) -> (SagaId, VmmId) {
        let saga = self.reincarnation_selects(id);
        self.saga_with_id(
            saga,
            SagaName::InstanceStart,
            id,
            Some(StartReason::AutoRestart),
        );
        let vmm = self.run_start_saga(saga, id, StartReason::AutoRestart);
        (saga, vmm)
    }

    /// A whole delete request of a stopped instance.
    pub fn delete(&mut self, id: InstanceId, status: u16) -> ReqId {
        let name = self.row(id).name;
        let req = self.send(ApiOp::Delete, &name);
        self.set_intent(id, IntendedState::Destroyed, Cause::Api { req });
        self.accept(req, ApiOp::Delete, id);
        let n = SagaName::InstanceDelete;
        let saga = self.saga(n, id, None);
        self.db(
            Self::cause(saga, n, "INSTANCE_DELETE_RECORD"),
            DbRequest::ProjectDeleteInstance {
                id,
                require_intent: None,
            },
        );
        self.saga_finish(saga, n, id, SagaState::Done);
        self.respond(req, ApiOp::Delete, &name, status);
        req
    }

    /// A user request on `id` that Nexus accepts (not yet answered).
    pub fn send_accepted(&mut self, op: ApiOp, id: InstanceId) -> ReqId {
        let name = self.row(id).name;
        let req = self.send(op, &name);
        self.accept(req, op, id);
        req
    }

    /// A user start of a stopped instance, answered `status`.
    pub fn start(&mut self, id: InstanceId, status: u16) -> ReqId {
        let name = self.row(id).name;
        let req = self.send_accepted(ApiOp::Start, id);
        self.start_saga(id, StartReason::User);
        self.respond(req, ApiOp::Start, &name, status);
        req
    }

    /// The instance watcher marks the active VMM Failed (its sled could
    /// not be reached) and the update saga makes the instance Failed.
    pub fn watcher_fails_vmm(&mut self, id: InstanceId) {
        self.fail_vmm(
            id,
            Cause::Task {
                task: BackgroundTask::InstanceWatcher,
            },
        );
    }

    /// Stop, start, guest shutdown and delete of a running instance.
    pub fn lifecycle(&mut self, id: InstanceId) {
        self.stop(id, 202);
        self.start_saga(id, StartReason::User);
        self.guest_shutdown(id);
        self.delete(id, 204);
    }

    // ---- shared histories ----

    /// "web", created stopped; a start and then a stop accepted; the stop
    /// answered 202, then the start's saga runs and the start is answered
    /// 202 (the start wins).
    pub fn start_overlapping_stop() -> (Story, InstanceId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let start = s.send_accepted(ApiOp::Start, id);
        let stop = s.send_accepted(ApiOp::Stop, id);
        s.respond(stop, ApiOp::Stop, "web", 202);
        s.start_saga(id, StartReason::User);
        s.respond(start, ApiOp::Start, "web", 202);
        (s, id)
    }

    /// "web", created running, and a stop accepted but not yet answered.
    pub fn stop_accepted() -> (Story, InstanceId, ReqId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let stop = s.send_accepted(ApiOp::Stop, id);
        (s, id, stop)
    }

    /// [`Story::stop_accepted`] whose client gets no response.
    pub fn stop_with_no_response() -> (Story, InstanceId) {
        let (mut s, id, stop) = Story::stop_accepted();
        s.no_response(stop, ApiOp::Stop, "web");
        (s, id)
    }

    /// "web", created running with `policy`; its sled agent forgets the
    /// VMM, and a user `op` (stop or reboot) finds it gone: the VMM is
    /// marked Failed and the answer is 503.
    pub fn answered_503_vmm_gone(
        op: ApiOp,
        policy: Option<AutoRestartPolicy>,
    ) -> (Story, InstanceId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, policy);
        s.forget(id);
        s.request_finding_vmm_gone(id, op);
        (s, id)
    }

    /// A reboot answered 503 (see [`Story::answered_503_vmm_gone`]), then
    /// auto-restarted by reincarnation.
    pub fn reboot_503_then_auto_restart(policy: Option<AutoRestartPolicy>) -> (Story, InstanceId) {
        let (mut s, id) = Story::answered_503_vmm_gone(ApiOp::Reboot, policy);
        s.reincarnate(id);
        (s, id)
    }

    /// "web", created running, whose guest then powers off.
    pub fn guest_shutdown_after_create() -> (Story, InstanceId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.guest_shutdown(id);
        (s, id)
    }

    /// "web", created stopped, started by the user (202), whose guest
    /// then powers off.
    pub fn guest_shutdown_after_start() -> (Story, InstanceId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        s.start(id, 202);
        s.guest_shutdown(id);
        (s, id)
    }

    /// "web", created running, whose sled then pushes its Starting state
    /// (generation 2) late, after Running: the db drops the stale write.
    pub fn stale_vmm_write_dropped() -> (Story, InstanceId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.active_vmm(id);
        s.db(
            Cause::SledPush { sled: SledId(0) },
            DbRequest::VmmUpdateRuntime {
                id: vmm,
                new: VmmRuntime {
                    state: VmmState::Starting,
                    gen: Generation(2),
                    stop_requested: false,
                },
                failure_reason: None,
            },
        );
        (s, id)
    }

    /// "web", created running, stopped (202) and deleted (204).
    pub fn stopped_and_deleted() -> (Story, InstanceId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.stop(id, 202);
        s.delete(id, 204);
        (s, id)
    }

    // ---- judging ----

    pub fn end(&self) -> FinalState<'_> {
        FinalState {
            db: &self.db,
            sleds_up: self.sleds_up.clone(),
            sleds_lost: self.sleds_lost.clone(),
            sled_capacity: self.capacity,
            at: Millis(self.now),
        }
    }

    /// The view of every record so far, as the recorder builds it.
    pub fn view(&self) -> View {
        let mut view = View::new();
        for r in &self.records {
            view.observe(r);
        }
        view
    }

    /// Feeds every record to the checker, with the view updated by each
    /// first (as the recorder does); returns what `observe` reported and
    /// the view at the end.
    pub fn observe_with_view(&self, c: &mut dyn Checker) -> (Vec<Violation>, View) {
        let mut out = Vec::new();
        let mut view = View::new();
        for r in &self.records {
            view.observe(r);
            c.observe(r, &view, &mut out);
        }
        (out, view)
    }

    /// Feeds every record to the checker; returns what `observe` reported.
    pub fn observe(&self, c: &mut dyn Checker) -> Vec<Violation> {
        self.observe_with_view(c).0
    }

    /// Feeds every record, then judges the end state.
    pub fn run(&self, c: &mut dyn Checker) -> Vec<Violation> {
        let (mut out, view) = self.observe_with_view(c);
        c.finish(&view, &self.end(), &mut out);
        for v in &out {
            assert_eq!(v.checker, c.name(), "a violation names its checker");
            assert!(!v.mechanism.is_empty() && !v.message.is_empty());
            assert!(!v.evidence.is_empty(), "a violation quotes evidence: {v:?}");
            assert!(
                v.evidence
                    .iter()
                    .all(|e| (*e as usize) < self.records.len()),
                "evidence cites records of the story: {v:?}"
            );
        }
        out
    }

    /// A violation's evidence, rendered as the report renders it.
    pub fn evidence(&self, v: &Violation) -> Vec<String> {
        v.evidence
            .iter()
            .map(|seq| self.records[*seq as usize].to_string())
            .collect()
    }

    /// The trace, for a failing assertion's message.
    pub fn trace(&self) -> String {
        self.records
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
