//! `start-instance-update` and the real `instance-update`
//! (`nexus/src/app/sagas/instance_update/{mod,start,destroyed}.rs`),
//! migrations left out. The update saga is the only saga that unlinks an
//! active VMM; the instance-updater lock gives mutual exclusion between
//! update sagas only (against start sagas, generations keep it safe).

use super::executor::{ActionError, ActionResult, Node, Saga, SagaContext};
use crate::clock;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::db::rows::SagaName;
use crate::event::Event;
use crate::fixes::Fix;
use crate::ids::{InstanceId, LockId, SagaId};
use crate::mutation::{self, Mutation};
use crate::nexus::context::Nexus;
use crate::nexus::decisions::{auto_restart_status, UpdatesRequired};
use crate::points::Plain;
use futures::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use std::time::Duration;

/// `start-instance-update`'s state. The real saga's id and lock id are drawn
/// when the parent is created, so a replayed node starts the same child.
#[derive(Clone, Serialize, Deserialize, Debug)]
pub struct StartParams {
    pub instance_id: InstanceId,
    pub lock: LockId,
    pub child: SagaId,
    pub child_lock: LockId,
    /// LOCK_INSTANCE's output: did the try-lock succeed?
    pub locked: Option<bool>,
}

impl StartParams {
    pub fn new(nexus: &Nexus, instance_id: InstanceId) -> StartParams {
        StartParams {
            instance_id,
            lock: LockId(nexus.new_id()),
            child: nexus.new_saga_id(),
            child_lock: LockId(nexus.new_id()),
            locked: None,
        }
    }
}

impl Saga for StartParams {
    const NAME: SagaName = SagaName::StartInstanceUpdate;
    fn nodes() -> &'static [Node<Self>] {
        START_NODES
    }
    fn instance_id(&self) -> InstanceId {
        self.instance_id
    }
}

const START_NODES: &[Node<StartParams>] = &[
    Node {
        name: "LOCK_INSTANCE",
        action: siu_lock_instance,
        undo: Some(siu_lock_instance_undo),
    },
    Node {
        name: "FETCH_STATE_AND_START_REAL_SAGA",
        action: siu_fetch_state_and_start_real_saga,
        undo: None,
    },
];

/// Runs an update saga for `instance` now and waits for it.
pub async fn update_instance(nexus: &Rc<Nexus>, instance: InstanceId) {
    let params = StartParams::new(nexus, instance);
    let id = nexus.new_saga_id();
    super::executor::execute(nexus, id, params).await;
}

/// A try-lock: if another saga holds the lock, this saga does nothing.
/// Transient db errors are retried for ever (#10177); a deleted instance is
/// not retried (#10785): the lock is simply not taken.
fn siu_lock_instance<'a>(
    ctx: &'a SagaContext,
    p: &'a mut StartParams,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let cfg = &ctx.nexus.cfg;
        ctx.nexus.point(Plain::UpdateBeforeLock).await;
        let req = DbRequest::InstanceUpdaterLock {
            id: p.instance_id,
            lock: p.lock,
        };
        let mut answer = if cfg.has_fix(Fix::LockInstanceRetries) {
            ctx.nexus.db_until_answered(ctx.cause(), req.clone()).await
        } else {
            // Before #10177: one attempt; a db error fails the node, whose
            // undo (the unlock) steno never runs, even if an earlier
            // execution of this node already took the lock (#10166).
            ctx.nexus
                .db(ctx.cause(), req.clone())
                .await
                .map_err(|_| ActionError::new(503, "database unavailable"))?
        };
        if cfg.has_fix(Fix::LockInstanceRetries) && !cfg.has_fix(Fix::LockGivesUpOnDeleted) {
            // Before #10785: `instance_updater_lock` on a deleted instance
            // is an error that is not "locked by another saga", and the
            // #10177 loop retried it for ever (#10784).
            let mut wait = LOCK_RETRY_INITIAL;
            while !matches!(answer, DbResponse::Write(true))
                && instance_deleted(ctx, p.instance_id).await
            {
                ctx.nexus.emit(Event::LockRetry {
                    saga: ctx.saga,
                    instance: p.instance_id,
                    retry_in_ms: wait.as_millis() as u64,
                });
                turmoil::time::sleep(wait).await;
                wait = (wait * 2).min(LOCK_RETRY_MAX);
                answer = ctx.nexus.db_until_answered(ctx.cause(), req.clone()).await;
            }
        }
        p.locked = Some(matches!(answer, DbResponse::Write(true)));
        Ok(())
    })
}

/// The lock retry's backoff (`retry_policy_internal_service`).
const LOCK_RETRY_INITIAL: Duration = Duration::from_millis(250);
const LOCK_RETRY_MAX: Duration = Duration::from_secs(180);

/// Whether the instance record is deleted (or gone), read until answered.
async fn instance_deleted(ctx: &SagaContext, id: InstanceId) -> bool {
    match ctx
        .nexus
        .db_until_answered(ctx.cause(), DbRequest::InstanceFetch { id })
        .await
    {
        DbResponse::Instance(iv) => iv.is_none_or(|iv| iv.instance.time_deleted.is_some()),
        other => panic!("db answered InstanceFetch with {other:?}"),
    }
}

fn siu_lock_instance_undo<'a>(
    ctx: &'a SagaContext,
    p: &'a mut StartParams,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        if p.locked == Some(true) {
            unlock(ctx, p.instance_id, p.lock).await;
        }
        Ok(())
    })
}

async fn unlock(ctx: &SagaContext, id: InstanceId, lock: LockId) {
    let req = DbRequest::InstanceUpdaterUnlock { id, lock };
    ctx.nexus.db_until_answered(ctx.cause(), req).await;
}

/// Reads the instance inside the lock and decides what to update. Nothing
/// to do: release the lock. Otherwise run the real saga, which inherits the
/// lock, and wait for it.
fn siu_fetch_state_and_start_real_saga<'a>(
    ctx: &'a SagaContext,
    p: &'a mut StartParams,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        if p.locked != Some(true) {
            return Ok(());
        }
        let iv = ctx
            .nexus
            .fetch_instance(ctx.cause(), p.instance_id)
            .await
            .map_err(|_| ActionError::new(503, "database unavailable"))?;
        ctx.nexus.point(Plain::UpdateAfterSnapshot).await;
        let updates = iv.and_then(|iv| {
            UpdatesRequired::for_instance(ctx.nexus.cfg.intent_variant(), &iv, clock::now())
        });
        match updates {
            None => unlock(ctx, p.instance_id, p.lock).await,
            Some(updates) => {
                let child = Params {
                    instance_id: p.instance_id,
                    parent_lock: p.lock,
                    lock: p.child_lock,
                    updates,
                };
                // The real saga's own undo unlocks if it unwinds, so its
                // outcome needs nothing more here.
                super::executor::execute(&ctx.nexus, p.child, child).await;
            }
        }
        Ok(())
    })
}

/// The real `instance-update` saga's state.
#[derive(Clone, Serialize, Deserialize, Debug)]
pub struct Params {
    pub instance_id: InstanceId,
    pub parent_lock: LockId,
    pub lock: LockId,
    pub updates: UpdatesRequired,
}

impl Saga for Params {
    const NAME: SagaName = SagaName::InstanceUpdate;
    fn nodes() -> &'static [Node<Self>] {
        NODES
    }
    fn instance_id(&self) -> InstanceId {
        self.instance_id
    }
}

const NODES: &[Node<Params>] = &[
    Node {
        name: "BECOME_UPDATER",
        action: siu_become_updater,
        undo: Some(siu_unbecome_updater),
    },
    Node {
        name: "COMMIT_INSTANCE_UPDATES",
        action: siu_commit_instance_updates,
        undo: None,
    },
    Node {
        name: "RELEASE_SLED_RESOURCES",
        action: siu_destroyed_release_sled_resources,
        undo: None,
    },
    Node {
        name: "MARK_VMM_DELETED",
        action: siu_destroyed_mark_vmm_deleted,
        undo: None,
    },
    Node {
        name: "CHAIN_SUCCESSOR_SAGA",
        action: siu_chain_successor_saga,
        undo: None,
    },
];

/// Inherits the lock from the parent by CAS; retried for ever on db errors
/// (#10801).
fn siu_become_updater<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        ctx.nexus.point(Plain::UpdateBeforeInheritLock).await;
        let req = DbRequest::InstanceUpdaterInheritLock {
            id: p.instance_id,
            parent: p.parent_lock,
            child: p.lock,
        };
        let answer = if ctx.nexus.cfg.has_fix(Fix::BecomeUpdaterRetries) {
            ctx.nexus.db_until_answered(ctx.cause(), req).await
        } else {
            // Before #10801: one attempt; a db error fails the node without
            // its undo, even if an earlier execution inherited the lock.
            ctx.nexus
                .db(ctx.cause(), req)
                .await
                .map_err(|_| ActionError::new(503, "database unavailable"))?
        };
        match answer {
            DbResponse::Write(true) => Ok(()),
            _ => Err(ActionError::conflict("could not inherit the updater lock")),
        }
    })
}

/// Unlocks (retrying forever) and activates the instance_updater task, which
/// will try again.
fn siu_unbecome_updater<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        unlock(ctx, p.instance_id, p.lock).await;
        ctx.nexus.activators.instance_updater.activate();
        Ok(())
    })
}

/// `instance_commit_update`: the new runtime, the lock released and the
/// intent (if it changes) in one write. A stale generation unwinds the saga.
fn siu_commit_instance_updates<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let req = DbRequest::InstanceCommitUpdate {
            id: p.instance_id,
            lock: p.lock,
            new: p.updates.new_runtime.clone(),
            new_intent: p
                .updates
                .new_intent
                .filter(|_| !mutation::on(Mutation::UpdateCommitKeepsIntent)),
        };
        match ctx.nexus.db_write(ctx.cause(), req).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                // A replay after a crash finds its own commit: the VMM is
                // unlinked and the generation is at least the one written.
                let iv = ctx
                    .nexus
                    .fetch_instance(ctx.cause(), p.instance_id)
                    .await
                    .map_err(|_| ActionError::new(503, "database unavailable"))?;
                let committed = iv.is_some_and(|iv| {
                    iv.instance.runtime.propolis_id != Some(p.updates.destroy_vmm)
                        && iv.instance.runtime.gen >= p.updates.new_runtime.gen
                        && iv.instance.updater_id.is_none()
                });
                if committed {
                    Ok(())
                } else {
                    Err(ActionError::conflict("instance changed: stale generation"))
                }
            }
            Err(_) => Err(ActionError::new(503, "database unavailable")),
        }
    })
}

/// destroy-vmm subsaga, `RELEASE_SLED_RESOURCES`. Runs after the commit, so
/// the instance never points at a deleted VMM.
fn siu_destroyed_release_sled_resources<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        if mutation::on(Mutation::UpdateSkipRelease) {
            return Ok(());
        }
        let req = DbRequest::SledReservationDelete {
            vmm: p.updates.destroy_vmm,
        };
        ctx.nexus.db_until_answered(ctx.cause(), req).await;
        Ok(())
    })
}

/// destroy-vmm subsaga, `MARK_VMM_DELETED`.
fn siu_destroyed_mark_vmm_deleted<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        if mutation::on(Mutation::UpdateSkipMarkDeleted) {
            return Ok(());
        }
        let req = DbRequest::VmmMarkDeleted {
            id: p.updates.destroy_vmm,
        };
        ctx.nexus.db_until_answered(ctx.cause(), req).await;
        Ok(())
    })
}

/// Best effort, never unwinds: if more updates are needed, start another
/// update saga; otherwise `reincarnate_if_needed`.
fn siu_chain_successor_saga<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let Ok(Some(iv)) = ctx.nexus.fetch_instance(ctx.cause(), p.instance_id).await else {
            return Ok(());
        };
        let nexus = &ctx.nexus;
        if UpdatesRequired::for_instance(nexus.cfg.intent_variant(), &iv, clock::now()).is_some() {
            let nexus = nexus.clone();
            let id = p.instance_id;
            tokio::task::spawn_local(async move { update_instance(&nexus, id).await });
        } else if auto_restart_status(
            nexus.cfg.intent_variant(),
            &iv.instance,
            iv.vmm.as_ref(),
            clock::now(),
            nexus.cfg.timings.default_cooldown,
        )
        .should_reincarnate()
        {
            nexus.activators.reincarnation.activate();
        }
        Ok(())
    })
}
