//! Currencies with their ISO-4217 minor units, and the validation of amounts against them.

use crate::error::LedgerError;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use std::fmt;
use std::str::FromStr;

/// ISO-4217 code and minor units (decimal places) of every currency Folio accepts.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PLN", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// The largest amount one leg may carry. Far above any real payment, far below where sums of
/// many of them could overflow `Decimal` (about 7.9e28).
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// An ISO-4217 currency Folio knows, with its minor units.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

impl Currency {
    /// Looks a code up in the table (upper-case, exactly three letters).
    pub fn from_code(code: &str) -> Result<Currency, LedgerError> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(known, minor_units)| {
                let bytes = known.as_bytes();
                Currency {
                    code: [bytes[0], bytes[1], bytes[2]],
                    minor_units: *minor_units,
                }
            })
            .ok_or_else(|| LedgerError::UnknownCurrency {
                code: code.to_string(),
            })
    }

    /// Every currency Folio accepts, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES
            .iter()
            .filter_map(|(code, _)| Currency::from_code(code).ok())
    }

    pub fn code(&self) -> &str {
        // The table holds ASCII letters only, so this never fails.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Decimal places the currency allows (JPY 0, EUR 2, BHD 3).
    pub fn minor_units(&self) -> u32 {
        u32::from(self.minor_units)
    }

    /// Checks that `amount` is a positive amount this currency can carry: not zero, not negative,
    /// not above `MAX_AMOUNT`, and no more decimals than the currency's minor units.
    pub fn check_amount(&self, amount: Decimal) -> Result<(), LedgerError> {
        let reason = if amount.is_sign_negative() && !amount.is_zero() {
            Some("the amount is negative")
        } else if amount.is_zero() {
            Some("the amount is zero")
        } else if amount > MAX_AMOUNT {
            Some("the amount is above the maximum of 1000000000000000")
        } else if amount.normalize().scale() > self.minor_units() {
            Some("the amount has more decimals than the currency allows")
        } else {
            None
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(LedgerError::InvalidAmount {
                amount,
                currency: *self,
                reason: reason.to_string(),
            }),
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = LedgerError;
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Currency::from_code(code)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::from_code(&code).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn max_amount_is_one_quadrillion() {
        assert_eq!(MAX_AMOUNT, dec!(1000000000000000));
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(Currency::from_code("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::from_code("EUR").unwrap().minor_units(), 2);
        assert_eq!(Currency::from_code("BHD").unwrap().minor_units(), 3);
        assert_eq!(Currency::from_code("KWD").unwrap().minor_units(), 3);
        assert!(Currency::all().count() >= 30);
    }

    #[test]
    fn unknown_or_lower_case_codes_are_rejected() {
        for code in ["eur", "XXX", "EU", "EURO", ""] {
            let err = Currency::from_code(code).unwrap_err();
            assert_eq!(err.code(), "UnknownCurrency", "{code}");
        }
    }

    #[test]
    fn amounts_are_checked_against_minor_units() {
        let eur = Currency::from_code("EUR").unwrap();
        let jpy = Currency::from_code("JPY").unwrap();
        let bhd = Currency::from_code("BHD").unwrap();
        assert!(eur.check_amount(dec!(10.25)).is_ok());
        assert!(
            eur.check_amount(dec!(10.250)).is_ok(),
            "trailing zeros are not precision"
        );
        assert!(eur.check_amount(dec!(10.251)).is_err());
        assert!(jpy.check_amount(dec!(100)).is_ok());
        assert!(jpy.check_amount(dec!(100.5)).is_err());
        assert!(bhd.check_amount(dec!(1.125)).is_ok());
        assert!(bhd.check_amount(dec!(1.1255)).is_err());
        for bad in [dec!(0), dec!(-1), dec!(-0.01), dec!(1000000000000000.01)] {
            let err = eur.check_amount(bad).unwrap_err();
            assert_eq!(err.code(), "InvalidAmount", "{bad}");
        }
    }

    #[test]
    fn currencies_serialize_as_their_code() {
        let eur = Currency::from_code("EUR").unwrap();
        assert_eq!(serde_json::to_string(&eur).unwrap(), "\"EUR\"");
        let back: Currency = serde_json::from_str("\"KWD\"").unwrap();
        assert_eq!(back.minor_units(), 3);
        assert!(serde_json::from_str::<Currency>("\"ABC\"").is_err());
    }
}
