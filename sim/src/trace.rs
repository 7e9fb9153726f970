//! What happened, step by step: the last lines for a failure report, and a digest of all of
//! them that two runs of one seed must agree on bit for bit.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many of the last lines a failure report shows.
const KEPT_LINES: usize = 48;

#[derive(Default)]
struct Lines {
    step: u64,
    recent: VecDeque<String>,
    /// FNV-1a over every line ever recorded.
    digest: u64,
    count: u64,
    /// Every line, when asked for (`--trace-out`).
    sink: Option<std::io::BufWriter<std::fs::File>>,
}

/// Shared by the simulation and its fault injectors. Cheap to clone.
#[derive(Clone)]
pub struct Trace {
    lines: Arc<Mutex<Lines>>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            lines: Arc::new(Mutex::new(Lines {
                digest: 0xcbf2_9ce4_8422_2325,
                ..Lines::default()
            })),
        }
    }
}

impl Trace {
    fn lock(&self) -> MutexGuard<'_, Lines> {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Also writes every line to `path`.
    pub fn write_to(&self, path: &std::path::Path) -> std::io::Result<()> {
        let file = std::fs::File::create(path)?;
        self.lock().sink = Some(std::io::BufWriter::new(file));
        Ok(())
    }

    pub fn flush(&self) {
        if let Some(sink) = &mut self.lock().sink {
            use std::io::Write;
            let _ = sink.flush();
        }
    }

    pub fn set_step(&self, step: u64) {
        self.lock().step = step;
    }

    pub fn record(&self, line: impl AsRef<str>) {
        let mut lines = self.lock();
        let line = format!("[{:>8}] {}", lines.step, line.as_ref());
        for byte in line.bytes() {
            lines.digest ^= u64::from(byte);
            lines.digest = lines.digest.wrapping_mul(0x0100_0000_01b3);
        }
        lines.count += 1;
        if let Some(sink) = &mut lines.sink {
            use std::io::Write;
            // A trace file is a debugging aid: losing it must not stop the simulation.
            let _ = writeln!(sink, "{line}");
        }
        if lines.recent.len() == KEPT_LINES {
            lines.recent.pop_front();
        }
        lines.recent.push_back(line);
    }

    /// The digest of every line so far: equal for two runs of one seed.
    pub fn digest(&self) -> u64 {
        self.lock().digest
    }

    pub fn count(&self) -> u64 {
        self.lock().count
    }

    pub fn recent(&self) -> Vec<String> {
        self.lock().recent.iter().cloned().collect()
    }
}
