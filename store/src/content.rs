//! The bytes of documents, kept by their SHA-256 (content-addressed): files under the data
//! directory or a PostgreSQL table. Bytes are staged as they arrive (hashed and counted on the
//! way) and kept — durably — before the event that names them is appended.

mod files;
mod postgres;

pub use files::FileContentStore;
pub use postgres::PgContentStore;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use thiserror::Error;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Error)]
pub enum ContentError {
    #[error("content store I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("content store database: {0}")]
    Database(#[from] sqlx::Error),
    /// The bytes kept under a digest no longer hash to it: a damaged disk or a tampered file.
    #[error("the bytes kept under {sha256} do not match that digest")]
    Corrupt { sha256: String },
    #[error("{0:?} is not a SHA-256 digest in lower-case hex")]
    BadDigest(String),
}

/// Where document bytes are kept.
#[async_trait]
pub trait ContentStore: Send + Sync + 'static {
    fn backend_name(&self) -> &'static str;

    /// A fresh staging file for bytes about to arrive.
    async fn stage(&self) -> Result<Staged, ContentError>;

    /// Makes staged bytes durable under their digest before returning; a no-op when the same
    /// bytes are already kept. The staging file is consumed either way.
    async fn keep(&self, content: StagedContent) -> Result<(), ContentError>;

    /// The bytes kept under `sha256`, checked against it; None when nothing is kept under it.
    async fn read(&self, sha256: &str) -> Result<Option<Vec<u8>>, ContentError>;
}

/// Bytes being received: appended to a staging file, hashed and counted as they arrive, so a
/// size limit is enforced without holding the file in memory. Dropped unfinished, the staging
/// file is removed.
pub struct Staged {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
}

impl Staged {
    async fn create(dir: &Path) -> Result<Staged, ContentError> {
        tokio::fs::create_dir_all(dir).await?;
        let path = dir.join(format!("{}.part", uuid::Uuid::new_v4()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(Staged {
            path,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ContentError> {
        if let Some(file) = self.file.as_mut() {
            file.write_all(chunk).await?;
        }
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes the staging file to disk and names its digest.
    pub async fn finish(mut self) -> Result<StagedContent, ContentError> {
        if let Some(mut file) = self.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        let path = std::mem::take(&mut self.path);
        Ok(StagedContent {
            path,
            sha256,
            size: self.size,
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        remove_staging_file(&self.path);
    }
}

/// Staged bytes, complete and on disk, not kept yet. Dropped without being kept, the staging
/// file is removed: nothing of a refused upload stays.
#[derive(Debug)]
pub struct StagedContent {
    path: PathBuf,
    sha256: String,
    size: u64,
}

impl StagedContent {
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagedContent {
    fn drop(&mut self) {
        remove_staging_file(&self.path);
    }
}

/// Best effort: a leftover is removed when the store next opens.
fn remove_staging_file(path: &Path) {
    if !path.as_os_str().is_empty() {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes staging files an earlier process left (it stopped mid-upload).
fn clear_staging(dir: &Path) -> Result<(), ContentError> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "part") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn check_digest(sha256: &str) -> Result<(), ContentError> {
    let valid = sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if valid {
        Ok(())
    } else {
        Err(ContentError::BadDigest(sha256.to_string()))
    }
}

/// The bytes, if they hash to `sha256`.
fn verified(sha256: &str, bytes: Vec<u8>) -> Result<Vec<u8>, ContentError> {
    if hex::encode(Sha256::digest(&bytes)) == sha256 {
        Ok(bytes)
    } else {
        Err(ContentError::Corrupt {
            sha256: sha256.to_string(),
        })
    }
}
