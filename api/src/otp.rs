//! One-time codes at the API edge: made from the operating system's CSPRNG (the ledger stays
//! deterministic and only ever records their salted hash), and delivered through an `OtpSender`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use folio_domain::confirmation::code_hash;
use folio_domain::{AccountId, ConfirmationId, NewConfirmation};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// A code to deliver to the account holder.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OtpMessage {
    pub confirmation_id: ConfirmationId,
    pub account_id: AccountId,
    pub operation: String,
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// Delivers codes (an SMS gateway, an e-mail service …). Called after the confirmation is
/// committed, so a code is never sent for a confirmation the log does not have.
#[async_trait]
pub trait OtpSender: Send + Sync + 'static {
    async fn send(&self, message: &OtpMessage);
}

/// The development sender: writes each code to the server log, and, when an outbox file is
/// configured (`--otp-outbox`, the SMS gateway's simulator), appends it there as a JSON line.
/// Not for production: the log then holds live codes.
pub struct LogOtpSender {
    outbox: Option<Mutex<std::fs::File>>,
}

impl LogOtpSender {
    pub fn new(outbox: Option<PathBuf>) -> std::io::Result<LogOtpSender> {
        let outbox = match outbox {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
            None => None,
        };
        Ok(LogOtpSender { outbox })
    }
}

#[async_trait]
impl OtpSender for LogOtpSender {
    async fn send(&self, message: &OtpMessage) {
        tracing::warn!(
            target: "folio::otp",
            confirmation_id = %message.confirmation_id,
            account_id = %message.account_id,
            operation = %message.operation,
            code = %message.code,
            expires_at = %message.expires_at,
            "DEVELOPMENT OTP SENDER: one-time code in the log (configure a real sender in production)"
        );
        let Some(outbox) = &self.outbox else {
            return;
        };
        let line = match serde_json::to_string(message) {
            Ok(line) => line,
            Err(error) => {
                tracing::error!(%error, "cannot encode a one-time code for the outbox");
                return;
            }
        };
        // A poisoned lock only means another write panicked; the file is still usable.
        let mut file = outbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = writeln!(file, "{line}").and_then(|()| file.flush()) {
            tracing::error!(%error, "cannot write a one-time code to the outbox");
        }
    }
}

/// How codes are made and sent.
#[derive(Clone)]
pub struct OtpConfig {
    /// How long a code stays valid (5 minutes by default).
    pub ttl: Duration,
    pub sender: Arc<dyn OtpSender>,
}

/// A fresh code and the confirmation that records its hash, or an error when the operating
/// system's random source fails.
pub struct IssuedCode {
    pub code: String,
    pub confirmation: NewConfirmation,
}

impl OtpConfig {
    pub fn issue(&self) -> Result<IssuedCode, getrandom::Error> {
        let code = random_code()?;
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)?;
        let salt = hex::encode(salt);
        Ok(IssuedCode {
            confirmation: NewConfirmation {
                confirmation_id: ConfirmationId(Uuid::now_v7()),
                code_hash: code_hash(&salt, &code),
                salt,
                valid_for_ms: u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX),
            },
            code,
        })
    }
}

/// Six decimal digits, uniform: draws above the largest multiple of 10^6 below 2^32 are
/// redrawn, so no code is likelier than another.
fn random_code() -> Result<String, getrandom::Error> {
    const CODES: u32 = 1_000_000;
    let limit = u32::MAX - u32::MAX % CODES;
    loop {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes)?;
        let draw = u32::from_le_bytes(bytes);
        if draw < limit {
            return Ok(format!("{:06}", draw % CODES));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> =
            (0..50).map(|_| random_code().unwrap()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.len() > 40, "50 draws gave only {} codes", codes.len());
    }
}
