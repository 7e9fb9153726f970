//! The test harness: starts the real `folio` binary on a free port, against a fresh SQLite data
//! directory or a fresh PostgreSQL database, and speaks HTTP to it with role keys.

#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::Connection;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

pub const SYSTEM_KEY: &str = "system-key-0001";
pub const AUDITOR_KEY: &str = "auditor-key-0001";
pub const CLIENT_A_KEY: &str = "client-a-key-0001";
pub const CLIENT_B_KEY: &str = "client-b-key-0001";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a server keeps its data; kept across restarts of the server.
pub struct Storage {
    backend: Backend,
    data_dir: tempfile::TempDir,
    database: Option<PgDatabase>,
}

impl Storage {
    pub async fn new(backend: Backend) -> Storage {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create().await),
        };
        Storage {
            backend,
            data_dir: tempfile::tempdir().expect("a temporary data directory"),
            database,
        }
    }

    /// The server's data directory (SQLite log, read models, document files).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// The scratch database's URL (PostgreSQL backend only).
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(|database| database.url.as_str())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Overwrites a read-model row behind the server's back, as a bug or a bad hand edit would:
    /// for the tests of ops' checks and repairs.
    pub async fn corrupt(&self, corruption: Corruption) {
        match (&self.database, corruption) {
            (None, corruption) => {
                let dir = self.data_dir.path().to_path_buf();
                let (file, sql, params): (&str, &str, Vec<rusqlite::types::Value>) =
                    match corruption {
                        Corruption::CreditsPosted { account, amount } => (
                            "readmodels.balances.db",
                            "UPDATE accounts SET credits_posted = ?2, balance = ?2, available = ?2 \
                             WHERE account_id = ?1",
                            vec![
                                account.as_bytes().to_vec().into(),
                                amount.to_string().into(),
                            ],
                        ),
                        Corruption::DailyClosing {
                            account,
                            day,
                            closing,
                        } => (
                            "readmodels.db",
                            "UPDATE daily_balances SET closing = ?3 WHERE account_id = ?1 AND day = ?2",
                            vec![
                                account.as_bytes().to_vec().into(),
                                day.to_string().into(),
                                closing.to_string().into(),
                            ],
                        ),
                    };
                tokio::task::spawn_blocking(move || {
                    let connection = rusqlite::Connection::open(dir.join(file)).unwrap();
                    connection.busy_timeout(Duration::from_secs(10)).unwrap();
                    let changed = connection
                        .execute(sql, rusqlite::params_from_iter(params))
                        .unwrap();
                    assert_eq!(changed, 1, "the corrupted row exists");
                })
                .await
                .unwrap();
            }
            (Some(database), corruption) => {
                let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
                let changed = match corruption {
                    Corruption::CreditsPosted { account, amount } => sqlx::query(
                        "UPDATE rm_accounts SET credits_posted = $2::numeric, balance = $2::numeric, \
                         available = $2::numeric WHERE account_id = $1",
                    )
                    .bind(account)
                    .bind(amount)
                    .execute(&mut connection)
                    .await
                    .unwrap(),
                    Corruption::DailyClosing {
                        account,
                        day,
                        closing,
                    } => sqlx::query(
                        "UPDATE rm_daily_balances SET closing = $3::numeric \
                         WHERE account_id = $1 AND day = $2::date",
                    )
                    .bind(account)
                    .bind(day.to_string())
                    .bind(closing)
                    .execute(&mut connection)
                    .await
                    .unwrap(),
                };
                assert_eq!(changed.rows_affected(), 1, "the corrupted row exists");
                let _ = connection.close().await;
            }
        }
    }

    pub async fn finish(self) {
        if let Some(database) = self.database {
            database.drop_database().await;
        }
    }
}

/// A read-model row overwritten behind the server's back.
#[derive(Debug, Clone, Copy)]
pub enum Corruption {
    /// The balances row's credits_posted, balance and available set to `amount` (for an account
    /// with no debits and no holds, the row then shows `amount` everywhere).
    CreditsPosted { account: Uuid, amount: &'static str },
    /// One daily-balance row's closing.
    DailyClosing {
        account: Uuid,
        day: chrono::NaiveDate,
        closing: &'static str,
    },
}

/// A running `folio` process and the two clients it was given keys for.
pub struct Server {
    child: Child,
    pub base: String,
    pub client_a: Uuid,
    pub client_b: Uuid,
    http: reqwest::Client,
    pub log_file: PathBuf,
    /// The SMS gateway's simulator: the file the server's development sender appends codes to.
    pub otp_outbox: PathBuf,
    /// The highest `X-Folio-Position` this session was answered (read-your-writes).
    last_position: AtomicU64,
}

/// One answer: status, headers and the JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The envelope's value, after checking it is a success.
    pub fn value(&self) -> &Value {
        assert!(
            self.status.is_success(),
            "expected a success, got {}: {}",
            self.status,
            self.body
        );
        assert_eq!(self.body["isSuccess"], true, "{}", self.body);
        assert_eq!(self.body["isFailed"], false, "{}", self.body);
        assert_eq!(self.body["value"], self.body["valueOrDefault"]);
        &self.body["value"]
    }

    /// The envelope's error code, after checking the failure's shape and status.
    pub fn error_code(&self, status: u16) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status}, got {}: {}",
            self.status,
            self.body
        );
        assert_failure_envelope(&self.body);
        self.body["errors"][0]["metadata"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn position(&self) -> u64 {
        self.headers
            .get("x-folio-position")
            .unwrap_or_else(|| panic!("no X-Folio-Position on {}", self.body))
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// API.md §4: a failure has isFailed, no value, and its error in `errors` and `reasons`.
pub fn assert_failure_envelope(body: &Value) {
    assert_eq!(body["isFailed"], true, "{body}");
    assert_eq!(body["isSuccess"], false, "{body}");
    assert!(
        body["value"].is_null() && body["valueOrDefault"].is_null(),
        "{body}"
    );
    assert_eq!(body["successes"], serde_json::json!([]), "{body}");
    let errors = body["errors"].as_array().expect("errors is an array");
    assert_eq!(errors.len(), 1, "{body}");
    assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(errors[0]["metadata"]["code"].is_string(), "{body}");
    assert_eq!(body["reasons"][0]["metadata"], errors[0]["metadata"]);
}

impl Server {
    pub async fn start(storage: &Storage) -> Server {
        Server::start_with(storage, &[]).await
    }

    pub async fn start_with(storage: &Storage, extra_args: &[&str]) -> Server {
        let client_a = Uuid::new_v4();
        let client_b = Uuid::new_v4();
        let keys = format!(
            "{SYSTEM_KEY}=system,{AUDITOR_KEY}=auditor,{CLIENT_A_KEY}=client:{client_a},\
             {CLIENT_B_KEY}=client:{client_b}"
        );
        let log_file = storage
            .data_dir
            .path()
            .join(format!("folio-{}.log", Uuid::new_v4()));
        let otp_outbox = storage.data_dir.path().join("otp-outbox.jsonl");
        let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
        command
            .arg("serve")
            .arg("--otp-outbox")
            .arg(&otp_outbox)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(extra_args)
            .env_remove("DATABASE_URL")
            .env_remove("FOLIO_API_KEYS_FILE")
            .env("FOLIO_API_KEYS", keys)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(&log_file).expect("a log file for the server"),
            ))
            .kill_on_drop(true);
        match &storage.database {
            Some(database) => command
                .arg("--database-url")
                .arg(&database.url)
                .arg("--otp-key-file")
                .arg(storage.data_dir.path().join("otp.key")),
            None => command.arg("--data-dir").arg(storage.data_dir.path()),
        };
        let mut child = command.spawn().expect("the folio binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("reading folio's stdout") {
                if let Some(address) = line.strip_prefix("folio listening on ") {
                    return address.trim().to_string();
                }
            }
            panic!(
                "folio exited before listening; its log:\n{}",
                std::fs::read_to_string(&log_file).unwrap_or_default()
            )
        })
        .await
        .expect("folio listens within 60 s");
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child,
            base,
            client_a,
            client_b,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            log_file,
            otp_outbox,
            last_position: AtomicU64::new(0),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server runs")
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub async fn terminate(self) -> bool {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.wait_exit().await
    }

    /// Waits for the process to exit (after a signal); returns whether it exited cleanly.
    pub async fn wait_exit(mut self) -> bool {
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("folio stops within 30 s of SIGTERM")
            .expect("waiting for folio");
        exit.success()
    }

    pub async fn request(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request = self.read_your_writes(request, headers);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        self.saw(&headers);
        let text = response.text().await.expect("a body");
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Commands answer once committed, before the read models show them: like any client that
    /// reads its own writes, the test session sends the highest `X-Folio-Position` it was
    /// answered as `X-Folio-Min-Position` (unless the test sets that header itself).
    fn read_your_writes(
        &self,
        request: reqwest::RequestBuilder,
        headers: &[(&str, String)],
    ) -> reqwest::RequestBuilder {
        let position = self.last_position.load(Ordering::SeqCst);
        let own = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("x-folio-min-position"));
        if position == 0 || own {
            request
        } else {
            request.header("X-Folio-Min-Position", position.to_string())
        }
    }

    /// Reads from now on wait for `position` (a client carrying a position over a restart).
    pub fn remember_position(&self, position: u64) {
        self.last_position.fetch_max(position, Ordering::SeqCst);
    }

    /// Remembers the position a command's answer reached.
    fn saw(&self, headers: &reqwest::header::HeaderMap) {
        if let Some(position) = headers
            .get("x-folio-position")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<u64>().ok())
        {
            self.last_position.fetch_max(position, Ordering::SeqCst);
        }
    }

    /// A system POST that may find the server gone (None) instead of panicking.
    pub async fn try_post(&self, path: &str, body: Value) -> Option<Reply> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(SYSTEM_KEY)
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        self.saw(&headers);
        let body = serde_json::from_str(&response.text().await.ok()?).ok()?;
        Some(Reply {
            status,
            headers,
            body,
        })
    }

    pub async fn raw(&self, key: &str, method: Method, path: &str, body: Vec<u8>) -> Reply {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body);
        let response = self
            .read_your_writes(response, &[])
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        self.saw(&headers);
        let text = response.text().await.expect("a body");
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// As the system role.
    pub async fn get(&self, path: &str) -> Reply {
        self.request(Some(SYSTEM_KEY), Method::GET, path, None, &[])
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Some(SYSTEM_KEY), Method::POST, path, Some(body), &[])
            .await
    }

    pub async fn open_account(&self, client: Uuid, currency: &str) -> Uuid {
        let reply = self
            .post(
                "/Accounts",
                serde_json::json!({"clientId": client, "currency": currency}),
            )
            .await;
        uuid_of(reply.value())
    }

    /// A pay-in of `amount` (a decimal string) into `account`; returns the payment id.
    pub async fn pay_in(&self, account: Uuid, amount: &str, currency: &str) -> Uuid {
        let reply = self
            .post(
                "/internal/Payments",
                serde_json::json!({"destinationAccountId": account, "amount": amount, "currency": currency}),
            )
            .await;
        uuid_of(reply.value())
    }

    /// (balance, heldAmount, availableBalance) as decimal strings.
    pub async fn balances(&self, account: Uuid) -> (String, String, String) {
        let reply = self.get(&format!("/Accounts/{account}")).await;
        let value = reply.value();
        (
            decimal(&value["balance"]),
            decimal(&value["heldAmount"]),
            decimal(&value["availableBalance"]),
        )
    }

    /// A multipart request (the header `X-Folio-Min-Position` added as for JSON requests);
    /// the answer's body is kept as bytes, since a download is not JSON.
    pub async fn multipart(
        &self,
        key: &str,
        path: &str,
        form: reqwest::multipart::Form,
        headers: &[(&str, String)],
    ) -> Reply {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .multipart(form);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = self
            .read_your_writes(request, headers)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        self.saw(&headers);
        let text = response.text().await.expect("a body");
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A GET whose answer is bytes (a download): status, headers and the raw body.
    pub async fn get_bytes(
        &self,
        key: &str,
        path: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key);
        let response = self
            .read_your_writes(request, &[])
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body").to_vec();
        (status, headers, bytes)
    }

    /// Every code the server sent for `confirmation_id`, oldest first (from the outbox).
    pub fn otp_codes(&self, confirmation_id: &str) -> Vec<String> {
        std::fs::read_to_string(&self.otp_outbox)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|message| message["confirmationId"] == confirmation_id)
            .map(|message| message["code"].as_str().expect("a code").to_string())
            .collect()
    }

    /// The code sent for `confirmation_id` (exactly one was sent).
    pub fn otp_code(&self, confirmation_id: &str) -> String {
        let codes = self.otp_codes(confirmation_id);
        assert_eq!(
            codes.len(),
            1,
            "codes sent for {confirmation_id}: {codes:?}"
        );
        codes[0].clone()
    }

    /// The body confirming transfer `id`: its confirmationId and the code sent for it.
    pub async fn confirmation_for(&self, transfer: Uuid) -> Value {
        let reply = self.get(&format!("/Transfers/{transfer}")).await;
        let confirmation = reply.value()["confirmationId"]
            .as_str()
            .unwrap_or_else(|| panic!("no confirmationId on {}", reply.body))
            .to_string();
        let code = self.otp_code(&confirmation);
        serde_json::json!({"confirmationId": confirmation, "code": code})
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

pub fn uuid_of(value: &Value) -> Uuid {
    value["id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .unwrap_or_else(|| panic!("no id in {value}"))
}

/// A JSON number as its exact decimal text, normalized (`10.50` → `10.5`).
pub fn decimal(value: &Value) -> String {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.clone(),
        other => panic!("not a decimal: {other}"),
    };
    let parsed: rust_decimal::Decimal = text.parse().unwrap_or_else(|_| panic!("{text}"));
    parsed.normalize().to_string()
}

/// A scratch database on the server `DATABASE_URL` names, so tests run in parallel, each alone.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "DATABASE_URL is not set: the PostgreSQL end-to-end tests need a server. \
                 Run scripts/test.sh (it starts a throw-away cluster) or start one with \
                 `bash scripts/pg-cluster.sh start` and export DATABASE_URL=<the URL it prints>."
            )
        });
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot reach PostgreSQL at DATABASE_URL={admin_url}: {error}")
            });
        let name = format!("folio_api_test_{}", Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot create a test database on {admin_url}: {error}")
            });
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        PgDatabase {
            admin_url,
            name,
            url: url.to_string(),
        }
    }

    pub async fn drop_database(self) {
        // Best effort: the cluster is throw-away, but a long run should not pile databases up.
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}

/// Each scenario once per backend: `sqlite::name` and `postgres::name`, each on its own server
/// with its own storage.
#[macro_export]
macro_rules! end_to_end {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let storage = $crate::common::Storage::new($crate::common::Backend::Sqlite).await;
                    super::$test(&storage).await;
                    storage.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let storage = $crate::common::Storage::new($crate::common::Backend::Postgres).await;
                    super::$test(&storage).await;
                    storage.finish().await;
                }
            )*
        }
    };
}
