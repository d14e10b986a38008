//! A sled agent host (`sled-N`): the VMM table of one sled, whose
//! generations it owns, and the state pushes to Nexus
//! (`omicron-lifecycle.md` sections 2 and 6).
//!
//! Everything lives in the host's future, so a restarted sled agent starts
//! with an empty table: omicron's `cleanup_all_old_global_state`
//! (`sled-agent/src/bootstrap/pre_server.rs` ~L192) halts and deletes every
//! Propolis zone at start-up, and from then on the old VMMs answer 404
//! `NO_SUCH_INSTANCE` (`instance_manager.rs` `NoSuchVmm`).
//!
//! **Who learns a state how.** A state change a request causes (register,
//! put-state, unregister) is returned in that request's reply, as
//! omicron's `put_state` returns `sled_instance_state()`. A change the sled
//! makes on its own (a boot or a stop finishing, the guest powering off) is
//! published to Nexus ([`publish`]), as omicron's instance runner does after
//! each Propolis observation.

pub mod api;
pub mod publish;

use crate::config::Timings;
use crate::event::{Event, SledCall, VmmGoneReason};
use crate::ids::{HostId, InstanceId, SledId, VmmId};
use crate::mutation::{self, Mutation};
use crate::probe::{self, SledFault};
use crate::rpc;
use crate::states::{Generation, RequestedState, VmmState};
use crate::variant::Variant;
use api::{SledRequest, SledResponse, SledVmmState};
use publish::{Publisher, RetryPolicy};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// What a sled agent host needs to know.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SledAgentConfig {
    pub sled: SledId,
    /// Nexus hosts `nexus-0..nexus_count-1`: the ones internal DNS may name.
    pub nexus_count: u8,
    pub timings: Timings,
    /// The behaviour variant (`Variant::sled_reports_destroyed_while_pushing`).
    pub variant: Variant,
    /// omicron #7928 (`sled-agent/src/instance.rs`, the instance runner's
    /// exit): a VMM whose Propolis halted stays in the table, answering
    /// with its final `Destroyed` state, until Nexus has acknowledged that
    /// state's push; only then is it deregistered. `false` is the behaviour
    /// before the fix: the VMM leaves the table as it halts, so a watcher
    /// poll that lands before the push gets 404 `NO_SUCH_INSTANCE` and
    /// fails a VMM that stopped cleanly. See [`Agent::halted`].
    pub publish_before_forget: bool,
}

/// Runs the software of host `sled-N`. `rng_seed` seeds the choice of Nexus
/// for each push; the harness derives it from the simulation's seed (and,
/// if it likes, the restart count).
pub async fn run(cfg: SledAgentConfig, rng_seed: u64) -> turmoil::Result {
    if cfg.nexus_count == 0 {
        return Err("a sled agent needs at least one Nexus to report to".into());
    }
    let host = HostId::Sled(cfg.sled);
    probe::emit(host, Event::HostStarted);
    let agent = Rc::new(Agent::new(cfg, rng_seed));
    rpc::serve(host, rpc::port::SLED_AGENT, move |req: SledRequest| {
        let agent = agent.clone();
        async move {
            match agent.injected_fault(&req) {
                None => agent.handle(req),
                Some(SledFault::Status(status)) => SledResponse::Error(status),
                Some(SledFault::Hang) => std::future::pending().await,
            }
        }
    })
    .await?;
    Ok(())
}

/// Where a VMM is in its life on this sled. Finer than [`VmmState`]: the
/// reported `Starting` covers both a VMM that was only registered (omicron's
/// `Instance` with `running_state: None`, no Propolis zone yet) and one
/// whose Propolis was asked to run and is booting. The distinction decides
/// what a stop does. A VMM destroyed by a request (unregister, or a stop
/// before Propolis existed) leaves the table at once; one whose Propolis
/// halted on its own is [`Phase::Halted`] until its final state is
/// published (#7928).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Registered; nobody asked it to run yet.
    Registered,
    /// Asked to run; Running after `vmm_boot_time`.
    Booting,
    Running,
    /// Running after `vmm_boot_time`.
    Rebooting,
    /// Destroyed after `vmm_stop_time`.
    Stopping,
    /// Propolis halted and its zone is gone; the final `Destroyed` state is
    /// being published to Nexus. The runner still owns the VMM: get-state
    /// answers `Destroyed`, put-state answers 410 (`Error::Terminating`,
    /// `sled-agent/src/sled_agent.rs` ~L278), and the VMM leaves the table
    /// once Nexus acknowledged the push (omicron #7928). `failed`: the VMM
    /// failed instead (its zone or Propolis vanished, `ZoneGone` /
    /// `NoInstance` in `handle_monitor_message`), and the final state is
    /// `Failed` (`fail_vmm_and_terminate`).
    Halted {
        failed: bool,
    },
}

impl Phase {
    /// The state Nexus hears (`sled-agent/src/common/instance.rs` L38-69
    /// maps Propolis's Creating and Starting to Starting).
    fn reported(self) -> VmmState {
        match self {
            Phase::Registered | Phase::Booting => VmmState::Starting,
            Phase::Running => VmmState::Running,
            Phase::Rebooting => VmmState::Rebooting,
            Phase::Stopping => VmmState::Stopping,
            Phase::Halted { failed: false } => VmmState::Destroyed,
            Phase::Halted { failed: true } => VmmState::Failed,
        }
    }
}

/// What a put-state request does to a VMM in a given phase.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PutAction {
    /// Already there or on the way: reply with the current state.
    Unchanged,
    /// omicron answers 400 here (the simulated sled agent's
    /// `invalid_request`, the real one's `VmNotRunning` or a Propolis
    /// error). The model's API has no 400, so it replies with the current,
    /// unchanged state.
    Refused,
    /// Move to this phase.
    Enter(Phase),
    /// No Propolis exists yet: omicron's `put_state` terminates the VMM and
    /// "generate[s] an instance record bearing the Destroyed state and
    /// return[s] it to the caller", with no push, since no Propolis will
    /// ever report one.
    DestroyNow,
    /// The runner is publishing the final state and then exits: requests
    /// queued for it are answered `Error::Terminating`, a 410 Gone with
    /// code `NO_SUCH_INSTANCE` (`sled-agent/src/sled_agent.rs` ~L278).
    /// Nexus's `vmm_gone` looks for a 404, so this is "another error".
    Terminating,
}

/// The answer to `VmmPutState`, following omicron's `put_state`
/// (`sled-agent/src/instance.rs`) and its simulated sled agent's
/// `request_transition` (`sled-agent/src/sim/instance.rs`).
fn put_state_action(phase: Phase, requested: RequestedState) -> PutAction {
    use PutAction::*;
    use RequestedState as R;
    match (phase, requested) {
        // `propolis_ensure` sets up the zone, then Propolis is told to run.
        (Phase::Registered, R::Running) => Enter(Phase::Booting),
        (Phase::Booting | Phase::Running, R::Running) => Unchanged,
        // Running again once the reboot completes.
        (Phase::Rebooting, R::Running) => Unchanged,
        // "Propolis forbids direct transitions from a stopped state back to
        // a running state."
        (Phase::Stopping, R::Running) => Refused,

        (Phase::Registered, R::Stopped) => DestroyNow,
        // A Propolis exists: `PropolisRequest::Stop`, published Stopping.
        (Phase::Booting | Phase::Running | Phase::Rebooting, R::Stopped) => Enter(Phase::Stopping),
        // "Idempotently allow requests to stop an instance that is already
        // stopping."
        (Phase::Stopping, R::Stopped) => Unchanged,

        (Phase::Running, R::Reboot) => Enter(Phase::Rebooting),
        // "Further requests to reboot are ignored if the instance is
        // currently rebooting."
        (Phase::Rebooting, R::Reboot) => Unchanged,
        // `VmNotRunning` (no Propolis) or "can't request Reboot with
        // pending resting state".
        (Phase::Registered | Phase::Booting | Phase::Stopping, R::Reboot) => Refused,

        (Phase::Halted { .. }, R::Running | R::Stopped | R::Reboot) => Terminating,
    }
}

/// One VMM in the table.
#[derive(Clone, Copy, Debug)]
struct Vmm {
    instance: InstanceId,
    phase: Phase,
    /// The generation of the reported state. The sled agent owns it and
    /// bumps it on every change of reported state (`transition_vmm`,
    /// `sled-agent/src/common/instance.rs` ~L293).
    gen: Generation,
    /// The token of the timer that ends the current phase, if it has one.
    /// A timer whose token is no longer here fires into nothing.
    timer: Option<u64>,
    /// Nexus asked this sled agent to stop the VMM (a put-state Stopped
    /// that began its stop), so the halt that follows is not the guest's
    /// own. Set only in the `fixed` variant (branch 13,
    /// `Variant::sled_reports_requested_stop`), and reported with every
    /// state from then on.
    stop_requested: bool,
}

impl Vmm {
    fn state(&self, vmm: VmmId) -> SledVmmState {
        SledVmmState {
            vmm,
            state: self.phase.reported(),
            gen: self.gen,
            stop_requested: self.stop_requested,
        }
    }
}

/// The in-memory state of one sled agent process.
struct Agent {
    cfg: SledAgentConfig,
    host: HostId,
    /// The VMM table (`BTreeMap`: iteration order reaches behaviour).
    vmms: RefCell<BTreeMap<VmmId, Vmm>>,
    publisher: Rc<Publisher>,
    next_timer: Cell<u64>,
}

impl Agent {
    fn new(cfg: SledAgentConfig, rng_seed: u64) -> Agent {
        let policy = RetryPolicy {
            initial: cfg.timings.push_retry_initial,
            max: cfg.timings.push_retry_max,
        };
        Agent {
            host: HostId::Sled(cfg.sled),
            publisher: Rc::new(Publisher::new(cfg.sled, cfg.nexus_count, policy, rng_seed)),
            cfg,
            vmms: RefCell::new(BTreeMap::new()),
            next_timer: Cell::new(0),
        }
    }

    /// The harness's fault for this request, if it injects one (the
    /// scenario fault `sled_error` or `sled_hang`): omicron's simulated
    /// sled agent's `set_instance_ensure_state_error`, as
    /// `test_instances_are_not_marked_failed_on_other_sled_agent_errors`
    /// uses it, generalised to the three calls Nexus makes of a VMM.
    fn injected_fault(&self, req: &SledRequest) -> Option<SledFault> {
        let (call, vmm) = match req {
            SledRequest::VmmRegister { vmm, .. } => (SledCall::Register, *vmm),
            SledRequest::VmmPutState { vmm, .. } => (SledCall::PutState, *vmm),
            SledRequest::VmmGetState { vmm } => (SledCall::GetState, *vmm),
            SledRequest::VmmUnregister { .. }
            | SledRequest::VmmList
            | SledRequest::SimGuestShutdown { .. }
            | SledRequest::SimForgetVmm { .. }
            | SledRequest::SimFailBooting { .. } => return None,
        };
        let fault = probe::sled_fault(self.host, call)?;
        probe::emit(
            self.host,
            Event::SledCallFailed {
                sled: self.cfg.sled,
                vmm,
                call,
                status: match fault {
                    SledFault::Status(s) => Some(s),
                    SledFault::Hang => None,
                },
            },
        );
        Some(fault)
    }

    fn handle(self: &Rc<Self>, req: SledRequest) -> SledResponse {
        match req {
            SledRequest::VmmRegister { vmm, instance } => self.register(vmm, instance),
            SledRequest::VmmPutState { vmm, state } => self.put_state(vmm, state),
            SledRequest::VmmGetState { vmm } => match self.vmms.borrow().get(&vmm) {
                Some(v) => SledResponse::Ok(v.state(vmm)),
                None => match self.publisher.pending_state(vmm) {
                    Some(s)
                        if s.state == VmmState::Destroyed
                            && self.cfg.variant.sled_reports_destroyed_while_pushing() =>
                    {
                        SledResponse::Ok(s)
                    }
                    _ => SledResponse::NoSuchInstance,
                },
            },
            SledRequest::VmmUnregister { vmm } => self.unregister(vmm),
            SledRequest::VmmList => SledResponse::Vmms(
                self.vmms
                    .borrow()
                    .iter()
                    .map(|(id, v)| (v.instance, v.state(*id)))
                    .collect(),
            ),
            SledRequest::SimGuestShutdown { instance } => self.guest_shutdown(instance),
            SledRequest::SimForgetVmm { instance } => self.forget(instance),
            SledRequest::SimFailBooting { instance } => self.fail_booting(instance),
        }
    }

    fn emit_state(&self, vmm: VmmId, instance: InstanceId, state: VmmState, gen: Generation) {
        probe::emit(
            self.host,
            Event::VmmOnSled {
                sled: self.cfg.sled,
                vmm,
                instance,
                state,
                gen,
            },
        );
    }

    fn emit_gone(&self, vmm: VmmId, instance: InstanceId, reason: VmmGoneReason) {
        probe::emit(
            self.host,
            Event::VmmGone {
                sled: self.cfg.sled,
                vmm,
                instance,
                reason,
            },
        );
    }

    /// `vmm_register`. Nexus inserted the VMM row at generation 1 in
    /// `Creating`; the sled agent's first state, `Starting`, is generation
    /// 2. Registering a VMM the table has already returns its state.
    fn register(self: &Rc<Self>, vmm: VmmId, instance: InstanceId) -> SledResponse {
        let mut vmms = self.vmms.borrow_mut();
        if let Some(v) = vmms.get(&vmm) {
            return SledResponse::Ok(v.state(vmm));
        }
        let v = Vmm {
            instance,
            phase: Phase::Registered,
            gen: Generation::FIRST.next(),
            timer: None,
            stop_requested: false,
        };
        vmms.insert(vmm, v);
        self.emit_state(vmm, instance, v.phase.reported(), v.gen);
        SledResponse::Ok(v.state(vmm))
    }

    fn put_state(self: &Rc<Self>, vmm: VmmId, requested: RequestedState) -> SledResponse {
        let phase = self.vmms.borrow().get(&vmm).map(|v| v.phase);
        probe::emit(
            self.host,
            Event::SledPutState {
                sled: self.cfg.sled,
                vmm,
                requested,
                accepted: phase.is_some(),
            },
        );
        let Some(phase) = phase else {
            return SledResponse::NoSuchInstance;
        };
        let action = match put_state_action(phase, requested) {
            PutAction::Enter(Phase::Stopping) | PutAction::DestroyNow
                if mutation::on(Mutation::SledStopIgnored) =>
            {
                PutAction::Unchanged
            }
            action => action,
        };
        // Branch 13: a stop Nexus asked for begins here (a Propolis is
        // told to stop, or a VMM with none is destroyed at once). A VMM
        // already stopping on its own stays the guest's shutdown.
        if requested == RequestedState::Stopped
            && matches!(
                action,
                PutAction::Enter(Phase::Stopping) | PutAction::DestroyNow
            )
            && self.cfg.variant.sled_reports_requested_stop()
            && !mutation::on(Mutation::SledStopRequestUnreported)
        {
            if let Some(v) = self.vmms.borrow_mut().get_mut(&vmm) {
                v.stop_requested = true;
            }
        }
        let state = match action {
            PutAction::Unchanged => self.current(vmm),
            PutAction::Refused => {
                tracing::debug!(
                    target: "intent_sim::model",
                    host = %self.host, %vmm, ?phase, %requested,
                    "put-state refused (omicron answers 400)"
                );
                self.current(vmm)
            }
            PutAction::Enter(next) => self.enter(vmm, next),
            PutAction::DestroyNow => self.destroy(vmm, VmmGoneReason::Destroyed),
            PutAction::Terminating => return SledResponse::Error(410),
        };
        SledResponse::Ok(state)
    }

    fn current(&self, vmm: VmmId) -> SledVmmState {
        self.vmms.borrow()[&vmm].state(vmm)
    }

    /// Moves a VMM in the table to `phase`: a new generation if the reported
    /// state changes, and the timer that ends the phase, if it has one.
    fn enter(self: &Rc<Self>, vmm: VmmId, phase: Phase) -> SledVmmState {
        let mut vmms = self.vmms.borrow_mut();
        let v = vmms.get_mut(&vmm).expect("enter: the VMM is in the table");
        let changed = v.phase.reported() != phase.reported();
        v.phase = phase;
        if changed {
            let same_gen = mutation::on(Mutation::SledDestroySameGen)
                && matches!(phase, Phase::Halted { failed: false });
            let before = v.gen;
            if !mutation::on(Mutation::SledGenNotBumped) && !same_gen {
                v.gen = v.gen.next();
            }
            // The sled agent owns the VMM's generation and bumps it on
            // every change it reports (`sled-agent/src/common/instance.rs`
            // ~L293): a new state never reuses or lowers it, or Nexus's
            // guard drops the change. Only the two test-only mutations
            // that reproduce exactly that bug may keep it.
            debug_assert!(
                v.gen > before || mutation::on(Mutation::SledGenNotBumped) || same_gen,
                "VMM {vmm}: a new state without a newer generation"
            );
            self.emit_state(vmm, v.instance, phase.reported(), v.gen);
        }
        let delay = match phase {
            Phase::Registered | Phase::Running | Phase::Halted { .. } => None,
            Phase::Booting | Phase::Rebooting => Some(self.cfg.timings.vmm_boot_time),
            Phase::Stopping => Some(self.cfg.timings.vmm_stop_time),
        };
        v.timer = delay.map(|delay| {
            let token = self.next_timer.get();
            self.next_timer.set(token + 1);
            let agent = self.clone();
            tokio::task::spawn_local(async move {
                turmoil::time::sleep(delay).await;
                agent.timer_fired(vmm, token);
            });
            token
        });
        v.state(vmm)
    }

    /// A phase's time is up: a boot or reboot finishes Running, a stop
    /// finishes Destroyed. The sled made the change on its own, so it
    /// publishes it.
    fn timer_fired(self: &Rc<Self>, vmm: VmmId, token: u64) {
        let phase = match self.vmms.borrow().get(&vmm) {
            Some(v) if v.timer == Some(token) => v.phase,
            // Unregistered, forgotten, or moved on to another phase.
            _ => return,
        };
        match phase {
            Phase::Booting | Phase::Rebooting => {
                let state = self.enter(vmm, Phase::Running);
                self.publisher.publish(state);
            }
            Phase::Stopping => {
                self.halted(vmm, false);
            }
            Phase::Registered | Phase::Running | Phase::Halted { .. } => {
                unreachable!("{phase:?} has no timer")
            }
        }
    }

    /// Propolis halted on its own (a stop or a guest power-off finished):
    /// publish `Destroyed` and forget the VMM. With
    /// [`SledAgentConfig::publish_before_forget`] (omicron #7928) the VMM
    /// stays in the table as [`Phase::Halted`] until Nexus acknowledged the
    /// push, so a watcher poll in between reads `Destroyed`, not 404;
    /// without it the VMM leaves the table first, as before the fix.
    /// Returns the final state.
    fn halted(self: &Rc<Self>, vmm: VmmId, failed: bool) -> SledVmmState {
        let state = self.enter(vmm, Phase::Halted { failed });
        self.publisher.publish(state);
        if !self.cfg.publish_before_forget {
            self.deregister(vmm);
            return state;
        }
        let agent = self.clone();
        tokio::task::spawn_local(async move {
            agent.publisher.finished(vmm).await;
            agent.deregister(vmm);
        });
        state
    }

    /// `ticket.deregister()` after the final state was published: the
    /// halted VMM leaves the table, unless it already left (forgotten).
    fn deregister(&self, vmm: VmmId) {
        let removed = self.vmms.borrow_mut().remove(&vmm);
        if let Some(v) = removed {
            let reason = match v.phase {
                Phase::Halted { failed: true } => VmmGoneReason::Failed,
                Phase::Halted { failed: false } => VmmGoneReason::Destroyed,
                Phase::Registered
                | Phase::Booting
                | Phase::Running
                | Phase::Rebooting
                | Phase::Stopping => {
                    debug_assert!(false, "only a halted VMM is deregistered");
                    VmmGoneReason::Destroyed
                }
            };
            self.emit_gone(vmm, v.instance, reason);
        }
    }

    /// The VMM reaches `Destroyed` (a new generation) and leaves the table.
    fn destroy(&self, vmm: VmmId, reason: VmmGoneReason) -> SledVmmState {
        let v = self
            .vmms
            .borrow_mut()
            .remove(&vmm)
            .expect("destroy: the VMM is in the table");
        debug_assert!(
            !matches!(v.phase, Phase::Halted { .. }),
            "a halted VMM already has its final state"
        );
        let gen = if mutation::on(Mutation::SledDestroySameGen) {
            v.gen
        } else {
            v.gen.next()
        };
        self.emit_state(vmm, v.instance, VmmState::Destroyed, gen);
        self.emit_gone(vmm, v.instance, reason);
        SledVmmState {
            vmm,
            state: VmmState::Destroyed,
            gen,
            stop_requested: v.stop_requested,
        }
    }

    /// `vmm_unregister`: the zone is torn down whatever the VM was doing,
    /// and the final state goes back in the reply (omicron's
    /// `VmmUnregisterResponse::updated_runtime`).
    ///
    /// A halted VMM whose final state is being published is already
    /// Destroyed: omicron queues the terminate request until the runner
    /// exits and answers it with that state (`InstanceRunner::run`'s
    /// drain of `terminate_rx`).
    fn unregister(&self, vmm: VmmId) -> SledResponse {
        let phase = self.vmms.borrow().get(&vmm).map(|v| v.phase);
        match phase {
            None => SledResponse::NoSuchInstance,
            Some(Phase::Halted { .. }) => SledResponse::Ok(self.current(vmm)),
            Some(_) => SledResponse::Ok(self.destroy(vmm, VmmGoneReason::Unregistered)),
        }
    }

    /// The first VMM (by id) of `instance` whose phase `pick` accepts.
    fn find(&self, instance: InstanceId, pick: impl Fn(Phase) -> bool) -> Option<VmmId> {
        self.vmms
            .borrow()
            .iter()
            .find(|(_, v)| v.instance == instance && pick(v.phase))
            .map(|(id, _)| *id)
    }

    /// Test hook: the guest powers itself off. Propolis reports Stopped
    /// (reported as Stopping) and then Destroyed, and the sled agent
    /// publishes both. Only a VMM with a guest can do this: one booting,
    /// running or rebooting.
    fn guest_shutdown(self: &Rc<Self>, instance: InstanceId) -> SledResponse {
        let has_guest = |phase| match phase {
            Phase::Booting | Phase::Running | Phase::Rebooting => true,
            // No Propolis yet, already powering off, or halted.
            Phase::Registered | Phase::Stopping | Phase::Halted { .. } => false,
        };
        let Some(vmm) = self.find(instance, has_guest) else {
            return SledResponse::NothingToDo;
        };
        let state = self.enter(vmm, Phase::Stopping);
        self.publisher.publish(state);
        SledResponse::Ok(state)
    }

    /// Test hook: a booting VMM fails (#10516, the faithful form of #9095):
    /// its Propolis zone is gone before the guest ran, so the runner forces
    /// it to `Failed`, publishes that and deregisters it
    /// (`fail_vmm_and_terminate`, `sled-agent/src/instance.rs`). Only a
    /// VMM whose Propolis is booting can do this.
    fn fail_booting(self: &Rc<Self>, instance: InstanceId) -> SledResponse {
        let Some(vmm) = self.find(instance, |phase| phase == Phase::Booting) else {
            return SledResponse::NothingToDo;
        };
        SledResponse::Ok(self.halted(vmm, true))
    }

    /// Test hook: the sled agent loses the VMM without telling anyone
    /// (omicron's simulated `instance_unregister`, as PR #8053's test
    /// uses). Its Propolis dies with it, and so does any push still pending
    /// for it.
    fn forget(&self, instance: InstanceId) -> SledResponse {
        let Some(vmm) = self.find(instance, |_| true) else {
            return SledResponse::NothingToDo;
        };
        let v = self
            .vmms
            .borrow_mut()
            .remove(&vmm)
            .expect("forget: found above");
        self.publisher.cancel(vmm);
        self.emit_gone(vmm, instance, VmmGoneReason::Forgotten);
        SledResponse::Ok(v.state(vmm))
    }
}
