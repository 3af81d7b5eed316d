//! BFD, Bidirectional Forwarding Detection (RFC 5880, single hop RFC 5881, multihop RFC 5883),
//! sans-IO: a control packet codec ([`packet`]), the Echo function's packets ([`echo`]) and a
//! session state machine ([`session`]).
//! Sockets (UDP 3784/4784, TTL 255 and GTSM) live in the speaker's driver.

pub mod echo;
pub mod packet;
pub mod session;

pub use echo::EchoPacket;
pub use packet::{ControlPacket, Diagnostic, DiscardReason, State};
pub use session::{Event, Parameters, Session};

/// UDP destination port of single-hop BFD control packets (RFC 5881).
pub const SINGLE_HOP_PORT: u16 = 3784;
/// UDP destination port of multihop BFD control packets (RFC 5883).
pub const MULTI_HOP_PORT: u16 = 4784;
/// Source ports for BFD control packets (RFC 5881 §4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
