//! `instance-delete` (`nexus/src/app/sagas/instance_delete.rs`), reduced to
//! `INSTANCE_DELETE_RECORD`; the networking nodes are left out. No node has
//! an undo.

use super::executor::{ActionError, ActionResult, Node, Saga, SagaContext};
use crate::db::protocol::DbRequest;
use crate::db::rows::SagaName;
use crate::ids::InstanceId;
use futures::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Debug)]
pub struct Params {
    pub instance_id: InstanceId,
}

impl Saga for Params {
    const NAME: SagaName = SagaName::InstanceDelete;
    fn nodes() -> &'static [Node<Self>] {
        NODES
    }
    fn instance_id(&self) -> InstanceId {
        self.instance_id
    }
}

const NODES: &[Node<Params>] = &[Node {
    name: "INSTANCE_DELETE_RECORD",
    action: sid_delete_instance_record,
    undo: None,
}];

/// `project_delete_instance`: allowed only when the instance is NoVmm or
/// Failed; sets Destroyed and `time_deleted`.
fn sid_delete_instance_record<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let req = DbRequest::ProjectDeleteInstance { id: p.instance_id };
        match ctx.nexus.db_write(ctx.cause(), req).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ActionError::new(
                400,
                "cannot delete instance: instance is running or has not yet fully stopped",
            )),
            Err(_) => Err(ActionError::new(503, "database unavailable")),
        }
    })
}
