//! Helpers for harness tests that build plans in code: a story builder with
//! default timings, and the db and sled state at any point of a run,
//! rebuilt from the records (a `RunReport` keeps the records, not the db).

#![allow(dead_code)]

use intent_sim::checkers::sleds::SledTables;
use intent_sim::fault::Fault;
use intent_sim::plan::{
    Action, ArmKind, Condition, Expect, Expected, InjectNode, InstanceDecl, Plan, PlanStep,
    Request, RequestKind, Responses, Topology,
};
use intent_sim::record::{PointArm, Record, RecordKind};
use intent_sim::report;
use intent_sim::runner;
use intent_sim::verdict::RunReport;
use model::db::rows::{InstanceRow, ReservationRow, SagaName, SagaState, VmmRow};
use model::event::{Event, WriteOutcome};
use model::ids::{HostId, InstanceId, Millis, NexusId, SagaId, VmmId};
use model::nexus::decisions::compute_state;
use model::states::{ExternalState, IntendedState, VmmState};
use model::variant::Variant;
use std::collections::BTreeMap;

pub const NEXUS: HostId = HostId::Nexus(NexusId(0));

/// A plan under construction: one Nexus, default timings.
pub struct Story {
    name: String,
    sleds: u8,
    instances: Vec<InstanceDecl>,
    steps: Vec<PlanStep>,
}

impl Story {
    pub fn new(name: impl Into<String>, sleds: u8) -> Story {
        Story {
            name: name.into(),
            sleds,
            instances: Vec::new(),
            steps: Vec::new(),
        }
    }

    fn push(&mut self, action: Action) -> &mut Story {
        self.steps.push(PlanStep { at: None, action });
        self
    }

    fn request(
        &mut self,
        request: RequestKind,
        instance: &str,
        start: Option<bool>,
        expect: &[Expected],
        wait: bool,
    ) -> &mut Story {
        self.push(Action::Request(Request {
            request,
            instance: instance.to_string(),
            start,
            expect: (!expect.is_empty()).then(|| Expect::Same(Responses(expect.to_vec()))),
            no_wait: !wait,
        }))
    }

    /// Creates `instance` with the default policy. `expect` empty: any
    /// response.
    pub fn create(&mut self, instance: &str, start: bool, expect: &[Expected]) -> &mut Story {
        self.instances.push(InstanceDecl {
            name: instance.to_string(),
            auto_restart_policy: None,
        });
        self.request(RequestKind::Create, instance, Some(start), expect, true)
    }

    pub fn start(&mut self, instance: &str, expect: &[Expected]) -> &mut Story {
        self.request(RequestKind::Start, instance, None, expect, true)
    }

    /// A start whose response the story does not wait for.
    pub fn start_no_wait(&mut self, instance: &str) -> &mut Story {
        self.request(RequestKind::Start, instance, None, &[], false)
    }

    pub fn stop(&mut self, instance: &str, expect: &[Expected]) -> &mut Story {
        self.request(RequestKind::Stop, instance, None, expect, true)
    }

    /// Arms a point on nexus-0; `InjectError` is an `inject` step on the
    /// saga node `point` (`<saga>.<NODE>`).
    pub fn arm(&mut self, point: &str, arm: PointArm) -> &mut Story {
        let (arm, through_heal) = match arm {
            PointArm::Crash => (ArmKind::Crash, false),
            PointArm::Pause => (ArmKind::Pause, false),
            PointArm::Hang { through_heal } => (ArmKind::Hang, through_heal),
            PointArm::InjectError => {
                let (saga, node) = point.split_once('.').expect("<saga>.<NODE>");
                return self.push(Action::Inject {
                    inject: InjectNode {
                        saga: saga.to_string(),
                        node: node.to_string(),
                    },
                    host: NEXUS,
                });
            }
        };
        self.push(Action::Arm {
            arm,
            host: NEXUS,
            point: point.to_string(),
            through_heal,
        })
    }

    pub fn unpause(&mut self, point: &str) -> &mut Story {
        self.push(Action::Unpause {
            unpause: true,
            host: NEXUS,
            point: point.to_string(),
        })
    }

    pub fn fault(&mut self, f: Fault) -> &mut Story {
        self.push(Action::Fault(f))
    }

    pub fn restart_nexus(&mut self) -> &mut Story {
        self.fault(Fault::Restart { host: NEXUS })
    }

    pub fn sleep(&mut self, secs: u64) -> &mut Story {
        self.push(Action::Sleep {
            sleep: Millis::from_secs(secs),
        })
    }

    pub fn wait_state(&mut self, instance: &str, state: ExternalState, secs: u64) -> &mut Story {
        self.push(Action::Wait {
            wait: Condition::State {
                instance: instance.to_string(),
                state,
            },
            within: Millis::from_secs(secs),
        })
    }

    pub fn wait_point(&mut self, point: &str, secs: u64) -> &mut Story {
        self.push(Action::Wait {
            wait: Condition::Point {
                point: point.to_string(),
                host: Some(NEXUS),
            },
            within: Millis::from_secs(secs),
        })
    }

    pub fn plan(&self) -> Plan {
        Plan {
            name: self.name.clone(),
            description: self.name.clone(),
            seed: None,
            topology: Topology {
                nexus: 1,
                sleds: self.sleds,
                sled_capacity: 4,
            },
            timings: Default::default(),
            instances: self.instances.clone(),
            steps: self.steps.clone(),
            variants: Default::default(),
            swarm: None,
            without_fixes: Default::default(),
        }
    }
    pub fn run(&self, variant: Variant, seed: u64) -> RunReport {
        runner::run(&self.plan(), &self.name, None, variant, seed)
    }
}

/// A run's report with its whole trace, for assertion messages.
pub fn explain(r: &RunReport) -> String {
    report::run_report(r, None, true)
}

/// The db and the sleds as the records tell them, up to some record.
#[derive(Default, Debug, Clone)]
pub struct Rebuilt {
    pub instances: BTreeMap<InstanceId, InstanceRow>,
    pub vmms: BTreeMap<VmmId, VmmRow>,
    pub reservations: BTreeMap<VmmId, ReservationRow>,
    pub sagas: BTreeMap<SagaId, (SagaName, InstanceId, Option<SagaState>)>,
    pub sleds: SledTables,
    /// How many records it has seen (the next record's sequence number).
    pub seen: u64,
}

impl Rebuilt {
    /// The state after the first `n` records.
    pub fn upto(records: &[Record], n: usize) -> Rebuilt {
        let mut s = Rebuilt::default();
        for r in &records[..n] {
            s.observe(r);
        }
        s
    }

    /// The state at the end of the run.
    pub fn at_end(r: &RunReport) -> Rebuilt {
        Rebuilt::upto(&r.records, r.records.len())
    }

    pub fn observe(&mut self, r: &Record) {
        self.sleds.observe(r, self.seen);
        self.seen += 1;
        let RecordKind::Model(e) = &r.kind else {
            return;
        };
        match e {
            Event::InstanceWrite {
                outcome: WriteOutcome::Applied,
                before,
                after,
                ..
            } => apply(
                &mut self.instances,
                before.as_deref(),
                after.as_deref(),
                |r| r.id,
            ),
            Event::VmmWrite {
                outcome: WriteOutcome::Applied,
                before,
                after,
                ..
            } => apply(&mut self.vmms, before.as_deref(), after.as_deref(), |r| {
                r.id
            }),
            Event::ReservationWrite {
                outcome: WriteOutcome::Applied,
                before,
                after,
                ..
            } => apply(
                &mut self.reservations,
                before.as_ref(),
                after.as_ref(),
                |r| r.vmm_id,
            ),
            Event::SagaCreated {
                saga,
                name,
                instance,
                ..
            } => {
                self.sagas.insert(*saga, (*name, *instance, None));
            }
            Event::SagaFinished { saga, state, .. } => {
                if let Some(s) = self.sagas.get_mut(saga) {
                    s.2 = Some(*state);
                }
            }
            _ => {}
        }
    }

    pub fn instance(&self, id: InstanceId) -> Option<&InstanceRow> {
        self.instances.get(&id)
    }

    pub fn active_vmm(&self, id: InstanceId) -> Option<&VmmRow> {
        self.instance(id)
            .and_then(|i| i.runtime.propolis_id)
            .and_then(|v| self.vmms.get(&v))
    }

    /// What a user sees.
    pub fn external(&self, id: InstanceId) -> Option<ExternalState> {
        self.instance(id)
            .map(|i| compute_state(i, self.active_vmm(id)))
    }

    /// Live (not soft-deleted) VMM rows of `id`.
    pub fn live_vmms(&self, id: InstanceId) -> Vec<&VmmRow> {
        self.vmms
            .values()
            .filter(|v| v.instance_id == id && v.time_deleted.is_none())
            .collect()
    }

    pub fn reservations_of(&self, id: InstanceId) -> Vec<&ReservationRow> {
        self.reservations
            .values()
            .filter(|r| r.instance_id == id)
            .collect()
    }

    /// Every VMM of `id` on a sled agent's table (any state), as
    /// (VMM, state).
    pub fn on_sleds(&self, id: InstanceId) -> Vec<(VmmId, VmmState)> {
        self.sleds
            .all()
            .filter(|(_, _, o)| o.instance == id)
            .map(|(_, v, o)| (v, o.state))
            .collect()
    }

    /// Sagas that never finished (no `SagaFinished` record).
    pub fn unfinished_sagas(&self) -> Vec<(SagaId, SagaName)> {
        self.sagas
            .iter()
            .filter(|(_, (_, _, s))| s.is_none())
            .map(|(id, (n, _, _))| (*id, *n))
            .collect()
    }

    pub fn sagas_ended(&self, name: SagaName, state: SagaState) -> usize {
        self.sagas
            .values()
            .filter(|(n, _, s)| *n == name && *s == Some(state))
            .count()
    }
}

/// One applied write to a rebuilt table: the row after it, or the row's
/// removal when the write left none.
fn apply<K: Ord, V: Clone>(
    table: &mut BTreeMap<K, V>,
    before: Option<&V>,
    after: Option<&V>,
    key: impl Fn(&V) -> K,
) {
    match (before, after) {
        (_, Some(a)) => {
            table.insert(key(a), a.clone());
        }
        (Some(b), None) => {
            table.remove(&key(b));
        }
        (None, None) => {}
    }
}

/// What "ends as a clean run does" compares: no ids, only shape.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EndShape {
    pub external: Option<ExternalState>,
    /// `None` when there is no row, or in `legacy`, which keeps no intent
    /// (the column keeps whatever the create wrote).
    pub intent: Option<IntendedState>,
    /// The states of this instance's VMMs on sleds.
    pub on_sleds: Vec<VmmState>,
    pub live_vmm_rows: usize,
    pub reservations: usize,
    /// Sagas with no end recorded, and sagas that ended stuck.
    pub unfinished_sagas: usize,
    pub stuck_sagas: usize,
}

pub fn end_shape(r: &RunReport, instance: &str) -> EndShape {
    let s = Rebuilt::at_end(r);
    let Some(id) = instance_id(r, instance) else {
        return EndShape {
            external: None,
            intent: None,
            on_sleds: Vec::new(),
            live_vmm_rows: 0,
            reservations: s.reservations.len(),
            unfinished_sagas: s.unfinished_sagas().len(),
            stuck_sagas: s
                .sagas
                .values()
                .filter(|x| x.2 == Some(SagaState::Stuck))
                .count(),
        };
    };
    let mut on_sleds: Vec<VmmState> = s.on_sleds(id).into_iter().map(|(_, st)| st).collect();
    on_sleds.sort();
    EndShape {
        external: s.external(id),
        intent: s
            .instance(id)
            .filter(|_| r.variant.tracks_intent())
            .map(|i| i.intended_state),
        on_sleds,
        live_vmm_rows: s.live_vmms(id).len(),
        reservations: s.reservations_of(id).len(),
        unfinished_sagas: s.unfinished_sagas().len(),
        stuck_sagas: s
            .sagas
            .values()
            .filter(|x| x.2 == Some(SagaState::Stuck))
            .count(),
    }
}

/// The id of the instance named `name` (the last one by that name).
pub fn instance_id(r: &RunReport, name: &str) -> Option<InstanceId> {
    r.names
        .iter()
        .rev()
        .find(|(_, n)| n.as_str() == name)
        .map(|(id, _)| *id)
}

/// The index just after the first record matching `f`.
pub fn after_first(r: &RunReport, f: impl Fn(&Record) -> bool) -> Option<usize> {
    r.records.iter().position(f).map(|i| i + 1)
}

/// Whether a record is a `SagaFinished` of saga `name` in `state`.
pub fn is_saga_finished(rec: &Record, name: SagaName, state: SagaState) -> bool {
    matches!(
        &rec.kind,
        RecordKind::Model(Event::SagaFinished { name: n, state: s, .. }) if *n == name && *s == state
    )
}

/// The checkers that fired outside the known-upstream list.
pub fn fired_new(r: &RunReport) -> Vec<String> {
    r.fired_new().into_iter().collect()
}

/// The `intent-sim` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_intent-sim");

/// What one run of the binary did.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the binary in the folder `dir` with `args` and `env`, no
/// `INTENT_SIM_*` or `RUST_LOG` from outside, and `RUST_BACKTRACE=1` so a
/// panic would show.
pub fn sim_in(dir: &std::path::Path, args: &[std::ffi::OsString], env: &[(&str, &str)]) -> Out {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(dir).args(args).env("RUST_BACKTRACE", "1");
    for var in [
        "RUST_LOG",
        "INTENT_SIM_SCENARIOS",
        "INTENT_SIM_SEED",
        "INTENT_SIM_VARIANT",
        "INTENT_SIM_JOBS",
        "INTENT_SIM_SHARD",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the intent-sim binary runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}
