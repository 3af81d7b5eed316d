//! Communities (RFC 1997), extended communities (RFC 4360) and large communities (RFC 8092).
//!
//! ```text
//! COMMUNITIES, 4 octets each:
//! +-------------------------------+-------------------------------+
//! |      AS (2 octets)            |      Value (2 octets)         |
//! +-------------------------------+-------------------------------+
//!
//! EXTENDED COMMUNITIES, 8 octets each:
//! +---------------+---------------+-------------------------------+
//! | Type (1)      | Sub-Type (1)  |      Value (6 octets)         |
//! +---------------+---------------+-------------------------------+
//!
//! LARGE_COMMUNITIES, 12 octets each:
//! +---------------------------------------------------------------+
//! |                      Global Administrator                     |
//! +---------------------------------------------------------------+
//! |                       Local Data Part 1                       |
//! +---------------------------------------------------------------+
//! |                       Local Data Part 2                       |
//! +---------------------------------------------------------------+
//! ```

use std::fmt;
use std::str::FromStr;

/// A community (RFC 1997).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xffff_ff01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xffff_ff02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xffff_ff03);
    /// NOPEER (RFC 3765).
    pub const NO_PEER: Community = Community(0xffff_ff04);
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xffff_0000);
    /// ACCEPT_OWN (RFC 7611).
    pub const ACCEPT_OWN: Community = Community(0xffff_0001);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xffff_029a);

    /// `as_number:value`.
    pub fn new(as_number: u16, value: u16) -> Self {
        Community((u32::from(as_number) << 16) | u32::from(value))
    }

    pub fn as_number(self) -> u16 {
        (self.0 >> 16) as u16
    }

    pub fn value(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.as_number(), self.value())
    }
}

/// Error parsing a community from text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a community: {0:?}")]
pub struct ParseCommunityError(String);

impl FromStr for Community {
    type Err = ParseCommunityError;

    /// `65000:100`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseCommunityError(text.to_owned());
        let (high, low) = text.split_once(':').ok_or_else(error)?;
        Ok(Community::new(
            high.parse().map_err(|_| error())?,
            low.parse().map_err(|_| error())?,
        ))
    }
}

/// An extended community (RFC 4360), kept as its 8 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

/// A large community (RFC 8092).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global_administrator: u32,
    pub local_data_part_1: u32,
    pub local_data_part_2: u32,
}

impl LargeCommunity {
    pub fn new(global_administrator: u32, local_data_part_1: u32, local_data_part_2: u32) -> Self {
        LargeCommunity {
            global_administrator,
            local_data_part_1,
            local_data_part_2,
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_administrator, self.local_data_part_1, self.local_data_part_2
        )
    }
}

impl FromStr for LargeCommunity {
    type Err = ParseCommunityError;

    /// `65000:1:2`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseCommunityError(text.to_owned());
        let mut parts = text.split(':').map(|part| part.parse::<u32>());
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(global)), Some(Ok(first)), Some(Ok(second)), None) => {
                Ok(LargeCommunity::new(global, first, second))
            }
            _ => Err(error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communities_parse_and_print() {
        let community: Community = "65000:100".parse().unwrap();
        assert_eq!(community, Community(0xfde8_0064));
        assert_eq!(community.to_string(), "65000:100");
        assert!("65536:1".parse::<Community>().is_err());
        let large: LargeCommunity = "4200000000:1:2".parse().unwrap();
        assert_eq!(large.to_string(), "4200000000:1:2");
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert!("1:2:3:4".parse::<LargeCommunity>().is_err());
    }
}
