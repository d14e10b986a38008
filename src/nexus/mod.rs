//! A Nexus host (`nexus-N`): the external API, the internal API for sled
//! agents' state pushes, the saga executor and the background tasks.
//!
//! Several Nexus may run at once. Each owns the sagas it starts
//! (`current_sec`) and recovers them when it restarts. A Nexus's in-memory
//! state (running sagas, RNG) is rebuilt from scratch at every start; only
//! the db is durable.

pub mod background;
pub mod context;
pub mod decisions;
pub mod external_api;
pub mod instance;
pub mod internal_api;
pub mod sagas;
pub mod vmm_update;

pub use context::NexusConfig;

use crate::event::Event;
use crate::rpc;
use context::Nexus;
use std::rc::Rc;

/// The software of host `nexus-N`.
pub async fn run(cfg: NexusConfig, rng_seed: u64) -> turmoil::Result {
    let nexus = Rc::new(Nexus::new(cfg, rng_seed));
    nexus.emit(Event::HostStarted);
    background::start_all(&nexus);
    let internal = nexus.clone();
    tokio::task::spawn_local(async move {
        let _ = rpc::serve(
            internal.host,
            rpc::port::NEXUS_INTERNAL,
            move |req: internal_api::InternalRequest| {
                let nexus = internal.clone();
                async move { vmm_update::cpapi_instances_put(&nexus, req).await }
            },
        )
        .await;
    });
    let external = nexus.clone();
    rpc::serve(
        nexus.host,
        rpc::port::NEXUS_EXTERNAL,
        move |req: external_api::ApiRequest| {
            let nexus = external.clone();
            async move { instance::handle(&nexus, req).await }
        },
    )
    .await?;
    Ok(())
}
