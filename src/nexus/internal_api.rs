//! Nexus's internal API (`nexus/src/internal_api/http_entrypoints.rs`): the
//! sled agents' state pushes.

use crate::ids::SledId;
use crate::sled_agent::api::SledVmmState;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Debug)]
pub enum InternalRequest {
    /// `cpapi_instances_put`: a sled agent publishes a VMM's new state.
    CpapiInstancesPut { sled: SledId, state: SledVmmState },
}

/// An HTTP status: 2xx applied (or stale and ignored), 4xx permanent (the
/// sled agent gives up), 5xx transient (it retries).
#[derive(Clone, Copy, Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct InternalResponse {
    pub status: u16,
}
