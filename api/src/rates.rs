//! FX rates: the `RateProvider` trait the FX routes ask for a quote, and its fixed-table implementation.
//!
//! The ledger never asks for a rate (it stays a pure function of its commands): the route asks
//! the provider, puts the quote into the command, and the ledger records it with the transfer.

use async_trait::async_trait;
use chrono::Utc;
use folio_domain::fx::MAX_QUOTE_VALIDITY_MS;
use folio_domain::{Currency, FxQuote};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::str::FromStr;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RateError {
    /// The provider quotes no rate for the pair.
    #[error("no FX rate from {from} to {to}")]
    NoRate { from: Currency, to: Currency },
    /// The provider cannot be reached or answered nonsense.
    #[error("the FX rate provider is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait RateProvider: Send + Sync + 'static {
    /// A quote to convert `from` into `to`: the mid rate and the bank's spread, stamped now.
    async fn quote(&self, from: Currency, to: Currency) -> Result<FxQuote, RateError>;
}

/// Units of each currency one euro buys: illustrative rates of late 2026 for every currency
/// Folio knows, not market data. `--fx-rates` replaces any of them.
const DEFAULT_PER_EUR: &[(&str, &str)] = &[
    ("AED", "4.25"),
    ("AUD", "1.78"),
    ("BGN", "1.95583"),
    ("BHD", "0.436"),
    ("BRL", "6.20"),
    ("CAD", "1.62"),
    ("CHF", "0.93"),
    ("CLP", "1090"),
    ("CNY", "8.25"),
    ("CZK", "24.3"),
    ("DKK", "7.46"),
    ("EUR", "1"),
    ("GBP", "0.88"),
    ("HKD", "9.00"),
    ("HUF", "385"),
    ("IDR", "19300"),
    ("ILS", "3.80"),
    ("INR", "102"),
    ("ISK", "146"),
    ("JOD", "0.82"),
    ("JPY", "178"),
    ("KRW", "1680"),
    ("KWD", "0.355"),
    ("MXN", "21.3"),
    ("MYR", "4.80"),
    ("NOK", "11.7"),
    ("NZD", "2.04"),
    ("OMR", "0.445"),
    ("PHP", "68.0"),
    ("PLN", "4.24"),
    ("RON", "5.09"),
    ("SAR", "4.34"),
    ("SEK", "10.9"),
    ("SGD", "1.50"),
    ("THB", "37.5"),
    ("TND", "3.40"),
    ("TRY", "48.9"),
    ("UAH", "48.5"),
    ("USD", "1.16"),
    ("VND", "30400"),
    ("ZAR", "20.0"),
];

/// Significant digits a cross rate keeps (`per[to] ÷ per[from]` rarely divides evenly).
const RATE_DIGITS: u32 = 10;

/// Default spread: 0.5 % of the source amount.
pub const DEFAULT_SPREAD: &str = "0.005";

/// A fixed table of rates against the euro; every pair is crossed through it.
#[derive(Debug, Clone)]
pub struct FixedRates {
    per_eur: HashMap<Currency, Decimal>,
    spread: Decimal,
    quote_ttl: chrono::Duration,
}

/// How long a quote can be confirmed by default: rates move, and a transfer confirmed later
/// must be quoted again.
pub const DEFAULT_QUOTE_TTL_SECS: u64 = 60;

impl FixedRates {
    pub const PROVIDER: &'static str = "fixed-table";

    /// The default table with `overrides` (`USD=1.25,JPY=160`: units per euro) applied.
    pub fn new(overrides: &str, spread: &str) -> Result<FixedRates, String> {
        let mut per_eur = HashMap::new();
        let defaults = DEFAULT_PER_EUR
            .iter()
            .map(|(code, rate)| (*code, *rate))
            .chain(
                overrides
                    .split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .map(|entry| entry.split_once('=').unwrap_or((entry, ""))),
            );
        for (code, rate) in defaults {
            let currency = Currency::from_code(code.trim()).map_err(|e| e.to_string())?;
            let rate = Decimal::from_str(rate.trim())
                .ok()
                .filter(|rate| *rate > Decimal::ZERO)
                .ok_or_else(|| format!("{code}: {rate:?} is not a positive rate per EUR"))?;
            per_eur.insert(currency, rate);
        }
        let spread = Decimal::from_str(spread.trim())
            .ok()
            .filter(|s| !s.is_sign_negative() && *s < Decimal::ONE)
            .ok_or_else(|| format!("the spread {spread:?} is not a fraction in [0, 1)"))?;
        Ok(FixedRates {
            per_eur,
            spread,
            quote_ttl: chrono::Duration::seconds(DEFAULT_QUOTE_TTL_SECS as i64),
        })
    }

    /// Quotes that can be confirmed for `seconds` (at least 1) after they are given.
    pub fn with_quote_ttl_secs(mut self, seconds: u64) -> Result<FixedRates, String> {
        self.quote_ttl = i64::try_from(seconds)
            .ok()
            // The ledger's own bound on a quote's validity, so a setting it would refuse on
            // every FX transfer is refused at start instead.
            .filter(|seconds| (1..=MAX_QUOTE_VALIDITY_MS / 1000).contains(seconds))
            .map(chrono::Duration::seconds)
            .ok_or_else(|| {
                format!(
                    "a quote lasts 1 to {} seconds, not {seconds}",
                    MAX_QUOTE_VALIDITY_MS / 1000
                )
            })?;
        Ok(self)
    }

    /// Units of `to` one unit of `from` buys, to `RATE_DIGITS` significant digits.
    pub fn rate(&self, from: Currency, to: Currency) -> Option<Decimal> {
        let (from_rate, to_rate) = (self.per_eur.get(&from)?, self.per_eur.get(&to)?);
        let cross = to_rate.checked_div(*from_rate)?;
        Some(cross.round_sf(RATE_DIGITS)?.normalize())
    }
}

#[async_trait]
impl RateProvider for FixedRates {
    async fn quote(&self, from: Currency, to: Currency) -> Result<FxQuote, RateError> {
        let rate = self.rate(from, to).ok_or(RateError::NoRate { from, to })?;
        let quoted_at = Utc::now();
        Ok(FxQuote {
            rate,
            spread: self.spread,
            quoted_at,
            provider: Self::PROVIDER.to_string(),
            expires_at: Some(quoted_at + self.quote_ttl),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::from_code(code).unwrap()
    }

    #[test]
    fn every_known_currency_has_a_default_rate() {
        let table = FixedRates::new("", DEFAULT_SPREAD).unwrap();
        for currency in Currency::all() {
            assert!(table.rate(c("EUR"), currency).is_some(), "{currency}");
        }
    }

    #[test]
    fn pairs_cross_through_the_euro_and_overrides_replace_defaults() {
        let table = FixedRates::new("USD=1.25, JPY=160", "0.01").unwrap();
        assert_eq!(table.rate(c("EUR"), c("USD")).unwrap().to_string(), "1.25");
        assert_eq!(table.rate(c("USD"), c("EUR")).unwrap().to_string(), "0.8");
        assert_eq!(table.rate(c("USD"), c("JPY")).unwrap().to_string(), "128");
        // 1 / 3 keeps ten significant digits.
        let thirds = FixedRates::new("USD=3", "0").unwrap();
        assert_eq!(
            thirds.rate(c("USD"), c("EUR")).unwrap().to_string(),
            "0.3333333333"
        );
    }

    #[test]
    fn bad_tables_are_refused() {
        for (rates, spread) in [
            ("USD=0", "0"),
            ("USD=-1", "0"),
            ("XXX=1", "0"),
            ("USD", "0"),
            ("", "1"),
            ("", "-0.1"),
        ] {
            assert!(FixedRates::new(rates, spread).is_err(), "{rates} {spread}");
        }
    }
}
