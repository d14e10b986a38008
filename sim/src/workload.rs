//! The `workload` host: the API user, and the operator's hands on the
//! simulated hardware (omicron's sim sled-agent test hooks, MGS power). It
//! does what the runner queues and records every request and its outcome;
//! it never retries behind the checkers' back.

use crate::record::{RecordKind, RequestOutcome, WorkloadEvent};
use crate::recorder::Recorder;
use model::event::ApiOp;
use model::ids::{HostId, NexusId, ReqId, SledId};
use model::mgs::{MgsRequest, MgsResponse, PowerState};
use model::nexus::external_api::{ApiRequest, ApiResponse};
use model::rpc;
use model::sled_agent::api::{SledRequest, SledResponse};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long the API client waits for a response: longer than any timeout
/// inside Nexus, so a 504 from Nexus reaches it.
const API_TIMEOUT: Duration = Duration::from_secs(180);
/// Test hooks are local operator actions; they answer quickly or not at all.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// The workload takes new commands only at multiples of this from its
/// start (it used to wake this often to look; a notification now wakes it,
/// and it waits for the next such instant, so it takes each command at the
/// virtual instant it always did).
const POLL: Duration = Duration::from_millis(100);

/// What the runner asks the workload to do.
#[derive(Clone, Debug)]
pub enum Command {
    Request {
        req: ReqId,
        op: ApiOp,
        instance: String,
    },
    SledHook {
        sled: SledId,
        request: SledRequest,
    },
    SetPower {
        sled: SledId,
        state: PowerState,
    },
}

/// Shared between the runner and the workload host.
#[derive(Default)]
pub struct WorkloadState {
    queue: VecDeque<Command>,
    outcomes: BTreeMap<ReqId, RequestOutcome>,
    in_flight: usize,
    done: bool,
    /// Wakes the workload host when a command is queued or the run ends.
    wake: Rc<Notify>,
}

pub type WorkloadHandle = Rc<RefCell<WorkloadState>>;

impl WorkloadState {
    pub fn push(&mut self, c: Command) {
        self.queue.push_back(c);
        self.wake.notify_one();
    }
    pub fn outcome(&self, req: ReqId) -> Option<&RequestOutcome> {
        self.outcomes.get(&req)
    }
    /// Commands queued or running.
    pub fn busy(&self) -> bool {
        self.in_flight > 0 || !self.queue.is_empty()
    }
    /// Ends the workload host's loop.
    pub fn finish(&mut self) {
        self.done = true;
        self.wake.notify_one();
    }
}

/// The workload host's software.
pub async fn run(
    state: WorkloadHandle,
    recorder: Rc<Recorder>,
    nexus_count: u8,
    mut rng: ChaCha8Rng,
) -> turmoil::Result {
    // The workload host runs on turmoil's paused tokio clock: this is
    // virtual time set by the simulation, not the wall clock.
    let start = tokio::time::Instant::now(); // determinism-ok: virtual time (turmoil's paused clock)
    loop {
        let next = {
            let mut s = state.borrow_mut();
            if s.done {
                return Ok(());
            }
            let c = s.queue.pop_front();
            if c.is_some() {
                s.in_flight += 1;
            }
            c
        };
        let Some(command) = next else {
            let wake = state.borrow().wake.clone();
            wake.notified().await;
            // Runners queue between ticks, and ticks start on this grid
            // (TICK is a multiple of POLL), so this wait is usually zero.
            let off_grid = start.elapsed().as_nanos() % POLL.as_nanos();
            if off_grid != 0 {
                turmoil::time::sleep(POLL - Duration::from_nanos(off_grid as u64)).await;
            }
            continue;
        };
        let nexus = HostId::Nexus(NexusId(rng.random_range(0..nexus_count)));
        let state = state.clone();
        let recorder = recorder.clone();
        tokio::task::spawn_local(async move {
            execute(command, nexus, &state, &recorder).await;
            state.borrow_mut().in_flight -= 1;
        });
    }
}

async fn execute(command: Command, nexus: HostId, state: &WorkloadHandle, recorder: &Recorder) {
    match command {
        Command::Request { req, op, instance } => {
            recorder.record(
                HostId::Workload,
                RecordKind::Workload(WorkloadEvent::RequestSent {
                    req,
                    op,
                    instance: instance.clone(),
                }),
            );
            let request = ApiRequest {
                req,
                op,
                instance: instance.clone(),
            };
            let reply: Result<ApiResponse, _> = rpc::call(
                HostId::Workload,
                nexus,
                rpc::port::NEXUS_EXTERNAL,
                &request,
                API_TIMEOUT,
            )
            .await;
            let outcome = match reply {
                Ok(r) => RequestOutcome::Status {
                    status: r.status,
                    instance: r.instance.map(|v| v.id),
                },
                Err(_) => RequestOutcome::NoResponse,
            };
            recorder.record(
                HostId::Workload,
                RecordKind::Workload(WorkloadEvent::Outcome {
                    req,
                    op,
                    instance,
                    outcome: outcome.clone(),
                }),
            );
            state.borrow_mut().outcomes.insert(req, outcome);
        }
        Command::SledHook { sled, request } => {
            let _: Result<SledResponse, _> = rpc::call(
                HostId::Workload,
                HostId::Sled(sled),
                rpc::port::SLED_AGENT,
                &request,
                HOOK_TIMEOUT,
            )
            .await;
        }
        Command::SetPower { sled, state } => {
            let _: Result<MgsResponse, _> = rpc::call(
                HostId::Workload,
                HostId::Mgs,
                rpc::port::MGS,
                &MgsRequest::SimSetPower { sled, state },
                HOOK_TIMEOUT,
            )
            .await;
        }
    }
}
