//! `instance_watcher` (`nexus/src/app/background/tasks/instance_watcher.rs`):
//! polls the sled agent of every VMM that should exist and records what it
//! says. A 404 NO_SUCH_INSTANCE fails the VMM; an unreachable sled fails it
//! only if MGS says the sled is powered off (#10334); anything else is
//! inconclusive. A synthesized failure uses the VMM's generation + 1.

use super::task_context::TaskContext;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::db::rows::VmmRow;
use crate::event::{BackgroundTask, Decision};
use crate::ids::HostId;
use crate::mgs::{MgsRequest, MgsResponse, PowerState};
use crate::mutation::{self, Mutation};
use crate::nexus::context::Nexus;
use crate::nexus::vmm_update::{mark_vmm_failed, process_vmm_update, UpdateSagaWait};
use crate::points::Plain;
use crate::rpc;
use crate::sled_agent::api::{SledRequest, SledResponse, SledVmmState};
use crate::states::{VmmFailureReason, VmmState};
use std::rc::Rc;

/// `InstanceWatcherStatus`, reduced.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InstanceWatcherStatus {
    pub checked: usize,
    pub updated: usize,
}

pub async fn activate(nexus: Rc<Nexus>) -> InstanceWatcherStatus {
    let ctx = TaskContext {
        nexus,
        task: BackgroundTask::InstanceWatcher,
    };
    let vmms = match ctx
        .nexus
        .db(ctx.cause(), DbRequest::VmmListForWatcher)
        .await
    {
        Ok(DbResponse::WatcherList(v)) => v,
        Ok(other) => panic!("db answered VmmListForWatcher with {other:?}"),
        Err(_) => return InstanceWatcherStatus::default(),
    };
    let checks = vmms.iter().map(|(vmm, _)| check(&ctx, vmm));
    let results = futures::future::join_all(checks).await;
    InstanceWatcherStatus {
        checked: results.len(),
        updated: results.into_iter().filter(|updated| *updated).count(),
    }
}

/// What one check concluded.
enum Finding {
    Reported(SledVmmState),
    Failed(VmmFailureReason),
    Inconclusive,
}

async fn check(ctx: &TaskContext, vmm: &VmmRow) -> bool {
    let req = SledRequest::VmmGetState { vmm: vmm.id };
    let finding = match ctx.nexus.sled(vmm.sled_id, &req).await {
        Ok(SledResponse::Ok(state)) => Finding::Reported(state),
        Ok(SledResponse::NoSuchInstance) if mutation::on(Mutation::WatcherIgnoresGoneVmm) => {
            Finding::Inconclusive
        }
        Ok(SledResponse::NoSuchInstance) => Finding::Failed(VmmFailureReason::NoSuchInstance),
        // Any other error response: inconclusive, no change
        // (`instance_watcher.rs` `check_instance`; omicron's
        // `test_instances_are_not_marked_failed_on_other_sled_agent_errors_by_instance_watcher`).
        Ok(SledResponse::NothingToDo | SledResponse::Vmms(_) | SledResponse::Error(_)) => {
            Finding::Inconclusive
        }
        Err(_) if mutation::on(Mutation::WatcherFailsUnreachable) => {
            Finding::Failed(VmmFailureReason::SledOff)
        }
        Err(_) => match sled_power(ctx, vmm).await {
            Some(PowerState::A2) => Finding::Failed(VmmFailureReason::SledOff),
            Some(PowerState::A0) | None => Finding::Inconclusive,
        },
    };
    let (state, gen, stop_requested, reason) = match finding {
        Finding::Reported(s) if s.gen > vmm.runtime.gen => (s.state, s.gen, s.stop_requested, None),
        Finding::Reported(_) | Finding::Inconclusive => return false,
        Finding::Failed(reason) => (
            VmmState::Failed,
            vmm.runtime.gen.next(),
            false,
            Some(reason),
        ),
    };
    ctx.decide(
        vmm.instance_id,
        Decision::WatcherVmmState {
            vmm: vmm.id,
            state,
            gen,
            reason,
        },
    );
    ctx.nexus.point(Plain::WatcherBeforeUpdate).await;
    let result = match reason {
        Some(reason) => mark_vmm_failed(&ctx.nexus, ctx.cause(), vmm, reason).await,
        None => process_vmm_update(
            &ctx.nexus,
            ctx.cause(),
            vmm,
            SledVmmState {
                vmm: vmm.id,
                state,
                gen,
                stop_requested,
            },
            UpdateSagaWait::Wait,
        )
        .await
        .map(|_| ()),
    };
    result.is_ok()
}

/// Asks MGS whether the VMM's sled is powered on.
async fn sled_power(ctx: &TaskContext, vmm: &VmmRow) -> Option<PowerState> {
    let req = MgsRequest::SledPowerState { sled: vmm.sled_id };
    let timeout = ctx.nexus.cfg.timings.db_rpc_timeout;
    match rpc::call(ctx.nexus.host, HostId::Mgs, rpc::port::MGS, &req, timeout).await {
        Ok(MgsResponse::Power(p)) => Some(p),
        Ok(MgsResponse::Ok) | Err(_) => None,
    }
}
