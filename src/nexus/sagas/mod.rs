//! The instance sagas (`nexus/src/app/sagas/`) and their recovery. The
//! executor they all run on is [`executor`]; this module is the one place
//! that names every saga, to resume one of any kind from its log.

pub mod executor;
pub mod instance_create;
pub mod instance_delete;
pub mod instance_start;
pub mod instance_update;

use crate::db::rows::{SagaName, SagaRow};
use crate::nexus::context::Nexus;
use executor::{decode, execute};
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
