//! Shared helpers of the replay tool's tests: copies of the committed sample, the real binary,
//! and direct SQL on the copies (the tampering an attacker or a bug would do).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The committed sample (see fixtures/README.md).
pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sample")
}

/// A fresh copy of the sample's database files in a temporary directory.
pub fn sample_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for file in ["events.db", "readmodels.db", "readmodels.balances.db"] {
        std::fs::copy(sample_dir().join(file), dir.path().join(file))
            .unwrap_or_else(|error| panic!("copying {file}: {error}"));
    }
    dir
}

/// The output of the real `folio-replay` binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn replay(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_folio-replay"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("FOLIO_DATA_DIR")
        .output()
        .expect("folio-replay runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn replay_dir(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--data-dir", dir.to_str().expect("a UTF-8 path"), "--quiet"];
    all.extend_from_slice(args);
    replay(&all)
}

pub fn sql(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("the database opens")
}

/// The sample's expected balances: (account id, currency, balance, held, available).
pub fn expected_balances() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(sample_dir().join("expected-balances.json"))
        .expect("expected-balances.json");
    serde_json::from_str(&text).expect("expected balances are JSON")
}

/// Asserts that `verify` failed (exit 1, `RESULT failed`) and that its report names each of
/// `needles`.
pub fn assert_fails_at(run: &Run, needles: &[impl AsRef<str>]) {
    assert_eq!(
        run.code, 1,
        "verify must fail:\n{}{}",
        run.stdout, run.stderr
    );
    assert!(run.stdout.contains("RESULT failed"), "{}", run.stdout);
    for needle in needles {
        let needle = needle.as_ref();
        assert!(
            run.stdout.contains(needle),
            "the report must name {needle:?}:\n{}",
            run.stdout
        );
    }
}
