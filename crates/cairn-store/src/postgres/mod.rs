//! The PostgreSQL backend, for installs that outgrow one machine: several stateless `cairn
//! server` replicas share one database.
//!
//! Driver: the `postgres` crate (the blocking face of `tokio-postgres`), called on the runtime's
//! blocking threads. Every store operation is a synchronous function over one
//! [`postgres::Transaction`] — the same shape as the embedded backend's functions over a
//! connection — so the two backends' modules read side by side and a query ports one to one.
//! Parameters are always bound (binary protocol, typed), statements are prepared by the server.
//!
//! Concurrency: there is no single writer here. Writes run in `READ COMMITTED` transactions and
//! take row locks where they check before they write (a run's row `FOR UPDATE` or `FOR SHARE`,
//! an experiment's, a registered model's), unique constraints with `ON CONFLICT` decide races on
//! names and keys, and a transaction that loses a race (serialization failure, deadlock, a unique
//! key taken meanwhile) is retried from the start a few times, so the check that failed sees the
//! winner and answers as the embedded store would. Reads run in `REPEATABLE READ READ ONLY`
//! transactions: one consistent snapshot per operation, like the embedded store's read
//! transactions. An `Ok` from a write means the transaction committed.
//!
//! Availability: a connection that breaks is dropped from the pool and a new one is opened on
//! the next use; while the database cannot be reached every operation fails with
//! `Unavailable` (HTTP 503 with `Retry-After`), and service resumes by itself when it is back.
//!
//! Submodules mirror `sqlite/`: [`schema`], `sql` (bound parameters and predicates in
//! PostgreSQL's syntax), `experiments`, `runs`, `search`, `models`, `meta` (the `MetaStore`
//! impl), `series`, `metrics`, `compactor`, `retention`, `metric` (the `MetricStore` impl),
//! `artifacts`, `registry`, `lineage`, `comments`, `auth`, `alerts`, `access`; [`relay`], live
//! events between replicas over `LISTEN/NOTIFY`; and [`testing`],
//! a throwaway cluster for tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::{Client, IsolationLevel, NoTls, Transaction};
use tokio::sync::Semaphore;

use crate::{Result, StoreError};

mod access;
mod alerts;
mod artifacts;
mod auth;
mod comments;
mod compactor;
mod experiments;
mod lineage;
mod meta;
mod metric;
mod metrics;
mod models;
mod registry;
pub mod relay;
mod retention;
mod runs;
pub mod schema;
mod search;
mod series;
pub(crate) mod sql;
pub mod testing;

/// How many times a write that lost a race is run again before the caller is told to retry.
const WRITE_ATTEMPTS: usize = 6;
/// Connections a store opens at most.
const DEFAULT_POOL: usize = 16;
/// How long an operation waits for a free connection before it is refused as `Busy`.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// The marker a conversion puts on errors that a retry of the whole transaction may cure.
const RETRYABLE: &str = "concurrent change: ";

/// What went wrong, in words. The driver's own text names only the kind of failure ("db error",
/// "error connecting to server"); the server's message, or the I/O error, is its source.
fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

impl From<postgres::Error> for StoreError {
    fn from(error: postgres::Error) -> Self {
        use postgres::error::SqlState;
        let message = describe(&error);
        let Some(code) = error.code() else {
            // No SQLSTATE: the connection failed or closed (network, server gone).
            return StoreError::Unavailable(format!("the database cannot be reached: {message}"));
        };
        let class = &code.code()[..2];
        if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::LOCK_NOT_AVAILABLE
        {
            StoreError::Busy(format!("{RETRYABLE}{message}"))
        } else if class == "08" // connection exception
            || class == "53" // insufficient resources (disk full, out of memory, too many connections)
            || class == "57" // operator intervention (shutdown, cannot connect now)
            || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        // a standby after failover
        {
            StoreError::Unavailable(format!(
                "the database cannot take this request now: {message}"
            ))
        } else {
            StoreError::Internal(message)
        }
    }
}

fn is_retryable(error: &StoreError) -> bool {
    matches!(error, StoreError::Busy(message) if message.starts_with(RETRYABLE))
}

/// The PostgreSQL store. Cheap to clone: clones share the connection pool and the background
/// compactor, which stops when the last clone is dropped.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.inner.pool.size)
            .finish()
    }
}

struct Inner {
    pool: Arc<Pool>,
    compactor: Mutex<Option<compactor::Handle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut compactor) = self.compactor.lock()
            && let Some(handle) = compactor.take()
        {
            handle.stop();
        }
    }
}

/// Open connections, reused; a semaphore bounds how many are in use.
pub(crate) struct Pool {
    config: postgres::Config,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
    size: usize,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing a connection blocks on its own small runtime, which must not happen on a
        // runtime thread (the last store handle is often dropped in async code).
        let idle = self.idle.get_mut().map(std::mem::take).unwrap_or_default();
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("cairn-pg-close".to_string())
                .spawn(move || drop(idle));
        }
    }
}

impl Pool {
    /// Takes an idle connection that is still open, or opens one. Blocking.
    pub(crate) fn take(&self) -> Result<Client> {
        loop {
            let next = self
                .idle
                .lock()
                .map_err(|_| StoreError::Internal("connection pool poisoned".to_string()))?
                .pop();
            match next {
                Some(client) if !client.is_closed() => return Ok(client),
                Some(_) => continue,
                None => return self.config.connect(NoTls).map_err(StoreError::from),
            }
        }
    }

    pub(crate) fn give_back(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(client);
        }
    }

    /// Runs `work` with a pooled connection on a blocking thread.
    pub(crate) async fn with_client<T, F>(self: &Arc<Self>, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T> + Send + 'static,
    {
        let permit = tokio::time::timeout(POOL_WAIT, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| {
                StoreError::Busy("every database connection is in use; retry shortly".to_string())
            })?
            .map_err(|_| StoreError::Unavailable("the store is closed".to_string()))?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut client = pool.take()?;
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut client)))
                    .unwrap_or_else(|_| {
                        Err(StoreError::Internal("database work panicked".to_string()))
                    });
            pool.give_back(client);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
    }
}

/// Runs `work` in one read-only snapshot.
pub(crate) fn read_in<T>(
    client: &mut Client,
    work: impl FnOnce(&mut Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let value = work(&mut tx)?;
    tx.commit()?;
    Ok(value)
}

/// Runs `work` in a read-write transaction and commits it, running it again from the start when
/// it lost a race with another transaction.
pub(crate) fn write_in<T>(
    client: &mut Client,
    mut work: impl FnMut(&mut Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = (|| {
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()?;
            let value = work(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })();
        match outcome {
            Err(error) if is_retryable(&error) && attempt < WRITE_ATTEMPTS => {
                std::thread::sleep(Duration::from_millis(2 << attempt));
            }
            Err(error) if is_retryable(&error) => {
                return Err(StoreError::Busy(
                    "the change kept conflicting with concurrent changes; retry".to_string(),
                ));
            }
            other => return other,
        }
    }
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://user:password@host:port/dbname`, or
    /// `key=value` form), migrates it to the current schema, makes sure the `Default`
    /// experiment exists and starts the background compactor.
    pub async fn connect(url: &str) -> Result<PgStore> {
        Self::connect_with(url, DEFAULT_POOL).await
    }

    /// [`PgStore::connect`] with at most `pool_size` connections.
    pub async fn connect_with(url: &str, pool_size: usize) -> Result<PgStore> {
        let mut config: postgres::Config = url.parse().map_err(|e| {
            StoreError::InvalidArgument(format!("not a PostgreSQL connection string: {e}"))
        })?;
        if config.get_application_name().is_none() {
            config.application_name("cairn");
        }
        config.connect_timeout(Duration::from_secs(10));
        let size = pool_size.max(2);
        let pool = Arc::new(Pool {
            config,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
            size,
        });
        pool.with_client(|client| {
            write_in(client, |tx| {
                schema::migrate(tx)?;
                experiments::ensure_default(tx)
            })
        })
        .await?;
        let compactor = compactor::start(Arc::clone(&pool))?;
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                compactor: Mutex::new(Some(compactor)),
            }),
        })
    }

    /// Runs `work` in a read-only snapshot on a pooled connection, off the runtime.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.inner
            .pool
            .with_client(move |client| read_in(client, work))
            .await
    }

    /// Runs `work` in a committed read-write transaction (retried when it lost a race), off the
    /// runtime. `work` may run more than once: it must not have effects outside the transaction.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.inner
            .pool
            .with_client(move |client| write_in(client, work))
            .await
    }

    /// Tells the compactor that something may be due (never waits).
    pub(crate) fn nudge_compactor(&self) {
        if let Ok(compactor) = self.inner.compactor.lock()
            && let Some(handle) = compactor.as_ref()
        {
            handle.nudge();
        }
    }

    /// The compactor's handle, for a forced pass.
    pub(crate) fn compactor(&self) -> Result<compactor::Handle> {
        self.inner
            .compactor
            .lock()
            .map_err(|_| StoreError::Internal("compactor handle poisoned".to_string()))?
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".to_string()))
    }

    /// Starts relaying live events to and from the other servers sharing this database
    /// (`LISTEN/NOTIFY`, see [`relay`]): the sending half for the live bus, what the others
    /// send, and a guard that stops the relay when dropped.
    pub fn start_relay(
        &self,
    ) -> Result<(
        Arc<dyn crate::Relay>,
        tokio::sync::mpsc::Receiver<crate::Relayed>,
        relay::RelayGuard,
    )> {
        let (sender, incoming, guard) = relay::start(Arc::clone(&self.inner.pool))?;
        Ok((sender, incoming, guard))
    }

    /// Connections in the pool, and how many are in use now.
    pub(crate) fn pool_use(&self) -> (u64, u64) {
        let pool = &self.inner.pool;
        let size = pool.size as u64;
        (
            size,
            size.saturating_sub(pool.permits.available_permits() as u64),
        )
    }
}
