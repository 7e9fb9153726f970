//! Document bytes in PostgreSQL (`document_contents`, bytea), for deployments whose data lives
//! in the database. Committed before the upload's event is appended, so the log never names
//! bytes the database does not have.

use super::{
    ContentError, ContentStore, Staged, StagedContent, check_digest, clear_staging, verified,
};
use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::path::PathBuf;

pub struct PgContentStore {
    pool: PgPool,
    staging: PathBuf,
}

impl PgContentStore {
    /// Connects, creates the table if missing, and stages uploads in `staging` (a local
    /// directory: bytes are counted and hashed there before they go to the database).
    pub async fn connect(url: &str, staging: PathBuf) -> Result<PgContentStore, ContentError> {
        let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS document_contents (\
             sha256 text PRIMARY KEY, size bigint NOT NULL, content bytea NOT NULL, \
             stored_at timestamptz NOT NULL DEFAULT now())",
        )
        .execute(&pool)
        .await?;
        clear_staging(&staging)?;
        Ok(PgContentStore { pool, staging })
    }
}

#[async_trait]
impl ContentStore for PgContentStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn stage(&self) -> Result<Staged, ContentError> {
        Staged::create(&self.staging).await
    }

    async fn keep(&self, content: StagedContent) -> Result<(), ContentError> {
        check_digest(content.sha256())?;
        let bytes = tokio::fs::read(content.path()).await?;
        let size = i64::try_from(bytes.len()).map_err(std::io::Error::other)?;
        sqlx::query(
            "INSERT INTO document_contents (sha256, size, content) VALUES ($1, $2, $3) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(content.sha256())
        .bind(size)
        .bind(bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn read(&self, sha256: &str) -> Result<Option<Vec<u8>>, ContentError> {
        check_digest(sha256)?;
        let bytes: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT content FROM document_contents WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?;
        bytes.map(|bytes| verified(sha256, bytes)).transpose()
    }
}
