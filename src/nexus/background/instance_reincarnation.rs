//! `instance_reincarnation`
//! (`nexus/src/app/background/tasks/instance_reincarnation.rs`): restarts
//! Failed instances, and instances on a SagaUnwound VMM, whose policy and
//! cooldown allow it and (since PR #8053) whose intent is Running. It starts
//! the instance-start saga directly with the row it read, so the intent is
//! neither re-written nor re-checked: a stop that lands between the choice
//! and `MARK_AS_STARTING` does not stop it (omicron-lifecycle section 5.2).

use super::task_context::TaskContext;
use crate::clock;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::event::{BackgroundTask, Decision, ReincarnationReason};
use crate::mutation::{self, Mutation};
use crate::nexus::context::Nexus;
use crate::nexus::sagas::executor::{self, SagaOutcome};
use crate::nexus::sagas::instance_start;
use crate::points::Plain;
use crate::states::StartReason;
use std::rc::Rc;

/// `InstanceReincarnationStatus`, reduced.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InstanceReincarnationStatus {
    pub started: usize,
    pub changed_state: usize,
    pub errors: usize,
}

pub async fn activate(nexus: Rc<Nexus>) -> InstanceReincarnationStatus {
    if mutation::on(Mutation::ReincarnationOff) {
        return InstanceReincarnationStatus::default();
    }
    let ctx = TaskContext {
        nexus,
        task: BackgroundTask::InstanceReincarnation,
    };
    let mut status = InstanceReincarnationStatus::default();
    for reason in [
        ReincarnationReason::Failed,
        ReincarnationReason::SagaUnwound,
    ] {
        let req = DbRequest::FindReincarnatable {
            reason,
            require_intent_running: ctx.nexus.cfg.intent_variant().tracks_intent(),
            now: clock::now(),
            default_cooldown: ctx.nexus.cfg.timings.default_cooldown,
        };
        let batch = match ctx.nexus.db(ctx.cause(), req).await {
            Ok(DbResponse::Instances(b)) => b,
            Ok(other) => panic!("db answered FindReincarnatable with {other:?}"),
            Err(_) => {
                status.errors += 1;
                continue;
            }
        };
        let starts = batch.into_iter().map(|iv| {
            let ctx = &ctx;
            async move {
                let saga = ctx.nexus.new_saga_id();
                ctx.decide(
                    iv.instance.id,
                    Decision::Reincarnate {
                        saga,
                        reason,
                        selected: Box::new(iv.instance.clone()),
                    },
                );
                ctx.nexus.point(Plain::ReincarnationSelected).await;
                let params = instance_start::Params::new(iv.instance, StartReason::AutoRestart);
                executor::execute(&ctx.nexus, saga, params).await
            }
        });
        for outcome in futures::future::join_all(starts).await {
            match outcome {
                SagaOutcome::Done(_) => status.started += 1,
                SagaOutcome::Unwound(e) if e.status == 409 => status.changed_state += 1,
                SagaOutcome::Unwound(_) | SagaOutcome::Stuck(_) => status.errors += 1,
            }
        }
    }
    status
}
