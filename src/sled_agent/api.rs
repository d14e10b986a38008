//! The sled agent's API (`sled-agent/src/http_entrypoints.rs`): what Nexus
//! may ask of it, plus the test hooks omicron's simulated sled agent offers
//! (`sled-agent/src/sim/`), which the harness's workload host calls.

use crate::ids::{InstanceId, VmmId};
use crate::states::{Generation, RequestedState, VmmState};
use serde::{Deserialize, Serialize};

/// `SledVmmState`: a VMM's state as the sled agent reports it. The sled
/// agent owns the generation.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct SledVmmState {
    pub vmm: VmmId,
    pub state: VmmState,
    pub gen: Generation,
    /// The sled agent had been asked to stop this VMM (`VmmPutState`
    /// Stopped) when it reached this state: the `fixed` variant's branch 13
    /// (`Variant::sled_reports_requested_stop`); always false elsewhere,
    /// as omicron's `SledVmmState` has no such field.
    pub stop_requested: bool,
}

#[derive(Clone, Serialize, Deserialize, Debug)]
pub enum SledRequest {
    /// `vmm_register`: create the VMM (Propolis zone) for an instance.
    VmmRegister { vmm: VmmId, instance: InstanceId },
    /// `vmm_put_state` (`PUT /vmms/{id}/state`).
    VmmPutState { vmm: VmmId, state: RequestedState },
    /// `vmm_get_state`, as the instance watcher polls it.
    VmmGetState { vmm: VmmId },
    /// `vmm_unregister`.
    VmmUnregister { vmm: VmmId },
    /// Every VMM this sled agent runs, with its instance (the `fixed`
    /// variant's orphan reaping asks for it; omicron's sled-agent inventory
    /// is the nearest real endpoint).
    VmmList,
    /// Test hook: the guest powers itself off.
    SimGuestShutdown { instance: InstanceId },
    /// Test hook: the sled agent loses the VMM without telling Nexus
    /// (`instance_unregister` on omicron's sim sled agent, as PR #8053's
    /// test does).
    SimForgetVmm { instance: InstanceId },
    /// Test hook: the instance's VMM fails while it is starting (its
    /// Propolis zone is gone or Propolis lost the VM before it ran;
    /// #10516): the sled agent publishes `Failed` and forgets it.
    SimFailBooting { instance: InstanceId },
}

#[derive(Clone, Serialize, Deserialize, Debug, PartialEq, Eq)]
pub enum SledResponse {
    /// 200, with the VMM's state after the request.
    Ok(SledVmmState),
    /// 404 with `error_code = NO_SUCH_INSTANCE` (RFD 486 section 6.3).
    NoSuchInstance,
    /// Any other error response, with its HTTP status (a 500 from a
    /// failing `instance_ensure_state`, a 503, or the 410 of a VMM whose
    /// runner is terminating). Nexus's `vmm_gone` is false for these: they
    /// never fail the VMM (`nexus/src/app/instance.rs` ~L175).
    Error(u16),
    /// A test hook found nothing to act on.
    NothingToDo,
    /// The answer to `VmmList`: each VMM, its instance and its state.
    Vmms(Vec<(InstanceId, SledVmmState)>),
}
