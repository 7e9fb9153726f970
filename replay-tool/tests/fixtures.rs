//! The generator: the committed sample is exactly what its command writes again, every
//! lifecycle path is in it, and the read models it projects agree with the log.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use folio_replay::fixtures::{FixtureOptions, generate};

fn sample_options() -> FixtureOptions {
    FixtureOptions {
        seed: 42,
        clients: 60,
        operations: 3000,
        chunk: 8,
        start: DateTime::<Utc>::from_timestamp(1_788_242_400, 0).unwrap(), // 2026-09-01T06:00Z
        days: 45,
        snapshot_every: 1000,
        read_models: false,
        time_zone: chrono_tz::Tz::UTC,
    }
}

fn export(dir: &std::path::Path) -> String {
    let run = replay_dir(dir, &["export", "--format", "csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_is_reproduced_byte_for_byte() {
    assert_eq!(
        sample_options().start.to_rfc3339(),
        "2026-09-01T06:00:00+00:00"
    );
    let fresh = tempfile::tempdir().unwrap();
    let summary = generate(fresh.path(), &sample_options()).await.unwrap();
    assert_eq!(summary.events, 3311);
    let copy = sample_copy();
    let committed = export(copy.path());
    assert_eq!(export(fresh.path()), committed);
    // Every lifecycle path is there.
    for event_type in [
        "ClientRegistered",
        "AccountOpened",
        "PaymentCreated",
        "PaymentPended",
        "PaymentPosted",
        "PaymentCancelled",
        "PaymentExpired",
    ] {
        assert!(
            committed.contains(&format!(",{event_type},")),
            "{event_type}"
        );
    }
    for status in ["posted", "pending", "draft"] {
        assert!(
            committed.contains(&format!(r#"""status"":""{status}"""#)),
            "{status}"
        );
    }
    // Partial posts: a posted leg that released more than it moved.
    let partial = committed
        .lines()
        .filter(|line| line.contains(",PaymentPosted,"))
        .any(|line| {
            let held = line
                .split(r#"""held"":"""#)
                .nth(1)
                .and_then(|rest| rest.split('"').next());
            let posted = line
                .split(r#"""posted"":"""#)
                .nth(1)
                .and_then(|rest| rest.split('"').next());
            held != posted
        });
    assert!(partial, "a partial post");
    // Several currencies, FX legs through the position accounts, many days.
    for currency in ["EUR", "USD", "GBP", "JPY", "BHD"] {
        assert!(
            committed.contains(&format!(r#"""currency"":""{currency}"""#)),
            "{currency}"
        );
    }
    let days: std::collections::BTreeSet<&str> = committed
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth(6).map(|at| &at[..10]))
        .collect();
    assert!(days.len() > 40, "{} days", days.len());
}
