//! Checkpoints the log's WAL on a thread of its own, so the writer's commits never wait for one.
//!
//! With SQLite's automatic checkpoint, the commit that crosses the threshold copies the whole
//! WAL into the database file and fsyncs it before `append` returns: every few thousand events
//! one caller's acknowledgement waited for that, which is where the log's tail latency came
//! from. A passive checkpoint from another connection copies the same frames without taking the
//! write lock, so the writer keeps committing meanwhile; once a checkpoint has copied every
//! frame, the writer's next transaction starts the WAL again from its beginning.

use super::conn::open_log_checkpointer;
use crate::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the thread looks at the head.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Events committed since the last checkpoint that call for the next one.
const CHECKPOINT_AFTER_EVENTS: u64 = 2_048;
/// A quiet log is checkpointed this long after its last commit at the latest.
const CHECKPOINT_AFTER: Duration = Duration::from_secs(1);

/// The checkpoint thread; stopped and joined when dropped, so its connection is closed before
/// the file is opened again.
pub(crate) struct Checkpointer {
    /// Checkpoints that ran to their end, for tests and operators.
    completed: Arc<AtomicU64>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens the checkpoint connection on the calling thread (so an open error reaches the
    /// caller) and starts the thread, which follows `head` (the positions the writer commits).
    pub(crate) fn start(
        path: &Path,
        head: watch::Receiver<u64>,
    ) -> Result<Checkpointer, StoreError> {
        let conn = open_log_checkpointer(path)?;
        let (stop, stopped) = mpsc::channel();
        let completed = Arc::new(AtomicU64::new(0));
        let counter = completed.clone();
        let thread = std::thread::Builder::new()
            .name("folio-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &head, &stopped, &counter))?;
        Ok(Checkpointer {
            completed,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(crate) fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the SQLite checkpoint thread panicked");
        }
    }
}

fn run(
    conn: &Connection,
    head: &watch::Receiver<u64>,
    stopped: &mpsc::Receiver<()>,
    completed: &AtomicU64,
) {
    let mut checkpointed_at = *head.borrow();
    let mut last_checkpoint = Instant::now();
    // Ends when the store drops its sender (or sends), i.e. when the store closes.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL_INTERVAL) {
        let position = *head.borrow();
        let behind = position.saturating_sub(checkpointed_at);
        let due = behind >= CHECKPOINT_AFTER_EVENTS
            || (behind > 0 && last_checkpoint.elapsed() >= CHECKPOINT_AFTER);
        if !due {
            continue;
        }
        match checkpoint(conn) {
            Ok(()) => {
                checkpointed_at = position;
                last_checkpoint = Instant::now();
                completed.fetch_add(1, Ordering::Relaxed);
            }
            // Not fatal: the writer's automatic checkpoint, set far higher, is the backstop.
            Err(error) => tracing::warn!(%error, "checkpointing the SQLite log failed"),
        }
    }
}

/// A passive checkpoint: copies what it can without waiting for the writer or the readers.
fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    let (busy, wal_frames, checkpointed_frames): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    tracing::trace!(busy, wal_frames, checkpointed_frames, "log checkpoint");
    Ok(())
}
