//! Documents kept for a client or a transfer: their owner, type, the content types Folio accepts
//! (checked against the file's own first bytes) and the rules a file name must follow.

use crate::ids::{ClientId, DocumentId, TransferId};
use serde::{Deserialize, Serialize};

/// Longest file name kept, in bytes (the common file-system limit).
pub const MAX_FILE_NAME_LEN: usize = 255;

/// What a document is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum DocumentType {
    /// A passport, identity card or driving licence (KYC).
    Identity,
    /// A utility bill or bank statement showing an address (KYC).
    ProofOfAddress,
    /// Certificate of incorporation, register extract (KYB).
    CompanyRegistration,
    /// An invoice or contract backing a payment.
    Invoice,
    Contract,
    Other,
}

/// Whose document it is. A transfer's documents (an invoice behind a payment) belong to the
/// transfer, which belongs to the client of its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "camelCase")]
pub enum DocumentOwner {
    Client(ClientId),
    Transfer(TransferId),
}

/// The content types Folio keeps. Anything else is refused: a bank stores what it can show an
/// auditor, not arbitrary executables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentKind {
    Pdf,
    Png,
    Jpeg,
    PlainText,
}

impl ContentKind {
    pub const ALL: [ContentKind; 4] = [
        ContentKind::Pdf,
        ContentKind::Png,
        ContentKind::Jpeg,
        ContentKind::PlainText,
    ];

    /// The canonical media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ContentKind::Pdf => "application/pdf",
            ContentKind::Png => "image/png",
            ContentKind::Jpeg => "image/jpeg",
            ContentKind::PlainText => "text/plain",
        }
    }

    /// The kind a declared `Content-Type` names (parameters and case ignored; `image/jpg` is a
    /// common misspelling of `image/jpeg`), or None when Folio does not accept it.
    pub fn from_media_type(declared: &str) -> Option<ContentKind> {
        let essence = declared
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/pdf" => Some(ContentKind::Pdf),
            "image/png" => Some(ContentKind::Png),
            "image/jpeg" | "image/jpg" => Some(ContentKind::Jpeg),
            "text/plain" => Some(ContentKind::PlainText),
            _ => None,
        }
    }

    /// How many leading bytes `matches_start` needs.
    pub const SNIFF_LEN: usize = 8;

    /// Do a file's first bytes (at least `SNIFF_LEN`, or the whole file if shorter) look like
    /// this kind? Text has no signature: it is checked byte by byte by [`TextCheck`].
    pub fn matches_start(self, start: &[u8]) -> bool {
        match self {
            ContentKind::Pdf => start.starts_with(b"%PDF-"),
            ContentKind::Png => start.starts_with(b"\x89PNG\r\n\x1a\n"),
            ContentKind::Jpeg => start.starts_with(&[0xFF, 0xD8, 0xFF]),
            ContentKind::PlainText => true,
        }
    }

    /// The kind a file's first bytes announce, for a part sent without a usable Content-Type.
    pub fn sniff(start: &[u8]) -> Option<ContentKind> {
        [ContentKind::Pdf, ContentKind::Png, ContentKind::Jpeg]
            .into_iter()
            .find(|kind| kind.matches_start(start))
    }
}

/// Checks, chunk by chunk as a file arrives, that it is UTF-8 text without NUL or other control
/// characters (tab, line feed, carriage return and form feed excepted).
#[derive(Debug, Default)]
pub struct TextCheck {
    /// The bytes of a character split across two chunks.
    carry: Vec<u8>,
    failed: bool,
}

impl TextCheck {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed {
            return;
        }
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let valid = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            // An incomplete character at the end: keep its bytes for the next chunk.
            Err(error) if error.error_len().is_none() => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                self.carry = rest.to_vec();
                // `valid_up_to` marks a char boundary, so this cannot fail.
                std::str::from_utf8(valid).unwrap_or_default()
            }
            Err(_) => {
                self.failed = true;
                return;
            }
        };
        if valid
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
        {
            self.failed = true;
        }
    }

    /// Whether everything fed was text (and no character was left unfinished).
    pub fn is_text(&self) -> bool {
        !self.failed && self.carry.is_empty()
    }
}

/// A document as the ledger keeps it: enough to decide uploads and deletions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub id: DocumentId,
    pub owner: DocumentOwner,
    pub sha256: String,
    pub deleted: bool,
    pub revision: u64,
}

/// Why a file name is refused, or None when it may be kept as given. The name is only ever
/// shown (the bytes are stored under their SHA-256), but it goes back out in a
/// Content-Disposition header and into auditors' exports, so it must be a plain name.
pub fn file_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.trim().is_empty() {
        return Some("the file name is empty");
    }
    if name.len() > MAX_FILE_NAME_LEN {
        return Some("the file name is longer than 255 bytes");
    }
    if name.chars().any(char::is_control) {
        return Some("the file name contains control characters");
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Some("the file name is a path, not a name");
    }
    None
}

/// A file name as a client's software sends it made safe to keep: only the last path segment
/// (browsers on Windows send `C:\…\name.pdf`), control characters dropped, trimmed, cut to 255
/// bytes on a character boundary. None when nothing usable is left.
pub fn sanitize_file_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let mut name = cleaned.trim().to_string();
    if name.len() > MAX_FILE_NAME_LEN {
        let mut end = MAX_FILE_NAME_LEN;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    (file_name_problem(&name).is_none()).then_some(name)
}

/// Is `text` a SHA-256 digest in lower-case hex?
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_to_their_last_segment_and_cleaned() {
        assert_eq!(
            sanitize_file_name("C:\\Users\\me\\passport.pdf").as_deref(),
            Some("passport.pdf")
        );
        assert_eq!(
            sanitize_file_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            sanitize_file_name("a\u{0}b\n.txt").as_deref(),
            Some("ab.txt")
        );
        assert_eq!(sanitize_file_name(".."), None);
        assert_eq!(sanitize_file_name("dir/"), None);
        let long = "é".repeat(200);
        let cut = sanitize_file_name(&long).unwrap();
        assert!(cut.len() <= MAX_FILE_NAME_LEN && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn text_is_checked_across_chunks() {
        let mut check = TextCheck::default();
        let text = "façade\n".as_bytes();
        check.feed(&text[..3]);
        check.feed(&text[3..]);
        assert!(check.is_text());
        let mut binary = TextCheck::default();
        binary.feed(b"ab\0c");
        assert!(!binary.is_text());
        let mut cut = TextCheck::default();
        cut.feed(&"é".as_bytes()[..1]);
        assert!(!cut.is_text());
    }

    #[test]
    fn magic_bytes_decide_the_kind() {
        assert!(ContentKind::Pdf.matches_start(b"%PDF-1.7\n"));
        assert!(!ContentKind::Pdf.matches_start(b"MZ\x90\0"));
        assert_eq!(
            ContentKind::sniff(b"\x89PNG\r\n\x1a\n"),
            Some(ContentKind::Png)
        );
        assert_eq!(
            ContentKind::from_media_type("Image/JPEG; q=1"),
            Some(ContentKind::Jpeg)
        );
        assert_eq!(
            ContentKind::from_media_type("application/x-msdownload"),
            None
        );
    }
}
