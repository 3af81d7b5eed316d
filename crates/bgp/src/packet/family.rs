//! Address families: AFI (IANA "Address Family Numbers") and SAFI (IANA "Subsequent Address
//! Family Identifiers"), as carried by the multiprotocol capability, MP_REACH_NLRI,
//! MP_UNREACH_NLRI, graceful restart and ROUTE-REFRESH.
//!
//! Both registries are open: values this crate does not know are kept and re-encoded as they
//! came.

use std::fmt;

/// AFI, two octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressFamily {
    Ipv4,
    Ipv6,
    /// Any other value (never 1 or 2).
    Unknown(u16),
}

impl AddressFamily {
    pub fn from_code(code: u16) -> Self {
        match code {
            1 => AddressFamily::Ipv4,
            2 => AddressFamily::Ipv6,
            other => AddressFamily::Unknown(other),
        }
    }

    pub fn code(self) -> u16 {
        match self {
            AddressFamily::Ipv4 => 1,
            AddressFamily::Ipv6 => 2,
            AddressFamily::Unknown(code) => code,
        }
    }
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressFamily::Ipv4 => f.write_str("IPv4"),
            AddressFamily::Ipv6 => f.write_str("IPv6"),
            AddressFamily::Unknown(code) => write!(f, "AFI {code}"),
        }
    }
}

/// SAFI, one octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubsequentAddressFamily {
    Unicast,
    Multicast,
    /// Any other value (never 1 or 2).
    Unknown(u8),
}

impl SubsequentAddressFamily {
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => SubsequentAddressFamily::Unicast,
            2 => SubsequentAddressFamily::Multicast,
            other => SubsequentAddressFamily::Unknown(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            SubsequentAddressFamily::Unicast => 1,
            SubsequentAddressFamily::Multicast => 2,
            SubsequentAddressFamily::Unknown(code) => code,
        }
    }
}

impl fmt::Display for SubsequentAddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubsequentAddressFamily::Unicast => f.write_str("unicast"),
            SubsequentAddressFamily::Multicast => f.write_str("multicast"),
            SubsequentAddressFamily::Unknown(code) => write!(f, "SAFI {code}"),
        }
    }
}

/// An AFI/SAFI pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family {
    pub address_family: AddressFamily,
    pub subsequent_address_family: SubsequentAddressFamily,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family {
        address_family: AddressFamily::Ipv4,
        subsequent_address_family: SubsequentAddressFamily::Unicast,
    };
    pub const IPV6_UNICAST: Family = Family {
        address_family: AddressFamily::Ipv6,
        subsequent_address_family: SubsequentAddressFamily::Unicast,
    };

    pub fn new(address_family: AddressFamily, subsequent: SubsequentAddressFamily) -> Self {
        Family {
            address_family,
            subsequent_address_family: subsequent,
        }
    }

    /// From the wire values.
    pub fn from_codes(afi: u16, safi: u8) -> Self {
        Family::new(
            AddressFamily::from_code(afi),
            SubsequentAddressFamily::from_code(safi),
        )
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.address_family, self.subsequent_address_family
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_values_are_kept() {
        for code in 0..=u16::from(u8::MAX) {
            assert_eq!(AddressFamily::from_code(code).code(), code);
        }
        for code in 0..=u8::MAX {
            assert_eq!(SubsequentAddressFamily::from_code(code).code(), code);
        }
        assert_eq!(Family::from_codes(2, 1), Family::IPV6_UNICAST);
        assert_eq!(Family::IPV4_UNICAST.to_string(), "IPv4 unicast");
    }
}
