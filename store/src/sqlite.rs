//! The SQLite backend, the default: one log file (WAL, `synchronous=FULL`) written by one
//! dedicated writer thread, read through a pool of read-only connections, with the account
//! index in a second file beside it (`<stem>.accounts.db`).

mod checkpoint;
mod conn;
mod index;
mod read;
mod writer;

use crate::account_index::{CATCH_UP_BATCH, REBUILD_BATCH, spawn_indexer};
use crate::open::StoreOptions;
use crate::{AppendOutcome, EventStore, Head, NewEvent, RecordedEvent, Snapshot, StoreError};
use async_trait::async_trait;
use checkpoint::Checkpointer;
use read::ReaderPool;
pub use read::{load_sqlite_snapshot, load_sqlite_snapshot_at};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;
use writer::{Job, WriterHandle};

/// How often the store looks for commits made by other processes on the same file.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// An event log in a SQLite file. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    index_path: PathBuf,
    /// Checkpoints the WAL off the writer's commit path; stopped before the writer.
    checkpointer: Checkpointer,
    /// Joins the writer thread when dropped, so the file is closed before a reopen.
    writer: WriterHandle,
    readers: ReaderPool,
    /// The account index's only connection; whoever holds it may catch the index up.
    index: Mutex<Connection>,
    head_tx: watch::Sender<u64>,
    /// The poller and the background indexer; they hold only weak handles, and are aborted
    /// when the store goes.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).iter() {
            task.abort();
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data it guards
/// (a connection between statements, a list of task handles) is still sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) the log at `path` with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, &StoreOptions::default())
    }

    /// Opens (creating if needed, with its parent directories) the log at `path` and its
    /// account index beside it, and applies pending migrations. The head poller and the
    /// background indexer start only when called inside a tokio runtime.
    ///
    /// This does blocking file I/O: from async code, call it through `spawn_blocking` (as
    /// `open_store` does).
    pub fn open_with(
        path: impl AsRef<Path>,
        options: &StoreOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        let index_path = index_path_for(&path);
        let (head_tx, _) = watch::channel(0);
        let (writer, head) =
            WriterHandle::start(&path, head_tx.clone(), options.snapshot_part_bytes)?;
        head_tx.send_replace(head.position);
        let checkpointer = Checkpointer::start(&path, head_tx.subscribe())?;
        let index = conn::open_index(&index_path)?;

        let inner = Arc::new(Inner {
            readers: ReaderPool::new(path.clone()),
            path,
            index_path,
            checkpointer,
            writer,
            index: Mutex::new(index),
            head_tx,
            tasks: Mutex::new(Vec::new()),
        });
        // Spawned only now that `inner` exists: a task that started inside its construction
        // could not upgrade its weak handle yet and would take the store for gone.
        if tokio::runtime::Handle::try_current().is_ok() {
            let weak = Arc::downgrade(&inner);
            let mut tasks = Vec::new();
            if options.watch_other_writers {
                tasks.push(spawn_poller(weak.clone()));
            }
            if options.index_in_background {
                tasks.push(spawn_background_indexer(weak, inner.head_tx.subscribe()));
            }
            *lock(&inner.tasks) = tasks;
        }
        Ok(SqliteStore { inner })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many WAL checkpoints the checkpoint thread has completed since the store opened.
    pub fn wal_checkpoints(&self) -> u64 {
        self.inner.checkpointer.completed()
    }

    /// The account index's file beside the log.
    pub fn index_path(&self) -> &Path {
        &self.inner.index_path
    }

    /// The version of the SQLite library the store runs on (bundled, so the same everywhere).
    pub fn sqlite_version() -> &'static str {
        rusqlite::version()
    }

    /// Runs `work` with the store on a blocking-pool thread.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|error| {
                StoreError::WorkerGone(format!("a SQLite read task failed: {error}"))
            })?
    }
}

impl Inner {
    fn lock_index(&self) -> MutexGuard<'_, Connection> {
        // A panic mid catch-up rolled its transaction back: the connection is still sound.
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Catches the index up to the log's current head.
    fn catch_up_index(&self) -> Result<u64, StoreError> {
        let log = self.readers.get()?;
        let head = read::read_head(&log)?;
        let mut index = self.lock_index();
        index::catch_up_account_index(&log, &mut index, head.position, CATCH_UP_BATCH)
    }

    fn rebuild_index(&self) -> Result<u64, StoreError> {
        let log = self.readers.get()?;
        let head = read::read_head(&log)?;
        let mut index = self.lock_index();
        index::rebuild_account_index(&log, &mut index, head.position, REBUILD_BATCH)
    }

    fn read_account(&self, account: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut log = self.readers.get()?;
        let head = read::read_head(&log)?;
        let positions = {
            let mut index = self.lock_index();
            index::catch_up_account_index(&log, &mut index, head.position, CATCH_UP_BATCH)?;
            index::account_positions(&index, &account.as_bytes()[..])?
        };
        // The index may have run ahead of `head` (the background task saw a later commit);
        // the answer stops at the head this call started from.
        let until = positions.partition_point(|&position| position <= head.position);
        read::read_positions(&mut log, &positions[..until])
    }
}

/// `<dir>/<stem>.accounts.db` beside the log `<dir>/<stem>.<ext>`.
fn index_path_for(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "events".into());
    path.with_file_name(format!("{stem}.accounts.db"))
}

/// Watches the file for commits by other processes: a primary-key lookup every
/// `POLL_INTERVAL`, published only when the head moved forward.
fn spawn_poller(store: Weak<Inner>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(inner) = store.upgrade() else { return };
            let polled = tokio::task::spawn_blocking(move || {
                let head = inner.readers.get().and_then(|log| read::read_head(&log));
                (inner, head)
            })
            .await;
            let Ok((inner, head)) = polled else { return };
            match head {
                Ok(head) => publish(&inner.head_tx, head.position),
                Err(error) => tracing::warn!(%error, "polling the SQLite head failed"),
            }
        }
    })
}

fn spawn_background_indexer(store: Weak<Inner>, head: watch::Receiver<u64>) -> JoinHandle<()> {
    spawn_indexer(head, move |_target| {
        let inner = store.upgrade()?;
        Some(async move {
            tokio::task::spawn_blocking(move || inner.catch_up_index())
                .await
                .map_err(|error| StoreError::WorkerGone(error.to_string()))?
        })
    })
}

/// Moves the watched head forward only: a poll that read an older snapshot never moves it
/// back.
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
impl EventStore for SqliteStore {
    async fn append(
        &self,
        expected_head: u64,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner.writer.send(Job::Append {
            expected_head,
            events,
            reply,
        })?;
        answer
            .await
            .map_err(|_| StoreError::WorkerGone("the SQLite writer dropped an append".into()))?
    }

    async fn head(&self) -> Result<Head, StoreError> {
        self.blocking(|inner| read::read_head(&*inner.readers.get()?))
            .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.blocking(move |inner| read::read_all(&*inner.readers.get()?, after, limit))
            .await
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream_id = stream_id.to_owned();
        self.blocking(move |inner| read::read_stream(&*inner.readers.get()?, &stream_id))
            .await
    }

    async fn read_account(&self, account_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.blocking(move |inner| inner.read_account(account_id))
            .await
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.head_tx.subscribe()
    }

    async fn save_snapshot(&self, position: u64, state: Vec<u8>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner.writer.send(Job::SaveSnapshot {
            position,
            state,
            reply,
        })?;
        answer
            .await
            .map_err(|_| StoreError::WorkerGone("the SQLite writer dropped a snapshot".into()))?
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.blocking(|inner| read::load_sqlite_snapshot(&*inner.readers.get()?))
            .await
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn catch_up_account_index(&self) -> Result<u64, StoreError> {
        self.blocking(|inner| inner.catch_up_index()).await
    }

    async fn rebuild_account_index(&self) -> Result<u64, StoreError> {
        self.blocking(|inner| inner.rebuild_index()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_sits_beside_the_log() {
        assert_eq!(
            index_path_for(Path::new("/data/events.db")),
            PathBuf::from("/data/events.accounts.db")
        );
        assert_eq!(
            index_path_for(Path::new("ledger")),
            PathBuf::from("ledger.accounts.db")
        );
    }
}
