//! Recipients: a client's saved beneficiaries, and the rules their bank details must follow.

use crate::ids::{ClientId, RecipientId};
use crate::money::Currency;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecipientType {
    Individual,
    Company,
}

/// A recipient as the ledger holds it: what a transfer to it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub id: RecipientId,
    pub client_id: ClientId,
    pub name: String,
    /// The IBAN or account number transfers to this recipient are sent to.
    pub account: String,
    pub currency: Currency,
    /// Hidden recipients are not offered for new transfers; their history stays.
    pub is_visible: bool,
    /// Revision of the last event on `recipient-{id}`.
    pub revision: u64,
}

/// ISO-3166-1 alpha-2 codes of the officially assigned countries and territories.
const ISO_3166_ALPHA_2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG \
BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY \
CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ \
GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP \
KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU \
MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK \
TL TM TN TO TR TT TV UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Is `code` an ISO-3166-1 alpha-2 country code (upper case)?
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && ISO_3166_ALPHA_2
            .split_whitespace()
            .any(|known| known == code)
}

/// Does `iban` (upper case, no spaces) pass the ISO 13616 check: its country letters, two check
/// digits and 11 to 30 letters or digits, and the whole, rotated and read as digits, is 1 mod 97?
pub fn is_valid_iban(iban: &str) -> bool {
    if !crate::transfer::is_iban(iban) || !is_country_code(&iban[..2]) {
        return false;
    }
    let rotated = iban[4..].bytes().chain(iban[..4].bytes());
    let mut remainder: u32 = 0;
    for byte in rotated {
        // Letters count as two digits (A = 10 … Z = 35), so fold them in as a number below 100.
        let (value, scale) = match byte {
            b'0'..=b'9' => (u32::from(byte - b'0'), 10),
            b'A'..=b'Z' => (u32::from(byte - b'A') + 10, 100),
            _ => return false,
        };
        remainder = (remainder * scale + value) % 97;
    }
    remainder == 1
}

/// Is `bic` a SWIFT BIC (ISO 9362): 4 letters (bank), a country code, 2 letters or digits
/// (location) and optionally 3 more (branch)?
pub fn is_valid_bic(bic: &str) -> bool {
    let bytes = bic.as_bytes();
    (bytes.len() == 8 || bytes.len() == 11)
        && bytes[..4].iter().all(u8::is_ascii_uppercase)
        && is_country_code(&bic[4..6])
        && bytes[6..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Is `sort_code` a UK sort code: six digits?
pub fn is_valid_sort_code(sort_code: &str) -> bool {
    sort_code.len() == 6 && sort_code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_pass_only_with_their_check_digits() {
        assert!(is_valid_iban("DE89370400440532013000"));
        assert!(is_valid_iban("GB29NWBK60161331926819"));
        assert!(is_valid_iban("FR1420041010050500013M02606"));
        assert!(!is_valid_iban("DE89370400440532013001"));
        assert!(!is_valid_iban("GB28NWBK60161331926819"));
        assert!(!is_valid_iban("XX89370400440532013000"));
        assert!(!is_valid_iban("de89370400440532013000"));
    }

    #[test]
    fn bics_and_countries() {
        assert!(is_valid_bic("DEUTDEFF"));
        assert!(is_valid_bic("NWBKGB2L"));
        assert!(is_valid_bic("DEUTDEFF500"));
        assert!(!is_valid_bic("DEUTXXFF"));
        assert!(!is_valid_bic("DEUT1EFF"));
        assert!(!is_valid_bic("DEUTDEF"));
        assert!(is_country_code("GB") && is_country_code("ZW"));
        assert!(!is_country_code("UK") && !is_country_code("gb"));
    }
}
