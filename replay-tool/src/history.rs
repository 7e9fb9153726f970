//! `history` and `balance`: one account's events in order with the balance, held and available
//! amounts after each, recomputed from the log with the domain's own rules.

use crate::error::ReplayError;
use chrono::{DateTime, Utc};
use folio_domain::{AccountId, Ledger};
use folio_engine::codec::from_recorded;
use folio_store::{EventStore, RecordedEvent};
use rust_decimal::Decimal;
use serde::Serialize;
use std::io::Write;

/// One event of an account's history and the account's amounts right after it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    pub stream_id: String,
    pub stream_revision: u64,
    pub event_type: String,
    pub currency: String,
    pub balance: Decimal,
    pub held: Decimal,
    pub available: Decimal,
    pub payload: serde_json::Value,
}

/// Output formats of `history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Jsonl,
}

/// Every event that touched `account` (read through the account index, which is caught up with
/// the log first), replayed in order; the steps recorded within `[from, to]` are returned.
pub async fn history(
    log: &dyn EventStore,
    account: AccountId,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<Step>, ReplayError> {
    let events = log.read_account(account.0).await?;
    let mut ledger = Ledger::new();
    let mut steps = Vec::new();
    for record in &events {
        let step = apply(&mut ledger, record, account)?;
        let after_from = from.is_none_or(|from| record.recorded_at >= from);
        let before_to = to.is_none_or(|to| record.recorded_at <= to);
        if let Some(step) = step
            && after_from
            && before_to
        {
            steps.push(step);
        }
    }
    if events.is_empty() {
        return Err(ReplayError::Input(format!(
            "the log has no event of account {account}"
        )));
    }
    Ok(steps)
}

/// The account's amounts after every event recorded at or before `until`, and the position of
/// the last of them (None: the account did not exist yet).
pub async fn balance_as_of(
    log: &dyn EventStore,
    account: AccountId,
    until: DateTime<Utc>,
) -> Result<Option<Step>, ReplayError> {
    let events = log.read_account(account.0).await?;
    let mut ledger = Ledger::new();
    let mut last = None;
    for record in events.iter().take_while(|e| e.recorded_at <= until) {
        if let Some(step) = apply(&mut ledger, record, account)? {
            last = Some(step);
        }
    }
    Ok(last)
}

fn apply(
    ledger: &mut Ledger,
    record: &RecordedEvent,
    account: AccountId,
) -> Result<Option<Step>, ReplayError> {
    let event = from_recorded(record).map_err(|error| {
        ReplayError::Input(format!(
            "event {} cannot be decoded: {error}",
            record.global_position
        ))
    })?;
    ledger.apply(&event);
    let Some(state) = ledger.account(account) else {
        return Ok(None);
    };
    Ok(Some(Step {
        position: record.global_position,
        recorded_at: record.recorded_at,
        stream_id: record.stream_id.clone(),
        stream_revision: record.stream_revision,
        event_type: record.event_type.clone(),
        currency: state.currency.code().to_string(),
        balance: state.balance(),
        held: state.held(),
        available: state.available_balance(),
        payload: serde_json::from_str(&record.payload).unwrap_or(serde_json::Value::Null),
    }))
}

/// Writes the steps in `format`.
pub fn write_steps(
    out: &mut impl Write,
    steps: &[Step],
    format: Format,
) -> Result<(), ReplayError> {
    match format {
        Format::Table => {
            writeln!(
                out,
                "{:>10}  {:<27}  {:<18}  {:<3}  {:>18}  {:>18}  {:>18}",
                "position", "recorded_at", "event", "ccy", "balance", "held", "available"
            )?;
            for s in steps {
                writeln!(
                    out,
                    "{:>10}  {:<27}  {:<18}  {:<3}  {:>18}  {:>18}  {:>18}",
                    s.position,
                    s.recorded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    s.event_type,
                    s.currency,
                    s.balance,
                    s.held,
                    s.available
                )?;
            }
        }
        Format::Csv => {
            writeln!(
                out,
                "position,recorded_at,stream_id,stream_revision,event_type,currency,balance,held,available,payload"
            )?;
            for s in steps {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{}",
                    s.position,
                    s.recorded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    crate::export::csv_field(&s.stream_id),
                    s.stream_revision,
                    crate::export::csv_field(&s.event_type),
                    s.currency,
                    s.balance,
                    s.held,
                    s.available,
                    crate::export::csv_field(&s.payload.to_string())
                )?;
            }
        }
        Format::Jsonl => {
            for s in steps {
                serde_json::to_writer(&mut *out, s)
                    .map_err(|error| ReplayError::Io(error.into()))?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
