//! `export`: the log as CSV or JSON Lines for external tools, every envelope field included.

use crate::error::ReplayError;
use crate::page::Row;
use crate::progress::Progress;
use crate::scan::{Flow, scan};
use crate::source::LogReader;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

const CSV_HEADER: &str = "global_position,stream_id,stream_revision,event_id,event_type,\
schema_version,recorded_at,correlation_id,causation_id,idempotency_key,payload,metadata,hash";

/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Writes every event after `from_position` to `out`; returns how many.
pub async fn export(
    log: LogReader,
    from_position: u64,
    format: ExportFormat,
    out: &mut impl Write,
    quiet: bool,
) -> Result<u64, ReplayError> {
    let head = log.head().await?;
    let mut progress = Progress::new("export", head, quiet);
    if format == ExportFormat::Csv {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let after = from_position.saturating_sub(1);
    let written = scan(log, after, head, false, &mut progress, |visit| {
        let event = visit.record();
        match format {
            ExportFormat::Csv => write_csv(out, &event)?,
            ExportFormat::Jsonl => {
                serde_json::to_writer(&mut *out, &event.to_recorded())
                    .map_err(|error| ReplayError::Io(error.into()))?;
                writeln!(out)?;
            }
        }
        Ok(Flow::Continue)
    })
    .await?;
    out.flush()?;
    progress.finish(head);
    Ok(written)
}

fn write_csv(out: &mut impl Write, e: &Row<'_>) -> Result<(), ReplayError> {
    let uuid = |id: Option<uuid::Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{}",
        e.global_position,
        csv_field(e.stream_id),
        e.stream_revision,
        e.event_id,
        csv_field(e.event_type),
        e.schema_version,
        e.recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        uuid(e.correlation_id),
        uuid(e.causation_id),
        csv_field(e.idempotency_key.unwrap_or_default()),
        csv_field(e.payload),
        csv_field(e.metadata.unwrap_or_default()),
        hex::encode(e.hash)
    )?;
    Ok(())
}
