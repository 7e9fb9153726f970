//! Where the log and the read models are: a data directory (SQLite) or a PostgreSQL URL.

use crate::error::ReplayError;
use crate::readonly::ReadOnlySqlite;
use folio_projections::{ReadModelStore, open_read_models};
use folio_store::{EventStore, StoreOptions, open_store_with};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The log file in a data directory, as the `folio` server names it.
pub const LOG_FILE: &str = "events.db";
/// The read models in a data directory (the balances beside it in `readmodels.balances.db`).
pub const READ_MODELS_FILE: &str = "readmodels.db";

/// An opened log and where its read models live.
pub struct Source {
    pub log: Arc<dyn EventStore>,
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
        };
        match (data_dir, database_url) {
            (_, Some(url)) => Ok(Source {
                log: open_store_with(url, &options).await?,
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
                Ok(Source {
                    log: Arc::new(log),
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
            read_models: models.backend_name().to_string(),
            description,
            opened: Some(models),
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

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
