//! A Nexus host (`nexus-N`): the external API, the internal API for sled
//! agents' state pushes, the saga executor and the background tasks.
//!
//! Several Nexus may run at once. Each owns the sagas it starts
//! (`current_sec`) and recovers them when it restarts. A Nexus's in-memory
//! state (running sagas, RNG) is rebuilt from scratch at every start; only
//! the db is durable.

pub mod background;
pub mod decisions;
pub mod external_api;
pub mod instance;
pub mod internal_api;
pub mod sagas;
pub mod vmm_update;

use crate::config::ModelConfig;
use crate::db::protocol::{DbCall, DbRequest, DbResponse, InstanceAndVmm};
use crate::event::{Cause, Event};
use crate::ids::{HostId, InstanceId, NexusId, SagaId, SledId};
use crate::probe;
use crate::rpc::{self, RpcError};
use crate::sled_agent::api::{SledRequest, SledResponse};
use background::Activators;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

/// One Nexus's configuration.
#[derive(Clone, Debug)]
pub struct NexusConfig {
    pub id: NexusId,
    pub model: ModelConfig,
}

/// A db call that got no answer. The transaction may or may not have
/// committed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DbUnavailable(pub RpcError);

/// The state of one running Nexus process.
pub struct Nexus {
    pub id: NexusId,
    pub host: HostId,
    pub cfg: ModelConfig,
    rng: RefCell<ChaCha8Rng>,
    /// Sagas this process is executing, so recovery does not run one twice.
    running_sagas: RefCell<BTreeSet<SagaId>>,
    pub activators: Activators,
    /// The `fixed` intent reconciler's per-instance start backoff (kept in
    /// memory, as omicron's background tasks keep their state; a restart
    /// forgets it).
    pub reconciler_backoff: RefCell<crate::nexus::background::instance_intent_reconciler::Backoffs>,
}

/// How often a call that must eventually succeed (saga log writes, lock
/// handling) retries, and how long it waits at most between tries.
const RETRY_INITIAL: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How many times a db call is retried when its connection was refused
/// (it certainly did not run), as a connection pool waits for a connection.
const DB_CONNECT_RETRIES: u32 = 3;

impl Nexus {
    fn new(cfg: NexusConfig, rng_seed: u64) -> Nexus {
        Nexus {
            id: cfg.id,
            host: HostId::Nexus(cfg.id),
            cfg: cfg.model,
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(rng_seed)),
            running_sagas: RefCell::new(BTreeSet::new()),
            activators: Activators::default(),
            reconciler_backoff: RefCell::default(),
        }
    }

    /// A fresh 64-bit id from this process's seeded RNG.
    pub fn new_id(&self) -> u64 {
        self.rng.borrow_mut().random()
    }

    pub fn new_saga_id(&self) -> SagaId {
        SagaId(self.new_id())
    }

    /// The sleds in the order this Nexus prefers them for a new VMM:
    /// omicron picks among sleds with room at random.
    pub fn sled_preference(&self) -> Vec<SledId> {
        let mut sleds: Vec<SledId> = (0..self.cfg.sled_count).map(SledId).collect();
        let mut rng = self.rng.borrow_mut();
        for i in (1..sleds.len()).rev() {
            let j = rng.random_range(0..=i);
            sleds.swap(i, j);
        }
        sleds
    }

    pub fn emit(&self, event: Event) {
        probe::emit(self.host, event);
    }

    pub async fn point(&self, name: &str) {
        probe::point(self.host, name).await;
    }

    /// One db transaction. A refused connection is retried a few times
    /// (the request never ran); no answer after sending is an error, and
    /// the caller cannot tell whether it committed.
    pub async fn db(&self, cause: Cause, request: DbRequest) -> Result<DbResponse, DbUnavailable> {
        let call = DbCall { cause, request };
        let mut wait = RETRY_INITIAL;
        let mut tries = 0;
        loop {
            match rpc::call(
                self.host,
                HostId::Db,
                rpc::port::DB,
                &call,
                self.cfg.timings.db_rpc_timeout,
            )
            .await
            {
                Ok(resp) => return Ok(resp),
                Err(e) if e.certainly_not_sent() && tries < DB_CONNECT_RETRIES => {
                    tries += 1;
                    turmoil::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => return Err(DbUnavailable(e)),
            }
        }
    }

    /// A db transaction retried until it gets an answer, for writes that
    /// omicron retries indefinitely (the saga log, the updater lock). Each
    /// such write is idempotent, so a retry after a lost answer is safe.
    pub async fn db_until_answered(&self, cause: Cause, request: DbRequest) -> DbResponse {
        let mut wait = RETRY_INITIAL;
        loop {
            if let Ok(resp) = self.db(cause.clone(), request.clone()).await {
                return resp;
            }
            turmoil::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }

    /// A write, answered with whether it applied.
    pub async fn db_write(&self, cause: Cause, request: DbRequest) -> Result<bool, DbUnavailable> {
        match self.db(cause, request).await? {
            DbResponse::Write(applied) => Ok(applied),
            other => panic!("db answered a write with {other:?}"),
        }
    }

    /// `instance_fetch_with_vmm`.
    pub async fn fetch_instance(
        &self,
        cause: Cause,
        id: InstanceId,
    ) -> Result<Option<InstanceAndVmm>, DbUnavailable> {
        match self.db(cause, DbRequest::InstanceFetch { id }).await? {
            DbResponse::Instance(iv) => Ok(iv),
            other => panic!("db answered InstanceFetch with {other:?}"),
        }
    }

    /// A call to a sled agent, with omicron's sled-client timeout.
    pub async fn sled(&self, sled: SledId, req: &SledRequest) -> Result<SledResponse, RpcError> {
        rpc::call(
            self.host,
            HostId::Sled(sled),
            rpc::port::SLED_AGENT,
            req,
            self.cfg.timings.sled_rpc_timeout,
        )
        .await
    }

    fn saga_started(&self, id: SagaId) -> bool {
        self.running_sagas.borrow_mut().insert(id)
    }

    fn saga_stopped(&self, id: SagaId) {
        self.running_sagas.borrow_mut().remove(&id);
    }

    pub fn is_saga_running(&self, id: SagaId) -> bool {
        self.running_sagas.borrow().contains(&id)
    }
}

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
