//! `balance`, `history`, `rebuild`, `daily-check`, `export` and `--help`, on copies of the sample.

mod common;

use chrono::{Duration, NaiveDate};
use common::*;
use rusqlite::params;
use rust_decimal::Decimal;
use std::str::FromStr;

/// The balance `balance --as-of` prints.
fn balance_as_of(dir: &std::path::Path, account: &str, as_of: &str) -> Option<Decimal> {
    let run = replay_dir(dir, &["balance", "--account", account, "--as-of", as_of]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    if run.stdout.contains("did not exist") {
        return None;
    }
    let words: Vec<&str> = run.stdout.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "balance")
        .expect("a balance");
    Some(Decimal::from_str(words[at + 1]).expect("a decimal"))
}

#[test]
fn balance_as_of_each_day_end_equals_the_daily_balance_read_model() {
    let dir = sample_copy();
    let conn = sql(&dir.path().join("readmodels.db"));
    let accounts: Vec<String> = expected_balances()
        .iter()
        .filter(|b| b["account_type"] != "FxPosition" || b["currency"] == "EUR")
        .step_by(9)
        .map(|b| b["account_id"].as_str().unwrap().to_string())
        .collect();
    assert!(accounts.len() >= 10);
    let first = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let mut compared = 0;
    for (n, account) in accounts.iter().enumerate() {
        let id = uuid::Uuid::parse_str(account).unwrap();
        // Days spread over the history, different ones for each account, midnights included.
        for k in 0..6 {
            let day = first + Duration::days(((n * 7 + k * 8) % 47) as i64);
            let closing: Option<String> = conn
                .query_row(
                    "SELECT closing FROM daily_balances WHERE account_id = ?1 AND day <= ?2 \
                     ORDER BY day DESC LIMIT 1",
                    params![&id.as_bytes()[..], day.to_string()],
                    |row| row.get(0),
                )
                .ok();
            let expected = closing
                .map(|c| Decimal::from_str(&c).unwrap())
                .unwrap_or_default();
            let found = balance_as_of(dir.path(), account, &day.to_string()).unwrap_or_default();
            assert_eq!(found, expected, "account {account} at the end of {day}");
            compared += 1;
        }
    }
    assert!(compared >= 60);
}

#[test]
fn balance_at_the_end_equals_the_expected_balances() {
    let dir = sample_copy();
    for expected in expected_balances().iter().step_by(13) {
        let account = expected["account_id"].as_str().unwrap();
        let found = balance_as_of(dir.path(), account, "2100-01-01T00:00:00Z");
        assert_eq!(
            found,
            Some(Decimal::from_str(expected["balance"].as_str().unwrap()).unwrap())
        );
    }
}

#[test]
fn history_lists_every_event_with_running_amounts() {
    let dir = sample_copy();
    let expected = expected_balances()
        .into_iter()
        .find(|b| b["account_type"] == "Current")
        .unwrap();
    let account = expected["account_id"].as_str().unwrap();
    let run = replay_dir(
        dir.path(),
        &["history", "--account", account, "--format", "jsonl"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let steps: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(steps.len() > 3);
    assert_eq!(steps[0]["event_type"], "AccountOpened");
    let positions: Vec<u64> = steps
        .iter()
        .map(|s| s["position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    let last = steps.last().unwrap();
    assert_eq!(last["balance"], expected["balance"]);
    assert_eq!(last["held"], expected["held"]);
    assert_eq!(last["available"], expected["available"]);
    // CSV and table carry the same rows; a time window narrows them.
    let csv = replay_dir(
        dir.path(),
        &["history", "--account", account, "--format", "csv"],
    );
    assert_eq!(csv.stdout.lines().count(), steps.len() + 1);
    let table = replay_dir(dir.path(), &["history", "--account", account]);
    assert_eq!(table.stdout.lines().count(), steps.len() + 1);
    let window = replay_dir(
        dir.path(),
        &[
            "history",
            "--account",
            account,
            "--from",
            "2026-09-10",
            "--to",
            "2026-09-20",
            "--format",
            "jsonl",
        ],
    );
    assert!(window.stdout.lines().count() < steps.len());
}

#[test]
fn rebuild_restores_corrupted_read_models() {
    let dir = sample_copy();
    let account = expected_balances()
        .into_iter()
        .find(|b| b["account_type"] == "Current")
        .unwrap()["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = uuid::Uuid::parse_str(&account).unwrap();
    sql(&dir.path().join("readmodels.balances.db"))
        .execute(
            "UPDATE accounts SET credits_posted = '999999', balance = '999999' WHERE account_id = ?1",
            params![&id.as_bytes()[..]],
        )
        .unwrap();
    let ledger = sql(&dir.path().join("readmodels.db"));
    ledger
        .execute(
            "UPDATE daily_balances SET closing = '1.00' WHERE account_id = ?1",
            params![&id.as_bytes()[..]],
        )
        .unwrap();
    ledger
        .execute("DELETE FROM transactions WHERE position > 3000", [])
        .unwrap();
    drop(ledger);
    let broken = replay_dir(dir.path(), &["verify"]);
    assert_eq!(broken.code, 1, "{}", broken.stdout);
    assert!(
        broken.stdout.contains(&format!(
            "MISMATCH balances account={account} field=balance"
        )),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stdout.contains(&format!(
            "MISMATCH daily_balances account={account} field=closing"
        )),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stdout.contains("MISMATCH transactions account="),
        "{}",
        broken.stdout
    );

    let rebuilt = replay_dir(dir.path(), &["rebuild", "--projection", "all"]);
    assert_eq!(rebuilt.code, 0, "{}{}", rebuilt.stdout, rebuilt.stderr);
    assert!(
        rebuilt.stdout.contains("up to position 3311"),
        "{}",
        rebuilt.stdout
    );
    assert!(
        rebuilt.stdout.contains("RESULT passed"),
        "{}",
        rebuilt.stdout
    );
    let again = replay_dir(dir.path(), &["verify"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn daily_check_passes_then_names_a_corrupted_day() {
    let dir = sample_copy();
    for day in ["2026-09-01", "2026-09-17", "2026-10-05", "2026-10-18"] {
        let run = replay_dir(dir.path(), &["daily-check", "--date", day]);
        assert_eq!(run.code, 0, "{day}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("0 failed"), "{}", run.stdout);
        assert!(run.stdout.contains("EUR Σ=0"), "{}", run.stdout);
    }
    let conn = sql(&dir.path().join("readmodels.db"));
    let (account, day): (Vec<u8>, String) = conn
        .query_row(
            "SELECT account_id, day FROM daily_balances WHERE day = '2026-09-17' LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    conn.execute(
        "UPDATE daily_balances SET closing = closing || '1' WHERE account_id = ?1 AND day = ?2",
        params![account, day],
    )
    .unwrap();
    let run = replay_dir(dir.path(), &["daily-check", "--date", "2026-09-17"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let id = uuid::Uuid::from_slice(&account).unwrap();
    assert!(
        run.stdout.contains(&format!(
            "MISMATCH daily_balances account={id} field=closing 2026-09-17"
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 failed"), "{}", run.stdout);
}

#[test]
fn export_writes_every_event() {
    let dir = sample_copy();
    let jsonl = replay_dir(dir.path(), &["export", "--format", "jsonl"]);
    assert_eq!(jsonl.code, 0, "{}", jsonl.stderr);
    assert_eq!(jsonl.stdout.lines().count(), 3311);
    let first: serde_json::Value =
        serde_json::from_str(jsonl.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["global_position"], 1);
    let csv = replay_dir(
        dir.path(),
        &["export", "--format", "csv", "--from-position", "3300"],
    );
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines.len(), 13);
    assert!(lines[0].starts_with("global_position,stream_id"));
    assert!(lines[1].starts_with("3300,"));
}

#[test]
fn every_subcommand_explains_itself_with_an_example() {
    for command in [
        "verify",
        "history",
        "balance",
        "rebuild",
        "daily-check",
        "export",
    ] {
        let run = replay(&[command, "--help"]);
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("Example"), "{command}: {}", run.stdout);
    }
    let run = replay(&["verify"]);
    assert_eq!(run.code, 2, "no log named is an error");
}

#[test]
fn the_log_file_is_only_ever_read() {
    let dir = sample_copy();
    let log = dir.path().join("events.db");
    let before = std::fs::read(&log).unwrap();
    let mut permissions = std::fs::metadata(&log).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&log, permissions).unwrap();
    let account = expected_balances()[0]["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    for args in [
        vec!["verify"],
        vec!["history", "--account", &account],
        vec!["balance", "--account", &account, "--as-of", "2026-10-01"],
        vec!["export", "--format", "csv"],
    ] {
        let run = replay_dir(dir.path(), &args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    }
    assert_eq!(std::fs::read(&log).unwrap(), before);
    for derived in ["events.accounts.db", "events.db-wal", "events.db-shm"] {
        assert!(!dir.path().join(derived).exists(), "{derived} was created");
    }
}
