//! Opening a store from a URL: `sqlite://…`, `postgres://…`/`postgresql://…`, or a plain path.

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{EventStore, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// Knobs shared by the backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Keep the account index right behind the writer with a background task. Off, the index
    /// is only caught up by `read_account` and `catch_up_account_index` (tools that never read
    /// accounts, or benchmarks that want the writer alone on the machine).
    pub index_in_background: bool,
    /// SQLite: poll the file for commits made by other processes. Off, only this process's own
    /// commits move `subscribe()`: right for a log one process owns, and for a simulation that
    /// must control every wake-up. (PostgreSQL's LISTEN costs nothing and is always on.)
    pub watch_other_writers: bool,
    /// The largest piece of a snapshot kept in one database value; a larger snapshot is stored
    /// in several (both databases refuse a single value over 1 GB, which a ledger of about ten
    /// million payments passes).
    pub snapshot_part_bytes: usize,
}

/// The default `snapshot_part_bytes`: well under both databases' 1 GB limit on one value.
pub const SNAPSHOT_PART_BYTES: usize = 256 * 1024 * 1024;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            index_in_background: true,
            watch_other_writers: true,
            snapshot_part_bytes: SNAPSHOT_PART_BYTES,
        }
    }
}

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Opens the store a URL names, with the default options:
/// - `sqlite:///abs/path/events.db`, `sqlite://relative/path.db` or `sqlite:path.db`
/// - `postgres://user:pass@host:port/db` or `postgresql://…`
/// - a plain filesystem path (`/var/lib/folio/events.db`, `data/events.db`): SQLite
pub async fn open_store(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    open_store_with(url, &StoreOptions::default()).await
}

/// [`open_store`] with explicit options.
pub async fn open_store_with(
    url: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn EventStore>, StoreError> {
    match parse_url(url)? {
        StoreLocation::Sqlite(path) => {
            let options = options.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open_with(path, &options))
                .await
                .map_err(|error| StoreError::WorkerGone(format!("opening SQLite: {error}")))??;
            Ok(Arc::new(store))
        }
        StoreLocation::Postgres(url) => {
            Ok(Arc::new(PostgresStore::open_with(&url, options).await?))
        }
    }
}

/// Tells which backend a URL names, without touching it.
pub fn parse_url(url: &str) -> Result<StoreLocation, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(invalid("the URL is empty"));
    }
    let Some((scheme, rest)) = trimmed.split_once(':') else {
        return Ok(StoreLocation::Sqlite(PathBuf::from(trimmed)));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            // `sqlite:///abs` keeps its leading slash; `sqlite://rel` and `sqlite:rel` are
            // relative to the working directory.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(invalid(
                    "a sqlite URL needs a file path, e.g. sqlite:///var/lib/folio/events.db",
                ));
            }
            if path.starts_with(":memory:") || path.contains('?') {
                return Err(invalid(
                    "in-memory databases and URL options are not supported: name a file",
                ));
            }
            Ok(StoreLocation::Sqlite(PathBuf::from(path)))
        }
        "postgres" | "postgresql" => {
            // Host, port and database may be left to libpq-style defaults, but the URL itself
            // must parse.
            url::Url::parse(trimmed).map_err(|error| invalid(&error.to_string()))?;
            Ok(StoreLocation::Postgres(trimmed.to_owned()))
        }
        // A one-letter "scheme" is a Windows drive (`C:\data\events.db`): a path.
        _ if scheme.len() == 1 => Ok(StoreLocation::Sqlite(PathBuf::from(trimmed))),
        _ if trimmed.contains("://") => Err(invalid(&format!(
            "unknown scheme {scheme:?}: use sqlite://, postgres:// or a file path"
        ))),
        // No `://`: a relative path that happens to contain a colon.
        _ => Ok(StoreLocation::Sqlite(PathBuf::from(trimmed))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(path: &str) -> StoreLocation {
        StoreLocation::Sqlite(PathBuf::from(path))
    }

    #[test]
    fn sqlite_urls_and_paths() {
        assert_eq!(
            parse_url("sqlite:///abs/events.db").ok(),
            Some(sqlite("/abs/events.db"))
        );
        assert_eq!(
            parse_url("sqlite://rel/events.db").ok(),
            Some(sqlite("rel/events.db"))
        );
        assert_eq!(
            parse_url("sqlite:events.db").ok(),
            Some(sqlite("events.db"))
        );
        assert_eq!(
            parse_url("/var/lib/folio/events.db").ok(),
            Some(sqlite("/var/lib/folio/events.db"))
        );
        assert_eq!(
            parse_url("data/events.db").ok(),
            Some(sqlite("data/events.db"))
        );
    }

    #[test]
    fn postgres_urls() {
        let url = "postgres://folio:secret@127.0.0.1:5432/folio";
        assert_eq!(
            parse_url(url).ok(),
            Some(StoreLocation::Postgres(url.into()))
        );
        let url = "postgresql://localhost/folio";
        assert_eq!(
            parse_url(url).ok(),
            Some(StoreLocation::Postgres(url.into()))
        );
    }

    #[test]
    fn bad_urls_say_why() {
        for url in [
            "",
            "mysql://localhost/db",
            "sqlite://",
            "sqlite::memory:",
            "postgres://[::1",
        ] {
            match parse_url(url) {
                Err(StoreError::InvalidUrl { reason, .. }) => assert!(!reason.is_empty()),
                other => panic!("{url:?} gave {other:?}"),
            }
        }
    }
}
