//! What a check found: one line per mismatch (account, field, expected, found, first position).

use std::fmt;

/// One mismatch between what the log proves and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked: `log`, `snapshot`, `balances`, `daily_balances`, `transactions`, …
    pub area: &'static str,
    /// The account concerned, or the stream for per-stream findings of the log.
    pub subject: Option<String>,
    pub field: String,
    pub expected: String,
    pub found: String,
    /// The first log position where the two diverge, when it is known.
    pub position: Option<u64>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MISMATCH {}", self.area)?;
        match &self.subject {
            // Per-stream findings of the log name the stream; the others an account.
            Some(subject) if self.area == "log" => write!(f, " stream={subject}")?,
            Some(subject) => write!(f, " account={subject}")?,
            None => {}
        }
        write!(
            f,
            " field={} expected={} found={}",
            self.field, self.expected, self.found
        )?;
        match self.position {
            Some(position) => write!(f, " first_position={position}"),
            None => write!(f, " first_position=unknown"),
        }
    }
}

/// A check's summary lines and its findings.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub summary: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn note(&mut self, line: impl Into<String>) {
        self.summary.push(line.into());
    }

    pub fn add(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.summary {
            writeln!(f, "{line}")?;
        }
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        if self.passed() {
            writeln!(f, "RESULT passed")
        } else {
            writeln!(f, "RESULT failed: {} mismatch(es)", self.findings.len())
        }
    }
}
