//! One-time-code confirmations: the hashed code, its expiry and attempt limit, and the
//! constant-time check. Codes and salts are made at the API edge; the ledger only ever sees a
//! code's hash when issuing, and a candidate code when verifying.

use crate::ids::{AccountId, ConfirmationId, TransferId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Failed attempts a confirmation allows; the next attempt is refused, even with the right code.
pub const MAX_ATTEMPTS: u32 = 5;

/// A confirmation as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Confirmation {
    pub id: ConfirmationId,
    pub account_id: AccountId,
    /// The transfer it confirms, when it was issued for one.
    pub transfer_id: Option<TransferId>,
    pub operation: String,
    /// Hex SHA-256 of the salt and the code; never the code itself.
    pub code_hash: String,
    pub salt: String,
    pub expires_at: DateTime<Utc>,
    pub failed_attempts: u32,
    /// A verified code is spent: it cannot be used again.
    pub verified: bool,
    /// Revision of the last event on `confirmation-{id}`.
    pub revision: u64,
}

/// A confirmation to issue, as the API edge made it (a random salt, the hash of a random code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewConfirmation {
    pub confirmation_id: ConfirmationId,
    pub code_hash: String,
    pub salt: String,
    /// How long the code is valid from the instant the command is decided at.
    pub valid_for_ms: u64,
}

impl NewConfirmation {
    /// Clears what the server generated (id, salt, hash), leaving what the caller asked for.
    pub fn blank_generated(&mut self) {
        self.confirmation_id = ConfirmationId(uuid::Uuid::nil());
        self.code_hash.clear();
        self.salt.clear();
    }
}

/// The hash stored for `code`: hex SHA-256 of the salt, a separator and the code.
pub fn code_hash(salt: &str, code: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(salt.as_bytes());
    digest.update(b":");
    digest.update(code.as_bytes());
    hex::encode(digest.finalize())
}

/// Compares two byte strings in time that depends only on their lengths, so a caller timing
/// answers learns nothing about how much of a hash matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

impl Confirmation {
    /// Does `code` match the stored hash?
    pub fn matches(&self, code: &str) -> bool {
        constant_time_eq(
            code_hash(&self.salt, code).as_bytes(),
            self.code_hash.as_bytes(),
        )
    }

    /// A code is valid strictly before its expiry: at the expiry instant it is expired.
    pub fn is_expired_at(&self, at: DateTime<Utc>) -> bool {
        at >= self.expires_at
    }
}
