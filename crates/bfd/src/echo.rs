//! The BFD Echo function's packets (RFC 5880 §6.4, RFC 5881 §4), sans-IO.
//!
//! An echo packet is addressed by its sender to itself and handed to the peer's link layer, so
//! the peer's *forwarding plane* sends it straight back: no BFD process on the peer sees it. It
//! tests what the control packets cannot, that the peer forwards. Its payload is the sender's
//! own business (RFC 5880 §6.4); IronLB's is 16 bytes:
//!
//! ```text
//! version (1) | length (16) | reserved (2 bytes, zero) | my discriminator (4) | sequence (8)
//! ```
//!
//! The packets are IPv4 single hop only (as in FRR, whose IPv4 echo is looped in the
//! forwarding plane, and MetalLB, which refuses echo mode for IPv6): source and destination
//! the sender's own address, UDP destination port 3785, TTL 255. Returned packets carry the
//! sender's own address as source, which the kernel's IP layer drops as martian, so they are
//! received below it, as whole Ethernet frames ([`parse_frame`]); [`frame`] builds the frame
//! to send to the peer's MAC address.

use std::net::Ipv4Addr;

/// UDP destination port of echo packets (RFC 5881 §4).
pub const ECHO_PORT: u16 = 3785;
/// Length of IronLB's echo payload.
pub const ECHO_LENGTH: usize = 16;
const ECHO_VERSION: u8 = 1;
const ETHERNET_HEADER: usize = 14;
const IPV4_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const PROTOCOL_UDP: u8 = 17;

/// IronLB's echo payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoPacket {
    /// The sending session's discriminator: which session the returned packet belongs to.
    pub discriminator: u32,
    /// Counts the packets a session sent.
    pub sequence: u64,
}

impl EchoPacket {
    pub fn encode(&self) -> [u8; ECHO_LENGTH] {
        let mut bytes = [0u8; ECHO_LENGTH];
        bytes[0] = ECHO_VERSION;
        bytes[1] = ECHO_LENGTH as u8;
        bytes[4..8].copy_from_slice(&self.discriminator.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.sequence.to_be_bytes());
        bytes
    }

    /// Decodes a payload; `None` for anything that is not IronLB's echo (another sender's
    /// format, a zero discriminator, a short or long payload).
    pub fn decode(bytes: &[u8]) -> Option<EchoPacket> {
        let bytes: &[u8; ECHO_LENGTH] = bytes.try_into().ok()?;
        if bytes[0] != ECHO_VERSION || usize::from(bytes[1]) != ECHO_LENGTH {
            return None;
        }
        let discriminator = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let mut sequence = [0u8; 8];
        sequence.copy_from_slice(&bytes[8..16]);
        (discriminator != 0).then_some(EchoPacket {
            discriminator,
            sequence: u64::from_be_bytes(sequence),
        })
    }
}

/// Where an echo frame goes: from our interface's MAC to the peer's, from and to `address`
/// (ours), from UDP port `source_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoPath {
    pub local_mac: [u8; 6],
    pub peer_mac: [u8; 6],
    pub address: Ipv4Addr,
    pub source_port: u16,
}

/// The Ethernet frame carrying `packet` along `path`: IPv4 (TTL 255, don't fragment, header
/// checksum set), UDP to port 3785 (checksum set).
pub fn frame(path: &EchoPath, packet: &EchoPacket) -> Vec<u8> {
    let payload = packet.encode();
    let udp_length = (UDP_HEADER + payload.len()) as u16;
    let total_length = IPV4_HEADER as u16 + udp_length;
    let mut frame = Vec::with_capacity(ETHERNET_HEADER + usize::from(total_length));
    frame.extend_from_slice(&path.peer_mac);
    frame.extend_from_slice(&path.local_mac);
    frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let ip_start = frame.len();
    let address = path.address.octets();
    frame.extend_from_slice(&[0x45, 0xc0]); // version 4, IHL 5; DSCP CS6 (network control)
    frame.extend_from_slice(&total_length.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0x40, 0]); // identification 0, don't fragment
    frame.extend_from_slice(&[255, PROTOCOL_UDP, 0, 0]); // TTL 255, UDP, checksum below
    frame.extend_from_slice(&address);
    frame.extend_from_slice(&address);
    let checksum = internet_checksum(&[&frame[ip_start..]]);
    frame[ip_start + 10..ip_start + 12].copy_from_slice(&checksum.to_be_bytes());
    let udp_start = frame.len();
    frame.extend_from_slice(&path.source_port.to_be_bytes());
    frame.extend_from_slice(&ECHO_PORT.to_be_bytes());
    frame.extend_from_slice(&udp_length.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&payload);
    // The UDP checksum covers a pseudo-header: source, destination, protocol, UDP length.
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&address);
    pseudo[4..8].copy_from_slice(&address);
    pseudo[9] = PROTOCOL_UDP;
    pseudo[10..12].copy_from_slice(&udp_length.to_be_bytes());
    let checksum = match internet_checksum(&[&pseudo, &frame[udp_start..]]) {
        0 => 0xffff,
        sum => sum,
    };
    frame[udp_start + 6..udp_start + 8].copy_from_slice(&checksum.to_be_bytes());
    frame
}

/// An echo packet from a received Ethernet frame, with the IPv4 destination it was sent to
/// (which must be one of ours). `None` for any frame that is not an unfragmented IPv4 UDP
/// datagram to port 3785 carrying IronLB's echo payload; never panics.
pub fn parse_frame(frame: &[u8]) -> Option<(Ipv4Addr, EchoPacket)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(ETHERNET_HEADER..)?;
    let first = *ip.first()?;
    let header_length = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_length < IPV4_HEADER {
        return None;
    }
    let total_length = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let fragment = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    // More fragments, or an offset: not a whole datagram.
    if fragment & 0x3fff != 0 || *ip.get(9)? != PROTOCOL_UDP {
        return None;
    }
    let ip = ip.get(..total_length)?;
    let destination = Ipv4Addr::new(*ip.get(16)?, *ip.get(17)?, *ip.get(18)?, *ip.get(19)?);
    let udp = ip.get(header_length..)?;
    let port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    let udp_length = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    if port != ECHO_PORT || udp_length < UDP_HEADER {
        return None;
    }
    let payload = udp.get(UDP_HEADER..udp_length)?;
    Some((destination, EchoPacket::decode(payload)?))
}

/// The Internet checksum (RFC 1071) of the concatenated pieces.
fn internet_checksum(pieces: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for byte in pieces.iter().flat_map(|piece| piece.iter()) {
        match odd.take() {
            Some(high) => sum += u32::from(u16::from_be_bytes([high, *byte])),
            None => odd = Some(*byte),
        }
    }
    if let Some(high) = odd {
        sum += u32::from(u16::from_be_bytes([high, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: EchoPath = EchoPath {
        local_mac: [2, 0, 0, 0, 0, 21],
        peer_mac: [2, 0, 0, 0, 0, 1],
        address: Ipv4Addr::new(10, 0, 0, 21),
        source_port: 49152,
    };

    #[test]
    fn an_echo_frame_goes_to_the_peer_mac_and_comes_back_as_the_same_packet() {
        let packet = EchoPacket {
            discriminator: 0x1234_5678,
            sequence: 42,
        };
        let frame = frame(&PATH, &packet);
        assert_eq!(frame.len(), 14 + 20 + 8 + 16);
        assert_eq!(frame[..6], PATH.peer_mac);
        assert_eq!(frame[6..12], PATH.local_mac);
        // The IPv4 header checksums to zero when the checksum field is included.
        assert_eq!(internet_checksum(&[&frame[14..34]]), 0);
        assert_eq!(frame[14 + 8], 255, "TTL 255");
        assert_eq!(parse_frame(&frame), Some((PATH.address, packet)));
        // The peer's forwarding plane sends it back with the TTL decremented and the header
        // checksum updated; the source and destination MACs swapped.
        let mut returned = frame.clone();
        returned[14 + 8] = 254;
        assert_eq!(parse_frame(&returned), Some((PATH.address, packet)));
    }

    #[test]
    fn the_udp_checksum_verifies() {
        let frame = frame(
            &PATH,
            &EchoPacket {
                discriminator: 7,
                sequence: u64::MAX,
            },
        );
        let udp = &frame[34..];
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&PATH.address.octets());
        pseudo[4..8].copy_from_slice(&PATH.address.octets());
        pseudo[9] = 17;
        pseudo[10..12].copy_from_slice(&(udp.len() as u16).to_be_bytes());
        assert_eq!(internet_checksum(&[&pseudo, udp]), 0);
    }

    #[test]
    fn other_frames_are_not_echoes() {
        let good = frame(
            &PATH,
            &EchoPacket {
                discriminator: 9,
                sequence: 1,
            },
        );
        for length in 0..good.len() {
            assert_eq!(parse_frame(&good[..length]), None, "truncated to {length}");
        }
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(parse_frame(&arp), None);
        let mut fragment = good.clone();
        fragment[14 + 6] = 0x20; // more fragments
        assert_eq!(parse_frame(&fragment), None);
        let mut control = good.clone();
        control[34 + 2..34 + 4].copy_from_slice(&3784u16.to_be_bytes());
        assert_eq!(parse_frame(&control), None);
        let mut zero = good.clone();
        zero[34 + 8 + 4..34 + 8 + 8].fill(0);
        assert_eq!(parse_frame(&zero), None, "zero discriminator");
        let mut foreign = good;
        foreign[34 + 8] = 2;
        assert_eq!(
            parse_frame(&foreign),
            None,
            "another implementation's payload"
        );
    }
}
