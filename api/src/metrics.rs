//! Prometheus metrics: request counts and latencies by route, the engine's batches and commit
//! time, and the projections' lag — rendered as text on `/metrics`.

use folio_engine::EngineStats;
use folio_projections::{FoldScope, Projector};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct RouteLatency {
    /// Cumulative counts per bucket, plus the +Inf bucket last.
    buckets: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    /// (method, route, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (method, route) → latency histogram.
    latency: Mutex<BTreeMap<(String, String), RouteLatency>>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let entry = latency
                .entry((method.to_string(), route.to_string()))
                .or_default();
            let seconds = elapsed.as_secs_f64();
            for (index, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    entry.buckets[index] += 1;
                }
            }
            entry.buckets[BUCKETS.len()] += 1;
            entry.sum_seconds += seconds;
            entry.count += 1;
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, engine: &EngineStats, projector: &Projector) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP folio_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE folio_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((method, route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "folio_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP folio_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE folio_http_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for ((method, route), histogram) in latency.iter() {
                let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
                for (index, bound) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "folio_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                        histogram.buckets[index]
                    );
                }
                let _ = writeln!(
                    out,
                    "folio_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    histogram.buckets[BUCKETS.len()]
                );
                let _ = writeln!(
                    out,
                    "folio_http_request_duration_seconds_sum{{{labels}}} {}",
                    histogram.sum_seconds
                );
                let _ = writeln!(
                    out,
                    "folio_http_request_duration_seconds_count{{{labels}}} {}",
                    histogram.count
                );
            }
        }
        let counters = [
            (
                "folio_engine_commands_accepted_total",
                "Commands the ledger accepted.",
                &engine.commands_accepted,
            ),
            (
                "folio_engine_commands_rejected_total",
                "Commands the ledger refused.",
                &engine.commands_rejected,
            ),
            (
                "folio_engine_batches_committed_total",
                "Batches committed (group commits).",
                &engine.batches_committed,
            ),
            (
                "folio_engine_events_committed_total",
                "Events committed to the log.",
                &engine.events_committed,
            ),
            (
                "folio_engine_commit_failures_total",
                "Batches whose commit failed.",
                &engine.commit_failures,
            ),
            (
                "folio_engine_reloads_total",
                "Times the writer reloaded its state from the log.",
                &engine.reloads,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        let commit_seconds = engine.commit_micros_total.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP folio_engine_commit_seconds_total Time spent committing batches; divide by \
             folio_engine_batches_committed_total for the mean commit latency.\n\
             # TYPE folio_engine_commit_seconds_total counter\nfolio_engine_commit_seconds_total {commit_seconds}"
        );
        out.push_str(
            "# HELP folio_projection_position Last log position applied, by read model.\n",
        );
        out.push_str("# TYPE folio_projection_position gauge\n");
        for (name, scope) in SCOPES {
            let _ = writeln!(
                out,
                "folio_projection_position{{scope=\"{name}\"}} {}",
                projector.scope_position(scope)
            );
        }
        out.push_str(
            "# HELP folio_projection_lag_events Events the read model is behind the log.\n",
        );
        out.push_str("# TYPE folio_projection_lag_events gauge\n");
        for (name, scope) in SCOPES {
            let _ = writeln!(
                out,
                "folio_projection_lag_events{{scope=\"{name}\"}} {}",
                projector.lag(scope)
            );
        }
        out
    }
}

const SCOPES: [(&str, FoldScope); 2] = [
    ("balances", FoldScope::Balances),
    ("ledger", FoldScope::Ledger),
];

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}
