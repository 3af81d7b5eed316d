//! ROUTE-REFRESH message (RFC 2918 §3), with the message subtype of RFC 7313 §3.2 in what was
//! the reserved octet:
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtype| SAFI |
//! +-------+-------+-------+-------+
//! ```
//!
//! A ROUTE-REFRESH whose length is not 23 octets is refused with 7/1 and the whole message as
//! data (RFC 7313 §5). RFC 7313 §5 also says a message with an unknown subtype is ignored: that
//! is the session's decision, so unknown subtypes are decoded and kept.

use std::fmt;

use super::DecodeError;
use super::family::Family;
use super::wire::Reader;

/// Length of a ROUTE-REFRESH body.
pub const ROUTE_REFRESH_BODY_LENGTH: usize = 4;

/// The ROUTE-REFRESH subtype (IANA "BGP Route Refresh Subcodes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteRefreshSubtype {
    /// 0: a plain route refresh request (RFC 2918).
    Normal,
    /// 1: Beginning of Route Refresh (BoRR, RFC 7313).
    BeginningOfRouteRefresh,
    /// 2: End of Route Refresh (EoRR, RFC 7313).
    EndOfRouteRefresh,
    /// Any other value (255 is reserved).
    Unknown(u8),
}

impl RouteRefreshSubtype {
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => RouteRefreshSubtype::Normal,
            1 => RouteRefreshSubtype::BeginningOfRouteRefresh,
            2 => RouteRefreshSubtype::EndOfRouteRefresh,
            other => RouteRefreshSubtype::Unknown(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            RouteRefreshSubtype::Normal => 0,
            RouteRefreshSubtype::BeginningOfRouteRefresh => 1,
            RouteRefreshSubtype::EndOfRouteRefresh => 2,
            RouteRefreshSubtype::Unknown(code) => code,
        }
    }
}

impl fmt::Display for RouteRefreshSubtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteRefreshSubtype::Normal => f.write_str("route refresh"),
            RouteRefreshSubtype::BeginningOfRouteRefresh => {
                f.write_str("beginning of route refresh")
            }
            RouteRefreshSubtype::EndOfRouteRefresh => f.write_str("end of route refresh"),
            RouteRefreshSubtype::Unknown(code) => write!(f, "route refresh subtype {code}"),
        }
    }
}

/// A ROUTE-REFRESH message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    pub family: Family,
    pub subtype: RouteRefreshSubtype,
}

impl RouteRefresh {
    /// A plain request for the routes of `family`.
    pub fn new(family: Family) -> Self {
        RouteRefresh {
            family,
            subtype: RouteRefreshSubtype::Normal,
        }
    }

    /// Writes the message body (after the header).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.family.address_family.code().to_be_bytes());
        buf.push(self.subtype.code());
        buf.push(self.family.subsequent_address_family.code());
    }

    /// Reads the message body (after the header). A body other than 4 octets gives
    /// [`DecodeError::InvalidRouteRefreshLength`] holding the body; [`super::Message::decode`]
    /// puts the whole message there instead, as RFC 7313 asks.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        match (reader.u16(), reader.u8(), reader.u8(), reader.is_empty()) {
            (Some(afi), Some(subtype), Some(safi), true) => Ok(RouteRefresh {
                family: Family::from_codes(afi, safi),
                subtype: RouteRefreshSubtype::from_code(subtype),
            }),
            _ => Err(DecodeError::InvalidRouteRefreshLength {
                message: body.to_vec(),
            }),
        }
    }
}
