//! Progress of long work: an indicatif bar with rate and ETA on a terminal, plain lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Progress another task reads while the work runs (a background job's status).
#[derive(Debug, Default)]
pub struct SharedProgress {
    pub done: AtomicU64,
    pub total: AtomicU64,
}

impl SharedProgress {
    /// (events done, events total).
    pub fn get(&self) -> (u64, u64) {
        let done = self.done.load(Ordering::Relaxed);
        (done, self.total.load(Ordering::Relaxed).max(done))
    }
}

/// Reports how many of `total` events are done.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    started: Instant,
    last_line: Instant,
    quiet: bool,
    shared: Option<Arc<SharedProgress>>,
}

/// How often a plain progress line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(2);

impl Progress {
    /// A bar on a terminal, plain lines on stderr otherwise, nothing when `quiet`.
    pub fn new(label: &str, total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg} [{bar:40}] {human_pos}/{human_len} events, {per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(label.to_string());
            bar
        });
        Progress {
            bar,
            label: label.to_string(),
            total,
            started: Instant::now(),
            last_line: Instant::now(),
            quiet,
            shared: None,
        }
    }

    /// No output: the figures go to `shared` for another task to read.
    pub fn shared(label: &str, total: u64, shared: Arc<SharedProgress>) -> Progress {
        shared.total.store(total, Ordering::Relaxed);
        Progress {
            shared: Some(shared),
            ..Progress::new(label, total, true)
        }
    }

    pub fn set(&mut self, done: u64) {
        if let Some(shared) = &self.shared {
            shared.done.store(done, Ordering::Relaxed);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        } else if !self.quiet && self.last_line.elapsed() >= LINE_EVERY {
            self.last_line = Instant::now();
            eprintln!("{}", self.line(done));
        }
    }

    fn line(&self, done: u64) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = done as f64 / seconds;
        let left = self.total.saturating_sub(done) as f64 / rate.max(1e-9);
        format!(
            "{}: {done}/{} events, {rate:.0} events/s, ETA {left:.0} s",
            self.label, self.total
        )
    }

    /// Ends the bar (or prints the last line) and returns the elapsed time.
    pub fn finish(&self, done: u64) -> Duration {
        if let Some(shared) = &self.shared {
            shared.done.store(done, Ordering::Relaxed);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.finish_and_clear();
        } else if !self.quiet {
            eprintln!("{}", self.line(done));
        }
        self.started.elapsed()
    }
}
