//! [`ClusterToken`]: the shared secret of one store's services.
//!
//! Callers send `Authorization: Bearer <token>`; [`ClusterToken::accepts`] compares in
//! constant time, so the time a rejection takes says nothing about how much of a guess was
//! right. (The warp filter that demands it is `toystore_http::auth::require`.)
//!
//! A service refuses to start with a token weaker than [`MIN_TOKEN_BITS`] ([`check_strength`]):
//! whoever guesses it may call every internal route. [`generate`] makes one of 256 bits.

use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The shared secret of one store's services.
#[derive(Clone)]
pub struct ClusterToken(Arc<str>);

impl ClusterToken {
    /// Wraps a token. An empty token is refused: it would let anyone in.
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.is_empty()).then(|| ClusterToken(token.into()))
    }

    /// The token's text, for sending.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header value that carries it.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn accepts(&self, header: Option<&str>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        bool::from(given.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

/// The least strength a service accepts of its token, in bits.
pub const MIN_TOKEN_BITS: u32 = 128;

/// Why a token is too weak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the cluster token is too weak: {why} give at most {bits} bits, and at least \
     {MIN_TOKEN_BITS} are needed (whoever guesses it may call every internal route); use e.g. \
     32 random hexadecimal digits, or `tools up` to make one"
)]
pub struct WeakToken {
    why: String,
    bits: u32,
}

/// The usual alphabets a token's characters may come from, smallest first, with the bits
/// (thousandths) a character drawn from each carries.
fn alphabet(token: &str) -> (&'static str, u32) {
    let all = |f: fn(u8) -> bool| token.bytes().all(f);
    if all(|b| b.is_ascii_digit()) {
        ("decimal digits", 3_322)
    } else if all(|b| b.is_ascii_hexdigit()) {
        ("hexadecimal digits", 4_000)
    } else if all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
        ("lower-case letters and digits", 5_170)
    } else if all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        ("letters and digits", 5_950)
    } else if all(|b| b.is_ascii_graphic()) {
        ("printable characters", 6_550)
    } else {
        ("bytes", 8_000)
    }
}

/// The length of the shortest piece of which `chars` is a repetition (its whole length if
/// it repeats nothing).
fn period(chars: &[char]) -> usize {
    (1..=chars.len())
        .find(|p| chars.len().is_multiple_of(*p) && chars.chunks(*p).all(|c| c == &chars[..*p]))
        .unwrap_or(chars.len())
}

/// Checks that a token could hold at least [`MIN_TOKEN_BITS`] bits: an upper bound on what
/// it holds, the length of its shortest repeating piece (the whole token, unless it is one
/// piece over and over) times the bits a character carries: those of the smallest usual
/// alphabet its characters come from (decimal digits 3.3, hexadecimal 4, lower-case letters
/// and digits 5.2, both cases 5.95, printable ASCII 6.55, anything else 8), and never more
/// than one bit over log2 of the number of distinct characters in it (a random token of
/// 32 hexadecimal digits holds 10 to 16 of them; one of few distinct characters is not
/// random).
pub fn check_strength(token: &str) -> Result<(), WeakToken> {
    let chars: Vec<char> = token.chars().collect();
    let piece = &chars[..period(&chars)];
    let (name, alphabet_bits) = alphabet(token);
    let mut distinct = piece.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let distinct_bits = (distinct.len() as f64).log2() + 1.0;
    let milli = (distinct_bits * 1000.0) as u32;
    let per_char = alphabet_bits.min(milli);
    let bits = u32::try_from(piece.len())
        .unwrap_or(u32::MAX)
        .saturating_mul(per_char)
        / 1_000;
    if bits >= MIN_TOKEN_BITS {
        return Ok(());
    }
    let why = if piece.len() < chars.len() {
        format!(
            "{} characters, a piece of {} repeated,",
            chars.len(),
            piece.len()
        )
    } else if per_char < alphabet_bits {
        format!(
            "{} characters of only {} distinct",
            chars.len(),
            distinct.len()
        )
    } else {
        format!("{} characters drawn from {name}", chars.len())
    };
    Err(WeakToken { why, bits })
}

/// A new random token: 32 random bytes as 64 hexadecimal digits (256 bits).
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_bearer_token() {
        let t = ClusterToken::new("s3cret").expect("non-empty");
        assert!(t.accepts(Some("Bearer s3cret")));
        assert!(!t.accepts(Some("Bearer s3cre")));
        assert!(!t.accepts(Some("Bearer s3cret2")));
        assert!(!t.accepts(Some("s3cret")));
        assert!(!t.accepts(Some("Basic s3cret")));
        assert!(!t.accepts(None));
        assert!(ClusterToken::new("").is_none());
    }

    #[test]
    fn weak_tokens_are_refused_with_the_reason() {
        let weak = check_strength("short").unwrap_err();
        assert!(weak.to_string().contains("at least 128"), "{weak}");
        // 31 hex digits: 124 bits; 32: 128.
        let hex = "3f9a0c47e1b25d86a7c0e4f1293b5d68";
        assert!(check_strength(&hex[..31]).is_err());
        assert!(check_strength(hex).is_ok());
        // Long, but one character or one piece over and over.
        assert!(check_strength(&"a".repeat(40)).is_err());
        assert!(check_strength(&"password-".repeat(4)).is_err());
        assert!(check_strength(&"abcdefgh".repeat(4)).is_err());
        // 32 decimal digits: 106 bits, not 128.
        assert!(check_strength("12345678901234567890123456789012").is_err());
        assert!(check_strength("catalog-test-token").is_err());
        assert!(check_strength("short")
            .unwrap_err()
            .to_string()
            .contains("5 characters"));
        assert!(check_strength("Tr0ub4dor&3-correct-horse-battery-staple").is_ok());
        // Random tokens of 32 hexadecimal digits pass (they hold 128 bits), whichever
        // digits they happen to repeat.
        for _ in 0..1_000 {
            let bytes: [u8; 16] = rand::random();
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert!(check_strength(&token).is_ok(), "{token}");
        }
        // Few distinct characters, not repeating a piece: refused.
        assert!(check_strength(&format!("{}b", "a".repeat(60))).is_err());
        let made = generate();
        assert_eq!(made.len(), 64);
        assert!(check_strength(&made).is_ok());
        assert_ne!(made, generate());
    }
}
