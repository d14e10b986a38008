//! The instance sagas (`nexus/src/app/sagas/`), their recovery and the
//! catalogue of their named points. The executor they all run on is
//! [`executor`]; this module is the one place that names every saga: to
//! resume one of any kind from its log, and to list every node point from
//! the sagas' own `NODES` (no hand-kept mirror of node names).

pub mod executor;
pub mod instance_create;
pub mod instance_delete;
pub mod instance_start;
pub mod instance_update;

use crate::db::rows::{SagaName, SagaRow};
use crate::nexus::context::Nexus;
use crate::points::{NodeMoment, Plain, Point, SagaNode};
use executor::{decode, execute, Saga};
use std::rc::Rc;

/// Resumes an unfinished saga from its log (saga recovery).
pub async fn recover(nexus: &Rc<Nexus>, row: SagaRow) {
    let id = row.id;
    match row.name {
        SagaName::InstanceCreate => {
            execute::<instance_create::Params>(nexus, id, decode(&row.params)).await;
        }
        SagaName::InstanceStart => {
            execute::<instance_start::Params>(nexus, id, decode(&row.params)).await;
        }
        SagaName::StartInstanceUpdate => {
            execute::<instance_update::StartParams>(nexus, id, decode(&row.params)).await;
        }
        SagaName::InstanceUpdate => {
            execute::<instance_update::Params>(nexus, id, decode(&row.params)).await;
        }
        SagaName::InstanceDelete => {
            execute::<instance_delete::Params>(nexus, id, decode(&row.params)).await;
        }
    }
}

/// The nodes of saga `name`, in order, from its `NODES`.
fn nodes_of(name: SagaName) -> Vec<SagaNode> {
    fn of<S: Saga>() -> Vec<SagaNode> {
        S::nodes()
            .iter()
            .map(|n| SagaNode {
                saga: S::NAME,
                node: n.name,
            })
            .collect()
    }
    match name {
        SagaName::InstanceCreate => of::<instance_create::Params>(),
        SagaName::InstanceStart => of::<instance_start::Params>(),
        SagaName::StartInstanceUpdate => of::<instance_update::StartParams>(),
        SagaName::InstanceUpdate => of::<instance_update::Params>(),
        SagaName::InstanceDelete => of::<instance_delete::Params>(),
    }
}

/// omicron's name of node `index` (0-based, as `saga_node_event.node_id`
/// counts) of saga `name`, from its `NODES`; `None` past the last node.
/// What omdb and the checkers print for a saga log's node.
pub fn node_name(name: SagaName, index: u16) -> Option<&'static str> {
    fn of<S: Saga>(index: u16) -> Option<&'static str> {
        S::nodes().get(usize::from(index)).map(|n| n.name)
    }
    match name {
        SagaName::InstanceCreate => of::<instance_create::Params>(index),
        SagaName::InstanceStart => of::<instance_start::Params>(index),
        SagaName::StartInstanceUpdate => of::<instance_update::StartParams>(index),
        SagaName::InstanceUpdate => of::<instance_update::Params>(index),
        SagaName::InstanceDelete => of::<instance_delete::Params>(index),
    }
}

/// Every saga's nodes, saga by saga in `SagaName::ALL` order, each in its
/// saga's order.
pub fn saga_nodes() -> Vec<SagaNode> {
    SagaName::ALL.into_iter().flat_map(nodes_of).collect()
}

/// Every named point: the plain points, then each saga node's
/// `after_action` and `after_log`. What a scenario file may name.
pub fn named_points() -> Vec<Point> {
    Plain::ALL
        .iter()
        .map(|p| Point::Plain(*p))
        .chain(
            saga_nodes()
                .into_iter()
                .flat_map(|n| NodeMoment::ALL.map(|m| Point::Node(n, m))),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_points_are_unique_and_cover_every_saga() {
        let all: Vec<String> = named_points().iter().map(Point::to_string).collect();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert!(all.contains(&"start.MARK_AS_STARTING.after_log".to_string()));
        assert!(all.contains(&"create.between_create_and_start".to_string()));
        assert!(!all.contains(&"create.between_create_and_stop".to_string()));
        for name in SagaName::ALL {
            assert!(!nodes_of(name).is_empty(), "{name} has no nodes");
        }
    }
}
