//! Background tasks (`nexus/src/app/background/`): reconcilers that take no
//! input, are idempotent, run once at start-up, then every period, and
//! sooner when something activates them. Several activations collapse into
//! one. Each returns a typed status.

pub mod abandoned_vmm_reaper;
pub mod activator;
pub mod instance_intent_reconciler;
pub mod instance_reincarnation;
pub mod instance_updater;
pub mod instance_watcher;
pub mod reconciler_backoff;
pub mod saga_recovery;
pub mod task_context;

use crate::mutation::{self, Mutation};
use crate::nexus::context::Nexus;
use activator::Activator;
use futures::future::LocalBoxFuture;
use std::rc::Rc;
use std::time::Duration;

/// A task's body: one activation, returning its typed status.
type Activation = fn(Rc<Nexus>) -> LocalBoxFuture<'static, Box<dyn std::fmt::Debug>>;

/// The driver (`nexus/src/app/background/driver.rs`): runs `body` at once,
/// then whenever the period passes or the task is activated.
fn spawn(nexus: &Rc<Nexus>, period: Duration, activator: Activator, body: Activation) {
    let nexus = nexus.clone();
    tokio::task::spawn_local(async move {
        loop {
            let status = body(nexus.clone()).await;
            tracing::debug!(target: "intent_sim::background", host = %nexus.host, ?status);
            tokio::select! {
                biased;
                _ = activator.notified() => {}
                _ = turmoil::time::sleep(period) => {}
            }
        }
    });
}

/// Starts every background task of this Nexus.
pub fn start_all(nexus: &Rc<Nexus>) {
    let t = nexus.cfg.timings.clone();
    let a = nexus.activators.clone();
    spawn(nexus, t.saga_recovery_period, a.saga_recovery, |n| {
        Box::pin(async { Box::new(saga_recovery::activate(n).await) as Box<dyn std::fmt::Debug> })
    });
    spawn(nexus, t.watcher_period, a.instance_watcher, |n| {
        Box::pin(async {
            Box::new(instance_watcher::activate(n).await) as Box<dyn std::fmt::Debug>
        })
    });
    spawn(nexus, t.reincarnation_period, a.reincarnation, |n| {
        Box::pin(async {
            Box::new(instance_reincarnation::activate(n).await) as Box<dyn std::fmt::Debug>
        })
    });
    spawn(nexus, t.updater_period, a.instance_updater, |n| {
        Box::pin(async {
            Box::new(instance_updater::activate(n).await) as Box<dyn std::fmt::Debug>
        })
    });
    spawn(nexus, t.reaper_period, a.abandoned_vmm_reaper, |n| {
        Box::pin(async {
            Box::new(abandoned_vmm_reaper::activate(n).await) as Box<dyn std::fmt::Debug>
        })
    });
    if nexus.cfg.intent_variant().runs_intent_reconciler() && !mutation::on(Mutation::ReconcilerOff)
    {
        spawn(
            nexus,
            t.intent_reconciler_period,
            a.intent_reconciler,
            |n| {
                Box::pin(async {
                    Box::new(instance_intent_reconciler::activate(n).await)
                        as Box<dyn std::fmt::Debug>
                })
            },
        );
    }
}
