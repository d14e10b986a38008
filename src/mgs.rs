//! The `mgs` host: a stand-in for the management gateway service, which the
//! instance watcher asks whether an unreachable sled is powered on before
//! failing its VMMs (#10334).

use crate::ids::SledId;
use serde::{Deserialize, Serialize};

/// A sled's power state as MGS reports it.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum PowerState {
    /// Powered on (`A0`).
    A0,
    /// Powered off (`A2`).
    A2,
}

#[derive(Clone, Serialize, Deserialize, Debug)]
pub enum MgsRequest {
    /// What power state is this sled in?
    SledPowerState { sled: SledId },
    /// Test hook, called by the harness's workload host: the sled's power
    /// went off (or came back).
    SimSetPower { sled: SledId, state: PowerState },
}

#[derive(Clone, Serialize, Deserialize, Debug, PartialEq, Eq)]
pub enum MgsResponse {
    Power(PowerState),
    Ok,
}
