//! The PostgreSQL backend (sqlx): the log in `events`, a one-row `event_head` that fences
//! writers, `LISTEN/NOTIFY` for other processes' commits, and the account index beside it.

mod append;
mod index;
mod read;

use crate::account_index::{CATCH_UP_BATCH, REBUILD_BATCH, spawn_indexer};
use crate::convert::to_i64;
use crate::open::StoreOptions;
use crate::{AppendOutcome, EventStore, Head, NewEvent, RecordedEvent, Snapshot, StoreError};
use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Connections per store: the writer, the indexer, the listener and a few readers.
const POOL_SIZE: u32 = 10;

/// How many snapshots are kept: the latest, and the one before it in case the latest cannot
/// be decoded by a newer build.
const SNAPSHOTS_KEPT: i64 = 2;

/// After the listener's connection failed, wait this long before listening again.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// An event log in a PostgreSQL database. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// The head this process last appended or saw; `None` after an error, when the outcome
    /// of the last transaction is unknown. Holding the lock makes this process's appends take
    /// turns; other processes are fenced by `event_head` itself.
    writer: Mutex<Option<Head>>,
    /// Makes this process's index catch-ups take turns (the checkpoint row lock does so
    /// across processes).
    index_lock: Mutex<()>,
    head_tx: watch::Sender<u64>,
    /// The largest piece of a snapshot in one row (see `StoreOptions`).
    snapshot_part_bytes: usize,
    /// The listener and the background indexer, aborted when the store goes.
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let tasks = self
            .tasks
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for task in tasks.iter() {
            task.abort();
        }
    }
}

impl PostgresStore {
    /// Connects with the default options.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with(url, &StoreOptions::default()).await
    }

    /// Connects, applies pending migrations, starts listening for other processes' commits
    /// and (unless disabled) the background account indexer.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let head = read::load_head(&pool).await?;
        let (head_tx, _) = watch::channel(head.position);

        // Listen before returning, so a commit right after open is never missed.
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(append::CHANNEL).await?;

        let listener = spawn_listener(listener, pool.clone(), head_tx.clone());
        let inner = Arc::new(Inner {
            pool,
            writer: Mutex::new(Some(head)),
            index_lock: Mutex::new(()),
            head_tx,
            snapshot_part_bytes: options.snapshot_part_bytes,
            tasks: std::sync::Mutex::new(vec![listener]),
        });
        // Spawned only now that `inner` exists: a task started inside its construction could
        // not upgrade its weak handle yet and would take the store for gone.
        if options.index_in_background {
            let indexer =
                spawn_background_indexer(Arc::downgrade(&inner), inner.head_tx.subscribe());
            inner
                .tasks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(indexer);
        }
        Ok(PostgresStore { inner })
    }

    /// The connection pool, for callers that keep their own tables in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }
}

/// Empties a scratch database for a benchmark run: drops the `public` schema with everything
/// in it (the log, the index, any read models) and creates it again. Destroys data by design:
/// point it only at a database that exists for benchmarks.
pub async fn wipe_for_benchmark(url: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("DROP SCHEMA IF EXISTS public CASCADE")
        .execute(&mut conn)
        .await?;
    sqlx::query("CREATE SCHEMA public")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

impl Inner {
    async fn catch_up_index(&self, batch: usize) -> Result<u64, StoreError> {
        let _turn = self.index_lock.lock().await;
        let head = read::load_head(&self.pool).await?;
        index::catch_up(&self.pool, head.position, batch).await
    }
}

/// Feeds the head watch from `NOTIFY folio_events`. After a lost connection the listener
/// reconnects, and the head is re-read because notifications sent meanwhile are gone.
fn spawn_listener(
    mut listener: PgListener,
    pool: PgPool,
    head_tx: watch::Sender<u64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match notification.payload().parse::<u64>() {
                    Ok(position) => publish(&head_tx, position),
                    Err(_) => tracing::warn!(
                        payload = notification.payload(),
                        "ignoring a malformed head notification"
                    ),
                },
                Ok(None) => match read::load_head(&pool).await {
                    Ok(head) => publish(&head_tx, head.position),
                    Err(error) => tracing::warn!(%error, "re-reading the head failed"),
                },
                Err(error) => {
                    tracing::warn!(%error, "listening for new heads failed; retrying");
                    tokio::time::sleep(RELISTEN_AFTER).await;
                }
            }
        }
    })
}

fn spawn_background_indexer(store: Weak<Inner>, head: watch::Receiver<u64>) -> JoinHandle<()> {
    spawn_indexer(head, move |_target| {
        let inner = store.upgrade()?;
        Some(async move { inner.catch_up_index(CATCH_UP_BATCH).await })
    })
}

/// Moves the watched head forward only.
fn publish(head_tx: &watch::Sender<u64>, position: u64) {
    head_tx.send_if_modified(|seen| {
        let newer = position > *seen;
        if newer {
            *seen = position;
        }
        newer
    });
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        expected_head: u64,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let inner = &self.inner;
        let mut cached = inner.writer.lock().await;
        // The cached head is a hint that saves a round trip; an empty batch, a cache miss or
        // an unknown outcome reads the real one.
        let head = match *cached {
            Some(head) if head.position == expected_head && !events.is_empty() => head,
            _ => {
                *cached = None;
                let head = read::load_head(&inner.pool).await?;
                *cached = Some(head);
                head
            }
        };
        if head.position != expected_head {
            return Err(StoreError::Fenced {
                expected: expected_head,
                found: head.position,
            });
        }
        if events.is_empty() {
            return Ok(AppendOutcome {
                first_position: expected_head + 1,
                head,
            });
        }
        // Until this append's outcome is known, the cache is not trusted.
        *cached = None;
        let outcome = append::append(&inner.pool, head, &events).await;
        match &outcome {
            Ok(outcome) => {
                *cached = Some(outcome.head);
                publish(&inner.head_tx, outcome.head.position);
            }
            // Nothing was written, and the head the cache holds is still the log's.
            Err(StoreError::Conflict(_)) => *cached = Some(head),
            Err(_) => {}
        }
        outcome
    }

    async fn head(&self) -> Result<Head, StoreError> {
        read::load_head(&self.inner.pool).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        read::read_all(&self.inner.pool, after, limit).await
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        read::read_stream(&self.inner.pool, stream_id).await
    }

    async fn read_account(&self, account_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = &self.inner;
        let _turn = inner.index_lock.lock().await;
        let head = read::load_head(&inner.pool).await?;
        index::catch_up(&inner.pool, head.position, CATCH_UP_BATCH).await?;
        read::read_indexed(&inner.pool, account_id, head.position).await
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.head_tx.subscribe()
    }

    async fn save_snapshot(&self, position: u64, state: Vec<u8>) -> Result<(), StoreError> {
        let position = to_i64(position, "snapshot position")?;
        let (first, rest) = crate::snapshot_parts(&state, self.inner.snapshot_part_bytes);
        let mut tx = self.inner.pool.begin().await?;
        sqlx::query(
            "INSERT INTO snapshots (position, taken_at, state) VALUES ($1, now(), $2) \
             ON CONFLICT (position) DO UPDATE SET taken_at = EXCLUDED.taken_at, \
             state = EXCLUDED.state",
        )
        .bind(position)
        .bind(first)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM snapshot_parts WHERE position = $1")
            .bind(position)
            .execute(&mut *tx)
            .await?;
        for (index, part) in rest.iter().enumerate() {
            sqlx::query("INSERT INTO snapshot_parts (position, part, bytes) VALUES ($1, $2, $3)")
                .bind(position)
                .bind(i32::try_from(index + 1).unwrap_or(i32::MAX))
                .bind(*part)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "DELETE FROM snapshots WHERE position NOT IN \
             (SELECT position FROM snapshots ORDER BY position DESC LIMIT $1)",
        )
        .bind(SNAPSHOTS_KEPT)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM snapshot_parts WHERE position NOT IN (SELECT position FROM snapshots)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        // One transaction: the row and its parts are of the same save.
        let mut tx = self.inner.pool.begin().await?;
        let snapshot = read::load_snapshot(&mut tx).await?;
        tx.commit().await?;
        Ok(snapshot)
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn catch_up_account_index(&self) -> Result<u64, StoreError> {
        self.inner.catch_up_index(CATCH_UP_BATCH).await
    }

    async fn rebuild_account_index(&self) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let _turn = inner.index_lock.lock().await;
        let head = read::load_head(&inner.pool).await?;
        index::rebuild(&inner.pool, head.position, REBUILD_BATCH).await
    }
}
