//! Publishing VMM states to Nexus (`publish_state_to_nexus`,
//! `sled-agent/src/instance.rs` ~L932): `cpapi_instances_put` with
//! `retry_policy_internal_service` (`common/src/backoff.rs`).
//!
//! **Coalescing.** omicron's instance runner publishes each state in order:
//! it awaits one state's retry loop before it observes the next. Here each
//! VMM has at most one push task, and that task always sends the VMM's
//! *latest* unacknowledged state. The two are equivalent as far as Nexus can
//! tell: Nexus writes a VMM state only when its generation is newer than the
//! stored one (`vmm_update_runtime_on_connection`,
//! `nexus/db-queries/src/db/datastore/vmm.rs` ~L216), so a state superseded
//! before it was delivered would only have been overwritten, and one
//! delivered after its successor would be dropped as stale.
//!
//! **Which Nexus.** The sled agent's Nexus client resolves Nexus through
//! internal DNS (`sled-agent/src/nexus.rs`), so each attempt may reach a
//! different Nexus. The model draws the Nexus of every attempt from the
//! sled's seeded RNG.
//!
//! A push outlives the VMM: the final `Destroyed` is published as the VMM
//! leaves the table, and must still reach Nexus. It does not outlive the
//! sled agent's process: a restarted sled agent has forgotten it.

use crate::event::Event;
use crate::ids::{HostId, NexusId, SledId, VmmId};
use crate::nexus::internal_api::{InternalRequest, InternalResponse};
use crate::probe;
use crate::rpc::{self, RpcError};
use crate::sled_agent::api::SledVmmState;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// How long one push attempt may take, connect included. omicron's client
/// has its own timeout; the model needs one because a turmoil stream stalls
/// forever on a lost segment (turmoil-notes section 2).
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// The retry policy `retry_policy_internal_service`: exponential backoff,
/// no overall limit. The model doubles without jitter; omicron's
/// `backoff` crate randomises each interval.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
}

/// A push that has not been acknowledged yet.
struct Pending {
    /// The latest state of the VMM, the one the next attempt sends.
    state: SledVmmState,
    /// The task that owns this push. A task whose push was cancelled (and
    /// perhaps replaced by a new one) sees a different id and exits.
    task: u64,
}

/// What an attempt's outcome means to the retry loop.
enum Outcome {
    /// 2xx: Nexus has the state (or a newer one).
    Acked,
    /// No answer or 5xx: try again after the backoff.
    Transient,
    /// 4xx or anything else: omicron gives up on this state
    /// (`BackoffError::permanent`).
    Permanent(u16),
}

fn classify(result: &Result<InternalResponse, RpcError>) -> Outcome {
    match result {
        Err(_) => Outcome::Transient,
        Ok(InternalResponse { status }) if (200..300).contains(status) => Outcome::Acked,
        Ok(InternalResponse { status }) if *status >= 500 => Outcome::Transient,
        Ok(InternalResponse { status }) => Outcome::Permanent(*status),
    }
}

/// The state pushes of one sled agent process.
pub struct Publisher {
    sled: SledId,
    nexus_count: u8,
    policy: RetryPolicy,
    /// Models internal DNS's choice among the Nexus instances.
    rng: RefCell<ChaCha8Rng>,
    /// One entry per VMM with a push under way (`BTreeMap`, not `HashMap`:
    /// turmoil-notes section 4 rule 3).
    pending: RefCell<BTreeMap<VmmId, Pending>>,
    next_task: Cell<u64>,
    /// Woken whenever a push finishes or is cancelled ([`Publisher::finished`]).
    settled: tokio::sync::Notify,
}

impl Publisher {
    /// `nexus_count` must be at least 1.
    pub fn new(sled: SledId, nexus_count: u8, policy: RetryPolicy, rng_seed: u64) -> Publisher {
        assert!(nexus_count > 0, "a sled agent needs a Nexus to report to");
        Publisher {
            sled,
            nexus_count,
            policy,
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(rng_seed)),
            pending: RefCell::new(BTreeMap::new()),
            next_task: Cell::new(0),
            settled: tokio::sync::Notify::new(),
        }
    }

    /// Sends `state` to Nexus until it (or a newer state of the same VMM)
    /// is acknowledged. An older state than the one pending is ignored.
    pub fn publish(self: &Rc<Self>, state: SledVmmState) {
        let mut pending = self.pending.borrow_mut();
        if let Some(p) = pending.get_mut(&state.vmm) {
            if state.gen > p.state.gen {
                p.state = state;
            }
            return;
        }
        let task = self.next_task.get();
        self.next_task.set(task + 1);
        pending.insert(state.vmm, Pending { state, task });
        tokio::task::spawn_local(self.clone().push_loop(state.vmm, task));
    }

    /// The state a push under way for `vmm` will send next, if any.
    pub fn pending_state(&self, vmm: VmmId) -> Option<SledVmmState> {
        self.pending.borrow().get(&vmm).map(|p| p.state)
    }

    /// Drops the VMM's pending push, if any: the sled agent lost all trace
    /// of the VMM.
    pub fn cancel(&self, vmm: VmmId) {
        self.pending.borrow_mut().remove(&vmm);
        self.settled.notify_waiters();
    }

    /// Returns once no push of `vmm` is under way: its latest state was
    /// acknowledged (or permanently refused, as omicron's
    /// `publish_state_to_nexus` also gives up then), or the push was
    /// cancelled.
    pub async fn finished(&self, vmm: VmmId) {
        loop {
            let settled = self.settled.notified();
            if !self.pending.borrow().contains_key(&vmm) {
                return;
            }
            settled.await;
        }
    }

    /// The state task `task` should send next, or `None` once its push is
    /// finished or cancelled.
    fn current(&self, vmm: VmmId, task: u64) -> Option<SledVmmState> {
        self.pending
            .borrow()
            .get(&vmm)
            .filter(|p| p.task == task)
            .map(|p| p.state)
    }

    /// After Nexus answered for `sent` (or gave up on it): finishes the
    /// push unless a newer state arrived meanwhile.
    fn settle(&self, vmm: VmmId, task: u64, sent: SledVmmState) -> bool {
        let mut pending = self.pending.borrow_mut();
        let done = pending
            .get(&vmm)
            .is_some_and(|p| p.task == task && p.state.gen == sent.gen);
        if done {
            pending.remove(&vmm);
            self.settled.notify_waiters();
        }
        done
    }

    fn pick_nexus(&self) -> NexusId {
        NexusId(self.rng.borrow_mut().random_range(0..self.nexus_count))
    }

    async fn push_loop(self: Rc<Self>, vmm: VmmId, task: u64) {
        let host = HostId::Sled(self.sled);
        let mut backoff = self.policy.initial;
        while let Some(state) = self.current(vmm, task) {
            let nexus = self.pick_nexus();
            let req = InternalRequest::CpapiInstancesPut {
                sled: self.sled,
                state,
            };
            let result = rpc::call(
                host,
                HostId::Nexus(nexus),
                rpc::port::NEXUS_INTERNAL,
                &req,
                PUSH_TIMEOUT,
            )
            .await;
            match classify(&result) {
                Outcome::Acked => {
                    if self.settle(vmm, task, state) {
                        return;
                    }
                    // A newer state arrived while this one was in flight: a
                    // fresh publish in omicron, so a fresh backoff.
                    backoff = self.policy.initial;
                }
                Outcome::Permanent(status) => {
                    tracing::warn!(
                        target: "intent_sim::model",
                        %host, %vmm, gen = %state.gen, %nexus, status,
                        "state push rejected; giving up on this state"
                    );
                    if self.settle(vmm, task, state) {
                        return;
                    }
                    backoff = self.policy.initial;
                }
                Outcome::Transient => {
                    probe::emit(
                        host,
                        Event::PushRetry {
                            sled: self.sled,
                            vmm,
                            gen: state.gen,
                            nexus,
                            retry_in_ms: backoff.as_millis() as u64,
                        },
                    );
                    turmoil::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.policy.max);
                }
            }
        }
    }
}
