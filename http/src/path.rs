//! Path segments as names.

/// Percent-decodes one path segment (`Rubik%27s%20Cube` → `Rubik's Cube`). `None` if the
/// decoded bytes are not UTF-8.
pub fn decode_segment(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_and_refuses_bad_utf8() {
        assert_eq!(
            decode_segment("Rubik%27s%20Cube").as_deref(),
            Some("Rubik's Cube")
        );
        assert_eq!(decode_segment("Tux").as_deref(), Some("Tux"));
        assert_eq!(decode_segment("%ff"), None);
    }
}
