//! The shared request tracker: the design's "Requests and their order"
//! rules (design section 3), as one state machine every checker can own a
//! copy of.
//!
//! It follows every API request of the workload from the moment it was
//! sent to its outcome, notes when Nexus accepted or rejected it, and adds
//! the one stop-like event no user sends: a guest shutdown Nexus recorded.
//! On top of that it answers the two questions the intent checkers ask:
//! "which requests may be the last one that took effect on this instance"
//! (liveness) and "is there a completed stop-like request that nothing
//! run-like excuses" (the #6809 check).
//!
//! Because those answers need the context of each record, the tracker also
//! keeps what it learns on the way: the name <-> id map, the last applied
//! row of every instance and VMM, every saga's instance, start reason and
//! reincarnation selection, and a bounded record history per instance for
//! evidence (record sequence numbers, rendered only by the report).
//!
//! Ordering is by the record's position in the stream (its sequence number),
//! not by its millisecond: several records share a millisecond, and "A's
//! response arrived before B was sent" must still be decidable.

use super::history::{extend_unique, Lines, Seq, INSTANCE_HISTORY};
use crate::record::{Fault, Record, RecordKind, RequestOutcome, WorkloadEvent};
use model::db::rows::{InstanceRow, SagaName, VmmRow};
use model::event::{ApiOp, Cause, Decision, Event, Query, WriteOutcome};
use model::ids::{InstanceId, Millis, ReqId, SagaId, VmmId};
use model::states::{
    Generation, InstanceState, IntendedState, RequestedState, StartReason, VmmState,
};
use std::collections::{BTreeMap, BTreeSet};

/// Where a record sits in the stream: its position, and its virtual time
/// for messages.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Stamp {
    pub seq: Seq,
    pub at: Millis,
}

/// What a request asks for. `GuestShutdown` is the pseudo-request of a
/// guest power-off that Nexus recorded: the design counts it as stop-like.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReqKind {
    Create { start: bool },
    Start,
    Stop,
    Reboot,
    Delete,
    Get,
    GuestShutdown,
}

/// The design's classes of requests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    /// create with `start: true`, start, reboot.
    RunLike,
    /// stop, delete, create with `start: false`, a recorded guest shutdown.
    StopLike,
    /// get: changes nothing.
    Neither,
}

impl ReqKind {
    pub fn from_op(op: ApiOp) -> ReqKind {
        match op {
            ApiOp::Create { start, .. } => ReqKind::Create { start },
            ApiOp::Start => ReqKind::Start,
            ApiOp::Stop => ReqKind::Stop,
            ApiOp::Reboot => ReqKind::Reboot,
            ApiOp::Delete => ReqKind::Delete,
            ApiOp::Get => ReqKind::Get,
        }
    }

    pub fn class(self) -> Class {
        match self {
            ReqKind::Create { start: true } | ReqKind::Start | ReqKind::Reboot => Class::RunLike,
            ReqKind::Create { start: false }
            | ReqKind::Stop
            | ReqKind::Delete
            | ReqKind::GuestShutdown => Class::StopLike,
            ReqKind::Get => Class::Neither,
        }
    }

    /// The words a message or a mechanism uses for it.
    pub fn label(self) -> &'static str {
        match self {
            ReqKind::Create { start: true } => "create start=true",
            ReqKind::Create { start: false } => "create start=false",
            ReqKind::Start => "start",
            ReqKind::Stop => "stop",
            ReqKind::Reboot => "reboot",
            ReqKind::Delete => "delete",
            ReqKind::Get => "get",
            ReqKind::GuestShutdown => "guest shutdown",
        }
    }
}

/// What came back to the workload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Response {
    /// An HTTP status reached the client.
    Status(u16),
    /// The connection died or timed out: the request is indeterminate.
    NoResponse,
    /// A recorded guest shutdown: it happened at the moment Nexus recorded
    /// it, so it is complete at once.
    Recorded,
}

/// One request and everything known about it.
#[derive(Clone, Debug)]
pub struct Request {
    /// `None` for a recorded guest shutdown.
    pub req: Option<ReqId>,
    pub kind: ReqKind,
    /// The instance's name, as the workload named it.
    pub name: String,
    /// The instance it acts on, once known (Nexus's acceptance, the create's
    /// insert, the outcome, or the name's owner when it was sent).
    pub instance: Option<InstanceId>,
    pub sent: Stamp,
    /// When Nexus accepted it (a create: when its instance record
    /// committed).
    pub accepted: Option<Stamp>,
    /// When it was rejected (Nexus's validation, or a 4xx reached the
    /// client). A rejection undoes an acceptance: the design counts a
    /// sled agent's 4xx (other than NO_SUCH_INSTANCE) as "not accepted".
    pub rejected: Option<Stamp>,
    pub response: Option<(Stamp, Response)>,
    /// When Nexus wrote its response, whether or not the client got it.
    pub server_responded: Option<Stamp>,
    /// The records of the request itself: sent, accepted or rejected,
    /// responded, outcome.
    pub lines: Vec<Seq>,
}

impl Request {
    pub fn class(&self) -> Class {
        self.kind.class()
    }

    /// Accepted and not rejected since.
    pub fn is_accepted(&self) -> bool {
        self.accepted.is_some() && self.rejected.is_none()
    }

    /// Indeterminate: no response reached the client, Nexus neither
    /// rejected it nor finished it. It may have been accepted (Nexus may
    /// have died after accepting, before it could say so), so every
    /// history with it or without it is allowed.
    pub fn may_have_been_accepted(&self) -> bool {
        self.accepted.is_none()
            && self.rejected.is_none()
            && self.server_responded.is_none()
            && matches!(self.response, Some((_, Response::NoResponse)))
    }

    /// When the client learnt the request's outcome (a status, or a
    /// recorded guest shutdown). `None` while in flight or with no
    /// response: then the request is indeterminate.
    pub fn completed(&self) -> Option<Stamp> {
        match self.response {
            Some((s, Response::Status(_) | Response::Recorded)) => Some(s),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.response {
            Some((_, Response::Status(s))) => Some(s),
            _ => None,
        }
    }

    /// When the request was over, as far as anyone saw: the earlier of the
    /// client's response and Nexus's own response. Nexus responds only
    /// after its handler has done everything it will do (handlers run to
    /// completion even if the client hangs up), so a request whose
    /// response Nexus wrote is no longer in flight even if the client never
    /// heard back. Using it orders more pairs than the client's view alone,
    /// and every pair it orders is ordered in fact.
    pub fn finished(&self) -> Option<Stamp> {
        match (self.completed(), self.server_responded) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Real-time order: `self` precedes `other` when `self` was over before
    /// `other` was sent.
    pub fn precedes(&self, other: &Request) -> bool {
        self.finished().is_some_and(|f| f.seq < other.sent.seq)
    }

    /// Whether the request had been sent and was not yet over at `seq`.
    pub fn in_flight_at(&self, seq: u64) -> bool {
        self.sent.seq < seq && self.finished().is_none_or(|f| f.seq > seq)
    }

    /// "answered 503", "no response", "in flight", "recorded".
    pub fn outcome_words(&self) -> String {
        match self.response {
            Some((_, Response::Status(s))) => format!("answered {s}"),
            Some((_, Response::NoResponse)) => "got no response".to_string(),
            Some((_, Response::Recorded)) => "recorded".to_string(),
            None => "in flight".to_string(),
        }
    }

    /// "stop r-0000002a" or "guest shutdown".
    pub fn describe(&self) -> String {
        match self.req {
            Some(r) => format!("{} {r}", self.kind.label()),
            None => self.kind.label().to_string(),
        }
    }
}

/// What a start saga is for: its reason (from `SagaCreated`) and, for a
/// reincarnation, the row `instance_reincarnation` selected.
#[derive(Clone, Debug)]
pub struct SagaInfo {
    pub name: SagaName,
    pub instance: InstanceId,
    pub reason: Option<StartReason>,
    pub created_line: Option<Seq>,
    pub selection: Option<Selection>,
}

/// A reincarnation's choice, as the task saw it.
#[derive(Clone, Debug)]
pub struct Selection {
    /// The row reincarnation selected, as the db's history had it at the
    /// generation the decision names (state, active VMM, policy and
    /// cooldown; see `RequestTracker::as_the_db_had_it`).
    pub row: InstanceRow,
    /// The state of the selected row's active VMM, as the last VMM write
    /// before the decision left it (to tell a SagaUnwound VMM).
    pub vmm_state: Option<VmmState>,
    pub at: Millis,
    pub line: Seq,
}

/// A `MARK_AS_STARTING` commit: the start saga moved the instance to `Vmm`.
#[derive(Clone, Debug)]
pub struct MarkAsStarting {
    pub instance: InstanceId,
    pub saga: SagaId,
    pub before: InstanceRow,
    pub after: InstanceRow,
}

/// Whether `event` is an applied `MARK_AS_STARTING` write (the moment a
/// start saga commits to starting an instance), and its rows if so.
pub fn mark_as_starting(event: &Event) -> Option<MarkAsStarting> {
    match event {
        Event::InstanceWrite {
            query: Query::InstanceUpdateRuntime,
            cause: Cause::Saga { saga, node, .. },
            outcome: WriteOutcome::Applied,
            before: Some(before),
            after: Some(after),
        } if node == "MARK_AS_STARTING" => Some(MarkAsStarting {
            instance: after.id,
            saga: *saga,
            before: (**before).clone(),
            after: (**after).clone(),
        }),
        _ => None,
    }
}

/// The tracker. Feed it every record with [`RequestTracker::observe`] before
/// asking it anything about that record.
#[derive(Debug)]
pub struct RequestTracker {
    next_seq: u64,
    current: Stamp,
    requests: Vec<Request>,
    by_req: BTreeMap<ReqId, usize>,
    by_instance: BTreeMap<InstanceId, Vec<usize>>,
    /// The instance that holds each name now (the latest applied insert).
    names: BTreeMap<String, InstanceId>,
    instances: BTreeMap<InstanceId, InstanceRow>,
    vmms: BTreeMap<VmmId, VmmRow>,
    /// The VMM row the record observed last replaced (an applied VMM
    /// write's previous row, as the history had it).
    replaced_vmm: Option<VmmRow>,
    sagas: BTreeMap<SagaId, SagaInfo>,
    history: BTreeMap<InstanceId, Lines>,
    /// When each instance was last seen becoming Failed (its row, or its
    /// active VMM marked SagaUnwound).
    last_failed: BTreeMap<InstanceId, Stamp>,
    /// Each instance's state and active VMM at each generation its applied
    /// writes carried (the db's history; a reincarnation decision's copy
    /// of the row is judged against it).
    runtime_at: BTreeMap<InstanceId, BTreeMap<Generation, (InstanceState, Option<VmmId>)>>,
    /// VMMs a sled agent accepted a put-state Stopped for.
    stop_asked: BTreeSet<VmmId>,
    /// The sleds' ground truth: VMMs whose guest powered itself off (the
    /// VMM went Stopping on its sled before any put-state Stopped for it
    /// was accepted). A recorded guest shutdown needs one.
    guest_powered_off: BTreeSet<VmmId>,
}

impl Default for RequestTracker {
    fn default() -> Self {
        RequestTracker::new()
    }
}

impl RequestTracker {
    pub fn new() -> RequestTracker {
        RequestTracker {
            next_seq: 0,
            current: Stamp {
                seq: 0,
                at: Millis(0),
            },
            requests: Vec::new(),
            by_req: BTreeMap::new(),
            by_instance: BTreeMap::new(),
            names: BTreeMap::new(),
            instances: BTreeMap::new(),
            vmms: BTreeMap::new(),
            replaced_vmm: None,
            sagas: BTreeMap::new(),
            history: BTreeMap::new(),
            last_failed: BTreeMap::new(),
            runtime_at: BTreeMap::new(),
            stop_asked: BTreeSet::new(),
            guest_powered_off: BTreeSet::new(),
        }
    }

    /// The stamp of the record observed last.
    pub fn now(&self) -> Stamp {
        self.current
    }

    /// The sequence number of the record observed last.
    pub fn line(&self) -> Seq {
        self.current.seq
    }

    pub fn observe(&mut self, rec: &Record) {
        self.current = Stamp {
            seq: self.next_seq,
            at: rec.at,
        };
        self.next_seq += 1;
        self.replaced_vmm = None;
        let line = self.current.seq;
        match &rec.kind {
            RecordKind::Workload(w) => self.workload(w, line),
            RecordKind::Model(e) => self.model(e, line),
            RecordKind::Fault(f) => {
                let name = match f {
                    Fault::GuestShutdown { instance } | Fault::ForgetVmm { instance } => {
                        Some(instance)
                    }
                    _ => None,
                };
                if let Some(id) = name.and_then(|n| self.names.get(n).copied()) {
                    self.remember(id, line);
                }
            }
            RecordKind::Point { .. }
            | RecordKind::Unpause { .. }
            | RecordKind::Heal
            | RecordKind::Upgrade { .. } => {}
        }
    }

    fn remember(&mut self, id: InstanceId, line: Seq) {
        self.history
            .entry(id)
            .or_insert_with(|| Lines::new(INSTANCE_HISTORY))
            .push(line);
    }

    fn attach(&mut self, idx: usize, id: InstanceId) {
        if self.requests[idx].instance == Some(id) {
            return;
        }
        if let Some(old) = self.requests[idx].instance {
            if let Some(v) = self.by_instance.get_mut(&old) {
                v.retain(|i| *i != idx);
            }
        }
        self.requests[idx].instance = Some(id);
        self.by_instance.entry(id).or_default().push(idx);
    }

    fn workload(&mut self, w: &WorkloadEvent, line: Seq) {
        let now = self.current;
        match w {
            WorkloadEvent::RequestSent { req, op, instance } => {
                let kind = ReqKind::from_op(*op);
                let idx = self.requests.len();
                self.requests.push(Request {
                    req: Some(*req),
                    kind,
                    name: instance.clone(),
                    instance: None,
                    sent: now,
                    accepted: None,
                    rejected: None,
                    response: None,
                    server_responded: None,
                    lines: vec![line],
                });
                self.by_req.insert(*req, idx);
                // A create names an instance that does not exist yet (the
                // name may still belong to a deleted one); every other
                // request acts on the name's current owner until Nexus says
                // otherwise.
                if !matches!(kind, ReqKind::Create { .. }) {
                    if let Some(id) = self.names.get(instance).copied() {
                        self.attach(idx, id);
                    }
                }
            }
            WorkloadEvent::Outcome { req, outcome, .. } => {
                let Some(&idx) = self.by_req.get(req) else {
                    return;
                };
                self.requests[idx].lines.push(line);
                match outcome {
                    RequestOutcome::Status { status, instance } => {
                        if let Some(id) = instance {
                            self.attach(idx, *id);
                        }
                        let r = &mut self.requests[idx];
                        r.response = Some((now, Response::Status(*status)));
                        // A run-like request Nexus accepted whose start
                        // saga then lost to a concurrent start answers 409
                        // (`sis_move_to_starting`: "instance changed state
                        // before it could be started",
                        // nexus/src/app/sagas/instance_start.rs), but its
                        // intent stands and another start carries it out:
                        // still accepted. Every other 4xx rejects it.
                        let lost_race = *status == 409
                            && r.accepted.is_some()
                            && r.kind.class() == Class::RunLike;
                        if (400..500).contains(status) && !lost_race {
                            r.rejected.get_or_insert(now);
                        } else if (200..300).contains(status) && r.accepted.is_none() {
                            // A success means Nexus accepted it, even if the
                            // model did not say when; the latest it can have
                            // been is now.
                            r.accepted = Some(now);
                        }
                    }
                    RequestOutcome::NoResponse => {
                        self.requests[idx].response = Some((now, Response::NoResponse));
                    }
                }
            }
        }
        let r = self.by_req.get(match w {
            WorkloadEvent::RequestSent { req, .. } | WorkloadEvent::Outcome { req, .. } => req,
        });
        if let Some(id) = r.and_then(|i| self.requests[*i].instance) {
            self.remember(id, line);
        }
    }

    /// A row a background task says it read, with what the db's history
    /// shows for it: the state and active VMM the applied writes left at
    /// the row's generation, and the policy and cooldown of the instance's
    /// record (set by its create, never written since). The task's copy is
    /// the code under test's claim; a task that misreports what it selected
    /// is judged by what the db held. A generation the history never saw
    /// keeps the claim.
    fn as_the_db_had_it(&self, claimed: &InstanceRow) -> InstanceRow {
        let mut row = claimed.clone();
        if let Some(&(state, vmm)) = self
            .runtime_at
            .get(&row.id)
            .and_then(|g| g.get(&row.runtime.gen))
        {
            row.runtime.nexus_state = state;
            row.runtime.propolis_id = vmm;
        }
        if let Some(now) = self.instances.get(&row.id) {
            row.auto_restart_policy = now.auto_restart_policy;
            row.auto_restart_cooldown = now.auto_restart_cooldown;
        }
        row
    }

    /// Follows what the sled agents did to their VMMs: stops they were
    /// asked for, and guests that powered themselves off.
    fn sled_truth(&mut self, e: &Event) {
        match e {
            Event::SledPutState {
                vmm,
                requested: RequestedState::Stopped,
                accepted: true,
                ..
            } => {
                self.stop_asked.insert(*vmm);
            }
            Event::VmmOnSled {
                vmm,
                state: VmmState::Stopping,
                ..
            } if !self.stop_asked.contains(vmm) => {
                self.guest_powered_off.insert(*vmm);
            }
            _ => {}
        }
    }

    fn model(&mut self, e: &Event, line: Seq) {
        let now = self.current;
        let mut about: Option<InstanceId> = None;
        self.sled_truth(e);
        match e {
            Event::HostStarted => {}
            Event::ApiAccepted { req, op, instance } => {
                about = Some(*instance);
                if let Some(&idx) = self.by_req.get(req) {
                    self.attach(idx, *instance);
                    let r = &mut self.requests[idx];
                    r.lines.push(line);
                    // A create counts from its insert, not from Nexus's
                    // word; everything else from Nexus's acceptance.
                    if !matches!(op, ApiOp::Create { .. }) && r.accepted.is_none() {
                        r.accepted = Some(now);
                    }
                }
            }
            Event::ApiRejected { req, instance, .. } => {
                if let Some(&idx) = self.by_req.get(req) {
                    if let Some(id) = instance {
                        self.attach(idx, *id);
                    }
                    let r = &mut self.requests[idx];
                    r.lines.push(line);
                    r.rejected.get_or_insert(now);
                    about = r.instance;
                }
            }
            Event::ApiResponded { req, .. } => {
                if let Some(&idx) = self.by_req.get(req) {
                    let r = &mut self.requests[idx];
                    r.lines.push(line);
                    r.server_responded.get_or_insert(now);
                    about = r.instance;
                }
            }
            Event::SagaCreated {
                saga,
                name,
                instance,
                reason,
            } => {
                about = Some(*instance);
                let info = self.sagas.entry(*saga).or_insert(SagaInfo {
                    name: *name,
                    instance: *instance,
                    reason: *reason,
                    created_line: None,
                    selection: None,
                });
                info.reason = info.reason.or(*reason);
                info.created_line.get_or_insert(line);
            }
            Event::SagaResumed { instance, .. } | Event::SagaFinished { instance, .. } => {
                about = Some(*instance)
            }
            Event::SagaNode { saga, .. } => about = self.sagas.get(saga).map(|s| s.instance),
            Event::InstanceWrite {
                query,
                outcome,
                before,
                after,
                cause,
            } => {
                let row = after.as_ref().or(before.as_ref());
                about = row.map(|r| r.id);
                // `fixed` writes the intent in the transaction that
                // validates the request: its commit is the acceptance, even
                // if Nexus never gets to say so.
                if let (
                    Query::InstanceSetIntendedStateValidated,
                    WriteOutcome::Applied,
                    Cause::Api { req },
                    Some(row),
                ) = (query, outcome, cause, row)
                {
                    if let Some(&idx) = self.by_req.get(req) {
                        self.attach(idx, row.id);
                        let r = &mut self.requests[idx];
                        r.lines.push(line);
                        // A create with `start = true` writes its Running
                        // intent in its start half, after the insert that
                        // accepted the record: that write is when its start
                        // was accepted, and it orders the create after a
                        // delete or stop whose intent committed in between
                        // (swarm seeds 14788, 18147, 18973 at e15e87f).
                        if r.kind == (ReqKind::Create { start: true }) {
                            r.accepted = Some(now);
                        } else {
                            r.accepted.get_or_insert(now);
                        }
                    }
                }
                if *outcome == WriteOutcome::Applied {
                    self.instance_write(*query, before.as_deref(), after.as_deref(), line);
                }
            }
            Event::VmmWrite {
                outcome,
                before,
                after,
                ..
            } => {
                about = after.as_ref().or(before.as_ref()).map(|r| r.instance_id);
                if *outcome == WriteOutcome::Applied {
                    if let Some(a) = after {
                        self.replaced_vmm = self.vmms.insert(a.id, (**a).clone());
                        if a.runtime.state == VmmState::SagaUnwound
                            && self
                                .instances
                                .get(&a.instance_id)
                                .is_some_and(|i| i.runtime.propolis_id == Some(a.id))
                        {
                            self.last_failed.insert(a.instance_id, now);
                        }
                    }
                }
            }
            Event::ReservationWrite { before, after, .. } => {
                about = after.as_ref().or(before.as_ref()).map(|r| r.instance_id)
            }
            Event::VmmOnSled { instance, .. }
            | Event::VmmGone { instance, .. }
            | Event::LockRetry { instance, .. } => about = Some(*instance),
            Event::SledPutState { vmm, .. }
            | Event::SledCallFailed { vmm, .. }
            | Event::PushRetry { vmm, .. } => about = self.vmms.get(vmm).map(|v| v.instance_id),
            Event::TaskDecision {
                instance, decision, ..
            } => {
                about = Some(*instance);
                if let Decision::Reincarnate { saga, selected, .. } = decision {
                    let selected = self.as_the_db_had_it(selected);
                    let vmm_state = selected
                        .runtime
                        .propolis_id
                        .and_then(|v| self.vmms.get(&v))
                        .map(|v| v.runtime.state);
                    let info = self.sagas.entry(*saga).or_insert(SagaInfo {
                        name: SagaName::InstanceStart,
                        instance: *instance,
                        reason: Some(StartReason::AutoRestart),
                        created_line: None,
                        selection: None,
                    });
                    info.selection = Some(Selection {
                        row: selected,
                        vmm_state,
                        at: now.at,
                        line,
                    });
                }
            }
        }
        if let Some(id) = about {
            self.remember(id, line);
        }
    }

    fn instance_write(
        &mut self,
        query: Query,
        before: Option<&InstanceRow>,
        after: Option<&InstanceRow>,
        line: Seq,
    ) {
        let now = self.current;
        if query == Query::InstanceInsert {
            if let Some(a) = after {
                self.names.insert(a.name.clone(), a.id);
                // The create this insert belongs to: the latest create of
                // that name not yet accepted or rejected.
                let idx = self.requests.iter().rposition(|r| {
                    matches!(r.kind, ReqKind::Create { .. })
                        && r.name == a.name
                        && r.accepted.is_none()
                        && r.rejected.is_none()
                });
                if let Some(idx) = idx {
                    self.attach(idx, a.id);
                    let r = &mut self.requests[idx];
                    r.accepted = Some(now);
                    r.lines.push(line);
                }
            }
        }
        // The create saga unwound: its undo deleted the record while still
        // Creating. The create did not take effect after all.
        // A deleted instance's name no longer names it: Nexus looks names
        // up among live instances, so a later request cannot act on it.
        if matches!(
            query,
            Query::InstanceDeleteCreating | Query::ProjectDeleteInstance
        ) {
            if let Some(b) = before {
                if self.names.get(&b.name) == Some(&b.id) {
                    self.names.remove(&b.name);
                }
            }
        }
        if query == Query::InstanceDeleteCreating {
            if let Some(b) = before {
                let idx = self.requests.iter().rposition(|r| {
                    matches!(r.kind, ReqKind::Create { .. }) && r.instance == Some(b.id)
                });
                if let Some(idx) = idx {
                    let r = &mut self.requests[idx];
                    r.rejected = Some(now);
                    r.lines.push(line);
                }
            }
        }
        if query == Query::InstanceCommitUpdate {
            if let (Some(b), Some(a)) = (before, after) {
                self.maybe_guest_shutdown(b, a, line);
            }
        }
        match after {
            Some(a) => {
                let failed = a.runtime.nexus_state == InstanceState::Failed
                    || (a.runtime.nexus_state == InstanceState::Vmm
                        && a.runtime
                            .propolis_id
                            .and_then(|v| self.vmms.get(&v))
                            .is_some_and(|v| v.runtime.state == VmmState::SagaUnwound));
                let was_failed = before.is_some_and(|b| {
                    b.runtime.nexus_state == a.runtime.nexus_state
                        && b.runtime.propolis_id == a.runtime.propolis_id
                });
                if failed && !was_failed {
                    self.last_failed.insert(a.id, now);
                }
                self.runtime_at.entry(a.id).or_default().insert(
                    a.runtime.gen,
                    (a.runtime.nexus_state, a.runtime.propolis_id),
                );
                self.instances.insert(a.id, a.clone());
            }
            None => {
                if let Some(b) = before {
                    self.instances.remove(&b.id);
                }
            }
        }
    }

    /// The design's recorded guest shutdown: the update saga's commit takes
    /// the instance from `Vmm` with a VMM whose last row state is Destroyed
    /// to `NoVmm`, while no stop-like request was accepted since the last
    /// run-like one (so nobody asked for it).
    ///
    /// Where Nexus tracks intent, the commit that writes intent
    /// `GuestShutdown` is itself the record: the saga decided from the
    /// Destroyed VMM in its snapshot, even if a later write (a concurrent
    /// `mark_vmm_failed`) changed that VMM's row before the commit.
    ///
    /// Either way the sled must say the guest powered itself off: the
    /// VMM's Destroyed row and the `GuestShutdown` intent are written by
    /// the code under test, and a VMM a stop destroyed is no guest
    /// shutdown even when a run-like request was accepted after the stop
    /// (swarm seed 12709 of `fixed`, build abce611: a reboot accepted
    /// after a stop had halted the VMM, then the update saga).
    /// Whether a sled agent accepted a put-state Stopped for `vmm` so far
    /// (the sleds' ground truth: a stop Nexus asked for, not a guest's own
    /// power-off).
    pub fn stop_asked(&self, vmm: VmmId) -> bool {
        self.stop_asked.contains(&vmm)
    }

    fn maybe_guest_shutdown(&mut self, b: &InstanceRow, a: &InstanceRow, line: Seq) {
        let unlinked = b.runtime.nexus_state == InstanceState::Vmm
            && a.runtime.nexus_state == InstanceState::NoVmm;
        let intent_recorded = a.intended_state == IntendedState::GuestShutdown
            && b.intended_state != IntendedState::GuestShutdown;
        let powered_off = b
            .runtime
            .propolis_id
            .is_some_and(|v| self.guest_powered_off.contains(&v));
        let destroyed = unlinked
            && powered_off
            && (intent_recorded
                || b.runtime
                    .propolis_id
                    .and_then(|v| self.vmms.get(&v))
                    .is_some_and(|v| v.runtime.state == VmmState::Destroyed));
        if !destroyed {
            return;
        }
        let last_accepted = |class: Class| {
            self.requests_of(a.id)
                .filter(|r| r.class() == class && r.is_accepted())
                .filter_map(|r| r.accepted)
                .max()
        };
        let run = last_accepted(Class::RunLike);
        let stop = last_accepted(Class::StopLike);
        if run.is_none() || stop > run {
            return;
        }
        let now = self.current;
        let idx = self.requests.len();
        self.requests.push(Request {
            req: None,
            kind: ReqKind::GuestShutdown,
            name: a.name.clone(),
            instance: None,
            sent: now,
            accepted: Some(now),
            rejected: None,
            response: Some((now, Response::Recorded)),
            server_responded: Some(now),
            lines: vec![line],
        });
        self.attach(idx, a.id);
    }

    /// Every request of an instance (guest shutdowns included), in the
    /// order they were sent.
    pub fn requests_of(&self, id: InstanceId) -> impl Iterator<Item = &Request> {
        let mut idx = self.by_instance.get(&id).cloned().unwrap_or_default();
        idx.sort_unstable();
        idx.into_iter().map(move |i| &self.requests[i])
    }

    /// The accepted, not rejected, requests of an instance that change
    /// something (no gets).
    pub fn accepted_of(&self, id: InstanceId) -> Vec<&Request> {
        self.requests_of(id)
            .filter(|r| {
                (r.is_accepted() || r.may_have_been_accepted()) && r.class() != Class::Neither
            })
            .collect()
    }

    /// Every instance the tracker has requests for, in id order.
    pub fn instances_with_requests(&self) -> Vec<InstanceId> {
        self.by_instance
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The requests that may have been the last to take effect on the
    /// instance, under the design's order rules: a request with a response
    /// is a candidate when no other request with a response follows it in
    /// real time (the history without any indeterminate request); a request
    /// with no response is a candidate unless Nexus's own response to it
    /// came before an answered request was sent (the history with it, taking
    /// effect last; a request Nexus had finished cannot take effect after a
    /// later one). The union covers every allowed history, and each
    /// candidate comes from one consistent choice, never a mixture.
    ///
    /// The one history the union leaves out is "no request took effect at
    /// all", which can only arise when every accepted request of the
    /// instance is indeterminate, and so includes its create. That history
    /// is impossible: the instance's record exists because its create's
    /// insert committed, and the insert carries the create's intent. So a
    /// create with `start: true` that got no response (Nexus died between
    /// the create and start sagas) still owes a Running instance.
    pub fn possible_last(&self, id: InstanceId) -> Vec<&Request> {
        Self::maximal(self.accepted_of(id))
    }

    /// [`possible_last`](Self::possible_last) over user requests only,
    /// leaving out recorded guest shutdowns: what the instance would owe
    /// its users had the guest not powered off.
    pub fn possible_last_user(&self, id: InstanceId) -> Vec<&Request> {
        Self::maximal(
            self.accepted_of(id)
                .into_iter()
                .filter(|r| r.kind != ReqKind::GuestShutdown)
                .collect(),
        )
    }

    /// Whether the history in which no request of the instance took effect
    /// is allowed: every request that may have taken effect is
    /// indeterminate (none known accepted). [`possible_last`](Self::possible_last)
    /// leaves that history out because a create whose insert committed is
    /// accepted; it is allowed when the create's own unwinding saga
    /// deleted the record (`InstanceDeleteCreating` rejects the create)
    /// and only requests Nexus may never have seen are left.
    pub fn none_may_have_taken_effect(&self, id: InstanceId) -> bool {
        let reqs = self.accepted_of(id);
        !reqs.is_empty() && reqs.iter().all(|r| r.may_have_been_accepted())
    }

    fn maximal(reqs: Vec<&Request>) -> Vec<&Request> {
        reqs.iter()
            .copied()
            .filter(|r| {
                !reqs
                    .iter()
                    .any(|o| o.completed().is_some() && r.precedes(o))
            })
            .collect()
    }

    /// The run-like request that excuses a start after the stop-like `s`:
    /// one accepted after `s` was sent, or still in flight when `s`
    /// completed (no_unintended_restart's "unless").
    pub fn excuse_for<'a>(&'a self, id: InstanceId, s: &Request) -> Option<&'a Request> {
        let done = s.completed()?;
        self.accepted_of(id).into_iter().find(|r| {
            r.class() == Class::RunLike
                && (r.accepted.is_some_and(|a| a.seq > s.sent.seq) || r.in_flight_at(done.seq))
        })
    }

    /// The latest stop-like request of the instance that completed (the
    /// client heard back, or a guest shutdown was recorded) before `seq`
    /// and that no run-like request excuses. A stop-like request with no
    /// response never counts: the history without it is allowed.
    pub fn unexcused_stop(&self, id: InstanceId, seq: u64) -> Option<&Request> {
        self.accepted_of(id)
            .into_iter()
            .filter(|s| s.class() == Class::StopLike)
            .filter(|s| s.completed().is_some_and(|c| c.seq < seq))
            .filter(|s| self.excuse_for(id, s).is_none())
            .max_by_key(|s| s.completed())
    }

    pub fn instance_row(&self, id: InstanceId) -> Option<&InstanceRow> {
        self.instances.get(&id)
    }

    pub fn vmm_row(&self, id: VmmId) -> Option<&VmmRow> {
        self.vmms.get(&id)
    }

    /// The VMM row the record observed last replaced, if it was an
    /// applied VMM write of a row the history had seen.
    pub fn replaced_vmm(&self) -> Option<&VmmRow> {
        self.replaced_vmm.as_ref()
    }

    pub fn saga(&self, id: SagaId) -> Option<&SagaInfo> {
        self.sagas.get(&id)
    }

    /// The instance that holds `name` now.
    pub fn instance_named(&self, name: &str) -> Option<InstanceId> {
        self.names.get(name).copied()
    }

    /// When the instance last became Failed (or its active VMM
    /// SagaUnwound), if ever.
    pub fn last_failed(&self, id: InstanceId) -> Option<Stamp> {
        self.last_failed.get(&id).copied()
    }

    /// The evidence of a start saga's commit, the record observed last:
    /// `first` (what makes it wrong), the reincarnation that selected the
    /// saga's row and the saga's creation when the history has them, the
    /// commit, then the instance's last dozen records.
    pub fn start_evidence(&self, first: Vec<Seq>, saga: SagaId, instance: InstanceId) -> Vec<Seq> {
        let mut evidence = first;
        if let Some(info) = self.saga(saga) {
            evidence.extend(info.selection.as_ref().map(|s| s.line));
            evidence.extend(info.created_line);
        }
        evidence.push(self.line());
        extend_unique(&mut evidence, self.history(instance, 12));
        evidence
    }

    /// The instance's most recent records, at most `n`.
    pub fn history(&self, id: InstanceId, n: usize) -> Vec<Seq> {
        self.history.get(&id).map(|l| l.last(n)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use model::event::ApiOp;

    fn tracker(s: &Story) -> RequestTracker {
        let mut t = RequestTracker::new();
        for r in &s.records {
            t.observe(r);
        }
        t
    }

    #[test]
    fn create_counts_from_its_insert_and_maps_the_name() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let t = tracker(&s);
        assert_eq!(t.instance_named("web"), Some(id));
        let acc = t.accepted_of(id);
        assert_eq!(acc.len(), 1);
        assert_eq!(acc[0].kind, ReqKind::Create { start: true });
        let insert = s
            .records
            .iter()
            .position(|r| {
                matches!(
                    &r.kind,
                    RecordKind::Model(Event::InstanceWrite {
                        query: Query::InstanceInsert,
                        ..
                    })
                )
            })
            .unwrap() as u64;
        assert_eq!(acc[0].accepted.unwrap().seq, insert);
    }

    #[test]
    fn a_4xx_undoes_acceptance_and_a_rejection_is_never_accepted() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let r = s.send_accepted(ApiOp::Stop, id);
        s.respond(r, ApiOp::Stop, "web", 409);
        let r2 = s.send(ApiOp::Reboot, "web");
        s.reject(r2, ApiOp::Reboot, id, 400);
        s.respond(r2, ApiOp::Reboot, "web", 400);
        let t = tracker(&s);
        let kinds: Vec<ReqKind> = t.accepted_of(id).iter().map(|r| r.kind).collect();
        assert_eq!(kinds, vec![ReqKind::Create { start: false }]);
    }

    /// A start whose saga lost to a concurrent start answers 409 after
    /// Nexus accepted it; its intent stands, so it stays accepted.
    #[test]
    fn a_start_that_lost_the_race_to_another_start_stays_accepted() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let r = s.send_accepted(ApiOp::Start, id);
        s.respond(r, ApiOp::Start, "web", 409);
        let t = tracker(&s);
        let kinds: Vec<ReqKind> = t.accepted_of(id).iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            vec![ReqKind::Create { start: false }, ReqKind::Start]
        );
    }

    #[test]
    fn overlapping_requests_are_both_possible_last() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let start = s.send_accepted(ApiOp::Start, id);
        let stop = s.send_accepted(ApiOp::Stop, id);
        s.respond(stop, ApiOp::Stop, "web", 202);
        s.respond(start, ApiOp::Start, "web", 202);
        let t = tracker(&s);
        let mut last: Vec<&str> = t.possible_last(id).iter().map(|r| r.kind.label()).collect();
        last.sort();
        assert_eq!(last, vec!["start", "stop"]);
    }

    #[test]
    fn a_request_with_no_response_is_always_possibly_last() {
        let (s, id) = Story::stop_with_no_response();
        let t = tracker(&s);
        let mut last: Vec<&str> = t.possible_last(id).iter().map(|r| r.kind.label()).collect();
        last.sort();
        assert_eq!(last, vec!["create start=true", "stop"]);
        // It never forbids a restart either.
        assert!(t.unexcused_stop(id, u64::MAX).is_none());
    }

    #[test]
    fn nexus_response_orders_a_request_the_client_never_heard_back_from() {
        let (mut s, id, stop) = Story::stop_accepted();
        s.server_respond(stop, ApiOp::Stop, 202);
        s.no_response(stop, ApiOp::Stop, "web");
        let start = s.send_accepted(ApiOp::Start, id);
        s.respond(start, ApiOp::Start, "web", 202);
        let t = tracker(&s);
        let last: Vec<&str> = t.possible_last(id).iter().map(|r| r.kind.label()).collect();
        // Nexus finished the stop before the start was sent: in no history
        // can the stop be last.
        assert_eq!(last, vec!["start"]);
    }

    #[test]
    fn guest_shutdown_is_recorded_only_when_nobody_asked_for_a_stop() {
        let (s, id) = Story::guest_shutdown_after_create();
        let t = tracker(&s);
        let last = t.possible_last(id);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].kind, ReqKind::GuestShutdown);

        let (mut s, id, stop) = Story::stop_accepted();
        s.stop_vmm(id);
        s.respond(stop, ApiOp::Stop, "web", 202);
        let t = tracker(&s);
        assert!(t.requests_of(id).all(|r| r.kind != ReqKind::GuestShutdown));
    }

    /// Swarm seed 12709 of `fixed` (build abce611): a stop halts the VMM,
    /// a reboot is accepted (503) before the update saga processed the
    /// Destroyed VMM, then the saga unlinks it. The sled was asked to stop
    /// that VMM: no guest shutdown, and the reboot is the last request.
    #[test]
    fn a_vmm_a_stop_destroyed_is_no_guest_shutdown_even_after_a_reboot() {
        let (mut s, id, stop) = Story::stop_accepted();
        let vmm = s.active_vmm(id);
        s.model(
            model::ids::HostId::Sled(model::ids::SledId(0)),
            Event::SledPutState {
                sled: model::ids::SledId(0),
                vmm,
                requested: RequestedState::Stopped,
                accepted: true,
            },
        );
        s.sled_state(vmm, VmmState::Stopping);
        s.sled_state(vmm, VmmState::Destroyed);
        s.respond(stop, ApiOp::Stop, "web", 202);
        let reboot = s.send_accepted(ApiOp::Reboot, id);
        s.respond(reboot, ApiOp::Reboot, "web", 503);
        s.update_saga(id, InstanceState::NoVmm, None);
        let t = tracker(&s);
        assert!(t.requests_of(id).all(|r| r.kind != ReqKind::GuestShutdown));
        let last: Vec<&str> = t.possible_last(id).iter().map(|r| r.kind.label()).collect();
        assert_eq!(last, vec!["reboot"]);
    }

    #[test]
    fn a_run_like_request_after_the_stop_excuses_it() {
        let (mut s, id, stop) = Story::stop_accepted();
        s.stop_vmm(id);
        s.respond(stop, ApiOp::Stop, "web", 202);
        let t = tracker(&s);
        let s1 = t
            .unexcused_stop(id, u64::MAX)
            .expect("the stop is unexcused");
        assert_eq!(s1.kind, ReqKind::Stop);
        s.send_accepted(ApiOp::Start, id);
        let t = tracker(&s);
        assert!(t.unexcused_stop(id, u64::MAX).is_none());
    }

    #[test]
    fn a_reused_name_maps_requests_to_the_new_instance() {
        let (mut s, old) = Story::stopped_and_deleted();
        let (new, _) = s.create("web", false, None);
        assert_ne!(old, new);
        let start = s.send(ApiOp::Start, "web");
        s.respond(start, ApiOp::Start, "web", 202);
        let t = tracker(&s);
        assert_eq!(t.instance_named("web"), Some(new));
        let kinds: Vec<ReqKind> = t.accepted_of(new).iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            vec![ReqKind::Create { start: false }, ReqKind::Start]
        );
        let old_last: Vec<ReqKind> = t.possible_last(old).iter().map(|r| r.kind).collect();
        assert_eq!(old_last, vec![ReqKind::Delete]);
    }
}
