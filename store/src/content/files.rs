//! Document bytes as files: `<root>/ab/cd/<sha256>`, written to a staging file, fsynced, then
//! renamed into place and the directory fsynced, so a kept file is whole and survives a crash.

use super::{
    ContentError, ContentStore, Staged, StagedContent, check_digest, clear_staging, verified,
};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

const STAGING: &str = ".staging";

pub struct FileContentStore {
    root: PathBuf,
}

impl FileContentStore {
    /// Opens (creating) the store at `root` and removes staging files a stopped process left.
    pub fn open(root: impl Into<PathBuf>) -> Result<FileContentStore, ContentError> {
        let root = root.into();
        clear_staging(&root.join(STAGING))?;
        Ok(FileContentStore { root })
    }

    /// Where the bytes of `sha256` live (the digest was checked: no path can come of it).
    fn path_of(&self, sha256: &str) -> PathBuf {
        self.root
            .join(&sha256[..2])
            .join(&sha256[2..4])
            .join(sha256)
    }
}

#[async_trait]
impl ContentStore for FileContentStore {
    fn backend_name(&self) -> &'static str {
        "files"
    }

    async fn stage(&self) -> Result<Staged, ContentError> {
        Staged::create(&self.root.join(STAGING)).await
    }

    async fn keep(&self, content: StagedContent) -> Result<(), ContentError> {
        check_digest(content.sha256())?;
        let target = self.path_of(content.sha256());
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || move_into_place(&root, &content, &target))
            .await
            .map_err(|error| ContentError::Io(std::io::Error::other(error.to_string())))?
    }

    async fn read(&self, sha256: &str) -> Result<Option<Vec<u8>>, ContentError> {
        check_digest(sha256)?;
        match tokio::fs::read(self.path_of(sha256)).await {
            Ok(bytes) => verified(sha256, bytes).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

fn move_into_place(
    root: &Path,
    content: &StagedContent,
    target: &Path,
) -> Result<(), ContentError> {
    if target.exists() {
        // The same bytes are kept already (same digest); the staging file is dropped.
        return Ok(());
    }
    let shard = target.parent().unwrap_or(root);
    let created = !shard.exists();
    std::fs::create_dir_all(shard)?;
    std::fs::rename(content.path(), target)?;
    // The rename is durable once the directory holding the new entry is on disk; a new shard
    // directory needs its own parents synced too.
    sync_dir(shard)?;
    if created {
        if let Some(parent) = shard.parent() {
            sync_dir(parent)?;
        }
        sync_dir(root)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), ContentError> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
