//! Timings and sizes. Every variant uses omicron's HEAD defaults
//! (`omicron-lifecycle.md` section 8) unless a scenario overrides them;
//! variants differ only in their intent branches, never in timing.

use crate::fixes::{Fix, FixSet};
use crate::ids::Millis;
use crate::variant::Variant;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Background-task periods and the other control-plane clocks.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct Timings {
    /// `instance_watcher.period_secs` = 30.
    pub watcher_period: Duration,
    /// `instance_reincarnation.period_secs` = 60 (production).
    pub reincarnation_period: Duration,
    /// `instance_updater.period_secs` = 30 (production, enabled).
    pub updater_period: Duration,
    /// `abandoned_vmm_reaper.period_secs` = 60.
    pub reaper_period: Duration,
    /// `saga_recovery.period_secs` = 600, plus a run at start-up.
    pub saga_recovery_period: Duration,
    /// The `fixed` variant's `instance_intent_reconciler` period.
    pub intent_reconciler_period: Duration,
    /// The `fixed` intent reconciler's longest wait before it retries the
    /// start of an instance whose previous reconciler start failed (the
    /// wait doubles from twice the reconciler period up to this).
    pub intent_reconciler_backoff_max: Duration,
    /// `InstanceAutoRestart::DEFAULT_COOLDOWN` = 5 minutes since #9097.
    pub default_cooldown: Millis,
    /// Nexus to sled agent: 60 s connect + 60 s request
    /// (`nexus/networking/src/sled_client.rs`); modelled as one 60 s bound.
    pub sled_rpc_timeout: Duration,
    /// Nexus to CockroachDB. omicron's pool has no fixed number; a stalled
    /// TCP stream in turmoil needs one.
    pub db_rpc_timeout: Duration,
    /// Sled agent to Nexus state pushes: `retry_policy_internal_service`,
    /// 250 ms doubling to 180 s, no limit.
    pub push_retry_initial: Duration,
    pub push_retry_max: Duration,
    /// How long a VM takes to boot (Starting to Running) on a sled.
    pub vmm_boot_time: Duration,
    /// How long a VM takes to stop (Stopping to Destroyed) on a sled.
    pub vmm_stop_time: Duration,
}

impl Default for Timings {
    fn default() -> Timings {
        Timings {
            watcher_period: Duration::from_secs(30),
            reincarnation_period: Duration::from_secs(60),
            updater_period: Duration::from_secs(30),
            reaper_period: Duration::from_secs(60),
            saga_recovery_period: Duration::from_secs(600),
            intent_reconciler_period: Duration::from_secs(30),
            intent_reconciler_backoff_max: Duration::from_secs(480),
            default_cooldown: Millis::from_secs(300),
            sled_rpc_timeout: Duration::from_secs(60),
            db_rpc_timeout: Duration::from_secs(10),
            push_retry_initial: Duration::from_millis(250),
            push_retry_max: Duration::from_secs(180),
            vmm_boot_time: Duration::from_secs(5),
            vmm_stop_time: Duration::from_secs(3),
        }
    }
}

/// The shape of the control plane one simulation runs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct ModelConfig {
    pub variant: Variant,
    pub nexus_count: u8,
    pub sled_count: u8,
    /// How many VMMs one sled can hold (its reservations).
    pub sled_capacity: u8,
    pub timings: Timings,
    /// The upstream fixes this run turns off (`--without-fix`); empty for
    /// omicron as it is. Part of what a run means, printed in repro lines.
    pub without_fixes: FixSet,
}

impl ModelConfig {
    pub fn new(variant: Variant, nexus_count: u8, sled_count: u8) -> ModelConfig {
        ModelConfig {
            variant,
            nexus_count,
            sled_count,
            sled_capacity: 4,
            timings: Timings::default(),
            without_fixes: FixSet::none(),
        }
    }

    /// Whether `fix` is on in this run (every fix is, unless turned off).
    pub fn has_fix(&self, fix: Fix) -> bool {
        !self.without_fixes.is_disabled(fix)
    }

    /// The variant the intent branches follow: the configured one, or
    /// `legacy` when PR #8053's fix is turned off (the one branch of
    /// [`Fix::IntendedState`]: without the intended state, every variant is
    /// omicron before #8053).
    pub fn intent_variant(&self) -> Variant {
        if self.has_fix(Fix::IntendedState) {
            self.variant
        } else {
            Variant::Legacy
        }
    }
}
