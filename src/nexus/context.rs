//! One Nexus process's shared context (omicron's `Nexus` struct in
//! `nexus/src/app/mod.rs`, as the sagas' `SagaContext` and the background
//! tasks see it): its id, configuration, seeded RNG, the sagas it runs,
//! the activators of its background tasks, and its db and sled clients.
//!
//! Its own module, below everything that uses it: the API handlers, the
//! sagas, the background tasks and VMM-update handling all name this
//! context, and only `nexus/mod.rs` names them, so no import runs back up.

use crate::config::ModelConfig;
use crate::db::protocol::{DbCall, DbRequest, DbResponse, InstanceAndVmm};
use crate::event::{Cause, Event};
use crate::ids::{HostId, InstanceId, NexusId, SagaId, SledId};
use crate::nexus::background::activator::Activators;
use crate::nexus::background::reconciler_backoff::Backoffs;
use crate::points::Point;
use crate::probe;
use crate::rpc::{self, RpcError};
use crate::sled_agent::api::{SledRequest, SledResponse};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::BTreeSet;
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
    pub reconciler_backoff: RefCell<Backoffs>,
}

/// How often a call that must eventually succeed (saga log writes, lock
/// handling) retries, and how long it waits at most between tries.
const RETRY_INITIAL: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How many times a db call is retried when its connection was refused
/// (it certainly did not run), as a connection pool waits for a connection.
const DB_CONNECT_RETRIES: u32 = 3;

impl Nexus {
    /// A fresh process: `rng_seed` seeds its ids and sled choices.
    pub(super) fn new(cfg: NexusConfig, rng_seed: u64) -> Nexus {
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

    pub async fn point(&self, point: impl Into<Point>) {
        probe::point(self.host, point.into()).await;
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

    /// Marks saga `id` as executing here (the executor); false if it was.
    pub(super) fn saga_started(&self, id: SagaId) -> bool {
        self.running_sagas.borrow_mut().insert(id)
    }

    /// Marks saga `id` as no longer executing here (the executor).
    pub(super) fn saga_stopped(&self, id: SagaId) {
        self.running_sagas.borrow_mut().remove(&id);
    }

    pub fn is_saga_running(&self, id: SagaId) -> bool {
        self.running_sagas.borrow().contains(&id)
    }
}
