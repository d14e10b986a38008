//! The event stream the checkers read and the trace prints: the model's
//! events, the workload's requests and their outcomes, and the faults the
//! harness injected, each stamped with virtual time and host.

use model::event::{ApiOp, Event};
use model::ids::{HostId, InstanceId, Millis, ReqId};
use model::variant::Variant;
use std::fmt;

/// One line of the trace.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// Virtual time at the start of the step the event happened in.
    pub at: Millis,
    pub host: HostId,
    pub kind: RecordKind,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RecordKind {
    /// Something the model did.
    Model(Event),
    /// The workload (the API user) sent a request or got its outcome.
    Workload(WorkloadEvent),
    /// The harness injected a fault.
    Fault(Fault),
    /// A host reached an armed named point.
    Point { name: String, action: PointArm },
    /// A paused named point was released.
    Unpause { host: HostId, point: String },
    /// Faults stop; every host but lost sleds is up; the network is whole.
    Heal,
    /// PR #8053's offline upgrade: every Nexus went down, the db got the
    /// schema 140.0.0 back-fill, and every Nexus came back in `to`.
    Upgrade { to: Variant },
}

/// What the harness armed a named point to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PointArm {
    Crash,
    Pause,
    /// Saga node `<saga>.<NODE>` fails instead of running its action.
    InjectError,
    /// The host waits at the point for ever, as a saga node or an RPC
    /// that never answers (#8206, #4259); heal releases it unless
    /// `through_heal`.
    Hang {
        through_heal: bool,
    },
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum WorkloadEvent {
    /// A request left the workload. `instance` is the instance's name.
    RequestSent {
        req: ReqId,
        op: ApiOp,
        instance: String,
    },
    /// The request's outcome.
    Outcome {
        req: ReqId,
        op: ApiOp,
        instance: String,
        outcome: RequestOutcome,
    },
}

/// What the workload got back.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RequestOutcome {
    /// An HTTP status, with the instance's id when Nexus named it.
    Status {
        status: u16,
        instance: Option<InstanceId>,
    },
    /// No response: the connection died or timed out. The request is
    /// indeterminate.
    NoResponse,
}

pub use crate::fault::Fault;

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>9} {:<9} ", self.at.0, self.host.to_string())?;
        match &self.kind {
            RecordKind::Model(e) => write!(f, "{e}"),
            RecordKind::Workload(w) => write!(f, "{w}"),
            RecordKind::Fault(x) => write!(f, "FAULT {x}"),
            RecordKind::Unpause { host, point } => write!(f, "FAULT release {host} at {point}"),
            RecordKind::Heal => {
                f.write_str("FAULT heal: faults stop, hosts restart, network repaired")
            }
            RecordKind::Upgrade { to } => write!(
                f,
                "FAULT upgrade: every Nexus down, schema 140.0.0 back-fill, every Nexus back as {to}"
            ),
            RecordKind::Point { name, action } => {
                write!(
                    f,
                    "POINT {name}: {}",
                    match action {
                        PointArm::Crash => "halt (crash armed)",
                        PointArm::Pause => "paused",
                        PointArm::InjectError => "error injected",
                        PointArm::Hang {
                            through_heal: false,
                        } => "hangs (until heal)",
                        PointArm::Hang { through_heal: true } => "hangs (for ever)",
                    }
                )
            }
        }
    }
}

impl fmt::Display for WorkloadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadEvent::RequestSent { req, op, instance } => {
                write!(f, "--> {req} {op} {instance:?}")
            }
            WorkloadEvent::Outcome {
                req,
                op,
                instance,
                outcome,
            } => {
                write!(f, "<-- {req} {} {instance:?}: ", op.name())?;
                match outcome {
                    RequestOutcome::Status { status, .. } => write!(f, "{status}"),
                    RequestOutcome::NoResponse => f.write_str("no response"),
                }
            }
        }
    }
}
