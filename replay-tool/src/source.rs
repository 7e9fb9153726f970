//! Where the log and the read models are: a data directory (SQLite) or a PostgreSQL URL.

use crate::error::ReplayError;
use crate::page::Page;
use crate::readonly::ReadOnlySqlite;
use folio_projections::{ReadModelStore, open_read_models};
use folio_store::{EventStore, StoreError, StoreOptions, open_store_with};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The log file in a data directory, as the `folio` server names it.
pub const LOG_FILE: &str = "events.db";
/// The read models in a data directory (the balances beside it in `readmodels.balances.db`).
pub const READ_MODELS_FILE: &str = "readmodels.db";

/// An opened log and where its read models live.
pub struct Source {
    pub log: Arc<dyn EventStore>,
    /// The same log when it is a SQLite file: scans read its rows straight into pages.
    sqlite: Option<Arc<ReadOnlySqlite>>,
    /// The read models' location: a file path or the PostgreSQL URL.
    pub read_models: String,
    pub description: String,
    /// Read models already open (a running server's), used instead of opening `read_models`.
    pub opened: Option<Arc<dyn ReadModelStore>>,
}

impl Source {
    /// Opens `data_dir` (SQLite, with a read-only connection: nothing can be written to the
    /// log file) or `database_url` (PostgreSQL: the store without its background indexer or
    /// poller; the tool never appends).
    pub async fn open(
        data_dir: Option<&Path>,
        database_url: Option<&str>,
    ) -> Result<Source, ReplayError> {
        let options = StoreOptions {
            index_in_background: false,
            watch_other_writers: false,
            ..Default::default()
        };
        match (data_dir, database_url) {
            (_, Some(url)) => Ok(Source {
                log: open_store_with(url, &options).await?,
                sqlite: None,
                read_models: url.to_string(),
                description: "postgres".into(),
                opened: None,
            }),
            (Some(dir), None) => {
                let log_path = dir.join(LOG_FILE);
                if !log_path.is_file() {
                    return Err(ReplayError::Input(format!(
                        "{} has no {LOG_FILE}: is it a Folio data directory?",
                        dir.display()
                    )));
                }
                let path = absolute(&log_path);
                let log = tokio::task::spawn_blocking(move || ReadOnlySqlite::open(&path))
                    .await
                    .map_err(|error| ReplayError::Task(error.to_string()))??;
                let log = Arc::new(log);
                Ok(Source {
                    log: log.clone(),
                    sqlite: Some(log),
                    read_models: absolute(&dir.join(READ_MODELS_FILE)).display().to_string(),
                    description: format!("sqlite {}", dir.display()),
                    opened: None,
                })
            }
            (None, None) => Err(ReplayError::Input(
                "name the log: --data-dir DIR (SQLite) or --database-url postgres://…".into(),
            )),
        }
    }

    /// A running server's log and read models (the ops routes of its REST API).
    pub fn live(log: Arc<dyn EventStore>, models: Arc<dyn ReadModelStore>) -> Source {
        let description = format!("live {}", log.backend_name());
        Source {
            log,
            sqlite: None,
            read_models: models.backend_name().to_string(),
            description,
            opened: Some(models),
        }
    }

    /// The log as a SQLite file, when it is one.
    pub fn sqlite(&self) -> Option<&Arc<ReadOnlySqlite>> {
        self.sqlite.as_ref()
    }

    /// How scans read this log's pages.
    pub fn reader(&self) -> LogReader {
        match &self.sqlite {
            Some(sqlite) => LogReader::Sqlite(sqlite.clone()),
            None => LogReader::Store(self.log.clone()),
        }
    }

    /// Opens the read models (creating empty ones if the data directory has none).
    pub async fn read_models(&self) -> Result<Arc<dyn ReadModelStore>, ReplayError> {
        match &self.opened {
            Some(models) => Ok(models.clone()),
            None => Ok(open_read_models(&self.read_models).await?),
        }
    }

    /// Whether read models exist to compare with (always assumed on PostgreSQL).
    pub fn has_read_models(&self) -> bool {
        self.opened.is_some()
            || self.read_models.starts_with("postgres")
            || Path::new(&self.read_models).is_file()
    }
}

/// Where a scan reads pages from: a SQLite file directly, or any store through `read_all`.
#[derive(Clone)]
pub enum LogReader {
    Sqlite(Arc<ReadOnlySqlite>),
    Store(Arc<dyn EventStore>),
}

impl LogReader {
    /// The events at positions after `after` up to `until`.
    pub async fn read_range(&self, after: u64, until: u64) -> Result<Page, StoreError> {
        match self {
            LogReader::Sqlite(log) => {
                let log = log.clone();
                tokio::task::spawn_blocking(move || log.read_range(after, until))
                    .await
                    .map_err(|error| StoreError::WorkerGone(error.to_string()))?
            }
            LogReader::Store(log) => {
                let limit = usize::try_from(until.saturating_sub(after)).unwrap_or(usize::MAX);
                let mut events = log.read_all(after, limit).await?;
                events.retain(|event| event.global_position <= until);
                Ok(Page::from_records(&events))
            }
        }
    }

    /// The stored hash of the event at `position` (zeroes before the first event).
    pub async fn hash_at(&self, position: u64) -> Result<[u8; 32], StoreError> {
        if position == 0 {
            return Ok([0u8; 32]);
        }
        let page = self.read_range(position - 1, position).await?;
        Ok(page.last().map_or([0u8; 32], |row| *row.hash))
    }

    pub async fn head(&self) -> Result<u64, StoreError> {
        let log: &dyn EventStore = match self {
            LogReader::Sqlite(log) => log.as_ref(),
            LogReader::Store(log) => log.as_ref(),
        };
        Ok(log.head().await?.position)
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
