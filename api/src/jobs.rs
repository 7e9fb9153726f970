//! Ops' background jobs: long checks and recalculations run as tasks of the server, at most one
//! of each kind at a time, their progress and outcome readable while they run and after.

use chrono::{DateTime, Utc};
use folio_replay::Finding;
use folio_replay::progress::SharedProgress;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Finished jobs kept for their status to be read (the oldest are forgotten first).
const KEPT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `verify` over the live log and read models.
    AccountBalanceCheck,
    /// Daily balances rebuilt from the log.
    DailyBalanceRecalculation,
}

/// What a finished job produced.
#[derive(Debug, Clone)]
pub enum Outcome {
    Succeeded {
        summary: Vec<String>,
        findings: Vec<Finding>,
        /// Rows written (recalculations).
        rows: Option<u64>,
    },
    Failed {
        error: String,
    },
}

/// One job: what it is, how far it has come, and how it ended.
#[derive(Debug)]
pub struct Job {
    pub id: Uuid,
    pub kind: JobKind,
    pub started_at: DateTime<Utc>,
    pub progress: Arc<SharedProgress>,
    finished: Mutex<Option<(DateTime<Utc>, Outcome)>>,
}

impl Job {
    /// When and how it ended (None while it runs).
    pub fn finished(&self) -> Option<(DateTime<Utc>, Outcome)> {
        self.finished.lock().ok().and_then(|slot| slot.clone())
    }

    pub fn is_running(&self) -> bool {
        self.finished().is_none()
    }

    fn finish(&self, outcome: Outcome) {
        if let Ok(mut slot) = self.finished.lock() {
            *slot = Some((Utc::now(), outcome));
        }
    }
}

/// The server's jobs, newest last.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

impl Jobs {
    /// Starts `work` as a job of `kind` unless one of that kind is running: then that one is
    /// returned with `false`, and `work` is dropped unstarted.
    pub fn start<F, Fut>(&self, kind: JobKind, work: F) -> (Arc<Job>, bool)
    where
        F: FnOnce(Arc<SharedProgress>) -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let job = {
            let mut jobs = match self.jobs.lock() {
                Ok(jobs) => jobs,
                Err(poisoned) => poisoned.into_inner(),
            };
            if let Some(running) = jobs.iter().find(|j| j.kind == kind && j.is_running()) {
                return (running.clone(), false);
            }
            let job = Arc::new(Job {
                id: Uuid::now_v7(),
                kind,
                started_at: Utc::now(),
                progress: Arc::new(SharedProgress::default()),
                finished: Mutex::new(None),
            });
            jobs.push_back(job.clone());
            while jobs.len() > KEPT {
                let Some(oldest) = jobs.iter().position(|j| !j.is_running()) else {
                    break;
                };
                jobs.remove(oldest);
            }
            job
        };
        let work = tokio::spawn(work(job.progress.clone()));
        let watched = job.clone();
        tokio::spawn(async move {
            // A panic inside the work still ends the job, so the next one can start.
            let outcome = work.await.unwrap_or_else(|error| Outcome::Failed {
                error: format!("the job stopped abnormally: {error}"),
            });
            watched.finish(outcome);
        });
        (job, true)
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<Job>> {
        self.list().into_iter().find(|job| job.id == id)
    }

    /// Every job kept, newest first.
    pub fn list(&self) -> Vec<Arc<Job>> {
        let jobs = match self.jobs.lock() {
            Ok(jobs) => jobs,
            Err(poisoned) => poisoned.into_inner(),
        };
        jobs.iter().rev().cloned().collect()
    }
}
