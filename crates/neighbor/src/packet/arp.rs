//! ARP (RFC 826) for IPv4 over Ethernet: hardware type 1, protocol type 0x0800, 6-octet
//! hardware and 4-octet protocol addresses. Other formats are refused.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Hardware type (1, Ethernet) |   Protocol type (0x0800, IPv4)|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  HLEN (6)     |  PLEN (4)     | Operation (1 request, 2 reply)|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              Sender hardware address (SHA, 6 octets)          |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               | Sender protocol address (SPA) |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |              Target hardware address (THA, 6 octets)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              Target protocol address (TPA, 4 octets)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! 28 octets; in an Ethernet frame they are followed by padding to the 60-octet minimum.

use std::net::Ipv4Addr;

use crate::Mac;
use crate::counters::DropReason;

/// Length of an Ethernet/IPv4 ARP packet.
pub const LENGTH: usize = 28;
/// Hardware type of Ethernet (IANA ARP parameters).
pub const HARDWARE_ETHERNET: u16 = 1;
/// Protocol type of IPv4 (its EtherType).
pub const PROTOCOL_IPV4: u16 = 0x0800;

/// The ARP operation (IANA ARP parameters). Unknown values are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1.
    Request,
    /// 2.
    Reply,
    /// Any other value (RARP, InARP, ...).
    Other(u16),
}

impl Operation {
    /// The wire value.
    pub fn code(self) -> u16 {
        match self {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Other(code) => code,
        }
    }

    /// From the wire value.
    pub fn from_code(code: u16) -> Operation {
        match code {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Other(other),
        }
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    pub operation: Operation,
    pub sender_hardware_address: Mac,
    pub sender_protocol_address: Ipv4Addr,
    pub target_hardware_address: Mac,
    pub target_protocol_address: Ipv4Addr,
}

impl ArpPacket {
    /// Decodes an ARP packet from an Ethernet payload; bytes after the 28 (padding) are ignored.
    pub fn decode(payload: &[u8]) -> Result<ArpPacket, DropReason> {
        let Some(bytes) = payload.first_chunk::<LENGTH>() else {
            return Err(DropReason::Truncated);
        };
        let word = |offset: usize| u16::from_be_bytes([bytes[offset], bytes[offset + 1]]);
        if word(0) != HARDWARE_ETHERNET
            || word(2) != PROTOCOL_IPV4
            || bytes[4] != 6
            || bytes[5] != 4
        {
            return Err(DropReason::ArpUnsupportedFormat);
        }
        let mac = |offset: usize| {
            let mut mac = [0; 6];
            mac.copy_from_slice(&bytes[offset..offset + 6]);
            Mac(mac)
        };
        let ipv4 = |offset: usize| {
            Ipv4Addr::new(
                bytes[offset],
                bytes[offset + 1],
                bytes[offset + 2],
                bytes[offset + 3],
            )
        };
        Ok(ArpPacket {
            operation: Operation::from_code(word(6)),
            sender_hardware_address: mac(8),
            sender_protocol_address: ipv4(14),
            target_hardware_address: mac(18),
            target_protocol_address: ipv4(24),
        })
    }

    /// Appends the 28 octets (infallible; no padding: that is the frame's business).
    pub fn encode(&self, buffer: &mut Vec<u8>) {
        buffer.extend_from_slice(&HARDWARE_ETHERNET.to_be_bytes());
        buffer.extend_from_slice(&PROTOCOL_IPV4.to_be_bytes());
        buffer.extend_from_slice(&[6, 4]);
        buffer.extend_from_slice(&self.operation.code().to_be_bytes());
        buffer.extend_from_slice(&self.sender_hardware_address.0);
        buffer.extend_from_slice(&self.sender_protocol_address.octets());
        buffer.extend_from_slice(&self.target_hardware_address.0);
        buffer.extend_from_slice(&self.target_protocol_address.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_hardware_or_protocol_formats_are_refused() {
        let request = ArpPacket {
            operation: Operation::Request,
            sender_hardware_address: Mac([2, 0, 0, 0, 0, 1]),
            sender_protocol_address: Ipv4Addr::new(192, 0, 2, 1),
            target_hardware_address: Mac::ZERO,
            target_protocol_address: Ipv4Addr::new(192, 0, 2, 10),
        };
        let mut bytes = Vec::new();
        request.encode(&mut bytes);
        assert_eq!(ArpPacket::decode(&bytes), Ok(request));
        assert_eq!(ArpPacket::decode(&bytes[..27]), Err(DropReason::Truncated));
        for (offset, value) in [(1, 6), (2, 0x86), (4, 16), (5, 16)] {
            let mut bytes = bytes.clone();
            bytes[offset] = value;
            assert_eq!(
                ArpPacket::decode(&bytes),
                Err(DropReason::ArpUnsupportedFormat),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn unknown_operations_are_kept() {
        assert_eq!(Operation::from_code(3), Operation::Other(3));
        assert_eq!(Operation::Other(3).code(), 3);
        assert_eq!(
            Operation::from_code(Operation::Reply.code()),
            Operation::Reply
        );
    }
}
