//! API keys and roles: who a bearer key is, and which routes each role may call.

use crate::error::ApiError;
use axum::http::Method;
use folio_domain::ClientId;
use std::fmt;
use thiserror::Error;
use uuid::Uuid;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    System,
    /// Reads everything, changes nothing.
    Auditor,
    /// Sees and moves only this client's accounts; no `/internal` route.
    Client(ClientId),
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::System => f.write_str("system"),
            Role::Auditor => f.write_str("auditor"),
            Role::Client(id) => write!(f, "client:{id}"),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeysError {
    #[error("API key entry {entry:?}: {reason}")]
    BadEntry { entry: String, reason: String },
}

/// The configured keys. Empty means the server runs open (loopback only).
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<(String, Role)>,
}

impl ApiKeys {
    /// Parses `key=role` entries separated by commas or new lines; `#` starts a comment line.
    /// Roles: `system`, `auditor`, `client:<uuid>`.
    pub fn parse(text: &str) -> Result<ApiKeys, KeysError> {
        let mut keys = Vec::new();
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for entry in entries {
            let bad = |reason: &str| KeysError::BadEntry {
                // Never echo the secret itself.
                entry: entry
                    .split_once('=')
                    .map_or("<no '='>".to_string(), |(_, role)| format!("…={role}")),
                reason: reason.to_string(),
            };
            let (key, role) = entry
                .split_once('=')
                .ok_or_else(|| bad("expected key=role"))?;
            let key = key.trim();
            if key.len() < 8 {
                return Err(bad("a key needs at least 8 characters"));
            }
            let role = match role.trim() {
                "system" => Role::System,
                "auditor" => Role::Auditor,
                other => match other.strip_prefix("client:") {
                    Some(id) => Role::Client(ClientId(
                        Uuid::parse_str(id.trim()).map_err(|_| bad("client:<uuid> expected"))?,
                    )),
                    None => return Err(bad("the role is system, auditor or client:<uuid>")),
                },
            };
            if keys.iter().any(|(known, _)| known == key) {
                return Err(bad("the same key is listed twice"));
            }
            keys.push((key.to_string(), role));
        }
        Ok(ApiKeys { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The role of `presented`, comparing against every key in constant time per key, so the
    /// answer's timing does not tell how much of a key was right.
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        let mut found = None;
        for (key, role) in &self.keys {
            if constant_time_eq(key.as_bytes(), presented.as_bytes()) {
                found = Some(*role);
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The authenticated caller of a request, put into its extensions by the auth middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
}

impl Caller {
    /// The client whose data this caller is confined to, if any.
    pub fn own_client(&self) -> Option<ClientId> {
        match self.role {
            Role::Client(id) => Some(id),
            _ => None,
        }
    }

    /// May this caller see data of `owner` (None: a bank-internal account)?
    pub fn may_see(&self, owner: Option<ClientId>) -> bool {
        match self.role {
            Role::System | Role::Auditor => true,
            Role::Client(own) => owner == Some(own),
        }
    }

    /// Idempotency keys are per caller, so one client can never learn of another's command by
    /// guessing its key.
    pub fn scoped_key(&self, key: &str) -> String {
        match self.role {
            Role::Client(id) => format!("client:{id}:{key}"),
            Role::System | Role::Auditor => format!("system:{key}"),
        }
    }
}

/// System routes: any path with an `internal` segment (`/internal/…`, `/v2/internal/…`,
/// `/v2/ledger/internal/…`).
pub fn is_internal_route(path: &str) -> bool {
    path.split('/')
        .any(|segment| segment.eq_ignore_ascii_case("internal"))
}

/// POST routes that only read (searches, reports, the dry-run balance calculation and the
/// balance check, which writes nothing and runs one at a time): an auditor may call them.
const READ_ONLY_POSTS: &[&str] = &[
    "/internal/Accounts/calculateBalances",
    "/internal/BackgroundJob/AccountBalanceCheckJob",
    "/v2/ledger/internal/Accounts/search",
    "/v2/ledger/internal/Accounts/by-account-numbers",
    "/internal/Transactions/query",
    "/internal/DailyAccountBalance",
];

/// Does this request change anything?
pub fn is_write(method: &Method, path: &str) -> bool {
    let reads = method == Method::GET || method == Method::HEAD || method == Method::OPTIONS;
    !reads
        && !READ_ONLY_POSTS
            .iter()
            .any(|route| route.eq_ignore_ascii_case(path.trim_end_matches('/')))
}

/// Routes anyone may call without a key: probes, metrics and the API's own description.
pub fn is_public_route(path: &str) -> bool {
    matches!(
        path,
        "/health/live" | "/health/ready" | "/metrics" | "/openapi.json" | "/docs" | "/"
    )
}

/// The role-level decision for a request; per-client data checks happen in the handlers.
pub fn authorize(role: Role, method: &Method, path: &str) -> Result<(), ApiError> {
    match role {
        Role::System => Ok(()),
        Role::Auditor if is_write(method, path) => Err(ApiError::Forbidden(
            "the auditor role may read but not change anything".into(),
        )),
        Role::Auditor => Ok(()),
        Role::Client(_) if is_internal_route(path) => Err(ApiError::Forbidden(
            "a client key may not call system (internal) routes".into(),
        )),
        Role::Client(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_roles_and_reject_bad_entries() {
        let client = Uuid::new_v4();
        let keys = ApiKeys::parse(&format!(
            "sys-key-1=system, aud-key-1=auditor\ncli-key-1=client:{client}"
        ))
        .unwrap();
        assert_eq!(keys.role_of("sys-key-1"), Some(Role::System));
        assert_eq!(keys.role_of("aud-key-1"), Some(Role::Auditor));
        assert_eq!(
            keys.role_of("cli-key-1"),
            Some(Role::Client(ClientId(client)))
        );
        assert_eq!(keys.role_of("sys-key-2"), None);
        assert!(ApiKeys::parse("short=system").is_err());
        assert!(ApiKeys::parse("longenough=root").is_err());
        assert!(ApiKeys::parse("longenough=client:nope").is_err());
        assert!(ApiKeys::parse("# comment\n\n").unwrap().is_empty());
    }

    #[test]
    fn roles_are_confined_to_their_routes() {
        let client = Role::Client(ClientId(Uuid::new_v4()));
        assert!(authorize(client, &Method::GET, "/Accounts").is_ok());
        assert!(authorize(client, &Method::POST, "/internal/Payments").is_err());
        assert!(authorize(client, &Method::GET, "/v2/ledger/internal/Accounts/x").is_err());
        assert!(authorize(Role::Auditor, &Method::POST, "/internal/Transactions/query").is_ok());
        assert!(authorize(Role::Auditor, &Method::POST, "/internal/Payments").is_err());
        assert!(authorize(Role::Auditor, &Method::DELETE, "/Accounts/x").is_err());
        assert!(authorize(Role::System, &Method::POST, "/internal/Payments").is_ok());
    }
}
