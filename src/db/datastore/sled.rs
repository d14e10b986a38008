//! The `sled_resource_vmm` table's queries
//! (`nexus/db-queries/src/db/datastore/sled.rs`): `sled_reservation_create`
//! (the first preferred sled with room) and `sled_reservation_delete`.

use super::{Db, Tx};
use crate::db::protocol::DbResponse;
use crate::db::rows::ReservationRow;
use crate::event::Query;
use crate::ids::{InstanceId, SledId, VmmId};

impl Db {
    /// `sled_reservation_create`: reserves room for `vmm` on the first of
    /// `candidates` with fewer than `capacity` reservations; idempotent.
    pub(super) fn sled_reservation_create(
        &mut self,
        vmm: VmmId,
        instance: InstanceId,
        candidates: Vec<SledId>,
        capacity: u8,
        tx: &mut Tx,
    ) -> DbResponse {
        if let Some(r) = self.reservations.get(&vmm) {
            return DbResponse::Reservation(Some(r.sled_id));
        }
        let chosen = candidates.into_iter().find(|s| {
            self.reservations
                .values()
                .filter(|r| r.sled_id == *s)
                .count()
                < capacity as usize
        });
        if let Some(sled_id) = chosen {
            let row = ReservationRow {
                vmm_id: vmm,
                instance_id: instance,
                sled_id,
            };
            tx.reservation(Query::SledReservationCreate, None, Some(&row));
            self.reservations.insert(vmm, row);
        }
        DbResponse::Reservation(chosen)
    }

    /// `sled_reservation_delete`: idempotent.
    pub(super) fn sled_reservation_delete(&mut self, vmm: VmmId, tx: &mut Tx) -> DbResponse {
        if let Some(before) = self.reservations.remove(&vmm) {
            tx.reservation(Query::SledReservationDelete, Some(&before), None);
        }
        DbResponse::Write(true)
    }

    /// The reservations on `sled`.
    pub fn reservations_on(&self, sled: SledId) -> usize {
        self.reservations
            .values()
            .filter(|r| r.sled_id == sled)
            .count()
    }
}
