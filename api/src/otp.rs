//! One-time codes at the API edge: made from the operating system's CSPRNG (the ledger stays
//! deterministic and only ever records their salted hash), keyed with the server's secret, and
//! delivered through an `OtpSender`.

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
    pub key: OtpKey,
}

/// The server's secret for one-time codes. A six-digit code has only a million values, so a
/// salted hash of it alone falls to anyone who can read the log (auditors, a backup, a
/// replica) in a fraction of a second: the ledger is given `HMAC-SHA256(key, code)` instead of
/// the code, both when a code is issued and when one is checked, and without the key the
/// recorded hash says nothing about the code.
#[derive(Clone)]
pub struct OtpKey([u8; 32]);

/// The longest candidate code keyed: the ledger's limit on any text, so anything longer is
/// handed to it as typed and refused exactly as before (it is too long to be anyone's code).
const MAX_KEYED_CODE_LEN: usize = folio_domain::ledger::MAX_TEXT_LEN;

impl OtpKey {
    pub fn from_bytes(bytes: [u8; 32]) -> OtpKey {
        OtpKey(bytes)
    }

    /// Reads the key (64 hex digits) from `path`, or makes a fresh one there (mode 0600) when
    /// the file does not exist. Servers that share a PostgreSQL database must share the file:
    /// a code issued by one is checked with the same key by another.
    pub fn load_or_create(path: &std::path::Path) -> Result<OtpKey, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(metadata) = std::fs::metadata(path)
                    && metadata.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(
                        file = %path.display(),
                        "the one-time-code key is readable by others than its owner: chmod 600 it"
                    );
                }
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        format!("{}: expected 64 hex digits (a 32-byte key)", path.display())
                    })?;
                Ok(OtpKey(bytes))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes)
                    .map_err(|e| format!("the random source failed: {e}"))?;
                match write_secret(path, &hex::encode(bytes)) {
                    Ok(()) => Ok(OtpKey(bytes)),
                    // Another server made it first: use theirs.
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                        OtpKey::load_or_create(path)
                    }
                    Err(error) => Err(format!("{}: {error}", path.display())),
                }
            }
            Err(error) => Err(format!("{}: {error}", path.display())),
        }
    }

    /// What the ledger is given for `code`: its keyed digest (hex).
    pub fn keyed(&self, code: &str) -> String {
        use hmac::{Hmac, Mac};
        if code.len() > MAX_KEYED_CODE_LEN || code.contains('\0') {
            return code.to_string();
        }
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Writes a new secret file readable by its owner only, durably: a temporary file of this
/// process's own, fsynced, then linked into place — which fails with `AlreadyExists` when
/// another server made the key first, so the file only ever appears whole, and once.
fn write_secret(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut unique = [0u8; 8];
    getrandom::fill(&mut unique).map_err(|error| std::io::Error::other(error.to_string()))?;
    let temporary = path.with_extension(format!(
        "key.{}.{}.tmp",
        std::process::id(),
        hex::encode(unique)
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    let linked = std::fs::hard_link(&temporary, path);
    std::fs::remove_file(&temporary)?;
    linked?;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
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
                code_hash: code_hash(&salt, &self.key.keyed(&code)),
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
    fn a_keyed_code_depends_on_the_key_and_the_code() {
        let key = OtpKey::from_bytes([7; 32]);
        let keyed = key.keyed("123456");
        assert_eq!(keyed.len(), 64);
        assert!(keyed.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(keyed, key.keyed("123456"), "the same code, the same digest");
        assert_ne!(keyed, key.keyed("123457"));
        assert_ne!(keyed, OtpKey::from_bytes([8; 32]).keyed("123456"));
        // Text the ledger refuses anyway is handed over as typed, so it refuses it as before.
        let nul = "12\u{0}456";
        assert_eq!(key.keyed(nul), nul);
        let long = "9".repeat(MAX_KEYED_CODE_LEN + 1);
        assert_eq!(key.keyed(&long), long);
    }

    #[test]
    fn servers_starting_together_end_up_with_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otp.key");
        let keyed: Vec<String> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| OtpKey::load_or_create(&path).unwrap().keyed("123456")))
                .collect();
            starts
                .into_iter()
                .map(|start| start.join().unwrap())
                .collect()
        });
        let on_disk = OtpKey::load_or_create(&path).unwrap().keyed("123456");
        assert!(keyed.iter().all(|one| *one == on_disk), "{keyed:?}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the key is left"
        );
    }

    #[test]
    fn the_key_file_is_made_once_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("otp.key");
        let made = OtpKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner may read the key");
        let again = OtpKey::load_or_create(&path).unwrap();
        assert_eq!(made.keyed("000000"), again.keyed("000000"));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name != "otp.key")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

        std::fs::write(&path, "not hex").unwrap();
        let error = OtpKey::load_or_create(&path)
            .err()
            .expect("a malformed key is refused");
        assert!(error.contains("64 hex digits"), "{error}");
    }

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
