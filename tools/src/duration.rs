//! Durations on the command line, written the way people write them (`10s`, `500ms`,
//! `1m 30s`), parsed with humantime.

use std::time::Duration;

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration.
    #[error("{0} (e.g. 10s, 500ms, 2m)")]
    Invalid(#[from] humantime::DurationError),
    /// Zero, where something must last.
    #[error("must be longer than zero")]
    Zero,
}

/// Parses a duration that must be longer than zero (for clap's `value_parser`).
pub fn parse_positive(text: &str) -> Result<Duration, DurationError> {
    let d = humantime::parse_duration(text.trim())?;
    if d.is_zero() {
        return Err(DurationError::Zero);
    }
    Ok(d)
}

/// Whole milliseconds of `d`, at least 1, saturating (for config fields kept in ms).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations_and_refuses_zero_and_garbage() {
        assert_eq!(parse_positive("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_positive("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_positive("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_positive("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_positive("0s"), Err(DurationError::Zero));
        assert!(parse_positive("ten").is_err());
        assert!(parse_positive("-1s").is_err());
        assert!(parse_positive("3").is_err(), "a unit is needed");
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
    }
}
