//! A panic in a spawned task is reported, not swallowed (turmoil-notes
//! section 2, gotcha 8). tokio's default drops a `spawn_local`ed task's
//! panic on the floor; built with `--cfg tokio_unstable` (set in
//! `.cargo/config.toml`), turmoil configures every host's `LocalSet` with
//! `UnhandledPanic::ShutdownRuntime`, so the panic stops the host and the
//! simulation's step panics. Every handler and saga of the model runs in
//! such a task, so without this a model bug would look like a hang.

use model::config::{ModelConfig, Timings};
use model::db::{Db, DbHandle};
use model::event::{ApiOp, Event};
use model::ids::{HostId, NexusId, ReqId, SledId};
use model::nexus::external_api::{ApiRequest, ApiResponse};
use model::nexus::NexusConfig;
use model::probe::{self, PointAction, Probe};
use model::rpc::{self, RpcError};
use model::sled_agent::SledAgentConfig;
use model::variant::Variant;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

const NEXUS: HostId = HostId::Nexus(NexusId(0));

fn sim(seed: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(Duration::from_millis(200))
        .min_message_latency(Duration::ZERO)
        .max_message_latency(Duration::from_millis(200))
        .simulation_duration(Duration::from_secs(600))
        .tcp_capacity(4096)
        .build()
}

/// How a simulation ended.
#[derive(Debug)]
enum Ended {
    Ok,
    /// `run()` or `step()` returned an error.
    Err(String),
    /// It panicked; the payload's text.
    Panicked(String),
}

impl Ended {
    /// The error or panic message, if the simulation failed.
    fn failure(&self) -> Option<&str> {
        match self {
            Ended::Ok => None,
            Ended::Err(m) | Ended::Panicked(m) => Some(m),
        }
    }
}

fn payload_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".into()
    }
}

/// Runs the simulation to its end, catching a panic.
fn run(mut sim: turmoil::Sim<'static>) -> Ended {
    match panic::catch_unwind(AssertUnwindSafe(|| sim.run())) {
        Ok(Ok(())) => Ended::Ok,
        Ok(Err(e)) => Ended::Err(e.to_string()),
        Err(p) => Ended::Panicked(payload_text(&*p)),
    }
}

#[test]
#[allow(clippy::assertions_on_constants)] // constant per build, on purpose
fn the_build_has_tokio_unstable() {
    assert!(
        cfg!(tokio_unstable),
        "build with RUSTFLAGS=\"--cfg tokio_unstable\" (.cargo/config.toml sets it): \
         without it a panic in a spawned task is swallowed"
    );
}

/// A host whose root future spawns a task; the task panics if `panics`.
fn world_with_spawned_task(panics: bool) -> (turmoil::Sim<'static>, Rc<Cell<bool>>) {
    let mut sim = sim(1);
    let reached = Rc::new(Cell::new(false));
    let flag = reached.clone();
    sim.host("worker", move || {
        let flag = flag.clone();
        async move {
            tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                flag.set(true);
                if panics {
                    panic!("the spawned task panics");
                }
            });
            // The root future goes on, unaware.
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    sim.client("client", async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    });
    (sim, reached)
}

#[test]
fn a_panic_in_a_spawned_task_fails_the_simulation() {
    // The control: the same world without the panic runs to its end.
    let (sim, reached) = world_with_spawned_task(false);
    assert_eq!(run(sim).failure(), None);
    assert!(reached.get());

    let (sim, reached) = world_with_spawned_task(true);
    let ended = run(sim);
    assert!(reached.get(), "the task never ran");
    let failure = ended
        .failure()
        .expect("the panic of a spawned task was swallowed");
    assert!(!failure.is_empty());
}

#[test]
fn step_reports_the_panic_at_the_tick_it_happens() {
    let (mut sim, reached) = world_with_spawned_task(true);
    // The task panics at 1 s: five 200 ms ticks.
    let mut steps = 0;
    let ended = loop {
        steps += 1;
        match panic::catch_unwind(AssertUnwindSafe(|| sim.step())) {
            Ok(Ok(false)) => {}
            Ok(Ok(true)) => break Ended::Ok,
            Ok(Err(e)) => break Ended::Err(e.to_string()),
            Err(p) => break Ended::Panicked(payload_text(&*p)),
        }
        assert!(steps < 100, "no failure in 20 s of virtual time");
    };
    assert!(reached.get());
    assert!(ended.failure().is_some(), "{ended:?}");
    assert!(
        (5..=7).contains(&steps),
        "failed at step {steps}: {ended:?}"
    );
}

// ---------------------------------------------------------------------------
// The same inside the model: a saga task panics
// ---------------------------------------------------------------------------

/// A probe that panics when a host reaches `panic_at`, and remembers that
/// it got there.
struct PanicAt {
    panic_at: &'static str,
    reached: Cell<bool>,
    events: RefCell<Vec<(HostId, Event)>>,
}

impl Probe for PanicAt {
    fn event(&self, host: HostId, event: &Event) {
        self.events.borrow_mut().push((host, event.clone()));
    }
    fn point(&self, host: HostId, name: &str) -> PointAction {
        if name == self.panic_at {
            self.reached.set(true);
            panic!("probe panics at {name} on {host}");
        }
        PointAction::Continue
    }
    fn is_paused(&self, _: HostId, _: &str) -> bool {
        false
    }
}

/// db, mgs, nexus-0, two sleds, and a client that creates `web` with
/// `start: true`. Returns the simulation, the store and the create's
/// outcome.
type CreateOutcome = Rc<RefCell<Option<Result<ApiResponse, RpcError>>>>;

fn control_plane_creating() -> (turmoil::Sim<'static>, DbHandle, CreateOutcome) {
    let mut sim = sim(3);
    let db = Db::new_handle();
    let store = db.clone();
    sim.host(HostId::Db.name(), move || model::db::serve(store.clone()));
    sim.host(HostId::Mgs.name(), || model::mgs::run(BTreeMap::new()));
    let cfg = NexusConfig {
        id: NexusId(0),
        model: ModelConfig::new(Variant::Omicron, 1, 2),
    };
    sim.host(NEXUS.name(), move || model::nexus::run(cfg.clone(), 42));
    for i in 0..2u8 {
        let cfg = SledAgentConfig {
            sled: SledId(i),
            nexus_count: 1,
            timings: Timings::default(),
            variant: model::variant::Variant::Omicron,
            publish_before_forget: true,
        };
        sim.host(HostId::Sled(SledId(i)).name(), move || {
            model::sled_agent::run(cfg.clone(), 100 + i as u64)
        });
    }
    let outcome: CreateOutcome = Rc::default();
    let seen = outcome.clone();
    sim.client(HostId::Workload.name(), async move {
        let request = ApiRequest {
            req: ReqId(1),
            op: ApiOp::Create {
                start: true,
                auto_restart_policy: None,
            },
            instance: "web".into(),
        };
        let r = rpc::call(
            HostId::Workload,
            NEXUS,
            rpc::port::NEXUS_EXTERNAL,
            &request,
            Duration::from_secs(180),
        )
        .await;
        *seen.borrow_mut() = Some(r);
        Ok(())
    });
    (sim, db, outcome)
}

const MARK_AS_STARTING: &str = "start.MARK_AS_STARTING.after_action";

fn probe(panic_at: &'static str) -> Rc<PanicAt> {
    Rc::new(PanicAt {
        panic_at,
        reached: Cell::new(false),
        events: RefCell::new(Vec::new()),
    })
}

#[test]
fn a_panic_in_a_saga_task_fails_the_simulation() {
    // The control: a probe that never panics; the create answers 201.
    let quiet = probe("no such point");
    let guard = probe::install(quiet.clone());
    let (sim, _, outcome) = control_plane_creating();
    let ended = run(sim);
    drop(guard);
    assert_eq!(ended.failure(), None);
    assert!(
        matches!(&*outcome.borrow(), Some(Ok(r)) if r.status == 201),
        "{:?}",
        outcome.borrow()
    );

    // The probe panics inside the start saga's MARK_AS_STARTING, in the
    // API handler's task on nexus-0.
    let panicky = probe(MARK_AS_STARTING);
    let guard = probe::install(panicky.clone());
    let (sim, db, outcome) = control_plane_creating();
    let ended = run(sim);
    drop(guard);
    assert!(panicky.reached.get(), "never reached {MARK_AS_STARTING}");
    assert!(
        ended.failure().is_some(),
        "the saga task's panic was swallowed; the create got {:?}",
        outcome.borrow()
    );
    // The simulation stopped there: the create never got its answer, and
    // the write MARK_AS_STARTING made is the last thing the db did.
    assert!(outcome.borrow().is_none(), "{:?}", outcome.borrow());
    let db = db.borrow();
    let row = db.instances().next().expect("the create saga ran");
    assert!(row.runtime.propolis_id.is_some(), "{row:?}");
    let finished = panicky.events.borrow().iter().any(|(_, e)| {
        matches!(
            e,
            Event::SagaFinished {
                name: model::db::rows::SagaName::InstanceStart,
                ..
            }
        )
    });
    assert!(!finished, "the start saga finished after the panic");
}
