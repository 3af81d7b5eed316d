//! Ethernet II framing (IEEE 802.3 §3.1.1 with the Ethernet II type field) and one optional
//! IEEE 802.1Q tag, as an AF_PACKET `SOCK_RAW` socket gives and takes a frame: no preamble, no
//! frame check sequence.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Destination MAC address (6 octets)             |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                   Source MAC address (6 octets)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |       TPID 0x8100 (802.1Q)    | PCP |D|        VLAN ID        |  optional tag
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           EtherType           |   Payload ...                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! A frame is at least 60 octets without its FCS: shorter payloads are padded with zeros,
//! which decoders above must ignore (ARP has no length field; IPv6 has one).

use crate::Mac;
use crate::counters::DropReason;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Tag protocol identifier of an IEEE 802.1Q tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// Minimum frame length without the FCS (64 octets on the wire).
pub const MINIMUM_FRAME_LENGTH: usize = 60;
/// Destination, source and EtherType.
pub const HEADER_LENGTH: usize = 14;

/// An IEEE 802.1Q tag control information field: priority (3 bits), drop eligible (1 bit),
/// VLAN ID (12 bits). Kept whole, so an answer carries the request's tag unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanTag(pub u16);

impl VlanTag {
    /// The VLAN identifier (the low 12 bits).
    pub fn vlan_id(self) -> u16 {
        self.0 & 0x0fff
    }
}

/// The header of an Ethernet II frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetHeader {
    pub destination: Mac,
    pub source: Mac,
    /// The 802.1Q tag, if the frame had one.
    pub vlan: Option<VlanTag>,
    /// The EtherType of the payload (after the tag, if any).
    pub ethertype: u16,
}

impl EthernetHeader {
    /// Splits a frame into its header and payload (padding included). One 802.1Q tag is
    /// skipped to the inner EtherType; a second tag (802.1ad stacking) is left as the EtherType.
    pub fn decode(frame: &[u8]) -> Result<(EthernetHeader, &[u8]), DropReason> {
        let Some((addresses, rest)) = frame.split_first_chunk::<12>() else {
            return Err(DropReason::Truncated);
        };
        let Some((ethertype, mut payload)) = rest.split_first_chunk::<2>() else {
            return Err(DropReason::Truncated);
        };
        let mut ethertype = u16::from_be_bytes(*ethertype);
        let mut vlan = None;
        if ethertype == ETHERTYPE_VLAN {
            let Some((tag, rest)) = payload.split_first_chunk::<4>() else {
                return Err(DropReason::Truncated);
            };
            vlan = Some(VlanTag(u16::from_be_bytes([tag[0], tag[1]])));
            ethertype = u16::from_be_bytes([tag[2], tag[3]]);
            payload = rest;
        }
        let mut destination = [0; 6];
        destination.copy_from_slice(&addresses[..6]);
        let mut source = [0; 6];
        source.copy_from_slice(&addresses[6..]);
        Ok((
            EthernetHeader {
                destination: Mac(destination),
                source: Mac(source),
                vlan,
                ethertype,
            },
            payload,
        ))
    }

    /// Appends the header (infallible).
    pub fn encode(&self, buffer: &mut Vec<u8>) {
        buffer.extend_from_slice(&self.destination.0);
        buffer.extend_from_slice(&self.source.0);
        if let Some(VlanTag(tci)) = self.vlan {
            buffer.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            buffer.extend_from_slice(&tci.to_be_bytes());
        }
        buffer.extend_from_slice(&self.ethertype.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_802_1q_tag_is_skipped_to_the_inner_ethertype() {
        let frame = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination
            0x02, 0, 0, 0, 0, 1, // source
            0x81, 0x00, 0xa0, 0x64, // 802.1Q, PCP 5, VLAN 100
            0x08, 0x06, // ARP
            0xaa,
        ];
        let (header, payload) = EthernetHeader::decode(&frame).unwrap();
        assert_eq!(header.vlan, Some(VlanTag(0xa064)));
        assert_eq!(header.vlan.unwrap().vlan_id(), 100);
        assert_eq!(header.ethertype, ETHERTYPE_ARP);
        assert_eq!(payload, [0xaa]);
        let mut again = Vec::new();
        header.encode(&mut again);
        assert_eq!(again, frame[..18]);
    }

    #[test]
    fn frames_shorter_than_their_header_are_truncated() {
        for length in [0, 6, 13] {
            assert_eq!(
                EthernetHeader::decode(&[0; 13][..length]),
                Err(DropReason::Truncated)
            );
        }
        let mut tagged = [0; 17];
        tagged[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        assert_eq!(EthernetHeader::decode(&tagged), Err(DropReason::Truncated));
    }
}
