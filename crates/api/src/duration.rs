//! Kubernetes `metav1.Duration`: a string in Go's `time.ParseDuration` syntax (`90s`, `1m30s`,
//! `2500ms`, `-1.5h`), kept as signed nanoseconds like Go's `time.Duration`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration as Kubernetes API objects spell it (Go `time.Duration`, nanosecond resolution).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    nanos: i64,
}

/// Why a duration string was refused; the message follows Go's wording so users recognise it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: {} (write it like \"90s\", \"1m30s\" or \"500ms\")",
            self.input, self.reason
        )
    }
}

impl std::error::Error for DurationError {}

const NANOS_PER_UNIT: [(&str, i128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

impl Duration {
    /// The zero duration, written `0s`.
    pub const ZERO: Duration = Duration { nanos: 0 };

    /// A duration from nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Duration { nanos }
    }

    /// A duration from whole seconds (saturating).
    pub const fn from_secs(secs: i64) -> Self {
        Duration {
            nanos: secs.saturating_mul(1_000_000_000),
        }
    }

    /// A duration from milliseconds (saturating).
    pub const fn from_millis(millis: i64) -> Self {
        Duration {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    /// Signed nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whole seconds, truncated toward zero (Go's `Duration.Seconds()` then `int`).
    pub const fn whole_seconds(self) -> i64 {
        self.nanos / 1_000_000_000
    }

    /// Whole milliseconds, truncated toward zero.
    pub const fn whole_millis(self) -> i64 {
        self.nanos / 1_000_000
    }

    /// As a `std::time::Duration`, or `None` when negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos)
            .ok()
            .map(std::time::Duration::from_nanos)
    }

    /// Parses Go's `time.ParseDuration` syntax: an optional sign, then one or more decimal
    /// numbers (with optional fraction) each followed by a unit `ns us µs ms s m h`.
    /// `0` alone is accepted, as in Go; any other number needs a unit.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let fail = |reason| DurationError {
            input: input.to_string(),
            reason,
        };
        let mut rest = input;
        let mut negative = false;
        if let Some(stripped) = rest.strip_prefix('-') {
            negative = true;
            rest = stripped;
        } else if let Some(stripped) = rest.strip_prefix('+') {
            rest = stripped;
        }
        if rest == "0" {
            return Ok(Duration::ZERO);
        }
        if rest.is_empty() {
            return Err(fail("empty"));
        }
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let digits_end = rest
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(rest.len());
            let number = &rest[..digits_end];
            rest = &rest[digits_end..];
            if number.is_empty() || number == "." {
                return Err(fail("expected a number"));
            }
            let (whole, fraction) = match number.split_once('.') {
                Some((w, f)) => (w, f),
                None => (number, ""),
            };
            if fraction.contains('.') {
                return Err(fail("a number has two decimal points"));
            }
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            if unit.is_empty() {
                return Err(fail("missing unit"));
            }
            let Some(&(_, scale)) = NANOS_PER_UNIT.iter().find(|(name, _)| *name == unit) else {
                return Err(fail("unknown unit"));
            };
            let whole_value: i128 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| fail("number too large"))?
            };
            let mut value = whole_value
                .checked_mul(scale)
                .ok_or_else(|| fail("number too large"))?;
            // Fractions: Go keeps digits until they no longer matter at nanosecond scale.
            let mut divisor: i128 = 1;
            for digit in fraction.bytes() {
                if divisor > 1_000_000_000_000_000_000 {
                    break;
                }
                divisor *= 10;
                value += i128::from(digit - b'0') * scale / divisor;
            }
            total = total
                .checked_add(value)
                .ok_or_else(|| fail("number too large"))?;
            if total > i128::from(i64::MAX) + 1 {
                return Err(fail("out of range"));
            }
        }
        let signed = if negative { -total } else { total };
        let nanos = i64::try_from(signed).map_err(|_| fail("out of range"))?;
        Ok(Duration { nanos })
    }
}

impl fmt::Display for Duration {
    /// Formats like Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.nanos);
        let (sign, magnitude) = if nanos < 0 {
            ("-", -nanos)
        } else {
            ("", nanos)
        };
        if magnitude == 0 {
            return f.write_str("0s");
        }
        let fractional = |value: i128, scale: i128| -> String {
            let whole = value / scale;
            let rest = value % scale;
            if rest == 0 {
                return whole.to_string();
            }
            let width = scale.to_string().len() - 1;
            let digits = format!("{rest:0width$}");
            format!("{whole}.{}", digits.trim_end_matches('0'))
        };
        if magnitude < 1_000 {
            return write!(f, "{sign}{magnitude}ns");
        }
        if magnitude < 1_000_000 {
            return write!(f, "{sign}{}µs", fractional(magnitude, 1_000));
        }
        if magnitude < 1_000_000_000 {
            return write!(f, "{sign}{}ms", fractional(magnitude, 1_000_000));
        }
        let hours = magnitude / 3_600_000_000_000;
        let minutes = (magnitude / 60_000_000_000) % 60;
        let seconds = magnitude % 60_000_000_000;
        f.write_str(sign)?;
        if hours > 0 {
            write!(f, "{hours}h{minutes}m")?;
        } else if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{}s", fractional(seconds, 1_000_000_000))
    }
}

impl std::str::FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"90s\" or \"1m30s\"")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Duration, E> {
                Duration::parse(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        let cases = [
            ("90s", 90_000_000_000),
            ("1m30s", 90_000_000_000),
            ("2500ms", 2_500_000_000),
            ("0s", 0),
            ("0", 0),
            ("1.5h", 5_400_000_000_000),
            ("-1s", -1_000_000_000),
            ("+5ms", 5_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("300µs", 300_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(
                Duration::parse(text).map(Duration::as_nanos),
                Ok(nanos),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        for text in [
            "",
            "90",
            "1x",
            "s",
            "-",
            "1.2.3s",
            "1 s",
            " 1s",
            "9999999999999999999h",
            ".",
        ] {
            assert!(Duration::parse(text).is_err(), "{text:?} should fail");
        }
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (2_500_000_000, "2.5s"),
            (1_500_000, "1.5ms"),
            (1_000, "1µs"),
            (7, "7ns"),
            (-90_000_000_000, "-1m30s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(Duration::from_nanos(nanos).to_string(), text);
            assert_eq!(Duration::parse(text).unwrap().as_nanos(), nanos);
        }
    }

    #[test]
    fn whole_seconds_truncate() {
        assert_eq!(Duration::parse("2500ms").unwrap().whole_seconds(), 2);
        assert_eq!(Duration::parse("500ms").unwrap().whole_seconds(), 0);
    }
}
