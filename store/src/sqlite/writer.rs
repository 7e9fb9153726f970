//! The SQLite log's single writer: one OS thread that owns the only write connection.
//!
//! Appends arrive over a channel and are answered through a oneshot. Keeping every write on one
//! connection and one thread means no lock contention inside the process, prepared statements
//! that stay cached, and (DESIGN: dependencies) one writer connection per database file.

use super::conn::open_log_writer;
use super::read::read_head;
use crate::convert::to_i64;
use crate::hash::{HashInput, chain_hash};
use crate::{AppendOutcome, Head, NewEvent, StoreError};
use chrono::Utc;
use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::{oneshot, watch};

const INSERT_EVENT: &str = "INSERT INTO events (global_position, stream_id, stream_revision, \
     event_id, event_type, schema_version, recorded_at, correlation_id, causation_id, \
     idempotency_key, payload, metadata, hash) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// How many snapshots are kept: the latest, and the one before it in case the latest cannot
/// be decoded by a newer build.
const SNAPSHOTS_KEPT: i64 = 2;

pub(crate) enum Job {
    Append {
        expected_head: u64,
        events: Vec<NewEvent>,
        reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    },
    SaveSnapshot {
        position: u64,
        state: Vec<u8>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// The handle the store keeps: the job queue and the thread, joined on drop.
pub(crate) struct WriterHandle {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    /// Opens the write connection (applying migrations) on the calling thread, so open errors
    /// surface to the caller, then moves it to the writer thread. Returns the head at open.
    pub(crate) fn start(
        path: &Path,
        head_tx: watch::Sender<u64>,
        snapshot_part_bytes: usize,
    ) -> Result<(WriterHandle, Head), StoreError> {
        let conn = open_log_writer(path)?;
        let head = read_head(&conn)?;
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("folio-sqlite-writer".into())
            .spawn(move || {
                let mut writer = Writer {
                    conn,
                    snapshot_part_bytes,
                    head,
                    head_tx,
                };
                for job in queue {
                    writer.run(job);
                }
            })?;
        Ok((
            WriterHandle {
                jobs: Some(jobs),
                thread: Some(thread),
            },
            head,
        ))
    }

    pub(crate) fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .as_ref()
            .ok_or_else(|| StoreError::WorkerGone("the writer was shut down".into()))?
            .send(job)
            .map_err(|_| StoreError::WorkerGone("the SQLite writer thread has stopped".into()))
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop after the job in hand; joining it means the
        // connection is closed (and the WAL checkpointed) before a reopen of the same file.
        self.jobs.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the SQLite writer thread panicked");
        }
    }
}

struct Writer {
    conn: Connection,
    /// The largest piece of a snapshot in one row (see `StoreOptions`).
    snapshot_part_bytes: usize,
    /// The head this writer last wrote or saw. It is only a hint: every append re-reads the
    /// head inside its write transaction, which fences writers in other processes.
    head: Head,
    head_tx: watch::Sender<u64>,
}

impl Writer {
    fn run(&mut self, job: Job) {
        match job {
            Job::Append {
                expected_head,
                events,
                reply,
            } => {
                let result = self.append(expected_head, &events);
                if let Ok(outcome) = &result {
                    self.head = outcome.head;
                    let position = outcome.head.position;
                    self.head_tx.send_if_modified(|seen| {
                        let newer = position > *seen;
                        if newer {
                            *seen = position;
                        }
                        newer
                    });
                }
                // The caller may have given up waiting; the append stands either way.
                let _ = reply.send(result);
            }
            Job::SaveSnapshot {
                position,
                state,
                reply,
            } => {
                let _ = reply.send(self.save_snapshot(position, &state));
            }
        }
    }

    fn append(
        &mut self,
        expected_head: u64,
        events: &[NewEvent],
    ) -> Result<AppendOutcome, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Under the write lock: nobody can move the head until we commit or roll back.
        let head = read_head(&tx)?;
        if head.position != self.head.position {
            tracing::debug!(
                cached = self.head.position,
                found = head.position,
                "the SQLite log moved under this writer (another process appended)"
            );
        }
        if head.position != expected_head {
            return Err(StoreError::Fenced {
                expected: expected_head,
                found: head.position,
            });
        }
        let first_position = expected_head + 1;
        let mut hash = head.hash;
        {
            let mut insert = tx.prepare_cached(INSERT_EVENT)?;
            for (offset, event) in events.iter().enumerate() {
                let position = first_position + offset as u64;
                hash = chain_hash(&hash, &HashInput::for_new(event, position));
                insert
                    .execute(params![
                        to_i64(position, "global position")?,
                        event.stream_id,
                        to_i64(event.stream_revision, "stream revision")?,
                        &event.event_id.as_bytes()[..],
                        event.event_type,
                        event.schema_version,
                        event.recorded_at.timestamp_micros(),
                        event.correlation_id.as_ref().map(|id| &id.as_bytes()[..]),
                        event.causation_id.as_ref().map(|id| &id.as_bytes()[..]),
                        event.idempotency_key,
                        event.payload,
                        event.metadata,
                        &hash[..],
                    ])
                    .map_err(|error| conflict(error, event))?;
            }
        }
        let head = Head {
            position: expected_head + events.len() as u64,
            hash,
        };
        if !events.is_empty() {
            tx.commit()?;
        }
        // An empty batch leaves the transaction to roll back: nothing was written.
        Ok(AppendOutcome {
            first_position,
            head,
        })
    }

    fn save_snapshot(&mut self, position: u64, state: &[u8]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let position = to_i64(position, "snapshot position")?;
        let (first, rest) = crate::snapshot_parts(state, self.snapshot_part_bytes);
        tx.prepare_cached(
            "INSERT OR REPLACE INTO snapshots (position, taken_at, state) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![position, Utc::now().timestamp_micros(), first])?;
        tx.prepare_cached("DELETE FROM snapshot_parts WHERE position = ?1")?
            .execute([position])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO snapshot_parts (position, part, bytes) VALUES (?1, ?2, ?3)",
            )?;
            for (index, part) in rest.iter().enumerate() {
                insert.execute(params![position, to_i64(index as u64 + 1, "part")?, part])?;
            }
        }
        tx.prepare_cached(
            "DELETE FROM snapshots WHERE position NOT IN \
             (SELECT position FROM snapshots ORDER BY position DESC LIMIT ?1)",
        )?
        .execute([SNAPSHOTS_KEPT])?;
        tx.prepare_cached(
            "DELETE FROM snapshot_parts WHERE position NOT IN (SELECT position FROM snapshots)",
        )?
        .execute([])?;
        tx.commit()?;
        Ok(())
    }
}

/// A unique-constraint failure is the caller's conflict (a stream revision or event id that
/// is already taken); anything else stays a database error.
fn conflict(error: rusqlite::Error, event: &NewEvent) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.code == ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!(
                "event {} ({} revision {}): {}",
                event.event_id,
                event.stream_id,
                event.stream_revision,
                message.as_deref().unwrap_or("unique constraint violated")
            ))
        }
        _ => StoreError::Sqlite(error),
    }
}
