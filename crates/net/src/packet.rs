//! Packet sockets for layer 2 mode: the frames the ARP / Neighbor Discovery responder
//! (`ironlb-neighbor`, sans-IO) answers come in and its answers go out through a
//! [`PacketSocket`], one per interface and [`Ethertype`], on tokio.
//!
//! Each socket carries a classic BPF filter the kernel runs on every frame before queueing it,
//! so only ARP requests ([`ARP_REQUEST_FILTER`]) and ICMPv6 Neighbor Solicitations
//! ([`NEIGHBOR_SOLICITATION_FILTER`]) ever wake the speaker: a busy interface's other traffic
//! costs it nothing. The system calls are in [`crate::socket`].

use std::io;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::socket;

/// The ethertype a [`PacketSocket`] receives, and the frames of it that its filter lets
/// through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ethertype {
    /// ARP (0x0806): requests only.
    Arp,
    /// IPv6 (0x86DD): ICMPv6 Neighbor Solicitations only.
    Ipv6,
    /// IPv6 (0x86DD): ICMPv6 Router Advertisements only (BGP unnumbered's router discovery).
    Ipv6RouterAdvertisement,
    /// IPv4 (0x0800): unfragmented UDP datagrams to port 3785 only (BFD echo packets coming
    /// back from the peer's forwarding plane).
    Ipv4BfdEcho,
}

impl Ethertype {
    /// The value in the Ethernet header (IEEE 802 numbers).
    pub fn value(self) -> u16 {
        match self {
            Ethertype::Arp => 0x0806,
            Ethertype::Ipv6 | Ethertype::Ipv6RouterAdvertisement => 0x86dd,
            Ethertype::Ipv4BfdEcho => 0x0800,
        }
    }

    /// The BPF program the kernel runs on this ethertype's frames.
    pub(crate) fn filter(self) -> &'static [libc::sock_filter] {
        match self {
            Ethertype::Arp => &ARP_REQUEST_FILTER,
            Ethertype::Ipv6 => &NEIGHBOR_SOLICITATION_FILTER,
            Ethertype::Ipv6RouterAdvertisement => &ROUTER_ADVERTISEMENT_FILTER,
            Ethertype::Ipv4BfdEcho => &BFD_ECHO_FILTER,
        }
    }
}

/// To whom a received frame was addressed, as the kernel classified it (`sll_pkttype`).
/// Frames this host sent (`PACKET_OUTGOING`, `PACKET_LOOPBACK`) are never returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// To this interface's MAC (`PACKET_HOST`): unicast ARP requests and Neighbor
    /// Solicitations (Neighbor Unreachability Detection).
    Host,
    /// To the broadcast MAC (`PACKET_BROADCAST`): ARP requests.
    Broadcast,
    /// To a multicast MAC (`PACKET_MULTICAST`): Neighbor Solicitations to a solicited-node
    /// group.
    Multicast,
    /// Unicast to another MAC, seen because the interface is promiscuous
    /// (`PACKET_OTHERHOST`).
    OtherHost,
}

impl PacketKind {
    /// The kind of a frame from the kernel's `sll_pkttype`; `None` for the frames this host
    /// sent and for kinds an Ethernet interface never receives.
    fn from_packet_type(packet_type: u8) -> Option<PacketKind> {
        match packet_type {
            libc::PACKET_HOST => Some(PacketKind::Host),
            libc::PACKET_BROADCAST => Some(PacketKind::Broadcast),
            libc::PACKET_MULTICAST => Some(PacketKind::Multicast),
            libc::PACKET_OTHERHOST => Some(PacketKind::OtherHost),
            // PACKET_OUTGOING, PACKET_LOOPBACK, PACKET_USER, PACKET_KERNEL.
            _ => None,
        }
    }
}

/// A packet socket (`AF_PACKET`, `SOCK_RAW`) on one interface for one [`Ethertype`], on
/// tokio: whole Ethernet frames in and out, header included, as the wire carries them.
///
/// Only frames that pass the ethertype's filter are received (ARP requests, or Neighbor
/// Solicitations), never the frames this host sends. The IPv6 socket also makes the
/// interface receive every multicast group while it is open (`PACKET_MR_ALLMULTI`), since
/// Neighbor Solicitations go to solicited-node groups the NIC would otherwise filter out.
///
/// Needs `CAP_NET_RAW`. The kernel takes a received frame's 802.1Q tag out of the frame (into
/// metadata this socket does not read) before filtering and delivering it: open the socket on
/// the VLAN's interface to answer on that VLAN.
#[derive(Debug)]
pub struct PacketSocket {
    fd: AsyncFd<socket::PacketFd>,
    interface_index: u32,
    ethertype: Ethertype,
}

impl PacketSocket {
    /// Opens a socket receiving `ethertype`'s filtered frames on the interface with kernel
    /// index `interface_index` (see [`crate::interfaces::list`]), in the calling thread's
    /// network namespace. Must be called within a tokio runtime.
    ///
    /// Errors say what to do: `PermissionDenied` without `CAP_NET_RAW`, `NotFound`-like
    /// `ENODEV` for an interface that does not exist, `InvalidInput` for index 0.
    pub fn open(interface_index: u32, ethertype: Ethertype) -> io::Result<PacketSocket> {
        let fd =
            socket::open_packet_socket(interface_index, ethertype.value(), ethertype.filter())?;
        if ethertype == Ethertype::Ipv6 {
            socket::receive_all_multicast(&fd, interface_index)?;
        }
        Ok(PacketSocket {
            fd: fd.into_async()?,
            interface_index,
            ethertype,
        })
    }

    /// The interface the socket is bound to.
    pub fn interface_index(&self) -> u32 {
        self.interface_index
    }

    /// The ethertype the socket receives and sends.
    pub fn ethertype(&self) -> Ethertype {
        self.ethertype
    }

    /// Waits for the next frame, copies it into `buffer` and returns its length and to whom
    /// it was addressed.
    ///
    /// A buffer of the interface's MTU plus 18 bytes (Ethernet header and an 802.1Q tag) holds
    /// any frame; a longer frame is consumed and reported as `InvalidData`, the socket still
    /// usable. `NetworkDown` (`ENETDOWN`) once when the interface went down: the socket
    /// receives again once it is up, unless it was deleted.
    pub async fn recv(&self, buffer: &mut [u8]) -> io::Result<(usize, PacketKind)> {
        loop {
            // ERROR too: a socket whose interface went down is only in error, not readable.
            let mut guard = self.fd.ready(Interest::READABLE | Interest::ERROR).await?;
            match guard.try_io(|fd| self.receive_now(fd.get_ref(), buffer)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives the next frame if one is queued (`WouldBlock` otherwise); see
    /// [`PacketSocket::recv`].
    pub fn try_recv(&self, buffer: &mut [u8]) -> io::Result<(usize, PacketKind)> {
        self.receive_now(self.fd.get_ref(), buffer)
    }

    fn receive_now(
        &self,
        fd: &socket::PacketFd,
        buffer: &mut [u8],
    ) -> io::Result<(usize, PacketKind)> {
        loop {
            let frame = socket::recv_frame(fd, buffer).map_err(|error| {
                if error.raw_os_error() == Some(libc::ENETDOWN) {
                    io::Error::new(
                        error.kind(),
                        format!(
                            "interface index {} went down: frames resume when it is up \
                             again (if it was deleted, open a socket on its successor): {error}",
                            self.interface_index
                        ),
                    )
                } else {
                    error
                }
            })?;
            // The host's own frames: a socket bound to one ethertype is not given them (see
            // socket::open_packet_socket), so this only guards against that changing.
            let Some(kind) = PacketKind::from_packet_type(frame.packet_type) else {
                continue;
            };
            if frame.length > buffer.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a frame of {} bytes on interface index {} did not fit the {}-byte \
                         buffer (give recv at least the MTU plus 18 bytes)",
                        frame.length,
                        self.interface_index,
                        buffer.len()
                    ),
                ));
            }
            return Ok((frame.length, kind));
        }
    }

    /// Sends one whole frame (Ethernet header included) now, or fails with `WouldBlock` when
    /// the socket's send buffer is full. Other errors say what is wrong: interface down or
    /// gone, frame longer than the MTU or shorter than an Ethernet header.
    pub fn try_send(&self, frame: &[u8]) -> io::Result<()> {
        socket::send_frame(
            self.fd.get_ref(),
            self.interface_index,
            self.ethertype.value(),
            frame,
        )
    }

    /// Sends one whole frame (Ethernet header included), waiting while the socket's send
    /// buffer is full; see [`PacketSocket::try_send`].
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| {
                socket::send_frame(
                    fd.get_ref(),
                    self.interface_index,
                    self.ethertype.value(),
                    frame,
                )
            }) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// `ld` / `ldh` / `ldb` with an absolute offset: the accumulator takes the 4, 2 or 1 bytes
/// (big-endian) at that offset of the frame. A load past the frame's end ends the program with
/// 0 (drop): short frames need no length check.
const fn load(size: u32, offset: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_LD | size | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k: offset,
    }
}

/// `jeq #value, jt, jf`: skips `if_equal` instructions when the accumulator equals `value`,
/// `if_not` instructions otherwise.
const fn jump_if_equal(value: u32, if_equal: u8, if_not: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt: if_equal,
        jf: if_not,
        k: value,
    }
}

/// `ret #length`: keeps the first `length` bytes of the frame (0: drops it).
const fn keep(length: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: length,
    }
}

/// `ret` value keeping a frame whole.
const WHOLE_FRAME: u32 = u32::MAX;

/// Lets through ARP requests only (RFC 826, opcode 1), of an Ethernet frame
///
/// ```text
///  0               6              12      14      16      18  19  20      22
/// +---------------+---------------+-------+-------+-------+---+---+-------+----
/// |  destination  |    source     | 0x0806| htype | ptype |hln|pln|  op   | ...
/// +---------------+---------------+-------+-------+-------+---+---+-------+----
/// ```
///
/// ```text
/// 0: ldh [12]               ethertype
/// 1: jeq #0x0806, 0, 3      ARP, or drop
/// 2: ldh [20]               operation
/// 3: jeq #1, 0, 1           request, or drop
/// 4: ret #-1                keep whole
/// 5: ret #0                 drop
/// ```
///
/// Replies, including the gratuitous ones other speakers announce with, never reach us.
/// Everything else (hardware and protocol types, lengths) is the responder's to check.
pub const ARP_REQUEST_FILTER: [libc::sock_filter; 6] = [
    load(libc::BPF_H, 12),
    jump_if_equal(0x0806, 0, 3),
    load(libc::BPF_H, 20),
    jump_if_equal(1, 0, 1),
    keep(WHOLE_FRAME),
    keep(0),
];

/// Lets through ICMPv6 Neighbor Solicitations only (RFC 4861 §4.3, type 135), of an Ethernet
/// frame
///
/// ```text
///  0               6              12      14                  20  21  22      38      54  55
/// +---------------+---------------+-------+-------------------+---+---+-------+-------+---+--
/// |  destination  |    source     | 0x86DD| version, class,   |nxt|hop|source |dest.  |typ|
/// |               |               |       | flow, length      |hdr|lim|       |       |   |
/// +---------------+---------------+-------+-------------------+---+---+-------+-------+---+--
///                                         '---- IPv6 header (40 bytes) ---------------'ICMPv6
/// ```
///
/// ```text
/// 0: ldh [12]               ethertype
/// 1: jeq #0x86dd, 0, 5      IPv6, or drop
/// 2: ldb [20]               next header
/// 3: jeq #58, 0, 3          ICMPv6 right after the IPv6 header, or drop
/// 4: ldb [54]               ICMPv6 type
/// 5: jeq #135, 0, 1         Neighbor Solicitation, or drop
/// 6: ret #-1                keep whole
/// 7: ret #0                 drop
/// ```
///
/// A solicitation behind extension headers is dropped: RFC 4861 senders put none there (and
/// MetalLB's ICMPv6 socket would see it, but its responder does not either). The hop limit
/// (255), the code (0) and the checksum are the responder's to check.
pub const NEIGHBOR_SOLICITATION_FILTER: [libc::sock_filter; 8] = [
    load(libc::BPF_H, 12),
    jump_if_equal(0x86dd, 0, 5),
    load(libc::BPF_B, 20),
    jump_if_equal(58, 0, 3),
    load(libc::BPF_B, 54),
    jump_if_equal(135, 0, 1),
    keep(WHOLE_FRAME),
    keep(0),
];

/// Lets through ICMPv6 Router Advertisements only (RFC 4861 §4.2, type 134): the program of
/// [`NEIGHBOR_SOLICITATION_FILTER`] with 134 for 135. Hop limit, source, code and checksum are
/// the router discovery's to check.
pub const ROUTER_ADVERTISEMENT_FILTER: [libc::sock_filter; 8] = [
    load(libc::BPF_H, 12),
    jump_if_equal(0x86dd, 0, 5),
    load(libc::BPF_B, 20),
    jump_if_equal(58, 0, 3),
    load(libc::BPF_B, 54),
    jump_if_equal(134, 0, 1),
    keep(WHOLE_FRAME),
    keep(0),
];

/// `jset #bits, jt, jf`: skips `if_any` instructions when the accumulator has any of `bits`
/// set, `if_none` otherwise.
const fn jump_if_any(bits: u32, if_any: u8, if_none: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16,
        jt: if_any,
        jf: if_none,
        k: bits,
    }
}

/// `ldxb 4*([offset]&0xf)`: the index register takes the IPv4 header length of the header at
/// `offset`.
const fn load_ipv4_header_length(offset: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16,
        jt: 0,
        jf: 0,
        k: offset,
    }
}

/// `ldh [x + offset]`: the accumulator takes the 2 bytes at the index register plus `offset`.
const fn load_half_indexed(offset: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_LD | libc::BPF_H | libc::BPF_IND) as u16,
        jt: 0,
        jf: 0,
        k: offset,
    }
}

/// Lets through unfragmented IPv4 UDP datagrams to port 3785 only (BFD echo, RFC 5881 §4):
///
/// ```text
///  0: ldh [12]               ethertype
///  1: jeq #0x0800, 0, 8      IPv4, or drop
///  2: ldb [23]               protocol
///  3: jeq #17, 0, 6          UDP, or drop
///  4: ldh [20]               flags and fragment offset
///  5: jset #0x1fff, 4, 0     a fragment past the first: drop
///  6: ldxb 4*([14]&0xf)      IPv4 header length
///  7: ldh [x + 16]           UDP destination port (14 + header length + 2)
///  8: jeq #3785, 0, 1        echo, or drop
///  9: ret #-1                keep whole
/// 10: ret #0                 drop
/// ```
///
/// The payload (IronLB's own echo format, the discriminator) is the driver's to check.
pub const BFD_ECHO_FILTER: [libc::sock_filter; 11] = [
    load(libc::BPF_H, 12),
    jump_if_equal(0x0800, 0, 8),
    load(libc::BPF_B, 23),
    jump_if_equal(17, 0, 6),
    load(libc::BPF_H, 20),
    jump_if_any(0x1fff, 4, 0),
    load_ipv4_header_length(14),
    load_half_indexed(16),
    jump_if_equal(ironlb_bfd::echo::ECHO_PORT as u32, 0, 1),
    keep(WHOLE_FRAME),
    keep(0),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over `frame` as the kernel does, for the instructions the
    /// filters above use (any other panics): the value returned is how many bytes are kept.
    fn run(program: &[libc::sock_filter], frame: &[u8]) -> u32 {
        let mut accumulator = 0u32;
        let mut index = 0u32;
        let mut counter = 0usize;
        loop {
            let instruction = program
                .get(counter)
                .unwrap_or_else(|| panic!("ran past the program's end at {counter}"));
            counter += 1;
            let code = u32::from(instruction.code);
            let k = instruction.k;
            match code {
                _ if code == libc::BPF_LD | libc::BPF_H | libc::BPF_ABS
                    || code == libc::BPF_LD | libc::BPF_B | libc::BPF_ABS =>
                {
                    let size = if code & libc::BPF_B != 0 { 1 } else { 2 };
                    let start = k as usize;
                    let Some(bytes) = frame.get(start..start + size) else {
                        // Past the end: the kernel ends the program with 0.
                        return 0;
                    };
                    accumulator = bytes.iter().fold(0, |a, &b| (a << 8) | u32::from(b));
                }
                _ if code == libc::BPF_LD | libc::BPF_H | libc::BPF_IND => {
                    let start = (index + k) as usize;
                    let Some(bytes) = frame.get(start..start + 2) else {
                        return 0;
                    };
                    accumulator = u32::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                }
                _ if code == libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH => {
                    let Some(byte) = frame.get(k as usize) else {
                        return 0;
                    };
                    index = 4 * u32::from(byte & 0x0f);
                }
                _ if code == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => {
                    let skip = if accumulator & k != 0 {
                        instruction.jt
                    } else {
                        instruction.jf
                    };
                    counter += usize::from(skip);
                }
                _ if code == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    let skip = if accumulator == k {
                        instruction.jt
                    } else {
                        instruction.jf
                    };
                    counter += usize::from(skip);
                }
                _ if code == libc::BPF_RET | libc::BPF_K => return k,
                _ => panic!(
                    "instruction {code:#x} at {} is not interpreted",
                    counter - 1
                ),
            }
        }
    }

    fn accepts(program: &[libc::sock_filter], frame: &[u8]) -> bool {
        run(program, frame) > 0
    }

    const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

    fn ethernet(destination: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = destination.to_vec();
        frame.extend_from_slice(&CLIENT_MAC);
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    fn arp(operation: u16) -> Vec<u8> {
        let mut payload = vec![0, 1, 0x08, 0x00, 6, 4];
        payload.extend_from_slice(&operation.to_be_bytes());
        payload.extend_from_slice(&CLIENT_MAC);
        payload.extend_from_slice(&[10, 0, 0, 2]);
        payload.extend_from_slice(&[0; 6]);
        payload.extend_from_slice(&[10, 0, 0, 99]);
        ethernet([0xff; 6], 0x0806, &payload)
    }

    /// An IPv6 packet (no extension header) carrying `next_header` with `payload`.
    fn ipv6(next_header: u8, payload: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x60, 0, 0, 0];
        packet.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        packet.extend_from_slice(&[next_header, 255]);
        packet.extend_from_slice(
            &"2001:db8::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        packet.extend_from_slice(
            &"ff02::1:ff00:99"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        packet.extend_from_slice(payload);
        ethernet([0x33, 0x33, 0xff, 0, 0, 0x99], 0x86dd, &packet)
    }

    /// ICMPv6 of `icmp_type` (checksum left 0: the filter does not look at it), with a
    /// target-like body and a source link-layer address option.
    fn icmpv6(icmp_type: u8) -> Vec<u8> {
        let mut message = vec![icmp_type, 0, 0, 0, 0, 0, 0, 0];
        message.extend_from_slice(
            &"2001:db8::99"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        message.extend_from_slice(&[1, 1]);
        message.extend_from_slice(&CLIENT_MAC);
        ipv6(58, &message)
    }

    #[test]
    fn neighbor_solicitation_is_kept_whole() {
        let solicitation = icmpv6(135);
        assert_eq!(solicitation.len(), 14 + 40 + 32);
        assert_eq!(solicitation[54], 135);
        assert_eq!(run(&NEIGHBOR_SOLICITATION_FILTER, &solicitation), u32::MAX);
    }

    #[test]
    fn router_advertisement_filter_keeps_only_router_advertisements() {
        assert_eq!(run(&ROUTER_ADVERTISEMENT_FILTER, &icmpv6(134)), u32::MAX);
        for icmp_type in [135, 136, 133, 137, 128, 129, 143] {
            assert!(
                !accepts(&ROUTER_ADVERTISEMENT_FILTER, &icmpv6(icmp_type)),
                "ICMPv6 type {icmp_type}"
            );
        }
        assert!(!accepts(&ROUTER_ADVERTISEMENT_FILTER, &arp(1)));
    }

    #[test]
    fn ipv6_filter_drops_everything_but_neighbor_solicitations() {
        // Neighbor Advertisement, Router Solicitation / Advertisement, Redirect, echo request
        // and reply, MLDv2 report.
        for icmp_type in [136, 133, 134, 137, 128, 129, 143] {
            assert!(
                !accepts(&NEIGHBOR_SOLICITATION_FILTER, &icmpv6(icmp_type)),
                "ICMPv6 type {icmp_type}"
            );
        }
        // TCP and UDP whose byte 54 (inside their header) happens to be 135.
        for next_header in [6, 17] {
            let mut segment = vec![0u8; 40];
            segment[0] = 135;
            assert!(!accepts(
                &NEIGHBOR_SOLICITATION_FILTER,
                &ipv6(next_header, &segment)
            ));
        }
        // A solicitation behind a hop-by-hop options header.
        let mut hop_by_hop = vec![58, 0, 0, 0, 0, 0, 0, 0];
        hop_by_hop.extend_from_slice(&icmpv6(135)[54..]);
        assert!(!accepts(
            &NEIGHBOR_SOLICITATION_FILTER,
            &ipv6(0, &hop_by_hop)
        ));
        // IPv4 (a TCP segment whose byte 20 is 58 and byte 54 is 135) and ARP.
        let mut ipv4 = vec![0x45u8; 60];
        ipv4[6] = 58;
        ipv4[40] = 135;
        assert!(!accepts(
            &NEIGHBOR_SOLICITATION_FILTER,
            &ethernet(CLIENT_MAC, 0x0800, &ipv4)
        ));
        assert!(!accepts(&NEIGHBOR_SOLICITATION_FILTER, &arp(1)));
        // A VLAN-tagged solicitation (tag still in the frame): ethertype 0x8100.
        let solicitation = icmpv6(135);
        let mut tagged = solicitation[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        tagged.extend_from_slice(&solicitation[12..]);
        assert!(!accepts(&NEIGHBOR_SOLICITATION_FILTER, &tagged));
    }

    #[test]
    fn arp_filter_keeps_requests_and_drops_replies() {
        assert_eq!(run(&ARP_REQUEST_FILTER, &arp(1)), u32::MAX);
        // Reply (gratuitous ones included), RARP request and reply.
        for operation in [2, 3, 4] {
            assert!(
                !accepts(&ARP_REQUEST_FILTER, &arp(operation)),
                "operation {operation}"
            );
        }
        assert!(!accepts(&ARP_REQUEST_FILTER, &icmpv6(135)));
        // IPv4 whose bytes 20-21 are 0x0001.
        let mut ipv4 = vec![0x45u8; 40];
        ipv4[6] = 0;
        ipv4[7] = 1;
        assert!(!accepts(
            &ARP_REQUEST_FILTER,
            &ethernet(CLIENT_MAC, 0x0800, &ipv4)
        ));
    }

    #[test]
    fn short_frames_are_dropped() {
        // Cut anywhere before the byte the last test reads: the load past the end drops it.
        let solicitation = icmpv6(135);
        for length in 0..=54 {
            assert!(
                !accepts(&NEIGHBOR_SOLICITATION_FILTER, &solicitation[..length]),
                "{length} bytes"
            );
        }
        assert!(accepts(&NEIGHBOR_SOLICITATION_FILTER, &solicitation[..55]));
        let request = arp(1);
        for length in 0..=21 {
            assert!(
                !accepts(&ARP_REQUEST_FILTER, &request[..length]),
                "{length} bytes"
            );
        }
        assert!(accepts(&ARP_REQUEST_FILTER, &request[..22]));
    }

    #[test]
    fn filters_jump_only_forward_and_end_with_a_return() {
        for program in [
            &ARP_REQUEST_FILTER[..],
            &NEIGHBOR_SOLICITATION_FILTER[..],
            &ROUTER_ADVERTISEMENT_FILTER[..],
        ] {
            for (at, instruction) in program.iter().enumerate() {
                if u32::from(instruction.code) == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K {
                    let furthest = at + 1 + usize::from(instruction.jt.max(instruction.jf));
                    assert!(furthest < program.len(), "jump past the end at {at}");
                }
            }
            assert_eq!(
                u32::from(program[program.len() - 1].code),
                libc::BPF_RET | libc::BPF_K
            );
        }
    }

    #[test]
    fn own_frames_are_not_a_packet_kind() {
        assert_eq!(PacketKind::from_packet_type(0), Some(PacketKind::Host));
        assert_eq!(PacketKind::from_packet_type(1), Some(PacketKind::Broadcast));
        assert_eq!(PacketKind::from_packet_type(2), Some(PacketKind::Multicast));
        assert_eq!(PacketKind::from_packet_type(3), Some(PacketKind::OtherHost));
        assert_eq!(PacketKind::from_packet_type(libc::PACKET_OUTGOING), None);
        assert_eq!(PacketKind::from_packet_type(libc::PACKET_LOOPBACK), None);
    }

    #[test]
    fn the_echo_filter_keeps_echo_datagrams_only() {
        use ironlb_bfd::echo::{EchoPacket, EchoPath, frame};
        let path = EchoPath {
            local_mac: CLIENT_MAC,
            peer_mac: [2, 0, 0, 0, 0, 1],
            address: std::net::Ipv4Addr::new(10, 0, 0, 21),
            source_port: 49152,
        };
        let echo = frame(
            &path,
            &EchoPacket {
                discriminator: 5,
                sequence: 1,
            },
        );
        assert!(accepts(&BFD_ECHO_FILTER, &echo));
        // IPv4 options move the UDP header: the filter follows the header length.
        let mut with_options = echo[..14].to_vec();
        with_options.push(0x46);
        with_options.extend_from_slice(&echo[15..34]);
        with_options.extend_from_slice(&[1, 1, 1, 0]);
        with_options.extend_from_slice(&echo[34..]);
        assert!(accepts(&BFD_ECHO_FILTER, &with_options));
        let mut control = echo.clone();
        control[36..38].copy_from_slice(&3784u16.to_be_bytes());
        assert!(!accepts(&BFD_ECHO_FILTER, &control), "control packets");
        let mut tcp = echo.clone();
        tcp[23] = 6;
        assert!(!accepts(&BFD_ECHO_FILTER, &tcp));
        let mut later_fragment = echo.clone();
        later_fragment[21] = 0x10;
        assert!(!accepts(&BFD_ECHO_FILTER, &later_fragment));
        assert!(!accepts(&BFD_ECHO_FILTER, &arp(1)));
        assert!(!accepts(&BFD_ECHO_FILTER, &echo[..30]), "short frames");
    }
}
