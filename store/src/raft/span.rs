//! [`Span`]: a range of log indexes as openraft passes it (any `RangeBounds<u64>`),
//! normalized to `start..end` so that inverted or empty ranges read as nothing instead of
//! panicking in a `BTreeMap` or a redb range.

use std::ops::{Bound, RangeBounds};

/// Log indexes `start..end` (`end: None`: no upper bound). Never inverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// First index, inclusive.
    pub(crate) start: u64,
    /// End, exclusive; `None` for unbounded.
    pub(crate) end: Option<u64>,
}

impl Span {
    /// Normalizes `range`; `None` if it holds no index at all.
    pub(crate) fn of(range: &impl RangeBounds<u64>) -> Option<Span> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.checked_add(1),
            Bound::Excluded(&e) => Some(e),
            Bound::Unbounded => None,
        };
        match end {
            Some(e) if e <= start => None,
            _ => Some(Span { start, end }),
        }
    }

    /// As a standard range over `u64`.
    pub(crate) fn bounds(&self) -> (Bound<u64>, Bound<u64>) {
        let end = match self.end {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        (Bound::Included(self.start), end)
    }
}

#[cfg(test)]
mod tests {
    use super::Span;

    #[test]
    fn normalizes_every_kind_of_bound() {
        assert_eq!(
            Span::of(&(2..5)),
            Some(Span {
                start: 2,
                end: Some(5)
            })
        );
        assert_eq!(
            Span::of(&(2..=5)),
            Some(Span {
                start: 2,
                end: Some(6)
            })
        );
        assert_eq!(
            Span::of(&(3..)),
            Some(Span {
                start: 3,
                end: None
            })
        );
        assert_eq!(
            Span::of(&(..4)),
            Some(Span {
                start: 0,
                end: Some(4)
            })
        );
        assert_eq!(
            Span::of(&(..)),
            Some(Span {
                start: 0,
                end: None
            })
        );
        assert_eq!(
            Span::of(&(0..=u64::MAX)),
            Some(Span {
                start: 0,
                end: None
            })
        );
        assert_eq!(Span::of(&(5..5)), None);
        #[allow(clippy::reversed_empty_ranges)]
        let inverted = 6..2;
        assert_eq!(Span::of(&inverted), None);
    }
}
