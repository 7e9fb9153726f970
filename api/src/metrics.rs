//! Prometheus metrics: request counts and latencies by route, the engine's batches and commit
//! time, and the projections' lag — rendered as text on `/metrics`.

use axum::http::Method;
use folio_engine::EngineStats;
use folio_projections::{FoldScope, Projector};
use std::collections::HashMap;
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

/// One route template under one method: answers by status and the latency histogram.
#[derive(Default)]
struct RouteMetrics {
    statuses: Vec<(u16, u64)>,
    latency: RouteLatency,
}

#[derive(Default)]
pub struct Metrics {
    /// method → route template → its metrics. Looked up by `&str`, so recording an answer of a
    /// route seen before allocates nothing and takes one lock.
    routes: Mutex<HashMap<Method, HashMap<String, RouteMetrics>>>,
}

impl Metrics {
    pub fn record(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        if !routes.contains_key(method) {
            routes.insert(method.clone(), HashMap::new());
        }
        let Some(by_route) = routes.get_mut(method) else {
            return;
        };
        if !by_route.contains_key(route) {
            by_route.insert(route.to_string(), RouteMetrics::default());
        }
        let Some(entry) = by_route.get_mut(route) else {
            return;
        };
        match entry.statuses.iter_mut().find(|(seen, _)| *seen == status) {
            Some((_, count)) => *count += 1,
            None => entry.statuses.push((status, 1)),
        }
        let latency = &mut entry.latency;
        let seconds = elapsed.as_secs_f64();
        for (index, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                latency.buckets[index] += 1;
            }
        }
        latency.buckets[BUCKETS.len()] += 1;
        latency.sum_seconds += seconds;
        latency.count += 1;
    }

    /// (method, route) pairs in a stable order, with their metrics.
    fn sorted(
        routes: &HashMap<Method, HashMap<String, RouteMetrics>>,
    ) -> Vec<(&str, &str, &RouteMetrics)> {
        let mut all: Vec<_> = routes
            .iter()
            .flat_map(|(method, by_route)| {
                by_route
                    .iter()
                    .map(move |(route, metrics)| (method.as_str(), route.as_str(), metrics))
            })
            .collect();
        all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        all
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, engine: &EngineStats, projector: &Projector) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP folio_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE folio_http_requests_total counter\n");
        let routes = self.routes.lock().ok();
        let sorted = routes.as_deref().map(Metrics::sorted).unwrap_or_default();
        for (method, route, metrics) in &sorted {
            let mut statuses = metrics.statuses.clone();
            statuses.sort_unstable();
            for (status, count) in statuses {
                let _ = writeln!(
                    out,
                    "folio_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP folio_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE folio_http_request_duration_seconds histogram\n");
        for (method, route, metrics) in &sorted {
            let histogram = &metrics.latency;
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
        drop(routes);
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
