//! Durations as people write them (`10s`, `500ms`, `1m 30s`), parsed with humantime: one
//! parser for every duration flag of every binary, and [`human`] for the cluster file's
//! duration fields.

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

/// Whole milliseconds of `d`, saturating (for Raft's settings, kept in ms).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Serde for a duration field of the cluster file: written as humantime text (`"10s"`),
/// read from such text or from a whole number of milliseconds (what files written before
/// durations were text hold, under their old `…_ms` names).
pub mod human {
    use serde::de::{self, Visitor};
    use std::time::Duration;

    /// Writes `d` as humantime text.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads humantime text or whole milliseconds.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(HumanVisitor)
    }

    struct HumanVisitor;

    impl Visitor<'_> for HumanVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as \"500ms\" or \"10s\", or whole milliseconds")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            humantime::parse_duration(text.trim())
                .map_err(|e| E::custom(format!("{text:?}: {e} (e.g. 10s, 500ms, 2m)")))
        }

        fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Duration, E> {
            Ok(Duration::from_millis(ms))
        }

        fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Duration, E> {
            u64::try_from(ms)
                .map(Duration::from_millis)
                .map_err(|_| E::custom(format!("{ms}: a duration cannot be negative")))
        }
    }
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
        assert_eq!(millis(Duration::from_micros(10)), 0);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Field {
        #[serde(with = "human")]
        d: Duration,
    }

    #[test]
    fn cluster_file_durations_are_text_and_old_milliseconds_still_read() {
        let text = toml::to_string(&Field {
            d: Duration::from_millis(1500),
        })
        .unwrap_or_default();
        assert_eq!(text.trim(), "d = \"1s 500ms\"");
        let back: Field = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.d, Duration::from_millis(1500));
        let old: Field = toml::from_str("d = 250").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.d, Duration::from_millis(250));
        assert!(toml::from_str::<Field>("d = -1").is_err());
        let bad = toml::from_str::<Field>("d = \"soon\"").expect_err("not a duration");
        assert!(bad.to_string().contains("e.g. 10s"), "{bad}");
    }
}
