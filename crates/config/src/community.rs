//! BGP communities as MetalLB writes them: `AA:NN` (RFC 1997) and `large:A:B:C` (RFC 8092).

use std::cmp::Ordering;
use std::fmt;

/// A standard or large BGP community.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Community {
    /// RFC 1997: two 16-bit halves, held as one 32-bit value.
    Standard(u32),
    /// RFC 8092: global administrator and two local data parts.
    Large(u32, u32, u32),
}

/// Why a community string was refused. MetalLB tells the two apart: a string of the wrong
/// shape may be the name of a Community alias not created yet (transient), a bad number is not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommunityError {
    #[error(
        "invalid community value {0:?}: write AA:NN with two numbers 0-65535, or large:A:B:C with three numbers 0-4294967295"
    )]
    Value(String),
    #[error(
        "invalid community format {0:?}: expected AA:NN, large:A:B:C or the name of a Community alias"
    )]
    Format(String),
}

impl Community {
    /// Parses `AA:NN` or `large:A:B:C` with MetalLB's rules (decimal digits only).
    pub fn parse(text: &str) -> Result<Self, CommunityError> {
        let parts: Vec<&str> = text.split(':').collect();
        let value_error = || CommunityError::Value(text.to_string());
        match parts.as_slice() {
            [high, low] => {
                let high = decimal(high)
                    .and_then(|v| u16::try_from(v).ok())
                    .ok_or_else(value_error)?;
                let low = decimal(low)
                    .and_then(|v| u16::try_from(v).ok())
                    .ok_or_else(value_error)?;
                Ok(Community::Standard(
                    (u32::from(high) << 16) | u32::from(low),
                ))
            }
            [marker, global, first, second] => {
                if *marker != "large" {
                    return Err(value_error());
                }
                let field = |s: &str| {
                    decimal(s)
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(value_error)
                };
                Ok(Community::Large(
                    field(global)?,
                    field(first)?,
                    field(second)?,
                ))
            }
            _ => Err(CommunityError::Format(text.to_string())),
        }
    }

    /// The key MetalLB sorts by: a standard community compares as the large `(AA·65536+NN):0:0`.
    fn sort_key(self) -> (u32, u32, u32, u8) {
        match self {
            Community::Standard(value) => (value, 0, 0, 0),
            Community::Large(global, first, second) => (global, first, second, 1),
        }
    }

    /// Whether this is an RFC 1997 community.
    pub fn is_standard(self) -> bool {
        matches!(self, Community::Standard(_))
    }
}

/// Unsigned decimal as Go's `strconv.ParseUint(s, 10, 64)` reads it: digits only, no sign.
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Ord for Community {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for Community {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(value) => write!(f, "{}:{}", value >> 16, value & 0xffff),
            Community::Large(global, first, second) => write!(f, "large:{global}:{first}:{second}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metallb_syntax() {
        assert_eq!(
            Community::parse("65000:100"),
            Ok(Community::Standard(65000 << 16 | 100))
        );
        assert_eq!(
            Community::parse("large:1:2:3"),
            Ok(Community::Large(1, 2, 3))
        );
        assert_eq!(Community::parse("0:0"), Ok(Community::Standard(0)));
    }

    #[test]
    fn bad_numbers_are_value_errors() {
        for text in [
            "65536:1",
            "1:-1",
            "+1:2",
            "a:b",
            "large:1:2:4294967296",
            "big:1:2:3",
            ":1",
        ] {
            assert!(
                matches!(Community::parse(text), Err(CommunityError::Value(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn wrong_shapes_are_format_errors() {
        for text in ["1234", "1:2:3", "no-export", "large:1:2:3:4", ""] {
            assert!(
                matches!(Community::parse(text), Err(CommunityError::Format(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn standard_sorts_as_large_with_zero_parts() {
        let standard = Community::parse("0:1").unwrap();
        let large = Community::parse("large:1:0:1").unwrap();
        let low_large = Community::parse("large:0:5:5").unwrap();
        assert!(low_large < standard);
        assert!(standard < large);
    }
}
