//! The external API's wire types (`/v1/instances/...`). Instances are named
//! by their project-scoped name, as a user names them.

use crate::event::ApiOp;
use crate::ids::{InstanceId, ReqId};
use crate::states::ExternalState;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Debug)]
pub struct ApiRequest {
    /// The request id, as omicron's request-id header carries it.
    pub req: ReqId,
    pub op: ApiOp,
    /// The instance's name.
    pub instance: String,
}

#[derive(Clone, Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub message: String,
    pub instance: Option<InstanceView>,
}

/// What the API shows of an instance.
#[derive(Clone, Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct InstanceView {
    pub id: InstanceId,
    /// The external state, for `get`.
    pub state: Option<ExternalState>,
}
