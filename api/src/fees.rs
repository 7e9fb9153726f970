//! The transfer fee schedule as configured (`--transfer-fees swift=5,sepaInstant=0.5`).

use folio_domain::FeeSchedule;
use rust_decimal::Decimal;
use std::str::FromStr;

/// The default schedule: SWIFT costs 5 units of the transfer's currency, every other rail is free.
pub const DEFAULT_FEES: &str = "swift=5";

/// Parses `rail=fixed` pairs (rails: internal, sepa, sepaInstant, swift, fasterPayments); a
/// rail not named is free.
pub fn parse_fees(text: &str) -> Result<FeeSchedule, String> {
    let mut schedule = FeeSchedule::default();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (rail, fee) = entry
            .split_once('=')
            .ok_or_else(|| format!("{entry:?}: expected rail=fee"))?;
        let fee = Decimal::from_str(fee.trim())
            .ok()
            .filter(|fee| !fee.is_sign_negative())
            .ok_or_else(|| format!("{entry:?}: the fee is not a non-negative amount"))?;
        let slot = match rail.trim() {
            "internal" => &mut schedule.internal,
            "sepa" => &mut schedule.sepa,
            "sepaInstant" => &mut schedule.sepa_instant,
            "swift" => &mut schedule.swift,
            "fasterPayments" => &mut schedule.faster_payments,
            other => return Err(format!("{other:?} is not a transfer type")),
        };
        *slot = fee;
    }
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_rails_get_their_fee_and_the_rest_are_free() {
        let schedule = parse_fees("swift=5, sepaInstant=0.5").unwrap();
        assert_eq!(schedule.swift.to_string(), "5");
        assert_eq!(schedule.sepa_instant.to_string(), "0.5");
        assert!(schedule.sepa.is_zero() && schedule.internal.is_zero());
        assert_eq!(parse_fees(DEFAULT_FEES).unwrap().swift.to_string(), "5");
        for bad in ["swift", "swift=-1", "wire=1", "swift=abc"] {
            assert!(parse_fees(bad).is_err(), "{bad}");
        }
    }
}
