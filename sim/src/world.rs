//! Builds the turmoil world of one run: the hosts in a fixed order, all
//! seeded from the run's seed tree.
//!
//! The tick is the price of speed: every network hop takes at least one
//! tick, so a db round trip takes a few ticks and a start saga several
//! seconds of virtual time. That suits a control plane whose periods are
//! 30 s to 10 min; races are made to happen with pause points, not timing.

use crate::fault::Fault;
use crate::plan::{Action, Plan};
use crate::recorder::Recorder;
use crate::seed::SeedTree;
use crate::workload::{self, WorkloadHandle};
use model::config::ModelConfig;
use model::db::{Db, DbHandle};
use model::fixes::Fix;
use model::ids::{HostId, NexusId, SledId};
use model::mgs::PowerState;
use model::nexus::NexusConfig;
use model::sled_agent::SledAgentConfig;
use model::variant::Variant;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

/// One step of virtual time.
pub const TICK: Duration = Duration::from_millis(200);

/// The simulation's fixed epoch (2023-11-14), so `since_epoch` never reads
/// the wall clock.
const EPOCH_SECS: u64 = 1_700_000_000;

/// Handles the runner keeps on a built world.
pub struct World<'a> {
    pub sim: turmoil::Sim<'a>,
    pub db: DbHandle,
    pub workload: WorkloadHandle,
    /// The configuration Nexus runs now (its variant changes at an
    /// upgrade).
    pub config: ModelConfig,
    /// The variant every Nexus boots in: `legacy` until a plan's upgrade
    /// sets the run's variant.
    pub nexus_variant: Rc<Cell<Variant>>,
    /// The run's variant (after any upgrade).
    pub variant: Variant,
}

/// The model configuration a plan describes.
pub fn model_config(plan: &Plan, variant: Variant) -> ModelConfig {
    let mut config = ModelConfig::new(variant, plan.topology.nexus, plan.topology.sleds);
    config.sled_capacity = plan.topology.sled_capacity;
    config.timings = plan.timings.apply();
    config.without_fixes = plan.without_fixes.clone();
    config
}

/// Builds the world. Hosts register in a fixed order (db, mgs, nexus-N,
/// sled-N, workload): the order is part of what a seed means.
pub fn build<'a>(
    plan: &Plan,
    variant: Variant,
    tree: SeedTree,
    recorder: Rc<Recorder>,
    duration: Duration,
) -> World<'a> {
    // A plan with PR #8053's upgrade boots every Nexus `legacy` until it.
    let upgrades =
        (plan.steps.iter()).any(|s| matches!(s.action, Action::Fault(Fault::Upgrade {})));
    let boot_variant = if upgrades { Variant::Legacy } else { variant };
    let config = model_config(plan, boot_variant);
    let nexus_variant = Rc::new(Cell::new(boot_variant));
    let mut sim = turmoil::Builder::new()
        .rng_seed(tree.child_seed("turmoil"))
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .tick_duration(TICK)
        .min_message_latency(Duration::ZERO)
        .max_message_latency(TICK)
        .simulation_duration(duration)
        .tcp_capacity(4096)
        // A host with nothing to do in a tick is not run in it (vendored
        // turmoil patch 3): the model makes its timers with turmoil::time.
        .skip_idle_hosts(true)
        .build();

    let db = Db::new_handle();
    let store = db.clone();
    sim.host(HostId::Db.name(), move || model::db::serve(store.clone()));

    let power: BTreeMap<SledId, PowerState> = (0..plan.topology.sleds)
        .map(|s| (SledId(s), PowerState::A0))
        .collect();
    sim.host(HostId::Mgs.name(), move || model::mgs::run(power.clone()));

    for i in 0..plan.topology.nexus {
        let cfg = NexusConfig {
            id: NexusId(i),
            model: config.clone(),
        };
        let boots = Cell::new(0u64);
        let boot_variant = nexus_variant.clone();
        sim.host(HostId::Nexus(NexusId(i)).name(), move || {
            let boot = boots.replace(boots.get() + 1);
            let seed = tree.child_seed(&format!("nexus-{i}/boot-{boot}"));
            let mut cfg = cfg.clone();
            cfg.model.variant = boot_variant.get();
            model::nexus::run(cfg, seed)
        });
    }
    for i in 0..plan.topology.sleds {
        let cfg = SledAgentConfig {
            sled: SledId(i),
            nexus_count: plan.topology.nexus,
            timings: config.timings.clone(),
            variant: config.variant,
            publish_before_forget: !plan.without_fixes.is_disabled(Fix::PublishBeforeForget),
        };
        let boots = Cell::new(0u64);
        sim.host(HostId::Sled(SledId(i)).name(), move || {
            let boot = boots.replace(boots.get() + 1);
            let seed = tree.child_seed(&format!("sled-{i}/boot-{boot}"));
            model::sled_agent::run(cfg.clone(), seed)
        });
    }
    let workload = WorkloadHandle::default();
    sim.client(
        HostId::Workload.name(),
        workload::run(
            workload.clone(),
            recorder,
            plan.topology.nexus,
            tree.child("workload"),
        ),
    );
    World {
        sim,
        db,
        workload,
        config,
        nexus_variant,
        variant,
    }
}
