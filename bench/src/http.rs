//! `folio-bench http`: the REST benchmark. Starts the release `folio` binary on a fresh SQLite
//! data directory (or targets a running server with `--url`), opens and funds accounts over
//! HTTP, then sends create-and-post payments (`POST /internal/Payments`) over keep-alive
//! HTTP/1.1 connections, one request in flight per connection, and prints one line:
//!
//! `http  sqlite  23456 payments/s  p50 1.2 ms  p99 4.5 ms  p999 8.0 ms  (…)`
//!
//! The server answers a command only once its events are committed (fsynced), so every
//! measured payment is durable.

use crate::rng::Rng;
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

#[derive(clap::Args, Debug, Clone)]
pub struct HttpArgs {
    /// A running server to target (e.g. http://127.0.0.1:8080) instead of starting one.
    #[arg(long)]
    url: Option<String>,
    /// The API key to send (with --url); a started server gets a fresh system key.
    #[arg(long, env = "FOLIO_BENCH_API_KEY")]
    api_key: Option<String>,
    /// The `folio` binary to start (default: the one beside this executable).
    #[arg(long)]
    folio: Option<PathBuf>,
    /// Data directory of the started server (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Payments to measure.
    #[arg(long, default_value_t = 200_000)]
    payments: u64,
    /// Funded EUR accounts the payments move between.
    #[arg(long, default_value_t = 10_000)]
    accounts: u32,
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Payments sent before measuring (warms the server's caches and allocator).
    #[arg(long, default_value_t = 10_000)]
    warmup: u64,
}

/// A started server, stopped (SIGTERM, then waited for) when dropped by `stop`.
struct Server {
    child: Child,
}

impl Server {
    async fn start(
        args: &HttpArgs,
        data_dir: &std::path::Path,
        key: &str,
    ) -> Result<(Server, String)> {
        let binary = match &args.folio {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .context("locating this executable")?
                .with_file_name("folio"),
        };
        if !binary.exists() {
            bail!(
                "{} not found: build it with `cargo build --release -p folio-api` or pass --folio",
                binary.display()
            );
        }
        let log = std::fs::File::create(data_dir.join("folio.log"))
            .context("creating the server's log file")?;
        let mut child = Command::new(&binary)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .env("FOLIO_API_KEYS", format!("{key}=system"))
            .env_remove("FOLIO_API_KEYS_FILE")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the server's stdout is not piped"))?;
        let mut lines = BufReader::new(stdout).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(address) = line.strip_prefix("folio listening on http://") {
                    return Ok::<_, anyhow::Error>(address.trim().to_string());
                }
            }
            bail!("the server exited before listening")
        })
        .await
        .context("waiting for the server to listen")??;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((Server { child }, address))
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            // SIGTERM: the server finishes what it holds and exits 0.
            let status = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .context("sending SIGTERM to the server")?;
            if !status.success() {
                bail!("kill -TERM {pid} failed");
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(120), self.child.wait())
            .await
            .context("waiting for the server to stop")??;
        if !status.success() {
            bail!("the server exited with {status}");
        }
        Ok(())
    }
}

/// One keep-alive connection.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    authorization: Arc<str>,
}

impl Connection {
    async fn open(address: &str, authorization: Arc<str>) -> Result<Connection> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("the HTTP handshake")?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "a benchmark connection failed");
            }
        });
        Ok(Connection {
            sender,
            authorization,
        })
    }

    /// POSTs `body` to `path`; the status and the whole answer.
    async fn post(&mut self, path: &str, body: String) -> Result<(StatusCode, Bytes)> {
        self.sender.ready().await.context("the connection closed")?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(hyper::header::HOST, "folio")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::AUTHORIZATION, &*self.authorization)
            .body(Full::new(Bytes::from(body)))
            .context("building a request")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("sending a request")?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .context("reading an answer")?
            .to_bytes();
        Ok((status, bytes))
    }
}

fn expect_ok(status: StatusCode, body: &Bytes, what: &str) -> Result<()> {
    if status != StatusCode::OK {
        bail!(
            "{what}: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(500)])
        );
    }
    Ok(())
}

pub async fn run(args: HttpArgs) -> Result<()> {
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let (server, address, key) = match &args.url {
        Some(url) => {
            let address = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            (None, address, args.api_key.clone().unwrap_or_default())
        }
        None => {
            let data_dir = match &args.data_dir {
                Some(dir) => {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    dir.clone()
                }
                None => temp.path().to_path_buf(),
            };
            let key = format!("bench-{}", uuid::Uuid::new_v4().simple());
            let (server, address) = Server::start(&args, &data_dir, &key).await?;
            (Some(server), address, key)
        }
    };
    let authorization: Arc<str> = Arc::from(format!("Bearer {key}"));
    let mut connections = Vec::with_capacity(args.connections);
    for _ in 0..args.connections.max(1) {
        connections.push(Connection::open(&address, authorization.clone()).await?);
    }

    let started = Instant::now();
    let accounts = open_funded_accounts(&mut connections, args.accounts).await?;
    eprintln!(
        "http: {} accounts opened and funded in {:.1} s",
        accounts.len(),
        started.elapsed().as_secs_f64()
    );
    let accounts: Arc<[String]> = accounts.into();

    if args.warmup > 0 {
        let (connections_back, _, _) = pay(connections, accounts.clone(), args.warmup, 7).await?;
        connections = connections_back;
    }
    let server_pid = server.as_ref().and_then(|server| server.child.id());
    let server_cpu_before = server_pid.and_then(process_cpu_seconds);
    let (_, histogram, elapsed) = pay(connections, accounts, args.payments, 42).await?;
    let server_cpu_after = server_pid.and_then(process_cpu_seconds);
    let rate = args.payments as f64 / elapsed.as_secs_f64();
    // CPU per payment is the figure that load on a shared machine moves least.
    let server_cpu = match (server_cpu_before, server_cpu_after) {
        (Some(before), Some(after)) => format!(
            "  server cpu {:.0} us/payment",
            (after - before) * 1e6 / args.payments as f64
        ),
        _ => String::new(),
    };
    println!(
        "http       sqlite   {:>8.0} payments/s  p50 {:.2} ms  p99 {:.2} ms  p999 {:.2} ms  max {:.1} ms{}  ({} payments, {} accounts, {} connections)",
        rate,
        ms(&histogram, 0.50),
        ms(&histogram, 0.99),
        ms(&histogram, 0.999),
        histogram.max() as f64 / 1000.0,
        server_cpu,
        args.payments,
        args.accounts,
        args.connections,
    );
    if let Some(server) = server {
        server.stop().await?;
    }
    Ok(())
}

/// User plus system CPU seconds a process has used, all its threads (Linux `/proc`; `None`
/// elsewhere). The kernel reports them in USER_HZ ticks, 100 per second on Linux.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user_ticks: f64 = fields.get(11)?.parse().ok()?;
    let system_ticks: f64 = fields.get(12)?.parse().ok()?;
    Some((user_ticks + system_ticks) / 100.0)
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

/// Opens `count` EUR accounts for one client and pays 1,000,000.00 into each.
async fn open_funded_accounts(
    connections: &mut Vec<Connection>,
    count: u32,
) -> Result<Vec<String>> {
    let client = uuid::Uuid::new_v4();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut connection in connections.drain(..) {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut opened = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < u64::from(count) {
                let (status, body) = connection
                    .post(
                        "/Accounts",
                        format!(r#"{{"clientId":"{client}","currency":"EUR"}}"#),
                    )
                    .await?;
                expect_ok(status, &body, "opening an account")?;
                let answer: serde_json::Value =
                    serde_json::from_slice(&body).context("reading an account answer")?;
                let id = answer["value"]["id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("an account answer without value.id"))?
                    .to_string();
                let (status, body) = connection
                    .post(
                        "/internal/Payments",
                        format!(
                            r#"{{"destinationAccountId":"{id}","amount":1000000.00,"currency":"EUR","description":"funding"}}"#
                        ),
                    )
                    .await?;
                expect_ok(status, &body, "funding an account")?;
                opened.push(id);
            }
            Ok::<_, anyhow::Error>((connection, opened))
        }));
    }
    let mut accounts = Vec::with_capacity(count as usize);
    for task in tasks {
        let (connection, opened) = task.await.context("an account-opening task failed")??;
        connections.push(connection);
        accounts.extend(opened);
    }
    Ok(accounts)
}

type Paid = (Vec<Connection>, Histogram<u64>, Duration);

/// Sends `payments` create-and-post payments between random accounts over every connection;
/// gives the connections back with the latency histogram (µs) and the wall time.
async fn pay(
    connections: Vec<Connection>,
    accounts: Arc<[String]>,
    payments: u64,
    seed: u64,
) -> Result<Paid> {
    let remaining = Arc::new(AtomicU64::new(payments));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, mut connection) in connections.into_iter().enumerate() {
        let remaining = remaining.clone();
        let accounts = accounts.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
            let mut histogram = new_histogram()?;
            let n = accounts.len() as u64;
            while take_one(&remaining) {
                let source = rng.below(n) as usize;
                let mut destination = rng.below(n - 1) as usize;
                if destination >= source {
                    destination += 1;
                }
                let cents = 1 + rng.below(100);
                let body = format!(
                    r#"{{"sourceAccountId":"{}","destinationAccountId":"{}","amount":{}.{:02},"currency":"EUR"}}"#,
                    accounts[source],
                    accounts[destination],
                    cents / 100,
                    cents % 100
                );
                let sent = Instant::now();
                let (status, answer) = connection.post("/internal/Payments", body).await?;
                let elapsed = sent.elapsed();
                expect_ok(status, &answer, "a payment")?;
                histogram.saturating_record(elapsed.as_micros().max(1) as u64);
            }
            Ok::<_, anyhow::Error>((connection, histogram))
        }));
    }
    let mut connections = Vec::with_capacity(tasks.len());
    let mut histogram = new_histogram()?;
    for task in tasks {
        let (connection, part) = task.await.context("a payment task failed")??;
        connections.push(connection);
        histogram.add(&part).context("merging latency histograms")?;
    }
    Ok((connections, histogram, started.elapsed()))
}

fn take_one(remaining: &AtomicU64) -> bool {
    remaining
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        })
        .is_ok()
}

fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("creating a latency histogram")
}
