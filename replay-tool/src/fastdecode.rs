//! A faster decoder for the events a log holds millions of — payment events — for `verify`'s
//! pass. It reads only the exact form `codec::encode` writes (compact JSON, fields in their
//! declared order, no escapes, no optional field present) and hands anything else, byte for byte,
//! to the domain's own `codec::decode`; so it returns what `codec::decode` returns for every
//! payload, only sooner for the common ones. Its values are parsed by the same functions the
//! types' `Deserialize` impls call (`Decimal::from_str` then `from_scientific`,
//! `Currency::from_code`), so no value can come out differently; uuids (the payment's, and two
//! per leg) are read by a reader of their one written form (tested against `Uuid::from_str`).

use folio_domain::codec::{self, CURRENT_SCHEMA_VERSION, DecodeError};
use folio_domain::event::{
    PaymentCancelled, PaymentCreated, PaymentExpired, PaymentPended, PaymentPosted,
};
use folio_domain::{
    AccountId, Currency, EventBody, Leg, PaymentEvent, PaymentId, PaymentStatus, PostedLeg,
};
use rust_decimal::Decimal;
use std::str::FromStr;
use uuid::Uuid;

/// Decodes a stored event exactly as `codec::decode` does.
pub fn decode(
    event_type: &str,
    schema_version: u16,
    payload: &str,
) -> Result<EventBody, DecodeError> {
    if schema_version == CURRENT_SCHEMA_VERSION
        && let Some(body) = fast(event_type, payload)
    {
        return Ok(body);
    }
    codec::decode(event_type, schema_version, payload)
}

/// The body, when `payload` is in the exact form this reader knows; None sends it to the
/// domain's decoder.
fn fast(event_type: &str, payload: &str) -> Option<EventBody> {
    let mut input = Cursor {
        text: payload,
        bytes: payload.as_bytes(),
        at: 0,
    };
    let event = match event_type {
        "PaymentCreated" => {
            input.literal(b"{\"paymentId\":")?;
            let payment_id = PaymentId(input.uuid()?);
            input.literal(b",\"status\":")?;
            let status = match input.string()? {
                "draft" => PaymentStatus::Draft,
                "pending" => PaymentStatus::Pending,
                "posted" => PaymentStatus::Posted,
                "cancelled" => PaymentStatus::Cancelled,
                "expired" => PaymentStatus::Expired,
                _ => return None,
            };
            input.literal(b",\"legs\":")?;
            let legs = input.legs()?;
            let description = input.optional(b",\"description\":")?;
            let external_id = input.optional(b",\"externalId\":")?;
            input.literal(b"}")?;
            PaymentEvent::Created(PaymentCreated {
                payment_id,
                status,
                legs,
                description,
                external_id,
                metadata: None,
                expires_at: None,
            })
        }
        "PaymentPosted" => {
            input.literal(b"{\"paymentId\":")?;
            let payment_id = PaymentId(input.uuid()?);
            input.literal(b",\"legs\":")?;
            let legs = input.posted_legs()?;
            input.literal(b"}")?;
            PaymentEvent::Posted(PaymentPosted { payment_id, legs })
        }
        "PaymentPended" => {
            input.literal(b"{\"paymentId\":")?;
            let payment_id = PaymentId(input.uuid()?);
            input.literal(b",\"legs\":")?;
            let legs = input.legs()?;
            input.literal(b"}")?;
            PaymentEvent::Pended(PaymentPended {
                payment_id,
                legs,
                expires_at: None,
            })
        }
        "PaymentCancelled" => {
            input.literal(b"{\"paymentId\":")?;
            let payment_id = PaymentId(input.uuid()?);
            input.literal(b",\"released\":")?;
            let released = input.legs()?;
            let reason = input.optional(b",\"reason\":")?;
            input.literal(b"}")?;
            PaymentEvent::Cancelled(PaymentCancelled {
                payment_id,
                released,
                reason,
            })
        }
        "PaymentExpired" => {
            input.literal(b"{\"paymentId\":")?;
            let payment_id = PaymentId(input.uuid()?);
            input.literal(b",\"released\":")?;
            let released = input.legs()?;
            input.literal(b"}")?;
            PaymentEvent::Expired(PaymentExpired {
                payment_id,
                released,
            })
        }
        _ => return None,
    };
    input.at_end().then_some(EventBody::Payment(event))
}

/// Each byte's value as a lowercase hex digit, or `NOT_HEX`.
const HEX: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut digit = 0;
    while digit < 10 {
        table[b'0' as usize + digit] = digit as u8;
        digit += 1;
    }
    let mut letter = 0;
    while letter < 6 {
        table[b'a' as usize + letter] = 10 + letter as u8;
        letter += 1;
    }
    table
};
const NOT_HEX: u8 = 0xff;

/// Where the 32 hex digits of a hyphenated uuid lie (hyphens at 8, 13, 18 and 23).
const UUID_DIGITS: [usize; 32] = {
    let mut at = [0; 32];
    let mut digit = 0;
    let mut index = 0;
    while index < 36 {
        if index != 8 && index != 13 && index != 18 && index != 23 {
            at[digit] = index;
            digit += 1;
        }
        index += 1;
    }
    at
};

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lowercase hex, as `Uuid`'s `Display` writes it;
/// None for anything else (which `Uuid::from_str` may still read: the caller falls back).
pub fn canonical_uuid(text: &[u8; 36]) -> Option<Uuid> {
    if text[8] != b'-' || text[13] != b'-' || text[18] != b'-' || text[23] != b'-' {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut bad = 0u8;
    for (byte, pair) in bytes.iter_mut().zip(UUID_DIGITS.chunks_exact(2)) {
        let high = HEX[usize::from(text[pair[0]])];
        let low = HEX[usize::from(text[pair[1]])];
        // Both are at most 0x0f unless one is NOT_HEX: one test for all 32 at the end.
        bad |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    (bad & 0xf0 == 0).then(|| Uuid::from_bytes(bytes))
}

struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        let end = self.at.checked_add(expected.len())?;
        if self.bytes.get(self.at..end)? == expected {
            self.at = end;
            Some(())
        } else {
            None
        }
    }

    fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// A JSON string with no escape and no control character (anything else: None), whose
    /// text is then exactly the string's value.
    fn string(&mut self) -> Option<&'a str> {
        self.literal(b"\"")?;
        let start = self.at;
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        let end = self.at;
        self.at += 1;
        // Cut at ASCII quotes, so on character boundaries of the payload.
        self.text.get(start..end)
    }

    /// An optional text field: `key` and its string, or nothing (Some(None)); None if `key`
    /// is there but not followed by a plain string (`null` included: the domain's decoder
    /// reads that one).
    fn optional(&mut self, key: &[u8]) -> Option<Option<String>> {
        if self.literal(key).is_none() {
            return Some(None);
        }
        self.string().map(|text| Some(text.to_string()))
    }

    /// A uuid in the one form the engine writes (36 characters, lowercase, hyphenated), which
    /// `Uuid`'s `Deserialize` reads as the same value; any other form (uppercase, braced,
    /// simple, urn) sends the payload to the domain's decoder.
    fn uuid(&mut self) -> Option<Uuid> {
        self.literal(b"\"")?;
        let end = self.at.checked_add(36)?;
        let text: &[u8; 36] = self.bytes.get(self.at..end)?.try_into().ok()?;
        let uuid = canonical_uuid(text)?;
        self.at = end;
        self.literal(b"\"")?;
        Some(uuid)
    }

    fn account(&mut self) -> Option<AccountId> {
        self.uuid().map(AccountId)
    }

    /// A decimal as `Decimal`'s `Deserialize` reads one from a string.
    fn decimal(&mut self) -> Option<Decimal> {
        let text = self.string()?;
        Decimal::from_str(text)
            .or_else(|_| Decimal::from_scientific(text))
            .ok()
    }

    /// A currency as `Currency`'s `Deserialize` reads one.
    fn currency(&mut self) -> Option<Currency> {
        Currency::from_code(self.string()?).ok()
    }

    /// `[` items `]`, each read by `item`, comma-separated.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.literal(b"[")?;
        let mut items = Vec::new();
        if self.literal(b"]").is_some() {
            return Some(items);
        }
        loop {
            items.push(item(self)?);
            if self.literal(b"]").is_some() {
                return Some(items);
            }
            self.literal(b",")?;
        }
    }

    fn legs(&mut self) -> Option<Vec<Leg>> {
        self.list(|input| {
            input.literal(b"{\"debit\":")?;
            let debit = input.account()?;
            input.literal(b",\"credit\":")?;
            let credit = input.account()?;
            input.literal(b",\"amount\":")?;
            let amount = input.decimal()?;
            input.literal(b",\"currency\":")?;
            let currency = input.currency()?;
            input.literal(b"}")?;
            Some(Leg {
                debit,
                credit,
                amount,
                currency,
            })
        })
    }

    fn posted_legs(&mut self) -> Option<Vec<PostedLeg>> {
        self.list(|input| {
            input.literal(b"{\"debit\":")?;
            let debit = input.account()?;
            input.literal(b",\"credit\":")?;
            let credit = input.account()?;
            input.literal(b",\"currency\":")?;
            let currency = input.currency()?;
            input.literal(b",\"held\":")?;
            let held = input.decimal()?;
            input.literal(b",\"posted\":")?;
            let posted = input.decimal()?;
            input.literal(b"}")?;
            Some(PostedLeg {
                debit,
                credit,
                currency,
                held,
                posted,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use proptest::prelude::*;
    use rusqlite::{Connection, OpenFlags};

    /// What the domain's decoder gives, as comparable values (errors by their text).
    fn reference(event_type: &str, version: u16, payload: &str) -> Result<EventBody, String> {
        codec::decode(event_type, version, payload).map_err(|error| error.to_string())
    }

    fn ours(event_type: &str, version: u16, payload: &str) -> Result<EventBody, String> {
        decode(event_type, version, payload).map_err(|error| error.to_string())
    }

    #[test]
    fn every_event_of_the_sample_decodes_as_the_domain_decodes_it() {
        // Given the committed sample history (every payment event type, with and without
        // their optional fields, and other aggregates' events)
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sample/events.db");
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let mut statement = conn
            .prepare(
                "SELECT event_type, schema_version, payload FROM events ORDER BY global_position",
            )
            .unwrap();
        let rows: Vec<(String, u16, String)> = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(rows.len() > 3_000);

        // When each is decoded by both readers
        let mut fast_path = std::collections::BTreeMap::<&str, usize>::new();
        for (event_type, version, payload) in &rows {
            // Then they agree on every one
            assert_eq!(
                ours(event_type, *version, payload),
                reference(event_type, *version, payload),
                "{event_type} {payload}"
            );
            if fast(event_type, payload).is_some() {
                *fast_path.entry(event_type.as_str()).or_default() += 1;
            }
            // And on the same payload under a version that does not exist
            assert_eq!(
                ours(event_type, 2, payload),
                reference(event_type, 2, payload)
            );
        }
        // And every payment event type went through the fast reader at least once
        for event_type in [
            "PaymentCreated",
            "PaymentPended",
            "PaymentPosted",
            "PaymentCancelled",
            "PaymentExpired",
        ] {
            assert!(
                fast_path.get(event_type).is_some_and(|n| *n > 0),
                "{event_type}"
            );
        }
    }

    const PAYMENT: &str = r#"{"paymentId":"01a21043-8033-7180-8752-893f392e39d8","status":"posted","legs":[{"debit":"01a21043-7ed3-73f3-8c73-abd0aaba5cac","credit":"01a21043-7ed4-75dc-8950-2adc1192a38f","amount":"4.09","currency":"EUR"}]}"#;

    #[test]
    fn forms_the_fast_reader_does_not_know_go_to_the_domain_decoder() {
        // Given a canonical payment and variants of it the fast reader must not take
        assert!(fast("PaymentCreated", PAYMENT).is_some());
        let variants = [
            PAYMENT.replace("\"4.09\"", "4.09"),
            PAYMENT.replace("\"4.09\"", "\"4.090\""),
            PAYMENT.replace("\"4.09\"", "\"409e-2\""),
            PAYMENT.replace("\"4.09\"", "\"4_09\""),
            PAYMENT.replace("\"4.09\"", "\" 4.09\""),
            PAYMENT.replace("\"4.09\"", "\"-4.09\""),
            PAYMENT.replace("\"4.09\"", "\"\""),
            PAYMENT.replace("\"4.09\"", "null"),
            PAYMENT.replace("EUR", "eur"),
            PAYMENT.replace("EUR", "XXX"),
            PAYMENT.replace("posted", "Posted"),
            PAYMENT.replace("posted", "p\\u006fsted"),
            PAYMENT.replace("01a21043-8033", "01A21043-8033"),
            PAYMENT.replace(
                "01a21043-8033-7180-8752-893f392e39d8",
                "01a2104380337180875289 3f392e39d8",
            ),
            PAYMENT.replace(
                "01a21043-8033-7180-8752-893f392e39d8",
                "01a21043803371808752893f392e39d8",
            ),
            PAYMENT.replace(
                "01a21043-8033-7180-8752-893f392e39d8",
                "{01a21043-8033-7180-8752-893f392e39d8}",
            ),
            PAYMENT.replace(
                "01a21043-8033-7180-8752-893f392e39d8",
                "\\u0030\\u0031a21043-8033-7180-8752-893f392e39d8",
            ),
            PAYMENT.replace("\"status\"", " \"status\""),
            PAYMENT.replace(",\"status\":\"posted\"", ""),
            PAYMENT.replace("]}", "],\"status\":\"posted\"}"),
            PAYMENT.replace("]}", "],\"unknown\":1}"),
            PAYMENT.replace("]}", "],\"description\":null}"),
            PAYMENT.replace("]}", "],\"description\":\"a \\\"quoted\\\" word\"}"),
            PAYMENT.replace("]}", "],\"description\":\"tab\there\"}"),
            PAYMENT.replace("]}", "],\"description\":\"d\",\"externalId\":\"e\"}"),
            PAYMENT.replace("]}", "],\"externalId\":\"e\",\"description\":\"d\"}"),
            PAYMENT.replace("]}", "],\"metadata\":{\"a\":1}}"),
            PAYMENT.replace("]}", "],\"expiresAt\":\"2026-11-25T01:00:00Z\"}"),
            PAYMENT.replace("\"EUR\"}", "\"EUR\",\"extra\":true}"),
            PAYMENT.replace("[{", "[ {"),
            PAYMENT.replace(
                "[{\"debit",
                "[{\"credit\":\"01a21043-7ed4-75dc-8950-2adc1192a38f\",\"debit",
            ),
            PAYMENT.replace("}]}", "},]}"),
            PAYMENT.replace("\"legs\":[", "\"legs\":[],\"x\":["),
            format!("{PAYMENT} "),
            format!("{PAYMENT}}}"),
            PAYMENT[..PAYMENT.len() - 1].to_string(),
            PAYMENT.replace("}]}", "},{}]}"),
            PAYMENT.replace("4.09", "79228162514264337593543950336"),
            PAYMENT.replace("4.09", "1e40"),
        ];
        for variant in &variants {
            // Then each decodes exactly as the domain's decoder decodes it
            assert_eq!(
                ours("PaymentCreated", 1, variant),
                reference("PaymentCreated", 1, variant),
                "{variant}"
            );
        }
        // And an empty payload and an unknown type too
        for (event_type, payload) in [("PaymentCreated", ""), ("PaymentRefunded", PAYMENT)] {
            assert_eq!(
                ours(event_type, 1, payload),
                reference(event_type, 1, payload)
            );
        }
    }

    fn uuid() -> impl Strategy<Value = Uuid> {
        any::<u128>().prop_map(Uuid::from_u128)
    }

    fn amount() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..12).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
    }

    fn currency() -> impl Strategy<Value = Currency> {
        let all: Vec<Currency> = Currency::all().collect();
        proptest::sample::select(all)
    }

    fn leg() -> impl Strategy<Value = Leg> {
        (uuid(), uuid(), amount(), currency()).prop_map(|(debit, credit, amount, currency)| Leg {
            debit: AccountId(debit),
            credit: AccountId(credit),
            amount,
            currency,
        })
    }

    fn posted_leg() -> impl Strategy<Value = PostedLeg> {
        (uuid(), uuid(), currency(), amount(), amount()).prop_map(
            |(debit, credit, currency, held, posted)| PostedLeg {
                debit: AccountId(debit),
                credit: AccountId(credit),
                currency,
                held,
                posted,
            },
        )
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(proptest::string::string_regex("[ -~é€\"\\\\\t\n]{0,12}").unwrap())
    }

    fn expiry() -> impl Strategy<Value = Option<chrono::DateTime<chrono::Utc>>> {
        proptest::option::of(
            (0i64..4_000_000_000, 0u32..1_000_000_000)
                .prop_map(|(seconds, nanos)| DateTime::from_timestamp(seconds, nanos).unwrap()),
        )
    }

    fn status() -> impl Strategy<Value = PaymentStatus> {
        proptest::sample::select(vec![
            PaymentStatus::Draft,
            PaymentStatus::Pending,
            PaymentStatus::Posted,
            PaymentStatus::Cancelled,
            PaymentStatus::Expired,
        ])
    }

    /// Every payment event, with and without its optional fields.
    fn payment_event() -> impl Strategy<Value = EventBody> {
        let legs = || proptest::collection::vec(leg(), 0..4);
        let posted_legs = proptest::collection::vec(posted_leg(), 0..4);
        let metadata = proptest::option::of(Just(serde_json::json!({"k": [1, "v"]})));
        prop_oneof![
            (uuid(), status(), legs(), text(), text(), metadata, expiry()).prop_map(
                |(id, status, legs, description, external_id, metadata, expires_at)| {
                    PaymentEvent::Created(PaymentCreated {
                        payment_id: PaymentId(id),
                        status,
                        legs,
                        description,
                        external_id,
                        metadata,
                        expires_at,
                    })
                }
            ),
            (uuid(), legs(), expiry()).prop_map(|(id, legs, expires_at)| {
                PaymentEvent::Pended(PaymentPended {
                    payment_id: PaymentId(id),
                    legs,
                    expires_at,
                })
            }),
            (uuid(), posted_legs).prop_map(|(id, legs)| {
                PaymentEvent::Posted(PaymentPosted {
                    payment_id: PaymentId(id),
                    legs,
                })
            }),
            (uuid(), legs(), text()).prop_map(|(id, released, reason)| {
                PaymentEvent::Cancelled(PaymentCancelled {
                    payment_id: PaymentId(id),
                    released,
                    reason,
                })
            }),
            (uuid(), legs()).prop_map(|(id, released)| {
                PaymentEvent::Expired(PaymentExpired {
                    payment_id: PaymentId(id),
                    released,
                })
            }),
        ]
        .prop_map(EventBody::Payment)
    }

    /// A payload changed at one place: a byte replaced by, or a text inserted from, the
    /// characters JSON gives meaning to.
    fn mutated(payload: &str, at: usize, cut: bool, with: &str) -> String {
        let mut at = at % (payload.len() + 1);
        while !payload.is_char_boundary(at) {
            at -= 1;
        }
        let mut changed = payload[..at].to_string();
        changed.push_str(with);
        let mut rest = at;
        if cut && rest < payload.len() {
            rest += 1;
            while !payload.is_char_boundary(rest) {
                rest += 1;
            }
        }
        changed.push_str(&payload[rest..]);
        changed
    }

    #[test]
    fn the_canonical_uuid_reader_reads_what_uuid_reads_or_nothing() {
        // Given the written form of some uuids, and texts one character away from it
        let written = "01a21043-8033-7180-8752-893f392e39d8";
        let mut texts = vec![
            written.to_string(),
            Uuid::nil().to_string(),
            Uuid::max().to_string(),
            Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210).to_string(),
        ];
        for at in 0..36 {
            for with in [
                '0', '9', 'a', 'f', 'g', 'A', 'F', '-', ' ', '/', ':', '`', '{', '\u{7f}',
            ] {
                let mut text = written.as_bytes().to_vec();
                text[at] = with as u8;
                texts.push(String::from_utf8(text).unwrap());
            }
        }
        for text in &texts {
            // When both read it
            let ours = canonical_uuid(text.as_bytes().try_into().unwrap());
            let theirs = Uuid::from_str(text).ok();
            // Then ours is theirs, or nothing where the text is not lowercase and hyphenated
            match ours {
                Some(uuid) => assert_eq!(Some(uuid), theirs, "{text}"),
                None => assert!(
                    theirs.is_none() || text.bytes().any(|b| b.is_ascii_uppercase()),
                    "{text}"
                ),
            }
        }
        // And the written form of every uuid is read back as that uuid
        assert_eq!(
            canonical_uuid(written.as_bytes().try_into().unwrap()),
            Uuid::from_str(written).ok()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn every_written_uuid_reads_back(value in any::<u128>()) {
            let uuid = Uuid::from_u128(value);
            let text = uuid.to_string();
            prop_assert_eq!(canonical_uuid(text.as_bytes().try_into().unwrap()), Some(uuid));
        }

        #[test]
        fn payment_events_decode_as_the_domain_decodes_them(body in payment_event()) {
            // Given a payment event as the engine writes it
            let (event_type, version, payload) = codec::encode(&body);

            // When it is read by both readers, Then it is the same event
            prop_assert_eq!(ours(event_type, version, &payload), Ok(body.clone()));
            prop_assert_eq!(reference(event_type, version, &payload), Ok(body));
        }

        #[test]
        fn changed_payloads_decode_as_the_domain_decodes_them(
            body in payment_event(),
            at in any::<usize>(),
            cut in any::<bool>(),
            with in proptest::sample::select(vec![
                "", "\"", "\\", "\\u0030", " ", ",", ":", "{", "}", "[", "]", "0", "9", ".", "-",
                "e", "E", "_", "a", "A", "null", "\"x\":1,", "\t", "é",
            ]),
        ) {
            // Given a payment event's payload changed at one place
            let (event_type, version, payload) = codec::encode(&body);
            let changed = mutated(&payload, at, cut, with);

            // When it is read by both readers, Then they agree (the same event or error)
            prop_assert_eq!(
                ours(event_type, version, &changed),
                reference(event_type, version, &changed)
            );
        }
    }
}
