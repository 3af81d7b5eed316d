//! The wire: whole Ethernet frames carrying ARP or Neighbor Discovery, as a typed [`Frame`]
//! that encodes infallibly and decodes with the RFCs' validity checks. The layers are also
//! usable one by one ([`ethernet`], [`arp`], [`ndp`]); the responder uses them so, to stop at
//! the first layer that makes a frame irrelevant.

pub mod arp;
pub mod ethernet;
pub mod ndp;

pub use arp::{ArpPacket, Operation};
pub use ethernet::{EthernetHeader, VlanTag};
pub use ndp::{Ipv6Header, NeighborAdvertisement, NeighborSolicitation, RouterAdvertisement};

use crate::Mac;
use crate::counters::DropReason;

/// A Neighbor Discovery message this crate reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdpMessage {
    Solicitation(NeighborSolicitation),
    Advertisement(NeighborAdvertisement),
    RouterAdvertisement(RouterAdvertisement),
}

/// What an Ethernet frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// EtherType 0x0806.
    Arp(ArpPacket),
    /// EtherType 0x86dd, Next Header 58, ICMPv6 type 134, 135 or 136.
    Ndp { ip: Ipv6Header, message: NdpMessage },
}

/// A whole Ethernet frame carrying ARP or Neighbor Discovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub destination: Mac,
    pub source: Mac,
    pub vlan: Option<VlanTag>,
    pub payload: Payload,
}

impl Frame {
    /// Decodes a frame: Ethernet (one 802.1Q tag skipped), then ARP (Ethernet/IPv4 only) or
    /// IPv6 without extension headers carrying a Neighbor Solicitation or Advertisement, checked
    /// as RFC 4861 §7.1 says, or a Router Advertisement (§6.1.2). Padding after the payload is
    /// ignored. Any other ICMPv6 message is
    /// refused as [`DropReason::NotNeighborSolicitation`].
    pub fn decode(bytes: &[u8]) -> Result<Frame, DropReason> {
        let (ethernet, payload) = EthernetHeader::decode(bytes)?;
        let payload = match ethernet.ethertype {
            ethernet::ETHERTYPE_ARP => Payload::Arp(ArpPacket::decode(payload)?),
            ethernet::ETHERTYPE_IPV6 => {
                let (ip, message) = decode_icmpv6(payload)?;
                let message = match message.first() {
                    Some(&ndp::NEIGHBOR_SOLICITATION) => {
                        NdpMessage::Solicitation(NeighborSolicitation::decode(&ip, message)?)
                    }
                    Some(&ndp::NEIGHBOR_ADVERTISEMENT) => {
                        NdpMessage::Advertisement(NeighborAdvertisement::decode(&ip, message)?)
                    }
                    Some(&ndp::ROUTER_ADVERTISEMENT) => {
                        NdpMessage::RouterAdvertisement(RouterAdvertisement::decode(&ip, message)?)
                    }
                    Some(_) => return Err(DropReason::NotNeighborSolicitation),
                    None => return Err(DropReason::Truncated),
                };
                Payload::Ndp { ip, message }
            }
            _ => return Err(DropReason::UnsupportedEthertype),
        };
        Ok(Frame {
            destination: ethernet.destination,
            source: ethernet.source,
            vlan: ethernet.vlan,
            payload,
        })
    }

    /// Appends the frame, padded to the 60-octet Ethernet minimum (infallible).
    pub fn encode(&self, buffer: &mut Vec<u8>) {
        let start = buffer.len();
        let ethertype = match self.payload {
            Payload::Arp(_) => ethernet::ETHERTYPE_ARP,
            Payload::Ndp { .. } => ethernet::ETHERTYPE_IPV6,
        };
        EthernetHeader {
            destination: self.destination,
            source: self.source,
            vlan: self.vlan,
            ethertype,
        }
        .encode(buffer);
        match &self.payload {
            Payload::Arp(packet) => packet.encode(buffer),
            Payload::Ndp { ip, message } => {
                let header_start = buffer.len();
                ip.encode(ndp::NEXT_HEADER_ICMPV6, 0, buffer);
                let message_start = buffer.len();
                match message {
                    NdpMessage::Solicitation(solicitation) => solicitation.encode(ip, buffer),
                    NdpMessage::Advertisement(advertisement) => advertisement.encode(ip, buffer),
                    NdpMessage::RouterAdvertisement(advertisement) => {
                        advertisement.encode(ip, buffer)
                    }
                }
                // At most 24 + 8 octets: always fits.
                let length = u16::try_from(buffer.len() - message_start).unwrap_or(u16::MAX);
                buffer[header_start + 4..header_start + 6].copy_from_slice(&length.to_be_bytes());
            }
        }
        let minimum = start + ethernet::MINIMUM_FRAME_LENGTH;
        if buffer.len() < minimum {
            buffer.resize(minimum, 0);
        }
    }

    /// The encoded frame.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buffer = Vec::with_capacity(96);
        self.encode(&mut buffer);
        buffer
    }
}

/// Decodes an IPv6 packet that must carry ICMPv6 directly: returns the header and the ICMPv6
/// message. An extension header (Hop-by-Hop for one) is refused rather than walked: Neighbor
/// Discovery messages never carry one.
pub fn decode_icmpv6(packet: &[u8]) -> Result<(Ipv6Header, &[u8]), DropReason> {
    let (ip, next_header, message) = Ipv6Header::decode(packet)?;
    match next_header {
        ndp::NEXT_HEADER_ICMPV6 => Ok((ip, message)),
        other if ndp::is_extension_header(other) => Err(DropReason::Ipv6ExtensionHeader),
        _ => Err(DropReason::NotIcmpv6),
    }
}
