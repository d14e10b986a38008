//! The model's hosts over turmoil's network, in small simulations built by
//! hand (no harness): what partitions and a db crash do to calls in flight.
//!
//! - A partition (or a held link) between Nexus and the sled of a running
//!   instance makes a stop fail with omicron's status for an unreachable
//!   sled, 502 or 504, and does not fail the instance.
//! - A db crash with a write in flight: the caller gets no answer either
//!   way, and the write may or may not have committed. Both outcomes are
//!   found here by trying a few crash times and seeds. A plain
//!   `sim.crash("db")` only ever loses the write: the db answers in the
//!   tick it commits and a crashed host's segments on the wire still
//!   arrive, so "committed but unanswered" takes a power loss (partition,
//!   then crash; turmoil-notes 1.4).
//! - A call through a partition ends with an error within its timeout.

use model::config::{ModelConfig, Timings};
use model::db::protocol::{DbCall, DbRequest, DbResponse};
use model::db::rows::{InstanceRow, InstanceRuntime};
use model::db::{Db, DbHandle};
use model::event::{ApiOp, Cause};
use model::ids::{HostId, InstanceId, Millis, NexusId, ReqId, SledId};
use model::nexus::decisions::compute_state;
use model::nexus::external_api::{ApiRequest, ApiResponse};
use model::nexus::NexusConfig;
use model::rpc::{self, RpcError};
use model::sled_agent::SledAgentConfig;
use model::states::{ExternalState, Generation, InstanceState, IntendedState, VmmState};
use model::variant::Variant;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

const TICK: Duration = Duration::from_millis(200);
const NEXUS: HostId = HostId::Nexus(NexusId(0));
const CLIENT: HostId = HostId::Workload;
/// The API client waits longer than any timeout inside Nexus, so a 504
/// from Nexus reaches it.
const API_TIMEOUT: Duration = Duration::from_secs(180);

/// A seeded world: fixed seed, epoch, tick, latencies and host order.
fn sim(seed: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(TICK)
        .min_message_latency(Duration::ZERO)
        .max_message_latency(TICK)
        .simulation_duration(Duration::from_secs(3600))
        .tcp_capacity(4096)
        .build()
}

/// The db host, serving `store` (captured outside the host, so it survives
/// a crash).
fn add_db(sim: &mut turmoil::Sim<'static>, store: &DbHandle) {
    let store = store.clone();
    sim.host(HostId::Db.name(), move || model::db::serve(store.clone()));
}

/// db, mgs, nexus-0 and two sleds, in that order. Returns the db store.
fn control_plane(sim: &mut turmoil::Sim<'static>, variant: Variant, seed: u64) -> DbHandle {
    let db = Db::new_handle();
    add_db(sim, &db);
    sim.host(HostId::Mgs.name(), || model::mgs::run(BTreeMap::new()));
    let cfg = NexusConfig {
        id: NexusId(0),
        model: ModelConfig::new(variant, 1, 2),
    };
    sim.host(NEXUS.name(), move || {
        model::nexus::run(cfg.clone(), seed.wrapping_mul(31).wrapping_add(1))
    });
    for i in 0..2u8 {
        let cfg = SledAgentConfig {
            sled: SledId(i),
            nexus_count: 1,
            timings: Timings::default(),
            variant: model::variant::Variant::Omicron,
            publish_before_forget: true,
        };
        sim.host(HostId::Sled(SledId(i)).name(), move || {
            model::sled_agent::run(
                cfg.clone(),
                seed.wrapping_mul(31).wrapping_add(2 + i as u64),
            )
        });
    }
    db
}

/// One external API call from the client to nexus-0.
async fn api(req: u64, op: ApiOp, instance: &str) -> Result<ApiResponse, RpcError> {
    let request = ApiRequest {
        req: ReqId(req),
        op,
        instance: instance.to_string(),
    };
    rpc::call(
        CLIENT,
        NEXUS,
        rpc::port::NEXUS_EXTERNAL,
        &request,
        API_TIMEOUT,
    )
    .await
}

/// Polls `get` until the instance shows `want`, for at most `secs`.
async fn wait_state(name: &str, want: ExternalState, secs: u64) -> turmoil::Result {
    let mut last = None;
    for i in 0..secs {
        let r = api(1000 + i, ApiOp::Get, name).await;
        last = Some(r.clone());
        if let Ok(ApiResponse {
            instance: Some(v), ..
        }) = &r
        {
            if v.state == Some(want) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("{name} never became {want:?}; last get: {last:?}").into())
}

// ---------------------------------------------------------------------------
// a: a stop that cannot reach the sled
// ---------------------------------------------------------------------------

/// How the sled of the running instance is cut off from Nexus.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Every message dropped: a connect is refused at once.
    Partition,
    /// Every message held: a connect hangs until Nexus's sled timeout.
    Hold,
}

/// What the stop story saw.
#[derive(Default, Debug)]
struct StopOutcome {
    sled: Option<SledId>,
    stop: Option<Result<ApiResponse, RpcError>>,
    /// How long the stop took, in virtual time.
    stop_took: Duration,
}

/// Creates and runs `web`, cuts Nexus off from its sled, stops it, and
/// keeps the cut for two more watcher periods.
fn stop_through_cut(variant: Variant, cut: Cut, seed: u64) -> (DbHandle, StopOutcome) {
    let mut sim = sim(seed);
    let db = control_plane(&mut sim, variant, seed);
    let out = Rc::new(RefCell::new(StopOutcome::default()));
    let (store, seen) = (db.clone(), out.clone());
    sim.client(CLIENT.name(), async move {
        let create = ApiOp::Create {
            start: true,
            auto_restart_policy: None,
        };
        match api(1, create, "web").await {
            Ok(r) if r.status == 201 => {}
            other => return Err(format!("create got {other:?}").into()),
        }
        wait_state("web", ExternalState::Running, 60).await?;
        let sled = {
            let db = store.borrow();
            let row = db.instances().find(|r| r.name == "web").ok_or("no row")?;
            let vmm = row.runtime.propolis_id.ok_or("no active VMM")?;
            db.vmm(vmm).ok_or("no VMM row")?.sled_id
        };
        seen.borrow_mut().sled = Some(sled);
        let sled_host = HostId::Sled(sled).name();
        match cut {
            Cut::Partition => turmoil::partition(NEXUS.name(), sled_host.clone()),
            Cut::Hold => turmoil::hold(NEXUS.name(), sled_host.clone()),
        }
        let sent = tokio::time::Instant::now();
        let stop = api(2, ApiOp::Stop, "web").await;
        let took = sent.elapsed();
        {
            let mut s = seen.borrow_mut();
            s.stop = Some(stop);
            s.stop_took = took;
        }
        // Two watcher periods with the sled still unreachable: mgs says it
        // is powered on, so the watcher does not fail its VMM (#10334).
        tokio::time::sleep(Duration::from_secs(70)).await;
        Ok(())
    });
    sim.run().expect("the simulation runs");
    let out = out.take();
    (db, out)
}

#[test]
fn a_stop_through_a_partition_is_a_bad_gateway_and_fails_nothing() {
    for variant in Variant::ALL {
        for (cut, want) in [(Cut::Partition, 502), (Cut::Hold, 504)] {
            let (db, out) = stop_through_cut(variant, cut, 11);
            let what = format!("{variant} {cut:?}: {out:?}");
            let status = match &out.stop {
                Some(Ok(r)) => r.status,
                other => panic!("{what}: the stop got {other:?}"),
            };
            assert!(matches!(status, 502 | 504), "{what}");
            assert_eq!(status, want, "{what}");
            match cut {
                // The SYN is dropped: refused at once, no wait.
                Cut::Partition => assert!(out.stop_took < Duration::from_secs(10), "{what}"),
                // omicron's sled-client timeout, 60 s.
                Cut::Hold => assert!(
                    out.stop_took >= Duration::from_secs(60)
                        && out.stop_took < Duration::from_secs(70),
                    "{what}"
                ),
            }
            let db = db.borrow();
            let row = db
                .instances()
                .find(|r| r.name == "web")
                .expect("web exists");
            let vmm = row
                .runtime
                .propolis_id
                .and_then(|v| db.vmm(v))
                .unwrap_or_else(|| panic!("{what}: web lost its VMM: {row:?}"));
            assert_eq!(row.runtime.nexus_state, InstanceState::Vmm, "{what}");
            assert_eq!(vmm.runtime.state, VmmState::Running, "{what}: {vmm:?}");
            assert_eq!(Some(vmm.sled_id), out.sled, "{what}");
            assert_eq!(
                compute_state(row, Some(vmm)),
                ExternalState::Running,
                "{what}"
            );
            assert!(
                db.vmms().all(|v| v.runtime.state != VmmState::Failed),
                "{what}: a VMM was marked Failed"
            );
            // The stop was accepted: its intent stands (omicron-lifecycle 4).
            if variant.tracks_intent() {
                assert_eq!(row.intended_state, IntendedState::Stopped, "{what}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// b: a db crash with a write in flight
// ---------------------------------------------------------------------------

/// How the db goes down.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Down {
    /// `sim.crash("db")`: its streams close (peers see FIN or RST).
    Crash,
    /// A power loss: the db is partitioned from the client, then crashed,
    /// so nothing more it sent arrives (turmoil-notes 1.4).
    PowerLoss,
}

const ROW_ID: InstanceId = InstanceId(0x5eed);
const DB_TIMEOUT: Duration = Duration::from_secs(10);

fn row() -> InstanceRow {
    InstanceRow {
        id: ROW_ID,
        name: "web".into(),
        runtime: InstanceRuntime {
            nexus_state: InstanceState::Creating,
            gen: Generation::FIRST,
            propolis_id: None,
            time_last_auto_restarted: None,
            time_updated: Millis(0),
        },
        intended_state: IntendedState::Running,
        auto_restart_policy: None,
        auto_restart_cooldown: None,
        time_deleted: None,
        updater_id: None,
        updater_gen: Generation::FIRST,
    }
}

/// One attempt: the client inserts a row straight into the db; the db goes
/// down (`down`) at step `at` and comes back 5 steps later. Returns the
/// caller's outcome and whether the row is in the store afterwards.
fn insert_during_db_crash(seed: u64, down: Down, at: u64) -> (Result<DbResponse, RpcError>, bool) {
    let mut sim = sim(seed);
    let db = Db::new_handle();
    add_db(&mut sim, &db);
    let outcome: Rc<RefCell<Option<Result<DbResponse, RpcError>>>> = Rc::default();
    let seen = outcome.clone();
    sim.client(CLIENT.name(), async move {
        let call = DbCall {
            cause: Cause::Api { req: ReqId(1) },
            request: DbRequest::InstanceInsert { row: row() },
        };
        let r = rpc::call(CLIENT, HostId::Db, rpc::port::DB, &call, DB_TIMEOUT).await;
        *seen.borrow_mut() = Some(r);
        Ok(())
    });
    let db_name = HostId::Db.name();
    let client = CLIENT.name();
    for step in 0.. {
        if step == at {
            if down == Down::PowerLoss {
                sim.partition(db_name.as_str(), client.as_str());
            }
            sim.crash(db_name.as_str());
        }
        if step == at + 5 {
            if down == Down::PowerLoss {
                sim.repair(db_name.as_str(), client.as_str());
            }
            sim.bounce(db_name.as_str());
        }
        if sim.step().expect("the simulation runs") {
            break;
        }
    }
    let outcome = outcome.take().expect("the client finished");
    let committed = db.borrow().instance(ROW_ID).is_some();
    (outcome, committed)
}

/// What one attempt of [`insert_during_db_crash`] showed.
struct Attempt {
    down: Down,
    seed: u64,
    at: u64,
    outcome: Result<DbResponse, RpcError>,
    committed: bool,
}

impl Attempt {
    fn line(&self) -> String {
        format!(
            "{:?} seed {} step {}: {:?} committed={}",
            self.down, self.seed, self.at, self.outcome, self.committed
        )
    }

    /// No answer although the request was sent (not refused).
    fn unanswered(&self) -> bool {
        matches!(self.outcome, Err(RpcError::Closed | RpcError::Timeout))
    }

    fn again(&self) -> Attempt {
        let (outcome, committed) = insert_during_db_crash(self.seed, self.down, self.at);
        Attempt {
            outcome,
            committed,
            ..*self
        }
    }
}

/// Every way of taking the db down at steps 0..10, for a few seeds.
fn db_crash_attempts() -> Vec<Attempt> {
    let mut all = Vec::new();
    for down in [Down::Crash, Down::PowerLoss] {
        for seed in [1, 2, 3] {
            for at in 0..10 {
                let (outcome, committed) = insert_during_db_crash(seed, down, at);
                all.push(Attempt {
                    down,
                    seed,
                    at,
                    outcome,
                    committed,
                });
            }
        }
    }
    all
}

#[test]
fn a_db_crash_leaves_an_unanswered_write_committed_or_not() {
    let all = db_crash_attempts();
    let table: Vec<String> = all.iter().map(Attempt::line).collect();
    let table = table.join("\n");
    // An answer never lies: a write answered as applied is in the store,
    // and a refused call never ran.
    for a in &all {
        match &a.outcome {
            Ok(DbResponse::Write(true)) | Err(RpcError::Closed | RpcError::Timeout) => {}
            Err(RpcError::Refused) => assert!(!a.committed, "{}", a.line()),
            Ok(other) => panic!("{}: answered {other:?}", a.line()),
        }
        if a.outcome.is_ok() {
            assert!(a.committed, "{}\n{table}", a.line());
        }
    }
    let committed = all
        .iter()
        .find(|a| a.unanswered() && a.committed)
        .unwrap_or_else(|| panic!("no write committed unanswered:\n{table}"));
    let lost = all
        .iter()
        .find(|a| a.unanswered() && !a.committed)
        .unwrap_or_else(|| panic!("no unanswered write that did not commit:\n{table}"));
    // Each is deterministic: the same timing and seed, the same outcome.
    for a in [committed, lost] {
        assert_eq!(a.again().line(), a.line());
    }
}

/// The db answers in the same tick it commits, and a crashed host's
/// segments already on the wire are still delivered (only its later sends
/// die, and its peers get FIN). So a plain `sim.crash("db")` never leaves
/// a committed write unanswered: only a power loss (partition, then crash)
/// does. A fault schedule that only ever crashes the db cleanly never
/// exercises "committed, but the caller cannot tell".
#[test]
fn only_a_power_loss_leaves_a_committed_write_unanswered() {
    for a in db_crash_attempts() {
        if a.unanswered() && a.committed {
            assert_eq!(a.down, Down::PowerLoss, "{}", a.line());
        }
    }
}

// ---------------------------------------------------------------------------
// c: a call through a partition ends within its timeout
// ---------------------------------------------------------------------------

/// `sled-0` answers a number with the next one, after `delay`.
fn echo_server(sim: &mut turmoil::Sim<'static>, delay: Duration) {
    sim.host("sled-0", move || async move {
        rpc::serve(
            HostId::Sled(SledId(0)),
            rpc::port::SLED_AGENT,
            move |x: u64| async move {
                tokio::time::sleep(delay).await;
                x + 1
            },
        )
        .await?;
        Ok(())
    });
}

/// When the client cuts the link to the server, relative to its call.
#[derive(Clone, Copy, Debug)]
enum When {
    /// Never: the baseline.
    Never,
    /// Before connecting: the SYN is dropped.
    BeforeConnect,
    /// After the request left, before the answer (the server takes 2 s).
    InFlight,
    /// Before connecting, but held rather than dropped: the connect hangs.
    Held,
}

/// A call's outcome and how long it took in virtual time.
type Timed = (Result<u64, RpcError>, Duration);

/// A call from the client to an echo server that answers after 2 s, cut
/// as `when` says.
fn call_through_partition(when: When, timeout: Duration) -> Timed {
    let mut sim = sim(5);
    echo_server(&mut sim, Duration::from_secs(2));
    let out: Rc<RefCell<Option<Timed>>> = Rc::default();
    let seen = out.clone();
    sim.client(CLIENT.name(), async move {
        // Let the server bind first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        match when {
            When::BeforeConnect => turmoil::partition(CLIENT.name(), "sled-0"),
            When::Held => turmoil::hold(CLIENT.name(), "sled-0"),
            When::Never | When::InFlight => {}
        }
        let start = tokio::time::Instant::now();
        let call = rpc::call::<u64, u64>(
            CLIENT,
            HostId::Sled(SledId(0)),
            rpc::port::SLED_AGENT,
            &41,
            timeout,
        );
        let cut = async {
            if let When::InFlight = when {
                tokio::time::sleep(Duration::from_secs(1)).await;
                turmoil::partition(CLIENT.name(), "sled-0");
            }
        };
        let (r, ()) = tokio::join!(call, cut);
        *seen.borrow_mut() = Some((r, start.elapsed()));
        Ok(())
    });
    sim.run().expect("the simulation runs");
    out.take().expect("the client finished")
}

#[test]
fn a_call_through_a_partition_fails_within_its_timeout() {
    let timeout = Duration::from_secs(10);
    // The baseline: no cut, the answer comes after the server's 2 s.
    let (r, took) = call_through_partition(When::Never, timeout);
    assert_eq!(r, Ok(42));
    assert!(took < Duration::from_secs(4), "{took:?}");

    let (r, took) = call_through_partition(When::BeforeConnect, timeout);
    assert_eq!(r, Err(RpcError::Refused), "before connect");
    assert!(
        took < Duration::from_secs(1),
        "refused at once, took {took:?}"
    );

    for when in [When::InFlight, When::Held] {
        let (r, took) = call_through_partition(when, timeout);
        assert_eq!(r, Err(RpcError::Timeout), "{when:?}");
        assert!(
            took >= timeout && took <= timeout + TICK,
            "{when:?}: took {took:?}, timeout {timeout:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// d: a held request whose caller timed out: lost, or delivered late
// ---------------------------------------------------------------------------

/// An observer that only says whether held links deliver late.
struct Late(bool);

impl model::probe::Probe for Late {
    fn event(&self, _host: HostId, _event: &model::event::Event) {}
    fn point(&self, _host: HostId, _name: &str) -> model::probe::PointAction {
        model::probe::PointAction::Continue
    }
    fn is_paused(&self, _host: HostId, _name: &str) -> bool {
        false
    }
    fn delivers_late(&self, _from: HostId, _to: HostId) -> bool {
        self.0
    }
}

/// The client holds its link to `sled-0`, calls with a 10 s timeout,
/// releases the link 20 s later and waits 10 s more. Returns the call's
/// result and the requests the server handled.
fn held_past_timeout(deliver_late: bool) -> (Result<u64, RpcError>, u32) {
    let _guard = model::probe::install(Rc::new(Late(deliver_late)));
    let mut sim = sim(5);
    let handled = counting_echo_server(&mut sim, false);
    let r = run_client(sim, async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        turmoil::hold(CLIENT.name(), "sled-0");
        let r = rpc::call::<u64, u64>(
            CLIENT,
            HostId::Sled(SledId(0)),
            rpc::port::SLED_AGENT,
            &41,
            Duration::from_secs(10),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(20)).await;
        turmoil::release(CLIENT.name(), "sled-0");
        tokio::time::sleep(Duration::from_secs(10)).await;
        r
    });
    (r, handled.get())
}

/// `sled-0` answers a number with the next one, counting the requests it
/// handles; with `halt_first`, one of its tasks first reaches [`HALT_AT`].
/// Returns the count.
fn counting_echo_server(sim: &mut turmoil::Sim<'static>, halt_first: bool) -> Rc<Cell<u32>> {
    let server = HostId::Sled(SledId(0));
    let handled: Rc<Cell<u32>> = Rc::default();
    let count = handled.clone();
    sim.host(server.name(), move || {
        let count = count.clone();
        async move {
            if halt_first {
                reach_halt_point(server);
            }
            rpc::serve(server, rpc::port::SLED_AGENT, move |x: u64| {
                count.set(count.get() + 1);
                async move { x + 1 }
            })
            .await?;
            Ok(())
        }
    });
    handled
}

/// Runs `sim` with the client's task `call` (which ends with one call's
/// result) and returns that result.
fn run_client(
    mut sim: turmoil::Sim<'static>,
    call: impl std::future::Future<Output = Result<u64, RpcError>> + 'static,
) -> Result<u64, RpcError> {
    let out: Rc<RefCell<Option<Result<u64, RpcError>>>> = Rc::default();
    let seen = out.clone();
    sim.client(CLIENT.name(), async move {
        *seen.borrow_mut() = Some(call.await);
        Ok(())
    });
    sim.run().expect("the simulation runs");
    out.take().expect("the client finished")
}

#[test]
fn a_held_request_is_lost_unless_it_is_delivered_late() {
    // Held on a new connection: the SYN waits, the caller gives up, and on
    // release the server skips the SYN: the request never arrives.
    assert_eq!(held_past_timeout(false), (Err(RpcError::Timeout), 0));
    // Delivered late: the caller still times out, but its connection
    // outlives it, and the server handles the request on release.
    assert_eq!(held_past_timeout(true), (Err(RpcError::Timeout), 1));
}

// ---------------------------------------------------------------------------
// e: a host halted at a point sends and answers nothing more
// ---------------------------------------------------------------------------

/// The point the tests below halt a host at (any point would do).
const HALT_AT: model::points::Plain = model::points::Plain::ApiAfterLookup;

/// An observer that halts a host reaching [`HALT_AT`], as the harness's
/// `crash` at a named point does before it crashes the host.
struct HaltAt;

impl model::probe::Probe for HaltAt {
    fn event(&self, _host: HostId, _event: &model::event::Event) {}
    fn point(&self, _host: HostId, name: &str) -> model::probe::PointAction {
        if name == HALT_AT.as_str() {
            model::probe::PointAction::Halt
        } else {
            model::probe::PointAction::Continue
        }
    }
    fn is_paused(&self, _host: HostId, _name: &str) -> bool {
        false
    }
}

/// Which host halts at the point before the call.
#[derive(Clone, Copy, Debug)]
enum Halted {
    Nobody,
    /// The caller: one of its tasks reaches the point; another calls.
    Caller,
    /// The server: one of its tasks reaches the point; another serves.
    Server,
}

/// In a task of its own, `host` reaches [`HALT_AT`] (and halts there).
fn reach_halt_point(host: HostId) {
    tokio::task::spawn_local(model::probe::point(host, HALT_AT.into()));
}

/// The client calls `sled-0`'s echo server (10 s timeout) one second
/// after `halted` reached the halting point in another of its tasks.
/// Returns the call's result and the requests the server handled.
fn call_with_one_host_halted(halted: Halted) -> (Result<u64, RpcError>, u32) {
    let _guard = model::probe::install(Rc::new(HaltAt));
    let mut sim = sim(5);
    let handled = counting_echo_server(&mut sim, matches!(halted, Halted::Server));
    let r = run_client(sim, async move {
        if let Halted::Caller = halted {
            reach_halt_point(CLIENT);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        rpc::call::<u64, u64>(
            CLIENT,
            HostId::Sled(SledId(0)),
            rpc::port::SLED_AGENT,
            &41,
            Duration::from_secs(10),
        )
        .await
    });
    (r, handled.get())
}

/// A host halted at a named point is frozen in place: its other tasks
/// neither send (the caller's request never reaches the server) nor
/// answer (the server handles the request, the answer never leaves).
#[test]
fn a_host_halted_at_a_point_sends_and_answers_nothing() {
    assert_eq!(call_with_one_host_halted(Halted::Nobody), (Ok(42), 1));
    assert_eq!(
        call_with_one_host_halted(Halted::Caller),
        (Err(RpcError::Timeout), 0)
    );
    assert_eq!(
        call_with_one_host_halted(Halted::Server),
        (Err(RpcError::Timeout), 1)
    );
}
