//! The replay tool on PostgreSQL: the sample's log copied into a scratch database (same events,
//! so the same hashes), read models rebuilt there by the tool, verified, then tampered.

mod common;

use common::*;
use folio_store::{EventStore, NewEvent, PostgresStore, SqliteStore};
use sqlx::Connection;

/// A scratch database on the server `DATABASE_URL` names, dropped at the end.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> PgDatabase {
        let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "DATABASE_URL is not set: the PostgreSQL tests of folio-replay need a server. \
                 Run scripts/test.sh (it starts a throw-away cluster) or set DATABASE_URL."
            )
        });
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot reach PostgreSQL at DATABASE_URL={admin_url}: {error}")
            });
        let name = format!("folio_replay_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("cannot create a test database: {error}"));
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        PgDatabase {
            admin_url,
            name,
            url: url.to_string(),
        }
    }

    async fn drop_database(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}

fn replay_pg(url: &str, args: &[&str]) -> Run {
    let mut all = vec!["--database-url", url, "--quiet"];
    all.extend_from_slice(args);
    replay(&all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_rebuild_and_tampering_on_postgres() {
    let db = PgDatabase::create().await;
    let dir = sample_copy();
    {
        let sqlite = SqliteStore::open(dir.path().join("events.db")).unwrap();
        let pg = PostgresStore::open(&db.url).await.unwrap();
        let mut after = 0;
        loop {
            let events = sqlite.read_all(after, 1000).await.unwrap();
            let Some(last) = events.last() else { break };
            let last_position = last.global_position;
            let new: Vec<NewEvent> = events
                .into_iter()
                .map(|e| NewEvent {
                    stream_id: e.stream_id,
                    stream_revision: e.stream_revision,
                    event_id: e.event_id,
                    event_type: e.event_type,
                    schema_version: e.schema_version,
                    recorded_at: e.recorded_at,
                    correlation_id: e.correlation_id,
                    causation_id: e.causation_id,
                    idempotency_key: e.idempotency_key,
                    payload: e.payload,
                    metadata: e.metadata,
                })
                .collect();
            pg.append(after, new).await.unwrap();
            after = last_position;
        }
        // The same events give the same chain on either backend.
        assert_eq!(pg.head().await.unwrap(), sqlite.head().await.unwrap());
    }
    let rebuilt = replay_pg(&db.url, &["rebuild"]);
    assert_eq!(rebuilt.code, 0, "{}{}", rebuilt.stdout, rebuilt.stderr);
    assert!(
        rebuilt.stdout.contains("RESULT passed"),
        "{}",
        rebuilt.stdout
    );
    let verified = replay_pg(&db.url, &["verify"]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert!(
        verified.stdout.contains("3311 events"),
        "{}",
        verified.stdout
    );
    let daily = replay_pg(&db.url, &["daily-check", "--date", "2026-09-30"]);
    assert_eq!(daily.code, 0, "{}{}", daily.stdout, daily.stderr);

    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE events SET payload = payload || ' ' WHERE global_position = 2500")
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let tampered = replay_pg(&db.url, &["verify"]);
    assert_eq!(tampered.code, 1, "{}{}", tampered.stdout, tampered.stderr);
    assert!(
        tampered.stdout.contains("MISMATCH log field=hash"),
        "{}",
        tampered.stdout
    );
    assert!(
        tampered.stdout.contains("first_position=2500"),
        "{}",
        tampered.stdout
    );
    db.drop_database().await;
}
