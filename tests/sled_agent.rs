//! The sled agent and mgs hosts in small simulations: a workload client
//! drives `sled-0` over its API, fake Nexus hosts record the state pushes,
//! and a probe collects the events.

use model::config::Timings;
use model::event::{Event, VmmGoneReason};
use model::ids::{HostId, InstanceId, NexusId, SledId, VmmId};
use model::mgs::{self, MgsRequest, MgsResponse, PowerState};
use model::nexus::internal_api::{InternalRequest, InternalResponse};
use model::probe::{self, PointAction, Probe};
use model::rpc::{self, RpcError};
use model::sled_agent::api::{SledRequest, SledResponse, SledVmmState};
use model::sled_agent::{self, SledAgentConfig};
use model::states::{Generation, RequestedState, VmmState};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::sleep;

const SLED: SledId = SledId(0);
const VMM: VmmId = VmmId(0x1111);
const INSTANCE: InstanceId = InstanceId(0xaaaa);

/// Collects every event of the simulation.
#[derive(Default)]
struct Collect(RefCell<Vec<(HostId, Event)>>);

impl Probe for Collect {
    fn event(&self, host: HostId, event: &Event) {
        self.0.borrow_mut().push((host, event.clone()));
    }
    fn point(&self, _: HostId, _: &str) -> PointAction {
        PointAction::Continue
    }
    fn is_paused(&self, _: HostId, _: &str) -> bool {
        false
    }
}

impl Collect {
    fn events(&self) -> Vec<(HostId, Event)> {
        self.0.borrow().clone()
    }

    /// The VMM states `sled` reported for `vmm`, in order.
    fn vmm_states(&self, vmm: VmmId) -> Vec<(VmmState, Generation)> {
        self.events()
            .into_iter()
            .filter_map(|(_, e)| match e {
                Event::VmmOnSled {
                    vmm: v, state, gen, ..
                } if v == vmm => Some((state, gen)),
                _ => None,
            })
            .collect()
    }

    fn gone(&self) -> Vec<(VmmId, VmmGoneReason)> {
        self.events()
            .into_iter()
            .filter_map(|(_, e)| match e {
                Event::VmmGone { vmm, reason, .. } => Some((vmm, reason)),
                _ => None,
            })
            .collect()
    }

    /// `(nexus, gen, retry_in_ms)` of every push retry.
    fn retries(&self) -> Vec<(NexusId, Generation, u64)> {
        self.events()
            .into_iter()
            .filter_map(|(_, e)| match e {
                Event::PushRetry {
                    nexus,
                    gen,
                    retry_in_ms,
                    ..
                } => Some((nexus, gen, retry_in_ms)),
                _ => None,
            })
            .collect()
    }

    fn started(&self, host: HostId) -> usize {
        self.events()
            .iter()
            .filter(|(h, e)| *h == host && *e == Event::HostStarted)
            .count()
    }
}

/// What a fake Nexus received: `(nexus, sled, state)`.
type Pushes = Rc<RefCell<Vec<(NexusId, SledId, SledVmmState)>>>;

struct World {
    sim: turmoil::Sim<'static>,
    probe: Rc<Collect>,
    _guard: probe::ProbeGuard,
    pushes: Pushes,
}

fn timings() -> Timings {
    Timings {
        vmm_boot_time: Duration::from_secs(5),
        vmm_stop_time: Duration::from_secs(3),
        push_retry_initial: Duration::from_millis(250),
        push_retry_max: Duration::from_secs(2),
        ..Timings::default()
    }
}

/// `sled-0` plus one fake Nexus per entry of `statuses`, each answering
/// every push with its (changeable) status.
fn world(seed: u64, statuses: &[Rc<Cell<u16>>]) -> World {
    world_in(seed, statuses, model::variant::Variant::Omicron)
}

/// [`world`] with a sled agent of `variant`.
fn world_in(seed: u64, statuses: &[Rc<Cell<u16>>], variant: model::variant::Variant) -> World {
    let probe = Rc::new(Collect::default());
    let guard = probe::install(probe.clone());
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(3600))
        .build();
    let pushes: Pushes = Rc::default();
    for (i, status) in statuses.iter().enumerate() {
        let nexus = NexusId(i as u8);
        let pushes = pushes.clone();
        let status = status.clone();
        sim.host(HostId::Nexus(nexus).name(), move || {
            let pushes = pushes.clone();
            let status = status.clone();
            async move {
                rpc::serve(
                    HostId::Nexus(nexus),
                    rpc::port::NEXUS_INTERNAL,
                    move |req: InternalRequest| {
                        let pushes = pushes.clone();
                        let status = status.clone();
                        async move {
                            let InternalRequest::CpapiInstancesPut { sled, state } = req;
                            pushes.borrow_mut().push((nexus, sled, state));
                            InternalResponse {
                                status: status.get(),
                            }
                        }
                    },
                )
                .await?;
                Ok(())
            }
        });
    }
    let cfg = SledAgentConfig {
        sled: SLED,
        nexus_count: statuses.len() as u8,
        timings: timings(),
        variant,
        publish_before_forget: true,
    };
    sim.host(HostId::Sled(SLED).name(), move || {
        sled_agent::run(cfg.clone(), seed ^ 0x5eed)
    });
    World {
        sim,
        probe,
        _guard: guard,
        pushes,
    }
}

fn ok_nexus() -> Vec<Rc<Cell<u16>>> {
    vec![Rc::new(Cell::new(200))]
}

async fn sled(req: SledRequest) -> Result<SledResponse, RpcError> {
    rpc::call(
        HostId::Workload,
        HostId::Sled(SLED),
        rpc::port::SLED_AGENT,
        &req,
        Duration::from_secs(10),
    )
    .await
}

async fn put(state: RequestedState) -> SledResponse {
    sled(SledRequest::VmmPutState { vmm: VMM, state })
        .await
        .unwrap()
}

async fn get() -> SledResponse {
    sled(SledRequest::VmmGetState { vmm: VMM }).await.unwrap()
}

async fn register() -> SledResponse {
    sled(SledRequest::VmmRegister {
        vmm: VMM,
        instance: INSTANCE,
    })
    .await
    .unwrap()
}

fn ok(state: VmmState, gen: u64) -> SledResponse {
    SledResponse::Ok(SledVmmState {
        vmm: VMM,
        state,
        gen: Generation(gen),
        stop_requested: false,
    })
}

fn pushed(pushes: &Pushes) -> Vec<(VmmState, u64)> {
    pushes
        .borrow()
        .iter()
        .map(|(_, _, s)| (s.state, s.gen.0))
        .collect()
}

/// Register, run, stop: Running and then Destroyed reach Nexus, and the
/// VMM is gone from the sled afterwards.
#[test]
fn start_run_stop_pushes_running_and_destroyed() {
    let mut w = world(1, &ok_nexus());
    let pushes = w.pushes.clone();
    w.sim.client(HostId::Workload.name(), async move {
        assert_eq!(register().await, ok(VmmState::Starting, 2));
        // Registering again is idempotent.
        assert_eq!(register().await, ok(VmmState::Starting, 2));
        sleep(Duration::from_secs(10)).await;
        // Not asked to run: still Starting, nothing pushed.
        assert_eq!(get().await, ok(VmmState::Starting, 2));
        assert!(pushed(&pushes).is_empty());

        assert_eq!(
            put(RequestedState::Running).await,
            ok(VmmState::Starting, 2)
        );
        sleep(Duration::from_secs(6)).await;
        assert_eq!(get().await, ok(VmmState::Running, 3));
        assert_eq!(pushed(&pushes), vec![(VmmState::Running, 3)]);
        assert_eq!(put(RequestedState::Running).await, ok(VmmState::Running, 3));

        assert_eq!(
            put(RequestedState::Stopped).await,
            ok(VmmState::Stopping, 4)
        );
        // Stopping twice is fine.
        assert_eq!(
            put(RequestedState::Stopped).await,
            ok(VmmState::Stopping, 4)
        );
        // A stopping VM cannot be run again (omicron: 400); unchanged.
        assert_eq!(
            put(RequestedState::Running).await,
            ok(VmmState::Stopping, 4)
        );
        sleep(Duration::from_secs(4)).await;
        assert_eq!(
            pushed(&pushes),
            vec![(VmmState::Running, 3), (VmmState::Destroyed, 5)]
        );
        assert_eq!(get().await, SledResponse::NoSuchInstance);
        assert_eq!(
            put(RequestedState::Stopped).await,
            SledResponse::NoSuchInstance
        );
        Ok(())
    });
    w.sim.run().unwrap();

    assert_eq!(
        w.probe.vmm_states(VMM),
        vec![
            (VmmState::Starting, Generation(2)),
            (VmmState::Running, Generation(3)),
            (VmmState::Stopping, Generation(4)),
            (VmmState::Destroyed, Generation(5)),
        ]
    );
    assert_eq!(w.probe.gone(), vec![(VMM, VmmGoneReason::Destroyed)]);
    let puts: Vec<(RequestedState, bool)> = w
        .probe
        .events()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::SledPutState {
                requested,
                accepted,
                ..
            } => Some((requested, accepted)),
            _ => None,
        })
        .collect();
    assert_eq!(
        puts,
        vec![
            (RequestedState::Running, true),
            (RequestedState::Running, true),
            (RequestedState::Stopped, true),
            (RequestedState::Stopped, true),
            (RequestedState::Running, true),
            (RequestedState::Stopped, false),
        ]
    );
    assert!(w.probe.retries().is_empty());
    assert_eq!(w.probe.started(HostId::Sled(SLED)), 1);
}

/// Reboot: Rebooting in the reply, Running again published.
#[test]
fn reboot_publishes_running_again() {
    let mut w = world(2, &ok_nexus());
    let pushes = w.pushes.clone();
    w.sim.client(HostId::Workload.name(), async move {
        register().await;
        // No Propolis yet: nothing to reboot.
        assert_eq!(put(RequestedState::Reboot).await, ok(VmmState::Starting, 2));
        put(RequestedState::Running).await;
        sleep(Duration::from_secs(6)).await;
        assert_eq!(
            put(RequestedState::Reboot).await,
            ok(VmmState::Rebooting, 4)
        );
        assert_eq!(
            put(RequestedState::Reboot).await,
            ok(VmmState::Rebooting, 4)
        );
        sleep(Duration::from_secs(6)).await;
        assert_eq!(get().await, ok(VmmState::Running, 5));
        assert_eq!(
            pushed(&pushes),
            vec![(VmmState::Running, 3), (VmmState::Running, 5)]
        );
        Ok(())
    });
    w.sim.run().unwrap();
}

/// A stop during a boot or a reboot wins: the pending Running never comes.
#[test]
fn stop_during_boot_or_reboot_cancels_running() {
    let mut w = world(13, &ok_nexus());
    let pushes = w.pushes.clone();
    w.sim.client(HostId::Workload.name(), async move {
        register().await;
        put(RequestedState::Running).await;
        sleep(Duration::from_secs(1)).await;
        // Booting: running again changes nothing, a reboot is refused.
        assert_eq!(
            put(RequestedState::Running).await,
            ok(VmmState::Starting, 2)
        );
        assert_eq!(put(RequestedState::Reboot).await, ok(VmmState::Starting, 2));
        assert_eq!(
            put(RequestedState::Stopped).await,
            ok(VmmState::Stopping, 3)
        );
        sleep(Duration::from_secs(10)).await;
        assert_eq!(get().await, SledResponse::NoSuchInstance);
        assert_eq!(pushed(&pushes), vec![(VmmState::Destroyed, 4)]);

        let second = VmmId(0x2222);
        let put2 = |state| sled(SledRequest::VmmPutState { vmm: second, state });
        sled(SledRequest::VmmRegister {
            vmm: second,
            instance: INSTANCE,
        })
        .await
        .unwrap();
        put2(RequestedState::Running).await.unwrap();
        sleep(Duration::from_secs(6)).await;
        put2(RequestedState::Reboot).await.unwrap();
        sleep(Duration::from_secs(1)).await;
        // Rebooting: running again changes nothing.
        let SledResponse::Ok(s) = put2(RequestedState::Running).await.unwrap() else {
            panic!("the VMM is there");
        };
        assert_eq!((s.state, s.gen.0), (VmmState::Rebooting, 4));
        put2(RequestedState::Stopped).await.unwrap();
        sleep(Duration::from_secs(10)).await;
        Ok(())
    });
    w.sim.run().unwrap();
    assert_eq!(
        w.probe.vmm_states(VmmId(0x2222)),
        vec![
            (VmmState::Starting, Generation(2)),
            (VmmState::Running, Generation(3)),
            (VmmState::Rebooting, Generation(4)),
            (VmmState::Stopping, Generation(5)),
            (VmmState::Destroyed, Generation(6)),
        ]
    );
    assert_eq!(
        pushed(&w.pushes),
        vec![
            (VmmState::Destroyed, 4),
            (VmmState::Running, 3),
            (VmmState::Destroyed, 6)
        ]
    );
}

/// Stopping a VMM that was never asked to run destroys it at once and
/// returns Destroyed in the reply; nothing is pushed.
#[test]
fn stop_before_run_destroys_at_once() {
    let mut w = world(3, &ok_nexus());
    let pushes = w.pushes.clone();
    w.sim.client(HostId::Workload.name(), async move {
        register().await;
        assert_eq!(
            put(RequestedState::Stopped).await,
            ok(VmmState::Destroyed, 3)
        );
        assert_eq!(get().await, SledResponse::NoSuchInstance);
        sleep(Duration::from_secs(10)).await;
        assert!(pushed(&pushes).is_empty());
        Ok(())
    });
    w.sim.run().unwrap();
    assert_eq!(w.probe.gone(), vec![(VMM, VmmGoneReason::Destroyed)]);
}

/// Unregister returns Destroyed with the next generation, whatever the VM
/// was doing; afterwards the VMM is unknown.
#[test]
fn unregister_returns_destroyed() {
    let mut w = world(4, &ok_nexus());
    w.sim.client(HostId::Workload.name(), async move {
        register().await;
        put(RequestedState::Running).await;
        sleep(Duration::from_secs(6)).await;
        assert_eq!(
            sled(SledRequest::VmmUnregister { vmm: VMM }).await.unwrap(),
            ok(VmmState::Destroyed, 4)
        );
        assert_eq!(get().await, SledResponse::NoSuchInstance);
        assert_eq!(
            sled(SledRequest::VmmUnregister { vmm: VMM }).await.unwrap(),
            SledResponse::NoSuchInstance
        );
        Ok(())
    });
    w.sim.run().unwrap();
    assert_eq!(w.probe.gone(), vec![(VMM, VmmGoneReason::Unregistered)]);
}

/// A restarted sled agent has lost every VMM.
#[test]
fn bounced_sled_forgets_its_vmms() {
    let mut w = world(5, &ok_nexus());
    let running = Rc::new(Cell::new(false));
    let bounced = Rc::new(Cell::new(false));
    let (r, b) = (running.clone(), bounced.clone());
    w.sim.client(HostId::Workload.name(), async move {
        register().await;
        put(RequestedState::Running).await;
        sleep(Duration::from_secs(6)).await;
        assert_eq!(get().await, ok(VmmState::Running, 3));
        r.set(true);
        while !b.get() {
            sleep(Duration::from_millis(100)).await;
        }
        sleep(Duration::from_secs(1)).await;
        assert_eq!(get().await, SledResponse::NoSuchInstance);
        assert_eq!(
            put(RequestedState::Stopped).await,
            SledResponse::NoSuchInstance
        );
        Ok(())
    });
    while !w.sim.step().unwrap() {
        if running.get() && !bounced.get() {
            w.sim.bounce(HostId::Sled(SLED).name());
            bounced.set(true);
        }
    }
    assert_eq!(w.probe.started(HostId::Sled(SLED)), 2);
}

/// A push to a partitioned Nexus is retried with doubling backoff, capped,
/// and delivered after the repair. Meanwhile the VMM stops: only its
/// latest state, Destroyed, is delivered; until Nexus acknowledged it the
/// halted VMM stays in the table answering Destroyed, and only then does
/// it leave (omicron #7928: publish, then deregister).
#[test]
fn push_retried_through_partition_sends_latest_state() {
    let mut w = world(6, &ok_nexus());
    let pushes = w.pushes.clone();
    w.sim.client(HostId::Workload.name(), async move {
        turmoil::partition(HostId::Sled(SLED).name(), HostId::Nexus(NexusId(0)).name());
        register().await;
        put(RequestedState::Running).await;
        sleep(Duration::from_secs(10)).await;
        assert_eq!(get().await, ok(VmmState::Running, 3));
        assert!(pushed(&pushes).is_empty());
        put(RequestedState::Stopped).await;
        sleep(Duration::from_secs(10)).await;
        assert_eq!(get().await, ok(VmmState::Destroyed, 5));
        assert!(pushed(&pushes).is_empty());
        turmoil::repair(HostId::Sled(SLED).name(), HostId::Nexus(NexusId(0)).name());
        sleep(Duration::from_secs(5)).await;
        assert_eq!(pushed(&pushes), vec![(VmmState::Destroyed, 5)]);
        assert_eq!(get().await, SledResponse::NoSuchInstance);
        Ok(())
    });
    w.sim.run().unwrap();

    let retries = w.probe.retries();
    let backoffs: Vec<u64> = retries.iter().map(|r| r.2).collect();
    assert_eq!(backoffs[..5], [250, 500, 1000, 2000, 2000]);
    assert!(backoffs[4..].iter().all(|&ms| ms == 2000));
    assert!(retries.iter().all(|r| r.0 == NexusId(0)));
    let gens: Vec<u64> = retries.iter().map(|r| r.1 .0).collect();
    assert_eq!(gens.first(), Some(&3));
    assert_eq!(gens.last(), Some(&5));
    assert!(gens.windows(2).all(|w| w[0] <= w[1]));
}

/// A 5xx is transient, and each retry may reach another Nexus: both answer
/// 503 until nexus-1 recovers, and the push lands there.
#[test]
fn push_retries_5xx_and_may_reach_another_nexus() {
    let statuses = vec![Rc::new(Cell::new(503)), Rc::new(Cell::new(503))];
    let mut w = world(7, &statuses);
    let pushes = w.pushes.clone();
    let nexus_1 = statuses[1].clone();
    w.sim.client(HostId::Workload.name(), async move {
        register().await;
        put(RequestedState::Running).await;
        // Boot ends at 5 s; attempts at 5, 5.25, 5.75 and 6.75 s all fail.
        sleep(Duration::from_secs(8)).await;
        nexus_1.set(200);
        sleep(Duration::from_secs(30)).await;
        Ok(())
    });
    w.sim.run().unwrap();
    let pushes = pushes.borrow();
    let (last_nexus, _, last) = *pushes.last().unwrap();
    assert_eq!(last_nexus, NexusId(1));
    assert_eq!((last.state, last.gen), (VmmState::Running, Generation(3)));
    let retries = w.probe.retries();
    assert!(retries.len() >= 4, "{retries:?}");
    assert_eq!(retries.len(), pushes.len() - 1);
    // The seeded choice spread the attempts over both.
    assert!(retries.iter().any(|r| r.0 == NexusId(0)));
    assert!(retries.iter().any(|r| r.0 == NexusId(1)));
}

/// A 4xx is permanent: the sled agent gives up on the state at once.
#[test]
fn push_gives_up_on_4xx() {
    let mut w = world(8, &[Rc::new(Cell::new(404))]);
    let pushes = w.pushes.clone();
    w.sim.client(HostId::Workload.name(), async move {
        register().await;
        put(RequestedState::Running).await;
        sleep(Duration::from_secs(30)).await;
        Ok(())
    });
    w.sim.run().unwrap();
    assert_eq!(pushed(&pushes), vec![(VmmState::Running, 3)]);
    assert!(w.probe.retries().is_empty());
}

/// The guest powers off: Stopping and Destroyed are both published.
#[test]
fn guest_shutdown_publishes_stopping_and_destroyed() {
    let mut w = world(9, &ok_nexus());
    let pushes = w.pushes.clone();
    w.sim.client(HostId::Workload.name(), async move {
        let shutdown = |instance| sled(SledRequest::SimGuestShutdown { instance });
        // Registered only: no guest yet.
        register().await;
        assert_eq!(shutdown(INSTANCE).await.unwrap(), SledResponse::NothingToDo);
        put(RequestedState::Running).await;
        sleep(Duration::from_secs(6)).await;
        assert_eq!(
            shutdown(InstanceId(0xbbbb)).await.unwrap(),
            SledResponse::NothingToDo
        );
        assert_eq!(shutdown(INSTANCE).await.unwrap(), ok(VmmState::Stopping, 4));
        // Already powering off.
        assert_eq!(shutdown(INSTANCE).await.unwrap(), SledResponse::NothingToDo);
        sleep(Duration::from_secs(4)).await;
        assert_eq!(
            pushed(&pushes),
            vec![
                (VmmState::Running, 3),
                (VmmState::Stopping, 4),
                (VmmState::Destroyed, 5)
            ]
        );
        assert_eq!(get().await, SledResponse::NoSuchInstance);
        Ok(())
    });
    w.sim.run().unwrap();
    assert_eq!(w.probe.gone(), vec![(VMM, VmmGoneReason::Destroyed)]);
}

/// Forgetting a VMM removes it silently: nothing is pushed, not even a
/// push that was pending.
#[test]
fn forget_removes_silently() {
    let mut w = world(10, &ok_nexus());
    let pushes = w.pushes.clone();
    w.sim.client(HostId::Workload.name(), async move {
        let forget = || sled(SledRequest::SimForgetVmm { instance: INSTANCE });
        turmoil::partition(HostId::Sled(SLED).name(), HostId::Nexus(NexusId(0)).name());
        register().await;
        put(RequestedState::Running).await;
        sleep(Duration::from_secs(6)).await;
        // Running is pending behind the partition.
        assert_eq!(forget().await.unwrap(), ok(VmmState::Running, 3));
        assert_eq!(forget().await.unwrap(), SledResponse::NothingToDo);
        assert_eq!(get().await, SledResponse::NoSuchInstance);
        turmoil::repair(HostId::Sled(SLED).name(), HostId::Nexus(NexusId(0)).name());
        sleep(Duration::from_secs(10)).await;
        assert!(pushed(&pushes).is_empty());
        Ok(())
    });
    w.sim.run().unwrap();
    assert_eq!(w.probe.gone(), vec![(VMM, VmmGoneReason::Forgotten)]);
    assert_eq!(
        w.probe.vmm_states(VMM),
        vec![
            (VmmState::Starting, Generation(2)),
            (VmmState::Running, Generation(3))
        ]
    );
}

/// The same seed gives the same events.
#[test]
fn same_seed_same_events() {
    let trace = || {
        let statuses = vec![Rc::new(Cell::new(503)), Rc::new(Cell::new(200))];
        let mut w = world(11, &statuses);
        w.sim.client(HostId::Workload.name(), async move {
            register().await;
            put(RequestedState::Running).await;
            sleep(Duration::from_secs(20)).await;
            put(RequestedState::Stopped).await;
            sleep(Duration::from_secs(20)).await;
            Ok(())
        });
        w.sim.run().unwrap();
        format!("{:?}", w.probe.events())
    };
    assert_eq!(trace(), trace());
}

/// mgs answers from its table, A0 for a sled it was never told about.
#[test]
fn mgs_reports_and_sets_power() {
    let probe = Rc::new(Collect::default());
    let _guard = probe::install(probe.clone());
    let mut sim = turmoil::Builder::new()
        .rng_seed(12)
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(Duration::from_millis(10))
        .build();
    let initial = BTreeMap::from([(SledId(1), PowerState::A2)]);
    sim.host(HostId::Mgs.name(), move || mgs::run(initial.clone()));
    sim.client(HostId::Workload.name(), async {
        let ask = |req| async move {
            rpc::call::<_, MgsResponse>(
                HostId::Workload,
                HostId::Mgs,
                rpc::port::MGS,
                &req,
                Duration::from_secs(10),
            )
            .await
            .unwrap()
        };
        let power = |sled| MgsRequest::SledPowerState { sled };
        assert_eq!(
            ask(power(SledId(0))).await,
            MgsResponse::Power(PowerState::A0)
        );
        assert_eq!(
            ask(power(SledId(1))).await,
            MgsResponse::Power(PowerState::A2)
        );
        let set = MgsRequest::SimSetPower {
            sled: SledId(0),
            state: PowerState::A2,
        };
        assert_eq!(ask(set).await, MgsResponse::Ok);
        assert_eq!(
            ask(power(SledId(0))).await,
            MgsResponse::Power(PowerState::A2)
        );
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(probe.started(HostId::Mgs), 1);
}

/// Fixed branch 13: a `fixed` sled agent reports, with every state after a
/// put-state Stopped began the stop, that the stop was asked for (in the
/// reply and in its pushes); a guest that powers itself off is reported
/// without it, and so is a stop asked of a VMM already stopping on its
/// own. An `omicron` sled agent never sets it.
#[test]
fn fixed_sled_reports_a_requested_stop() {
    for variant in [
        model::variant::Variant::Fixed,
        model::variant::Variant::Omicron,
    ] {
        let fixed = variant == model::variant::Variant::Fixed;
        let mut w = world_in(11, &ok_nexus(), variant);
        let pushes = w.pushes.clone();
        w.sim.client(HostId::Workload.name(), async move {
            let flags = |pushes: &Pushes| -> Vec<(VmmState, bool)> {
                pushes
                    .borrow()
                    .iter()
                    .map(|(_, _, s)| (s.state, s.stop_requested))
                    .collect()
            };
            // A stop Nexus asked for.
            register().await;
            put(RequestedState::Running).await;
            sleep(Duration::from_secs(6)).await;
            let SledResponse::Ok(reply) = put(RequestedState::Stopped).await else {
                panic!("put-state Stopped of a running VMM answers its state");
            };
            assert_eq!(
                (reply.state, reply.stop_requested),
                (VmmState::Stopping, fixed)
            );
            sleep(Duration::from_secs(4)).await;
            assert_eq!(
                flags(&pushes),
                // The Stopping a request caused went back in its reply.
                vec![(VmmState::Running, false), (VmmState::Destroyed, fixed)]
            );
            pushes.borrow_mut().clear();
            // The guest's own shutdown, then a stop that finds it stopping.
            register().await;
            put(RequestedState::Running).await;
            sleep(Duration::from_secs(6)).await;
            sled(SledRequest::SimGuestShutdown { instance: INSTANCE })
                .await
                .unwrap();
            let SledResponse::Ok(reply) = put(RequestedState::Stopped).await else {
                panic!("put-state Stopped of a stopping VMM answers its state");
            };
            assert_eq!(
                (reply.state, reply.stop_requested),
                (VmmState::Stopping, false)
            );
            sleep(Duration::from_secs(4)).await;
            assert_eq!(
                flags(&pushes),
                vec![
                    (VmmState::Running, false),
                    (VmmState::Stopping, false),
                    (VmmState::Destroyed, false)
                ]
            );
            Ok(())
        });
        w.sim.run().unwrap();
    }
}
