//! Traces for people: one line per event, virtual time first, host, then
//! what happened, with instance ids written as the instances' names.

use crate::record::{Record, RecordKind};
use model::event::Event;
use model::ids::InstanceId;
use std::collections::BTreeMap;

/// One trace line with instance names in place of ids.
pub fn render(record: &Record, names: &BTreeMap<InstanceId, String>) -> String {
    let mut line = record.to_string();
    if line.contains("i-") {
        for (id, name) in names {
            let id = id.to_string();
            if line.contains(&id) {
                line = line.replace(&id, name);
            }
        }
    }
    line
}

/// Whether a record belongs in the story a snapshot keeps: requests and
/// outcomes, saga nodes, writes that change state or intent, VMM changes,
/// faults, and background decisions that acted.
pub fn in_story(record: &Record) -> bool {
    match &record.kind {
        RecordKind::Workload(_)
        | RecordKind::Fault(_)
        | RecordKind::Point { .. }
        | RecordKind::Unpause { .. }
        | RecordKind::Heal
        | RecordKind::Upgrade { .. } => true,
        RecordKind::Model(e) => match e {
            Event::HostStarted => true,
            Event::ApiAccepted { .. } | Event::ApiRejected { .. } => true,
            Event::ApiResponded { .. } => false,
            Event::SagaCreated { .. } | Event::SagaResumed { .. } => true,
            Event::SagaNode { step, .. } => !matches!(step, model::event::NodeStep::Done),
            Event::SagaFinished { .. } => true,
            Event::InstanceWrite { before, after, .. } => match (before, after) {
                (Some(b), Some(a)) => {
                    b.runtime.nexus_state != a.runtime.nexus_state
                        || b.intended_state != a.intended_state
                        || b.runtime.propolis_id != a.runtime.propolis_id
                }
                _ => true,
            },
            Event::VmmWrite { before, after, .. } => match (before, after) {
                (Some(b), Some(a)) => b.runtime.state != a.runtime.state,
                _ => true,
            },
            Event::ReservationWrite { .. } => false,
            Event::VmmOnSled { .. } | Event::VmmGone { .. } => true,
            Event::SledPutState { .. } | Event::SledCallFailed { .. } => true,
            Event::PushRetry { .. } | Event::LockRetry { .. } => false,
            Event::TaskDecision { .. } => true,
        },
    }
}
