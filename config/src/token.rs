//! [`ClusterToken`]: the shared secret of one store's services.
//!
//! Callers send `Authorization: Bearer <token>`; [`ClusterToken::accepts`] compares in
//! constant time, so the time a rejection takes says nothing about how much of a guess was
//! right. (The warp filter that demands it is `toystore_http::auth::require`.)

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
}
