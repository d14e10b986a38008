//! Quiet (design section 3): nothing left for the control plane to do. A
//! run ends once quiet has held for the quiet window (one watcher period,
//! or longer than a VMM boot or stop: `runner::quiet_window`). Each rule names
//! what is still pending, so a hung run says why.

use crate::recorder::SledTables;
use model::config::ModelConfig;
use model::db::Db;
use model::ids::{Millis, SledId};
use model::nexus::decisions::auto_restart_status;
use model::states::{AutoRestartPolicy, InstanceState, IntendedState, VmmState};
use std::collections::BTreeSet;

/// VMM states that exist on a sled.
fn is_present(s: VmmState) -> bool {
    matches!(
        s,
        VmmState::Starting | VmmState::Running | VmmState::Stopping | VmmState::Rebooting
    )
}

/// Why the control plane is not quiet, or `None` when it is.
pub fn reason(
    db: &Db,
    sleds: &SledTables,
    up: &BTreeSet<SledId>,
    config: &ModelConfig,
    now: Millis,
) -> Option<String> {
    if db.sagas_in_flight() {
        return Some("a saga is running or unwinding".into());
    }
    let room = up
        .iter()
        .any(|s| db.reservations_on(*s) < config.sled_capacity as usize);
    for i in db.instances() {
        if i.time_deleted.is_some() {
            continue;
        }
        if i.updater_id.is_some() {
            return Some(format!("instance {} is locked", i.id));
        }
        let vmm = i.runtime.propolis_id.and_then(|v| db.vmm(v));
        if vmm.is_some_and(|v| v.runtime.state.is_terminal()) {
            return Some(format!("instance {} has a terminal active VMM", i.id));
        }
        let status = auto_restart_status(
            config.intent_variant(),
            i,
            vmm,
            now,
            config.timings.default_cooldown,
        );
        if room
            && status.needs_reincarnation
            && i.auto_restart_policy != Some(AutoRestartPolicy::Never)
        {
            return Some(format!("instance {} awaits reincarnation", i.id));
        }
        if config.intent_variant().runs_intent_reconciler() && room {
            let wants_start = i.runtime.nexus_state == InstanceState::NoVmm
                && i.intended_state == IntendedState::Running;
            let wants_stop = matches!(
                i.intended_state,
                IntendedState::Stopped | IntendedState::Destroyed
            ) && vmm.is_some_and(|v| {
                matches!(
                    v.runtime.state,
                    VmmState::Starting | VmmState::Running | VmmState::Rebooting
                )
            });
            let wants_delete = i.intended_state == IntendedState::Destroyed
                && matches!(
                    i.runtime.nexus_state,
                    InstanceState::NoVmm | InstanceState::Failed
                );
            let wants_finish = i.runtime.nexus_state == InstanceState::Creating;
            if wants_start || wants_stop || wants_delete || wants_finish {
                return Some(format!("instance {} awaits the intent reconciler", i.id));
            }
        }
    }
    let referenced: BTreeSet<_> = db
        .instances()
        .filter_map(|i| i.runtime.propolis_id)
        .collect();
    for v in db.vmms() {
        if v.time_deleted.is_some() {
            continue;
        }
        if v.runtime.state.is_destroyable() && !referenced.contains(&v.id) {
            return Some(format!("vmm {} awaits the reaper", v.id));
        }
        if is_present(v.runtime.state) && !up.contains(&v.sled_id) {
            // The sled is lost: the watcher will fail the VMM.
            return Some(format!("vmm {} is on a sled that is down", v.id));
        }
        if is_present(v.runtime.state) {
            let on_sled = sleds.get(&v.sled_id).and_then(|t| t.get(&v.id));
            if on_sled != Some(&(v.runtime.state, v.runtime.gen)) {
                return Some(format!("vmm {} does not match its sled", v.id));
            }
        }
    }
    for (sled, table) in sleds {
        if !up.contains(sled) {
            continue;
        }
        for (vmm, (state, gen)) in table {
            let row = db.vmm(*vmm);
            // `fixed` (branch 5) unregisters a running VMM that is not its
            // instance's active VMM: until it has, the reconciler has work.
            if config.variant.reconciler_reaps_orphan_vmms()
                && matches!(
                    state,
                    VmmState::Starting | VmmState::Running | VmmState::Rebooting
                )
            {
                let active = row
                    .and_then(|r| db.instance(r.instance_id))
                    .and_then(|i| i.runtime.propolis_id);
                if active != Some(*vmm) {
                    return Some(format!(
                        "{sled} runs orphan vmm {vmm}: awaits the intent reconciler"
                    ));
                }
            }
            // Otherwise a VMM whose row is gone or SagaUnwound is an orphan:
            // nothing in the control plane will act on it again
            // (no_orphan_vmm reports it), so it does not keep the run busy.
            let Some(row) = row else { continue };
            if row.time_deleted.is_some() || row.runtime.state == VmmState::SagaUnwound {
                continue;
            }
            if row.runtime.gen != *gen || row.runtime.state != *state {
                return Some(format!("{sled} holds vmm {vmm} the db does not match"));
            }
        }
    }
    None
}
