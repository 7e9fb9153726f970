//! FX arithmetic: a quote's terms and the amounts they give, rounded by the rules documented in README.md ("FX transfers").
//!
//! The ledger never asks for a rate: the caller takes a quote from its rate provider and passes
//! it in with the command, so deciding stays a pure function and the quote is recorded as given.

use crate::error::LedgerError;
use crate::money::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Highest rate a quote may carry (units of the destination per unit of the source); far above
/// any real pair (IDR per KWD is about 55,000), low enough that no amount times it overflows.
pub const MAX_RATE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// The longest a quote may be valid for: a day.
pub const MAX_QUOTE_VALIDITY_MS: i64 = 86_400_000;

/// A rate provider's quote for one currency pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FxQuote {
    /// Units of the destination currency one unit of the source buys (the mid rate).
    pub rate: Decimal,
    /// The bank's margin as a fraction of the source amount (0.005 = 0.5 %), charged on top
    /// of it to the bank's fee account.
    pub spread: Decimal,
    pub quoted_at: DateTime<Utc>,
    /// Who gave the rate (the provider's name).
    pub provider: String,
    /// The last instant the quote can be confirmed at: rates move, so a transfer confirmed later
    /// is refused (`FxQuoteExpired`) and must be quoted again. Absent in quotes recorded before
    /// quotes expired: those never do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// What an FX transfer moves: `source` leaves the client's source account for the source FX
/// position, `fee` (the spread) for the fee account, `destination` arrives from the
/// destination FX position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FxAmounts {
    pub source: Decimal,
    pub destination: Decimal,
    pub fee: Decimal,
}

fn invalid(reason: impl Into<String>) -> LedgerError {
    LedgerError::InvalidCommand {
        reason: reason.into(),
    }
}

/// Half a minor unit rounds up (away from zero: every amount here is positive), as EU
/// Regulation 1103/97 rounds currency conversions and as a customer checks by hand.
pub fn round_half_up(amount: Decimal, currency: Currency) -> Decimal {
    amount.round_dp_with_strategy(
        currency.minor_units(),
        RoundingStrategy::MidpointAwayFromZero,
    )
}

/// Any fraction of a minor unit rounds up: for amounts the bank derives in its own favour.
fn round_up(amount: Decimal, currency: Currency) -> Decimal {
    amount.round_dp_with_strategy(currency.minor_units(), RoundingStrategy::ToPositiveInfinity)
}

fn too_large(currency: Currency) -> LedgerError {
    LedgerError::InvalidAmount {
        amount: crate::money::MAX_AMOUNT,
        currency,
        reason: "the converted amount is above the maximum of 1000000000000000".to_string(),
    }
}

/// Checks the quote's terms: a positive rate up to `MAX_RATE`, a spread in [0, 1), a provider
/// name of 1 to 64 characters without NUL.
pub fn check_quote(quote: &FxQuote) -> Result<(), LedgerError> {
    if quote.rate <= Decimal::ZERO || quote.rate > MAX_RATE {
        return Err(invalid(format!(
            "the rate {} is not between 0 (excluded) and {MAX_RATE}",
            quote.rate
        )));
    }
    if quote.spread.is_sign_negative() && !quote.spread.is_zero() || quote.spread >= Decimal::ONE {
        return Err(invalid(format!(
            "the spread {} is not a fraction in [0, 1)",
            quote.spread
        )));
    }
    if let Some(expires_at) = quote.expires_at
        && expires_at <= quote.quoted_at
    {
        return Err(invalid(format!(
            "the quote expires ({expires_at}) no later than it was given ({})",
            quote.quoted_at
        )));
    }
    if quote.provider.is_empty() || quote.provider.len() > 64 || quote.provider.contains('\0') {
        return Err(invalid("the rate provider's name has 1 to 64 characters"));
    }
    Ok(())
}

/// The amounts of an FX transfer from exactly one of the two amounts:
/// - from the source: `destination = source × rate`, rounded half-up to the destination's
///   minor units;
/// - from the destination: `source = destination ÷ rate`, rounded *up* to the source's minor
///   units (the bank's favour: the client never receives more than it paid for);
///
/// and `fee = source × spread`, rounded half-up to the source's minor units (0: no fee leg).
/// An amount that rounds to zero, or grows past the maximum, is refused with `InvalidAmount`.
pub fn fx_amounts(
    source_amount: Option<Decimal>,
    destination_amount: Option<Decimal>,
    source_currency: Currency,
    destination_currency: Currency,
    quote: &FxQuote,
) -> Result<FxAmounts, LedgerError> {
    check_quote(quote)?;
    let (source, destination) = match (source_amount, destination_amount) {
        (Some(source), None) => {
            source_currency.check_amount(source)?;
            let exact = source
                .checked_mul(quote.rate)
                .ok_or_else(|| too_large(destination_currency))?;
            (source, round_half_up(exact, destination_currency))
        }
        (None, Some(destination)) => {
            destination_currency.check_amount(destination)?;
            let exact = destination
                .checked_div(quote.rate)
                .ok_or_else(|| too_large(source_currency))?;
            (round_up(exact, source_currency), destination)
        }
        _ => {
            return Err(invalid(
                "give exactly one of the source amount and the destination amount",
            ));
        }
    };
    source_currency.check_amount(source)?;
    destination_currency.check_amount(destination)?;
    let fee = round_half_up(source * quote.spread, source_currency);
    if !fee.is_zero() {
        source_currency.check_amount(fee)?;
    }
    Ok(FxAmounts {
        source,
        destination,
        fee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn c(code: &str) -> Currency {
        Currency::from_code(code).unwrap()
    }

    fn quote(rate: &str, spread: &str) -> FxQuote {
        FxQuote {
            rate: d(rate),
            spread: d(spread),
            quoted_at: DateTime::from_timestamp(1_750_000_000, 0).unwrap(),
            provider: "fixed-table".into(),
            expires_at: None,
        }
    }

    #[test]
    fn a_half_minor_unit_rounds_up_and_less_rounds_down() {
        // 10.005 USD exactly: half a cent rounds up (banker's rounding would give 10.00).
        let amounts = fx_amounts(
            Some(d("8.004")),
            None,
            c("BHD"),
            c("USD"),
            &quote("1.25", "0"),
        );
        assert_eq!(amounts.unwrap().destination, d("10.01"));
        let amounts = fx_amounts(
            Some(d("8.003")),
            None,
            c("BHD"),
            c("USD"),
            &quote("1.25", "0"),
        );
        assert_eq!(
            amounts.unwrap().destination,
            d("10.00"),
            "10.00375 rounds down"
        );
        // JPY has no minor units: 160 × 0.01 = 1.6 yen → 2.
        let amounts = fx_amounts(
            Some(d("0.01")),
            None,
            c("EUR"),
            c("JPY"),
            &quote("160", "0"),
        );
        assert_eq!(amounts.unwrap().destination, d("2"));
        // 3 decimals for BHD: 1 EUR × 0.4365 = 0.4365 → 0.437 (half up), not 0.436.
        let amounts = fx_amounts(
            Some(d("1")),
            None,
            c("EUR"),
            c("BHD"),
            &quote("0.4365", "0"),
        );
        assert_eq!(amounts.unwrap().destination, d("0.437"));
    }

    #[test]
    fn a_destination_amount_gives_a_source_rounded_up() {
        // 100 USD at 1.25 is exactly 80 EUR; at 1.3 it is 76.923… EUR → 76.93 (half-up: 76.92).
        let exact = fx_amounts(
            None,
            Some(d("100")),
            c("EUR"),
            c("USD"),
            &quote("1.25", "0"),
        );
        let exact = exact.unwrap();
        assert_eq!((exact.source, exact.destination), (d("80.00"), d("100")));
        let q = quote("1.3", "0");
        let up = fx_amounts(None, Some(d("100")), c("EUR"), c("USD"), &q).unwrap();
        assert_eq!((up.source, up.destination), (d("76.93"), d("100")));
        assert!(
            up.source * q.rate >= up.destination,
            "the client pays enough"
        );
    }

    #[test]
    fn the_spread_is_a_share_of_the_source_rounded_half_up() {
        let q = quote("1.25", "0.005");
        let amounts = fx_amounts(Some(d("100")), None, c("EUR"), c("USD"), &q).unwrap();
        assert_eq!(amounts.fee, d("0.50"));
        // 0.5 % of 1.01 is 0.00505 → 0.01; of 0.99 is 0.00495 → 0.00: no fee.
        let small = fx_amounts(Some(d("1.01")), None, c("EUR"), c("USD"), &q).unwrap();
        assert_eq!(small.fee, d("0.01"));
        let tiny = fx_amounts(Some(d("0.99")), None, c("EUR"), c("USD"), &q).unwrap();
        assert_eq!(tiny.fee, d("0"));
    }

    #[test]
    fn amounts_that_vanish_or_explode_are_refused() {
        // 1 yen at 0.0004 is 0.0004 BHD: zero at 3 decimals.
        let vanishing = fx_amounts(
            Some(d("1")),
            None,
            c("JPY"),
            c("BHD"),
            &quote("0.0004", "0"),
        );
        assert_eq!(vanishing.unwrap_err().code(), "InvalidAmount");
        let huge = fx_amounts(
            Some(d("1000000000000000")),
            None,
            c("EUR"),
            c("IDR"),
            &quote("19300", "0"),
        );
        assert_eq!(huge.unwrap_err().code(), "InvalidAmount");
        for (source, destination) in [(None, None), (Some(d("1")), Some(d("1")))] {
            let both = fx_amounts(source, destination, c("EUR"), c("USD"), &quote("1.1", "0"));
            assert_eq!(both.unwrap_err().code(), "InvalidCommand");
        }
    }

    #[test]
    fn a_quote_outside_its_bounds_is_refused() {
        for (rate, spread) in [
            ("0", "0"),
            ("-1", "0"),
            ("1000000001", "0"),
            ("1", "1"),
            ("1", "-0.1"),
        ] {
            let refused = fx_amounts(Some(d("1")), None, c("EUR"), c("USD"), &quote(rate, spread));
            assert_eq!(
                refused.unwrap_err().code(),
                "InvalidCommand",
                "{rate} {spread}"
            );
        }
    }
}
