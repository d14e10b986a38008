//! Nexus's instance operations (`nexus/src/app/instance.rs`): the external
//! API handlers. The VMM-update path they share with the sagas and the
//! sled agents' pushes is in `vmm_update.rs`.

use super::context::{DbUnavailable, Nexus};
use super::decisions::{
    compute_state, instance_start_allowed, select_runtime_change_action, ApiError,
    RuntimeChangeAction, StartAllowed,
};
use super::external_api::{ApiRequest, ApiResponse, InstanceView};
use super::sagas::executor::{self, SagaOutcome};
use super::sagas::{instance_create, instance_delete, instance_start};
use super::vmm_update::{mark_vmm_failed, process_vmm_update, UpdateSagaWait};
use crate::clock;
use crate::db::protocol::{DbRequest, DbResponse, InstanceAndVmm, ValidatedAt};
use crate::db::rows::{InstanceRow, InstanceRuntime};
use crate::event::{ApiOp, Cause, Event};
use crate::fixes::Fix;
use crate::ids::{InstanceId, ReqId};
use crate::mutation::{self, Mutation};
use crate::points::Plain;
use crate::rpc::RpcError;
use crate::sled_agent::api::{SledRequest, SledResponse};
use crate::states::{
    AutoRestartPolicy, Generation, InstanceState, IntendedState, RequestedState, StartReason,
    VmmFailureReason, VmmState,
};
use std::rc::Rc;

/// One external API request in flight.
struct Request<'a> {
    nexus: &'a Rc<Nexus>,
    req: ReqId,
    op: ApiOp,
    /// A create with `start` accepts once, when its record is committed;
    /// the start it runs afterwards does not accept again.
    accepted: std::cell::Cell<bool>,
}

/// A handler's result: a success status with the instance, or an error.
type HandlerResult = Result<(u16, Option<InstanceView>), ApiError>;

fn view(id: InstanceId) -> Option<InstanceView> {
    Some(InstanceView { id, state: None })
}

fn db_down(_: DbUnavailable) -> ApiError {
    ApiError::new(503, "database unavailable")
}

impl Request<'_> {
    fn cause(&self) -> Cause {
        Cause::Api { req: self.req }
    }

    fn accept(&self, instance: InstanceId) {
        if self.accepted.replace(true) {
            return;
        }
        self.nexus.emit(Event::ApiAccepted {
            req: self.req,
            op: self.op,
            instance,
        });
    }

    /// Refuses the request before carrying it out.
    fn reject(&self, instance: Option<InstanceId>, error: ApiError) -> ApiError {
        self.nexus.emit(Event::ApiRejected {
            req: self.req,
            op: self.op,
            instance,
            status: error.status,
            message: error.message.clone(),
        });
        error
    }

    async fn lookup(&self, name: &str) -> Result<InstanceAndVmm, ApiError> {
        let req = DbRequest::InstanceFetchByName {
            name: name.to_string(),
        };
        match self.nexus.db(self.cause(), req).await.map_err(db_down)? {
            DbResponse::Instance(Some(iv)) => Ok(iv),
            DbResponse::Instance(None) => Err(self.reject(
                None,
                ApiError::new(404, format!("no instance named {name:?}")),
            )),
            other => panic!("db answered InstanceFetchByName with {other:?}"),
        }
    }

    /// Writes the request's intent and validates the request, in the order
    /// the variant does:
    /// - `legacy`: no intent; validation only.
    /// - `omicron`: the intent first, unconditionally, then validation, so a
    ///   rejected request leaves its intent behind (instance.rs ~L1130).
    /// - `fixed` (branch 1): validation first, then the intent in a write
    ///   that requires the validated state to still hold; if it changed,
    ///   validate again.
    async fn write_intent_and_validate<T>(
        &self,
        mut iv: InstanceAndVmm,
        intent: IntendedState,
        point: Plain,
        validate: impl Fn(&InstanceAndVmm) -> Result<T, ApiError>,
    ) -> Result<(InstanceAndVmm, T), ApiError> {
        let variant = self.nexus.cfg.intent_variant();
        let id = iv.instance.id;
        self.nexus.point(Plain::ApiAfterLookup).await;
        if !variant.tracks_intent() {
            self.nexus.point(point).await;
            let ok = validate(&iv).map_err(|e| self.reject(Some(id), e))?;
            return Ok((iv, ok));
        }
        if !variant.intent_written_with_validation() {
            self.set_intent(id, intent, None).await?;
            self.nexus.point(point).await;
            let ok = validate(&iv).map_err(|e| self.reject(Some(id), e))?;
            return Ok((iv, ok));
        }
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let ok = validate(&iv).map_err(|e| self.reject(Some(id), e))?;
            let validated_at = ValidatedAt {
                instance_gen: iv.instance.runtime.gen,
                vmm: iv.vmm.as_ref().map(|v| (v.id, v.runtime.gen)),
            };
            if self.set_intent(id, intent, Some(validated_at)).await? {
                self.nexus.point(point).await;
                return Ok((iv, ok));
            }
            iv = match self.nexus.fetch_instance(self.cause(), id).await {
                Ok(Some(iv)) => iv,
                Ok(None) => return Err(self.reject(Some(id), ApiError::new(404, "no instance"))),
                Err(e) => return Err(db_down(e)),
            };
        }
        Err(ApiError::new(
            503,
            "instance keeps changing state; try again",
        ))
    }

    /// `instance_set_intended_state`.
    async fn set_intent(
        &self,
        id: InstanceId,
        intent: IntendedState,
        validated_at: Option<ValidatedAt>,
    ) -> Result<bool, ApiError> {
        let req = DbRequest::InstanceSetIntendedState {
            id,
            intent,
            validated_at,
        };
        self.nexus
            .db_write(self.cause(), req)
            .await
            .map_err(db_down)
    }

    async fn create(
        &self,
        name: &str,
        start: bool,
        policy: Option<AutoRestartPolicy>,
    ) -> HandlerResult {
        let id = InstanceId(self.nexus.new_id());
        let record = InstanceRow {
            id,
            name: name.to_string(),
            runtime: InstanceRuntime {
                nexus_state: InstanceState::Creating,
                gen: Generation::FIRST,
                propolis_id: None,
                time_last_auto_restarted: None,
                time_updated: clock::now(),
            },
            intended_state: if start {
                IntendedState::Running
            } else {
                IntendedState::Stopped
            },
            auto_restart_policy: policy,
            auto_restart_cooldown: None,
            time_deleted: None,
            updater_id: None,
            updater_gen: Generation::FIRST,
        };
        let saga = self.nexus.new_saga_id();
        match executor::execute(self.nexus, saga, instance_create::Params { record }).await {
            SagaOutcome::Done(_) => self.accept(id),
            SagaOutcome::Unwound(e) if e.status < 500 => {
                return Err(self.reject(None, ApiError::new(e.status, e.message)))
            }
            SagaOutcome::Unwound(e) | SagaOutcome::Stuck(e) => {
                return Err(ApiError::new(e.status, e.message))
            }
        }
        // `project_create_instance`: the create saga is done; the start is a
        // separate saga, and a Nexus that dies here leaves the instance
        // Stopped with intent Running (the gap PR #8053 leaves open).
        self.nexus.point(Plain::CreateBetweenCreateAndStart).await;
        if start {
            // A failed start is only logged; the create still succeeds.
            if let Ok(Some(iv)) = self.nexus.fetch_instance(self.cause(), id).await {
                let _ = self.instance_start(iv, StartReason::AutoStart).await;
            }
        }
        Ok((201, view(id)))
    }

    /// `Nexus::instance_start`.
    async fn instance_start(&self, iv: InstanceAndVmm, reason: StartReason) -> HandlerResult {
        let id = iv.instance.id;
        let (iv, allowed) = self
            .write_intent_and_validate(
                iv,
                IntendedState::Running,
                Plain::StartAfterIntentWrite,
                instance_start_allowed,
            )
            .await?;
        self.accept(id);
        match allowed {
            StartAllowed::AlreadyStarted => Ok((200, view(id))),
            StartAllowed::Start => {
                let saga = self.nexus.new_saga_id();
                let params = instance_start::Params::new(iv.instance, reason);
                match executor::execute(self.nexus, saga, params).await {
                    SagaOutcome::Done(_) => Ok((202, view(id))),
                    SagaOutcome::Unwound(e) | SagaOutcome::Stuck(e) => {
                        Err(ApiError::new(e.status, e.message))
                    }
                }
            }
        }
    }

    /// `instance_stop` and `instance_reboot`: the intent, then
    /// `instance_request_state`.
    async fn request_state(&self, iv: InstanceAndVmm, requested: RequestedState) -> HandlerResult {
        let id = iv.instance.id;
        let (intent, point) = match requested {
            RequestedState::Stopped if mutation::on(Mutation::ApiStopWritesRunning) => {
                (IntendedState::Running, Plain::StopAfterIntentWrite)
            }
            RequestedState::Stopped => (IntendedState::Stopped, Plain::StopAfterIntentWrite),
            RequestedState::Reboot if mutation::on(Mutation::ApiRebootWritesStopped) => {
                (IntendedState::Stopped, Plain::RebootAfterIntentWrite)
            }
            RequestedState::Reboot => (IntendedState::Running, Plain::RebootAfterIntentWrite),
            RequestedState::Running => (IntendedState::Running, Plain::StartAfterIntentWrite),
        };
        let (iv, action) = self
            .write_intent_and_validate(iv, intent, point, |iv| {
                // Fixed branch 11 (swarm seed 11372 at build abce611).
                let stopping = iv.vmm.as_ref().is_some_and(|v| {
                    matches!(
                        v.runtime.state,
                        VmmState::Stopping
                            | VmmState::Stopped
                            | VmmState::Destroyed
                            | VmmState::Failed
                    )
                });
                if requested == RequestedState::Reboot
                    && stopping
                    && self
                        .nexus
                        .cfg
                        .intent_variant()
                        .reboot_refused_while_stopping()
                {
                    return Err(ApiError::conflict(
                        "instance is stopping; it cannot be rebooted",
                    ));
                }
                select_runtime_change_action(iv, requested)
            })
            .await?;
        self.accept(id);
        match action {
            RuntimeChangeAction::AlreadyDone => Ok((200, view(id))),
            RuntimeChangeAction::UpdateRuntime(new) => {
                let req = DbRequest::InstanceUpdateRuntime {
                    id,
                    new,
                    require_intent: None,
                };
                match self
                    .nexus
                    .db_write(self.cause(), req)
                    .await
                    .map_err(db_down)?
                {
                    true => Ok((200, view(id))),
                    false => Err(ApiError::conflict("instance changed state; try again")),
                }
            }
            RuntimeChangeAction::SendToSled(_) => {
                let vmm = iv.vmm.expect("SendToSled has a VMM");
                let req = SledRequest::VmmPutState {
                    vmm: vmm.id,
                    state: requested,
                };
                match self.nexus.sled(vmm.sled_id, &req).await {
                    Ok(SledResponse::Ok(state)) => {
                        process_vmm_update(
                            self.nexus,
                            self.cause(),
                            &vmm,
                            state,
                            UpdateSagaWait::Spawn,
                        )
                        .await
                        .map_err(db_down)?;
                        Ok((202, view(id)))
                    }
                    // Fixed branch 8 (swarm seed 9378 at build 91bf77b): a
                    // reboot that reaches the sled before `ENSURE_REGISTERED`
                    // of a VMM still Creating finds no such instance only
                    // because it is not registered yet; omicron's
                    // `instance_reboot` (`nexus/src/app/instance.rs`) fails
                    // it anyway (`mark_vmm_failed`). Reboot only: a stop of
                    // a VMM whose start saga is paused relies on failing it.
                    Ok(SledResponse::NoSuchInstance)
                        if requested == RequestedState::Reboot
                            && vmm.runtime.state == VmmState::Creating
                            && self
                                .nexus
                                .cfg
                                .intent_variant()
                                .reboot_404_while_creating_is_inconclusive() =>
                    {
                        Err(ApiError::new(
                            503,
                            "instance's VMM is not yet registered on its sled; try again",
                        ))
                    }
                    Ok(
                        SledResponse::NoSuchInstance
                        | SledResponse::NothingToDo
                        | SledResponse::Vmms(_),
                    ) => {
                        mark_vmm_failed(
                            self.nexus,
                            self.cause(),
                            &vmm,
                            VmmFailureReason::NoSuchInstance,
                        )
                        .await
                        .map_err(db_down)?;
                        Err(ApiError::new(
                            503,
                            "instance's VMM is gone from its sled; the instance is moving to Failed",
                        ))
                    }
                    // Fixed branch 9 (swarm seeds 6600, 9806, 12709 at
                    // build abce611): the runner has halted the VMM and is
                    // publishing its final state (`Error::Terminating`,
                    // 410 with code NO_SUCH_INSTANCE). The VMM is gone in
                    // effect; the validated intent stands and its final
                    // state arrives by push, so it is not marked Failed.
                    Ok(SledResponse::Error(410))
                        if self.nexus.cfg.intent_variant().sled_410_is_vmm_gone() =>
                    {
                        Err(ApiError::new(
                            503,
                            "instance's VMM has halted on its sled; its final state is on its way",
                        ))
                    }
                    // Not `vmm_gone`: the sled's status goes back to the
                    // caller and the instance is left as it is
                    // (`impl From<SledAgentInstanceError> for HttpError`,
                    // `nexus/src/app/instance.rs` ~L123; omicron's
                    // `test_instances_are_not_marked_failed_on_other_sled_agent_errors`).
                    Ok(SledResponse::Error(status)) => {
                        if !self.nexus.cfg.has_fix(Fix::OnlyVmmGoneFails) && status != 400 {
                            // Before RFD 486 / #6455: any error but a 400
                            // fails the instance.
                            mark_vmm_failed(
                                self.nexus,
                                self.cause(),
                                &vmm,
                                VmmFailureReason::FromSledAgent,
                            )
                            .await
                            .map_err(db_down)?;
                        }
                        Err(ApiError::new(
                            status,
                            format!("sled agent answered {status}"),
                        ))
                    }
                    Err(e) => {
                        if !self.nexus.cfg.has_fix(Fix::OnlyVmmGoneFails) {
                            // Before RFD 486 / #6455 (#4711's rule): any
                            // sled-agent error but a 400 means the
                            // instance is unhealthy, and it is failed
                            // (#5235: a stop that timed out).
                            mark_vmm_failed(
                                self.nexus,
                                self.cause(),
                                &vmm,
                                VmmFailureReason::FromSledAgent,
                            )
                            .await
                            .map_err(db_down)?;
                        }
                        Err(match e {
                            RpcError::Timeout => {
                                ApiError::new(504, "sled agent did not answer in time")
                            }
                            RpcError::Refused | RpcError::Closed => {
                                ApiError::new(502, "sled agent unreachable")
                            }
                        })
                    }
                }
            }
        }
    }

    /// `project_destroy_instance`: intent Destroyed, then the delete saga.
    async fn delete(&self, iv: InstanceAndVmm) -> HandlerResult {
        let id = iv.instance.id;
        self.write_intent_and_validate(
            iv,
            IntendedState::Destroyed,
            Plain::DeleteAfterIntentWrite,
            |iv| match iv.instance.runtime.nexus_state {
                InstanceState::NoVmm | InstanceState::Failed => Ok(()),
                InstanceState::Creating | InstanceState::Vmm | InstanceState::Destroyed => {
                    Err(ApiError::bad_request(
                        "cannot delete instance: instance is running or has not yet fully stopped",
                    ))
                }
            },
        )
        .await?;
        self.accept(id);
        let saga = self.nexus.new_saga_id();
        let params = instance_delete::Params { instance_id: id };
        match executor::execute(self.nexus, saga, params).await {
            SagaOutcome::Done(_) => Ok((204, view(id))),
            SagaOutcome::Unwound(e) | SagaOutcome::Stuck(e) => {
                Err(ApiError::new(e.status, e.message))
            }
        }
    }

    async fn dispatch(&self, name: &str) -> HandlerResult {
        match self.op {
            ApiOp::Create {
                start,
                auto_restart_policy,
            } => self.create(name, start, auto_restart_policy).await,
            ApiOp::Start => {
                let iv = self.lookup(name).await?;
                self.instance_start(iv, StartReason::User).await
            }
            ApiOp::Stop => {
                let iv = self.lookup(name).await?;
                self.request_state(iv, RequestedState::Stopped).await
            }
            ApiOp::Reboot => {
                let iv = self.lookup(name).await?;
                self.request_state(iv, RequestedState::Reboot).await
            }
            ApiOp::Delete => {
                let iv = self.lookup(name).await?;
                self.delete(iv).await
            }
            ApiOp::Get => {
                let iv = self.lookup(name).await?;
                let state = compute_state(&iv.instance, iv.vmm.as_ref());
                Ok((
                    200,
                    Some(InstanceView {
                        id: iv.instance.id,
                        state: Some(state),
                    }),
                ))
            }
        }
    }
}

/// Handles one external API request to completion, whether or not the
/// client is still there.
pub async fn handle(nexus: &Rc<Nexus>, api: ApiRequest) -> ApiResponse {
    let request = Request {
        nexus,
        req: api.req,
        op: api.op,
        accepted: std::cell::Cell::new(false),
    };
    let (status, message, instance) = match request.dispatch(&api.instance).await {
        Ok((status, view)) => (status, String::new(), view),
        Err(e) => (e.status, e.message, None),
    };
    nexus.emit(Event::ApiResponded {
        req: api.req,
        op: api.op,
        status,
        message: message.clone(),
    });
    ApiResponse {
        status,
        message,
        instance,
    }
}
