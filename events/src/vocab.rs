//! The store's words for what a purchase is made of, as types that can only hold valid values.
//!
//! A [`ProductName`], a [`Quantity`], a [`RequestId`] and an [`OrderNumber`] are checked once,
//! where text from outside first becomes one of them (`TryFrom`, `FromStr`, or serde when a
//! body is read); every hop after that carries the typed value and checks nothing again. A
//! value that does not fit is an [`InvalidInput`], whose text is the one message every
//! service gives for it (API.md's wording).
//!
//! On the wire and in the logs each type is exactly its plain value (a string or an
//! integer): written as its text or number, read through `String`/`u32`/`u64` and its rule,
//! so postcard and JSON bytes are those of the untyped fields they replace, and logs written
//! before these types existed read the same. Reading a value that breaks the rules is an error, never a silently accepted value.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Most units one purchase may ask for (API.md).
pub const MAX_QUANTITY: u32 = 1_000_000;

/// Longest request id in bytes (API.md: 1 to 64 printable ASCII characters).
pub const MAX_REQUEST_ID: usize = 64;

/// Why a value is not a valid word of the store. The `Display` text is what clients are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// A product name of no characters.
    #[error("name must not be empty")]
    EmptyName,
    /// A quantity of 0 or above [`MAX_QUANTITY`].
    #[error("quantity must be an integer from 1 to 1000000")]
    Quantity,
    /// A request id (idempotency key) that is empty, too long or not printable ASCII.
    #[error("idempotency-key must be 1 to 64 printable ascii characters")]
    RequestId,
    /// Text that is not an order number (a non-negative integer).
    #[error("invalid order number")]
    OrderNumber,
}

/// A toy's name, exactly as clients spell it (case-sensitive, any characters, not empty).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct ProductName(String);

impl TryFrom<String> for ProductName {
    type Error = InvalidInput;

    fn try_from(name: String) -> Result<Self, InvalidInput> {
        if name.is_empty() {
            return Err(InvalidInput::EmptyName);
        }
        Ok(ProductName(name))
    }
}

/// The conversions and comparisons a word held as text has, whatever its rule: its text
/// (`as_str`, `Deref`, `Borrow<str>`, `Display`, into `String`), parsing (`FromStr` and
/// `TryFrom<&str>`, both through the type's own `TryFrom<String>`, where the rule is), and
/// equality with plain strings.
macro_rules! text_word {
    ($word:ident) => {
        impl $word {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $word {
            type Error = InvalidInput;

            fn try_from(text: &str) -> Result<Self, InvalidInput> {
                $word::try_from(text.to_owned())
            }
        }

        impl FromStr for $word {
            type Err = InvalidInput;

            fn from_str(text: &str) -> Result<Self, InvalidInput> {
                $word::try_from(text)
            }
        }

        impl From<$word> for String {
            fn from(word: $word) -> String {
                word.0
            }
        }

        impl std::ops::Deref for $word {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $word {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $word {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $word {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $word {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        /// Written as its text, without a copy (serde's `into` would clone it).
        impl Serialize for $word {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl fmt::Display for $word {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_word!(ProductName);
text_word!(RequestId);

/// Units in one purchase: 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// One unit.
    pub const ONE: Quantity = Quantity(1);

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = InvalidInput;

    fn try_from(units: u32) -> Result<Self, InvalidInput> {
        if (1..=MAX_QUANTITY).contains(&units) {
            Ok(Quantity(units))
        } else {
            Err(InvalidInput::Quantity)
        }
    }
}

impl TryFrom<u64> for Quantity {
    type Error = InvalidInput;

    fn try_from(units: u64) -> Result<Self, InvalidInput> {
        u32::try_from(units)
            .map_err(|_| InvalidInput::Quantity)
            .and_then(Quantity::try_from)
    }
}

/// A quantity written as a decimal integer (a command-line flag, say).
impl FromStr for Quantity {
    type Err = InvalidInput;

    fn from_str(text: &str) -> Result<Self, InvalidInput> {
        text.parse::<u32>()
            .map_err(|_| InvalidInput::Quantity)
            .and_then(Quantity::try_from)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id a purchase carries from the front-end to the catalog and the order log: the
/// client's `Idempotency-Key`, or a fresh UUID. 1 to [`MAX_REQUEST_ID`] printable ASCII
/// characters (space included). The same request id always yields the same result and buys
/// at most once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct RequestId(String);

impl RequestId {
    /// A new random id (a UUID v4) for a purchase whose client sent no key.
    pub fn fresh() -> RequestId {
        RequestId::from(uuid::Uuid::new_v4())
    }
}

impl TryFrom<String> for RequestId {
    type Error = InvalidInput;

    fn try_from(id: String) -> Result<Self, InvalidInput> {
        let printable = id.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if (1..=MAX_REQUEST_ID).contains(&id.len()) && printable {
            Ok(RequestId(id))
        } else {
            Err(InvalidInput::RequestId)
        }
    }
}

/// A UUID's text (36 printable ASCII characters) is always a request id.
impl From<uuid::Uuid> for RequestId {
    fn from(id: uuid::Uuid) -> RequestId {
        RequestId(id.hyphenated().to_string())
    }
}

/// An order's number: 0, 1, 2, … in the order the log committed them. Every `u64` is one;
/// text is one when it is a plain non-negative decimal integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderNumber(pub u64);

impl OrderNumber {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for OrderNumber {
    type Err = InvalidInput;

    fn from_str(text: &str) -> Result<Self, InvalidInput> {
        // `u64::from_str` also takes a leading '+'; an order number is digits only.
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidInput::OrderNumber);
        }
        text.parse()
            .map(OrderNumber)
            .map_err(|_| InvalidInput::OrderNumber)
    }
}

impl From<u64> for OrderNumber {
    fn from(n: u64) -> OrderNumber {
        OrderNumber(n)
    }
}

impl From<OrderNumber> for u64 {
    fn from(n: OrderNumber) -> u64 {
        n.0
    }
}

impl fmt::Display for OrderNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_any_text_but_empty() {
        assert_eq!(ProductName::try_from(""), Err(InvalidInput::EmptyName));
        for ok in ["Tux", ".", "..", "\t", "Rubik's Cube", "tux"] {
            assert_eq!(ProductName::try_from(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn quantities_run_from_one_to_a_million() {
        assert_eq!(Quantity::try_from(0u32), Err(InvalidInput::Quantity));
        assert_eq!(Quantity::try_from(1u32).unwrap(), Quantity::ONE);
        assert_eq!(
            Quantity::try_from(MAX_QUANTITY).unwrap().get(),
            MAX_QUANTITY
        );
        assert_eq!(
            Quantity::try_from(MAX_QUANTITY + 1),
            Err(InvalidInput::Quantity)
        );
        assert_eq!(
            Quantity::try_from(u64::from(u32::MAX) + 1),
            Err(InvalidInput::Quantity)
        );
        assert_eq!("7".parse(), Ok(Quantity(7)));
        for bad in ["0", "1000001", "-1", "1.5", "", "x"] {
            assert_eq!(
                bad.parse::<Quantity>(),
                Err(InvalidInput::Quantity),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn request_ids_are_short_printable_ascii() {
        let longest = "k".repeat(MAX_REQUEST_ID);
        for ok in ["a", "order 7", "~!@#", longest.as_str()] {
            assert_eq!(RequestId::try_from(ok).unwrap().as_str(), ok);
        }
        let too_long = "k".repeat(MAX_REQUEST_ID + 1);
        for bad in [
            "",
            "tab\there",
            "new\nline",
            "é",
            "\u{7f}",
            too_long.as_str(),
        ] {
            assert_eq!(
                RequestId::try_from(bad),
                Err(InvalidInput::RequestId),
                "{bad:?}"
            );
        }
        let fresh = RequestId::fresh();
        assert_eq!(RequestId::try_from(fresh.as_str()).unwrap(), fresh);
        assert_ne!(RequestId::fresh(), fresh);
    }

    #[test]
    fn order_numbers_are_plain_decimal_digits() {
        assert_eq!("0".parse(), Ok(OrderNumber(0)));
        assert_eq!("18446744073709551615".parse(), Ok(OrderNumber(u64::MAX)));
        for bad in [
            "",
            "+1",
            "-1",
            "1.0",
            " 1",
            "1 ",
            "abc",
            "18446744073709551616",
        ] {
            assert_eq!(
                bad.parse::<OrderNumber>(),
                Err(InvalidInput::OrderNumber),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reading_checks_the_rules_and_the_bytes_are_the_plain_values() {
        let name: ProductName = serde_json::from_str(r#""Tux""#).unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""Tux""#);
        let e = serde_json::from_str::<ProductName>(r#""""#).unwrap_err();
        assert!(e.to_string().starts_with("name must not be empty"), "{e}");
        let e = serde_json::from_str::<Quantity>("0").unwrap_err();
        assert!(e.to_string().starts_with("quantity must be"), "{e}");
        let e = serde_json::from_str::<RequestId>(r#""a\nb""#).unwrap_err();
        assert!(e.to_string().starts_with("idempotency-key must be"), "{e}");
        assert_eq!(serde_json::to_string(&OrderNumber(7)).unwrap(), "7");
        // postcard: a typed value is encoded exactly as the plain one.
        let typed = (
            RequestId::try_from("k").unwrap(),
            ProductName::try_from("Tux").unwrap(),
            Quantity::try_from(3u32).unwrap(),
            OrderNumber(9),
        );
        let plain = ("k".to_owned(), "Tux".to_owned(), 3u32, 9u64);
        assert_eq!(
            postcard::to_allocvec(&typed).unwrap(),
            postcard::to_allocvec(&plain).unwrap()
        );
        let zero = postcard::to_allocvec(&0u32).unwrap();
        assert!(postcard::from_bytes::<Quantity>(&zero).is_err());
    }
}
