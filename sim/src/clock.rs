//! Simulated time: tokio's paused clock, which the simulation moves forward step by step, plus
//! a skew that the clock faults jump forward and backward.

use chrono::{DateTime, Duration, Utc};
use folio_engine::Clock;
use std::sync::atomic::{AtomicI64, Ordering};

pub struct SimClock {
    origin: DateTime<Utc>,
    started: tokio::time::Instant,
    skew_micros: AtomicI64,
}

impl SimClock {
    /// Must be created inside the simulation's (paused) runtime.
    pub fn new(origin: DateTime<Utc>) -> SimClock {
        SimClock {
            origin,
            started: tokio::time::Instant::now(),
            skew_micros: AtomicI64::new(0),
        }
    }

    /// Moves the wall clock by `micros` (negative: backward), as an NTP step would.
    pub fn jump(&self, micros: i64) {
        self.skew_micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.started;
        let elapsed = Duration::from_std(elapsed).unwrap_or(Duration::zero());
        self.origin + elapsed + Duration::microseconds(self.skew_micros.load(Ordering::SeqCst))
    }
}
