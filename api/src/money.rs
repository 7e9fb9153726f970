//! Amounts on the wire: written as JSON numbers and read from numbers or strings digit for
//! digit, never through a float.

use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::str::FromStr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

/// A decimal amount of money. Serialized as a JSON number with exactly its digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Amount(pub Decimal);

impl From<Decimal> for Amount {
    fn from(value: Decimal) -> Self {
        Amount(value)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A raw JSON number: the decimal's own text, so no digit is lost to a float.
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        parse_amount(raw.get())
            .map(Amount)
            .map_err(D::Error::custom)
    }
}

/// Parses the JSON text of a number (`12.50`, `1e3`) or of a string holding one (`"12.50"`).
fn parse_amount(json: &str) -> Result<Decimal, String> {
    let text: Cow<'_, str> = if json.starts_with('"') {
        Cow::Owned(
            serde_json::from_str::<String>(json)
                .map_err(|_| "expected a decimal number".to_string())?,
        )
    } else {
        Cow::Borrowed(json)
    };
    let text = text.trim();
    let looks_numeric = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    if !looks_numeric {
        return Err(format!("expected a decimal number, found {json}"));
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|_| format!("{text} is not a decimal number Folio can hold exactly"))
}

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .format(Some(SchemaFormat::Custom("decimal".into())))
            .description(Some(
                "An exact decimal amount (a JSON number; a string holding one is accepted too).",
            ))
            .examples([serde_json::json!(125.5)])
            .into()
    }
}

impl ToSchema for Amount {}

impl FromStr for Amount {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_amount(text).map(Amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_strings_parse_exactly() {
        let amount: Amount = serde_json::from_str("0.1").unwrap();
        assert_eq!(amount.0.to_string(), "0.1");
        let amount: Amount = serde_json::from_str("\"12345678901234.57\"").unwrap();
        assert_eq!(amount.0.to_string(), "12345678901234.57");
        let amount: Amount = serde_json::from_str("1e3").unwrap();
        assert_eq!(amount.0, Decimal::from(1000));
        assert!(serde_json::from_str::<Amount>("true").is_err());
        assert!(serde_json::from_str::<Amount>("\"ten\"").is_err());
    }

    #[test]
    fn amounts_are_written_as_json_numbers_with_their_digits() {
        let text = serde_json::to_string(&Amount(Decimal::new(1050, 2))).unwrap();
        assert_eq!(text, "10.50");
    }
}
