//! The observer of one run: it implements the model's `Probe`, stamps every
//! event with virtual time and host, feeds the safety checkers as events
//! happen, and keeps what the runner needs to decide (armed points, hosts
//! that halted, what each sled holds).

use crate::checkers::view::View;
use crate::checkers::{Checker, Violation};
use crate::record::{PointArm, Record, RecordKind};
use model::event::SledCall;
use model::event::{Event, Query, VmmGoneReason, WriteOutcome};
use model::ids::{HostId, InstanceId, Millis, SledId, VmmId};
use model::probe::{PointAction, Probe, SledFault};
use model::states::{Generation, VmmState};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// What a sled agent holds, as its events tell.
pub type SledTables = BTreeMap<SledId, BTreeMap<VmmId, (VmmState, Generation)>>;

#[derive(Default)]
struct Inner {
    now: Millis,
    records: Vec<Record>,
    checkers: Vec<Box<dyn Checker>>,
    /// The one history the checkers read, updated once per record (only
    /// when there are checkers).
    view: View,
    violations: Vec<Violation>,
    armed: BTreeMap<(HostId, String), PointArm>,
    paused: BTreeSet<(HostId, String)>,
    reached: BTreeSet<(HostId, String)>,
    /// Per (host, point): the order number of its latest pass, and of its
    /// latest arming (one counter for both), for `wait = { point }`.
    passed_at: BTreeMap<(HostId, String), u64>,
    armed_at: BTreeMap<(HostId, String), u64>,
    order: u64,
    /// Each instance's newest VMM, for `vmm_state` conditions.
    newest_vmm: BTreeMap<InstanceId, VmmId>,
    halted: Vec<HostId>,
    names: BTreeMap<InstanceId, String>,
    sleds: SledTables,
    /// Sled-agent calls made to fail (`sled_error`, `sled_hang`).
    sled_faults: BTreeMap<(SledId, SledCall), ArmedSledFault>,
    /// Points armed to hang through heal.
    hung_for_ever: BTreeSet<(HostId, String)>,
    /// Held links that deliver late (`hold` with `deliver_late`), each as
    /// its (lower, higher) pair of hosts.
    late_links: BTreeSet<(HostId, HostId)>,
}

/// A sled-agent call made to fail, until `remaining` calls failed or
/// virtual time `until`, whichever comes first (neither: until heal).
#[derive(Clone, Copy, Debug)]
struct ArmedSledFault {
    fault: SledFault,
    remaining: Option<u32>,
    until: Option<Millis>,
}

/// What [`Recorder::finish`] hands back: the checkers, the view they read
/// (for their `finish`), every record and the safety violations so far.
pub struct Finished {
    pub checkers: Vec<Box<dyn Checker>>,
    pub view: View,
    pub records: Vec<Record>,
    pub violations: Vec<Violation>,
}

/// Records one run. Install it with `model::probe::install`.
#[derive(Default)]
pub struct Recorder {
    inner: RefCell<Inner>,
}

impl Recorder {
    pub fn new(checkers: Vec<Box<dyn Checker>>) -> Recorder {
        Recorder {
            inner: RefCell::new(Inner {
                checkers,
                ..Inner::default()
            }),
        }
    }

    /// Sets the virtual time of the step about to run.
    pub fn set_now(&self, now: Millis) {
        self.inner.borrow_mut().now = now;
    }

    pub fn now(&self) -> Millis {
        self.inner.borrow().now
    }

    /// Appends a record and shows it to the checkers.
    pub fn record(&self, host: HostId, kind: RecordKind) {
        let mut inner = self.inner.borrow_mut();
        let at = now_or(&inner);
        inner.now = at;
        let record = Record { at, host, kind };
        inner.track(&record);
        let Inner {
            checkers,
            view,
            violations,
            ..
        } = &mut *inner;
        if !checkers.is_empty() {
            view.observe(&record);
            for c in checkers.iter_mut() {
                c.observe(&record, view, violations);
            }
        }
        inner.records.push(record);
    }

    /// Arms a named point on a host.
    pub fn arm(&self, host: HostId, point: &str, arm: PointArm) {
        let mut inner = self.inner.borrow_mut();
        inner.order += 1;
        let order = inner.order;
        inner.armed_at.insert((host, point.to_string()), order);
        inner.armed.insert((host, point.to_string()), arm);
    }

    /// Releases a host paused at `point` (and disarms it).
    pub fn unpause(&self, host: HostId, point: &str) {
        let mut inner = self.inner.borrow_mut();
        let key = (host, point.to_string());
        inner.paused.remove(&key);
        inner.armed.remove(&key);
    }

    /// Disarms every point and releases every paused host (the heal).
    /// Hangs armed `through_heal` stay armed and stay hung.
    pub fn disarm_all(&self) -> Vec<(HostId, String)> {
        let mut inner = self.inner.borrow_mut();
        inner
            .armed
            .retain(|_, arm| *arm == PointArm::Hang { through_heal: true });
        inner.sled_faults.clear();
        let hung = inner.hung_for_ever.clone();
        let (kept, released): (BTreeSet<_>, BTreeSet<_>) = std::mem::take(&mut inner.paused)
            .into_iter()
            .partition(|k| hung.contains(k));
        inner.paused = kept;
        released.into_iter().collect()
    }

    /// Makes calls between `a` and `b` (either way) keep their connection
    /// past their caller's timeout while `on` (a `hold` with
    /// `deliver_late`), or stops it.
    pub fn set_delivers_late(&self, a: HostId, b: HostId, on: bool) {
        let link = (a.min(b), a.max(b));
        let mut inner = self.inner.borrow_mut();
        if on {
            inner.late_links.insert(link);
        } else {
            inner.late_links.remove(&link);
        }
    }

    /// Makes sled agent `sled` fail `call`: for `count` calls, for
    /// `for_time` from now, or (neither) until heal.
    pub fn arm_sled_fault(
        &self,
        sled: SledId,
        call: SledCall,
        fault: SledFault,
        count: Option<u32>,
        for_time: Option<std::time::Duration>,
    ) {
        let mut inner = self.inner.borrow_mut();
        let until = for_time.map(|t| Millis(inner.now.0 + t.as_millis() as u64));
        inner.sled_faults.insert(
            (sled, call),
            ArmedSledFault {
                fault,
                remaining: count,
                until,
            },
        );
    }

    /// Hosts that halted at a point since the last call: crash them.
    pub fn take_halted(&self) -> Vec<HostId> {
        std::mem::take(&mut self.inner.borrow_mut().halted)
    }

    pub fn reached(&self, host: Option<HostId>, point: &str) -> bool {
        self.inner
            .borrow()
            .reached
            .iter()
            .any(|(h, p)| p == point && host.is_none_or(|x| x == *h))
    }

    /// Whether `point` was passed (on `host`, if given) after it was last
    /// armed on that host; on a host where it was never armed, any pass
    /// counts. What a `wait = { point }` step waits for: a pass before
    /// the pause (or crash, or hang) was armed is not the one it means.
    pub fn reached_since_armed(&self, host: Option<HostId>, point: &str) -> bool {
        let inner = self.inner.borrow();
        inner.passed_at.iter().any(|((h, p), at)| {
            p == point
                && host.is_none_or(|x| x == *h)
                && *at > inner.armed_at.get(&(*h, p.clone())).copied().unwrap_or(0)
        })
    }

    /// Every named point some host passed so far.
    pub fn points_reached(&self) -> BTreeSet<String> {
        self.inner
            .borrow()
            .reached
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }

    pub fn is_paused_anywhere(&self) -> bool {
        !self.inner.borrow().paused.is_empty()
    }

    pub fn name_of(&self, id: InstanceId) -> Option<String> {
        self.inner.borrow().names.get(&id).cloned()
    }

    pub fn id_of(&self, name: &str) -> Option<InstanceId> {
        self.inner
            .borrow()
            .names
            .iter()
            .rev()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)
    }

    /// Instance ids and their names, for rendering.
    pub fn names(&self) -> BTreeMap<InstanceId, String> {
        self.inner.borrow().names.clone()
    }

    /// The newest VMM record made for an instance.
    pub fn newest_vmm(&self, id: InstanceId) -> Option<VmmId> {
        self.inner.borrow().newest_vmm.get(&id).copied()
    }

    pub fn sled_tables(&self) -> SledTables {
        self.inner.borrow().sleds.clone()
    }

    /// The number of records so far.
    pub fn len(&self) -> usize {
        self.inner.borrow().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records from index `from` on.
    pub fn records_from(&self, from: usize) -> Vec<Record> {
        self.inner.borrow().records[from..].to_vec()
    }

    pub fn violations_len(&self) -> usize {
        self.inner.borrow().violations.len()
    }

    /// Takes the checkers, their view, the records and the violations at
    /// the end of the run.
    pub fn finish(&self) -> Finished {
        let mut inner = self.inner.borrow_mut();
        Finished {
            checkers: std::mem::take(&mut inner.checkers),
            view: std::mem::take(&mut inner.view),
            records: std::mem::take(&mut inner.records),
            violations: std::mem::take(&mut inner.violations),
        }
    }
}

impl Inner {
    /// Keeps the runner's own views up to date.
    fn track(&mut self, r: &Record) {
        match &r.kind {
            RecordKind::Model(Event::InstanceWrite {
                query: Query::InstanceInsert,
                outcome: WriteOutcome::Applied,
                after: Some(row),
                ..
            }) => {
                self.names.insert(row.id, row.name.clone());
            }
            RecordKind::Model(Event::VmmWrite {
                query: Query::VmmInsert,
                outcome: WriteOutcome::Applied,
                after: Some(row),
                ..
            }) => {
                self.newest_vmm.insert(row.instance_id, row.id);
            }
            RecordKind::Model(Event::VmmOnSled {
                sled,
                vmm,
                state,
                gen,
                ..
            }) => {
                self.sleds
                    .entry(*sled)
                    .or_default()
                    .insert(*vmm, (*state, *gen));
            }
            RecordKind::Model(Event::VmmGone {
                sled, vmm, reason, ..
            }) => {
                let gone = matches!(
                    reason,
                    VmmGoneReason::Unregistered
                        | VmmGoneReason::Destroyed
                        | VmmGoneReason::Failed
                        | VmmGoneReason::Forgotten
                );
                if gone {
                    if let Some(t) = self.sleds.get_mut(sled) {
                        t.remove(vmm);
                    }
                }
            }
            RecordKind::Model(Event::HostStarted) => {
                if let HostId::Sled(s) = r.host {
                    self.sleds.insert(s, BTreeMap::new());
                }
            }
            _ => {}
        }
    }
}

/// Inside a host's turn, the world's virtual time; from the runner between
/// steps, the time it set.
fn now_or(inner: &Inner) -> Millis {
    match turmoil::sim_elapsed() {
        Some(d) => Millis(d.as_millis() as u64),
        None => inner.now,
    }
}

impl Probe for Recorder {
    fn event(&self, host: HostId, event: &Event) {
        self.record(host, RecordKind::Model(event.clone()));
    }

    fn point(&self, host: HostId, name: &str) -> PointAction {
        let key = (host, name.to_string());
        let arm = {
            let mut inner = self.inner.borrow_mut();
            inner.reached.insert(key.clone());
            inner.order += 1;
            let order = inner.order;
            inner.passed_at.insert(key.clone(), order);
            // Error injections are armed on saga nodes (`start.ALLOC_SERVER`),
            // not on points; `inject_error` takes them.
            match inner.armed.get(&key) {
                Some(PointArm::Crash | PointArm::Pause | PointArm::Hang { .. }) => {
                    inner.armed.remove(&key)
                }
                Some(PointArm::InjectError) | None => None,
            }
        };
        let Some(arm) = arm else {
            return PointAction::Continue;
        };
        self.record(
            host,
            RecordKind::Point {
                name: name.to_string(),
                action: arm,
            },
        );
        let mut inner = self.inner.borrow_mut();
        match arm {
            PointArm::Crash => {
                inner.halted.push(host);
                PointAction::Halt
            }
            PointArm::Pause => {
                inner.paused.insert((host, name.to_string()));
                PointAction::Pause
            }
            PointArm::Hang { through_heal } => {
                inner.paused.insert((host, name.to_string()));
                if through_heal {
                    inner.hung_for_ever.insert((host, name.to_string()));
                }
                PointAction::Pause
            }
            PointArm::InjectError => PointAction::Continue,
        }
    }

    fn sled_fault(&self, host: HostId, call: SledCall) -> Option<SledFault> {
        let HostId::Sled(sled) = host else {
            return None;
        };
        let mut inner = self.inner.borrow_mut();
        let now = now_or(&inner);
        let key = (sled, call);
        let armed = inner.sled_faults.get_mut(&key)?;
        if armed.until.is_some_and(|u| now >= u) {
            inner.sled_faults.remove(&key);
            return None;
        }
        let fault = armed.fault;
        if let Some(n) = armed.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                inner.sled_faults.remove(&key);
            }
        }
        Some(fault)
    }

    fn delivers_late(&self, from: HostId, to: HostId) -> bool {
        self.inner
            .borrow()
            .late_links
            .contains(&(from.min(to), from.max(to)))
    }

    fn inject_error(&self, host: HostId, node: &str) -> bool {
        let key = (host, node.to_string());
        let armed = self.inner.borrow().armed.get(&key) == Some(&PointArm::InjectError);
        if armed {
            self.inner.borrow_mut().armed.remove(&key);
            self.record(
                host,
                RecordKind::Point {
                    name: node.to_string(),
                    action: PointArm::InjectError,
                },
            );
        }
        armed
    }

    fn is_paused(&self, host: HostId, name: &str) -> bool {
        self.inner
            .borrow()
            .paused
            .contains(&(host, name.to_string()))
    }
}
