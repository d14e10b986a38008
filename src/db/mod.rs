//! The `db` host: the CockroachDB stand-in.
//!
//! Every request is one transaction, applied the moment it arrives. A crash
//! of the db host loses nothing committed (the store lives outside the host
//! software), but a request in flight may or may not have committed, and the
//! caller cannot tell: it sees a closed connection or a timeout either way.

pub mod datastore;
pub mod protocol;
pub mod rows;
pub mod schema_update;

use crate::clock;
use crate::ids::HostId;
use crate::probe;
use crate::rpc;
pub use datastore::{Db, DbHandle};

/// The db host's software. The `store` is captured by the host factory so it
/// survives a crash.
pub async fn serve(store: DbHandle) -> turmoil::Result {
    probe::emit(HostId::Db, crate::event::Event::HostStarted);
    rpc::serve(HostId::Db, rpc::port::DB, move |call: protocol::DbCall| {
        let store = store.clone();
        async move {
            let mut events = Vec::new();
            let resp = store.borrow_mut().execute(call, clock::now(), &mut events);
            for e in events {
                probe::emit(HostId::Db, e);
            }
            resp
        }
    })
    .await?;
    Ok(())
}
