//! One place that turns a configured peer into a session: the BGPPeer (and its BFD profile)
//! plus this node's router ID give everything the BGP and BFD engines need, decided here and
//! nowhere else, for the speaker and for `ironlb bgp announce` alike.
//!
//! The rules, each MetalLB's (FRR mode) unless said:
//! - **Router ID:** the BGPPeer's IPv4 `routerID`, else the speaker's `--router-id`, else the
//!   node's first IPv4 InternalIP; none of these is an error naming the three fixes.
//! - **AS numbers:** `localASN` replaces `myASN` towards this peer; `peerASN` literal, or
//!   `internal` / `external` (dynamicASN).
//! - **TTL:** 1 towards a directly connected eBGP peer, 255 for iBGP and `ebgpMultiHop` (FRR's
//!   defaults). No minimum TTL on received segments (GTSM): MetalLB has no field for it and a
//!   router that does not send 255 would be cut off.
//! - **Timers:** `holdTime` / `keepaliveTime` as given (90 s and a third of the hold otherwise);
//!   `connectTime` is the wait between connection attempts (FRR's `timers connect`).
//! - **Graceful restart:** `enableGracefulRestart` offers it with FRR's restart time, 120 s.
//! - **UPDATE batching:** 1 ms after the first change (the speaker's default).
//! - **BFD:** the profile's intervals and multiplier, passive mode and minimum TTL; multihop
//!   when the peer is `ebgpMultiHop`; from the peer's source address.
//! - **BGP unnumbered** (`interface`, FRR's `neighbor eth0 interface`): the router found on the
//!   interface from its Router Advertisements, dialled at its IPv6 link-local address (the
//!   TTL as above), IPv4 and IPv6 unicast on the session, IPv4 routes with the IPv6 next hop
//!   (RFC 8950 Extended Next Hop, offered as FRR offers it to interface neighbours). BFD
//!   towards such a peer starts once the router's link-local address is known (the speaker
//!   runtime adds it then, scoped to the interface).
//! - **Jitter seed:** derived from the router ID and the peer's address, so every node jitters
//!   its reconnects differently and the same settings compare equal from one snapshot to the
//!   next.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ironlb_api::k8s_openapi::api::core::v1::Node;
use ironlb_bgp::fsm::{Config as FsmConfig, RemoteAs};
use ironlb_bgp::session::{GracefulRestartConfig, SessionConfig};
use ironlb_config::{BfdProfile, Peer, PeerAddress, PeerAsn};

/// FRR's default restart time, which MetalLB's FRR mode leaves as is.
pub const RESTART_TIME_SECONDS: u16 = 120;

/// Settings of the speaker that apply to every session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionDefaults {
    /// `--router-id`: the BGP identifier when the BGPPeer gives none.
    pub router_id: Option<Ipv4Addr>,
    /// How long after the first route change UPDATEs go out.
    pub batch_delay: Duration,
    /// Seconds the routers keep our routes while we restart, when the peer enables graceful
    /// restart.
    pub restart_time: u16,
}

impl Default for SessionDefaults {
    fn default() -> Self {
        SessionDefaults {
            router_id: None,
            batch_delay: Duration::from_millis(1),
            restart_time: RESTART_TIME_SECONDS,
        }
    }
}

/// Everything a session with one peer needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionSettings {
    /// The BGPPeer's name (logs, status).
    pub name: String,
    /// The peer's address and port; for an unnumbered peer `[::]` and the port (the address
    /// is found on the interface).
    pub address: SocketAddr,
    /// BGP unnumbered: the interface the router is found on.
    pub interface: Option<String>,
    pub transport: Transport,
    pub session: SessionConfig,
    pub bfd: Option<BfdSettings>,
}

/// The TCP connection's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transport {
    /// Local address to connect from (`sourceAddress`).
    pub source: Option<IpAddr>,
    /// TCP MD5 key (RFC 2385).
    pub md5_key: Option<Vec<u8>>,
    /// TTL of sent segments.
    pub ttl: u8,
    /// Lowest TTL accepted on received segments (GTSM), if any.
    pub minimum_ttl: Option<u8>,
}

/// The BFD session beside a BGP session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdSettings {
    pub peer: IpAddr,
    pub local: Option<IpAddr>,
    pub parameters: ironlb_bfd::Parameters,
    /// RFC 5883 multihop (the peer is `ebgpMultiHop`).
    pub hops: BfdHops,
    /// Lowest TTL accepted on multihop packets.
    pub minimum_ttl: u8,
}

/// Single-hop (RFC 5881) or multihop (RFC 5883) BFD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BfdHops {
    Single,
    Multi,
}

/// Why a configured peer gets no session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// No IPv4 router ID from the BGPPeer, the flag or the Node.
    NoRouterId,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::NoRouterId => f.write_str(
                "no BGP router ID: give the BGPPeer a routerID, the Node an IPv4 InternalIP, or the speaker --router-id",
            ),
        }
    }
}

impl std::error::Error for SessionError {}

/// The BGP identifier of a session with `peer` from this node.
pub fn router_id(
    peer: &Peer,
    defaults: &SessionDefaults,
    node: Option<&Node>,
) -> Result<Ipv4Addr, SessionError> {
    match peer.router_id {
        Some(IpAddr::V4(id)) => Ok(id),
        _ => defaults
            .router_id
            .or_else(|| node.and_then(node_ipv4))
            .ok_or(SessionError::NoRouterId),
    }
}

/// The node's first IPv4 InternalIP (MetalLB's default router ID is the node's address).
pub fn node_ipv4(node: &Node) -> Option<Ipv4Addr> {
    node.status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse::<Ipv4Addr>().ok())
}

/// The session with `peer`, identified as `router_id`, with `bfd` when the peer names a
/// profile.
pub fn settings(
    peer: &Peer,
    bfd: Option<&BfdProfile>,
    router_id: Ipv4Addr,
    defaults: &SessionDefaults,
) -> Result<SessionSettings, SessionError> {
    let (address, interface) = match &peer.address {
        PeerAddress::Address(address) => (*address, None),
        // The router's address is learnt on the interface; its BFD session (if any) starts
        // with it: until then `bfd.peer` is unspecified too.
        PeerAddress::Interface(interface) => {
            (IpAddr::V6(Ipv6Addr::UNSPECIFIED), Some(interface.clone()))
        }
    };
    let local_as = peer.local_asn.unwrap_or(peer.my_asn).get();
    let remote_as = match peer.peer_asn {
        PeerAsn::Fixed(asn) => RemoteAs::Exactly(asn.get()),
        PeerAsn::Internal => RemoteAs::Internal,
        PeerAsn::External => RemoteAs::External,
    };
    let external = match peer.peer_asn {
        PeerAsn::Fixed(asn) => asn.get() != local_as,
        PeerAsn::Internal => false,
        PeerAsn::External => true,
    };
    let mut fsm = FsmConfig::new(local_as, remote_as, router_id);
    // Validated: non-negative and within bounds, so the conversions hold.
    if let Some(timers) = &peer.timers {
        fsm.hold_time = timers.hold.to_std().unwrap_or(fsm.hold_time);
        fsm.keepalive_time = timers.keepalive.to_std().unwrap_or(fsm.keepalive_time);
    }
    if let Some(interval) = peer.connect_time.and_then(|t| t.to_std()) {
        fsm.connect_retry = interval;
    }
    fsm.seed = jitter_seed(router_id, address)
        ^ interface.as_deref().map_or(0, |name| {
            name.bytes()
                .fold(0u64, |seed, byte| seed.rotate_left(8) ^ u64::from(byte))
        });
    let mut session = SessionConfig::new(fsm);
    // FRR offers IPv4 unicast over IPv6 next hops to interface neighbours (and expects it).
    session.extended_next_hop = interface.is_some();
    session.batch_delay = defaults.batch_delay;
    if peer.graceful_restart {
        session.graceful_restart = Some(GracefulRestartConfig {
            restart_time: defaults.restart_time,
        });
    }
    let transport = Transport {
        source: peer.source_address,
        md5_key: peer
            .password
            .as_ref()
            .map(|password| password.value().as_bytes().to_vec()),
        ttl: if peer.ebgp_multi_hop || !external {
            255
        } else {
            1
        },
        minimum_ttl: None,
    };
    let bfd = bfd.map(|profile| BfdSettings {
        peer: address,
        local: peer.source_address,
        parameters: ironlb_bfd::Parameters {
            desired_min_tx: Duration::from_millis(u64::from(profile.transmit_interval_ms)),
            required_min_rx: Duration::from_millis(u64::from(profile.receive_interval_ms)),
            detect_multiplier: profile.detect_multiplier,
            passive: profile.passive_mode,
            // echoMode: FRR's `echo-mode` with `echo-interval`, which sets both the interval
            // we send echo packets at and the one we accept the peer's at.
            echo_transmit: profile
                .echo_mode
                .then(|| Duration::from_millis(u64::from(profile.echo_interval_ms))),
            echo_receive: if profile.echo_mode {
                Duration::from_millis(u64::from(profile.echo_interval_ms))
            } else {
                Duration::ZERO
            },
        },
        hops: if peer.ebgp_multi_hop {
            BfdHops::Multi
        } else {
            BfdHops::Single
        },
        minimum_ttl: profile.minimum_ttl,
    });
    Ok(SessionSettings {
        name: peer.name.clone(),
        address: SocketAddr::new(address, peer.port),
        interface,
        transport,
        session,
        bfd,
    })
}

/// A seed that differs per node and peer and stays the same across snapshots.
fn jitter_seed(router_id: Ipv4Addr, peer: IpAddr) -> u64 {
    let peer = match peer {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            (bits as u64) ^ ((bits >> 64) as u64)
        }
    };
    (u64::from(u32::from(router_id)) << 32 | (peer & 0xffff_ffff))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use ironlb_api::k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};
    use ironlb_config::{Password, Timers};

    use super::*;

    fn peer(asn: u32) -> Peer {
        Peer {
            name: "tor1".into(),
            my_asn: NonZeroU32::new(65100).unwrap(),
            peer_asn: PeerAsn::Fixed(NonZeroU32::new(asn).unwrap()),
            local_asn: None,
            address: PeerAddress::Address("10.0.0.1".parse().unwrap()),
            source_address: None,
            port: 179,
            timers: None,
            connect_time: None,
            router_id: None,
            node_selectors: Vec::new(),
            password: None,
            bfd_profile: None,
            graceful_restart: false,
            ebgp_multi_hop: false,
            vrf: String::new(),
            dual_stack_address_family: false,
        }
    }

    fn profile() -> BfdProfile {
        BfdProfile {
            name: "tor-bfd".into(),
            receive_interval_ms: 300,
            transmit_interval_ms: 200,
            detect_multiplier: 3,
            echo_interval_ms: 50,
            echo_mode: false,
            passive_mode: true,
            minimum_ttl: 254,
        }
    }

    fn node(addresses: &[(&str, &str)]) -> Node {
        Node {
            status: Some(NodeStatus {
                addresses: Some(
                    addresses
                        .iter()
                        .map(|(kind, address)| NodeAddress {
                            type_: (*kind).into(),
                            address: (*address).into(),
                        })
                        .collect(),
                ),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    const ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 21);

    #[test]
    fn direct_ebgp_sends_ttl_1_and_ibgp_or_multihop_ttl_255() {
        let defaults = SessionDefaults::default();
        let direct = settings(&peer(65000), None, ID, &defaults).unwrap();
        assert_eq!(direct.transport.ttl, 1);
        let internal = settings(&peer(65100), None, ID, &defaults).unwrap();
        assert_eq!(internal.transport.ttl, 255);
        let multihop = settings(
            &Peer {
                ebgp_multi_hop: true,
                ..peer(65000)
            },
            Some(&profile()),
            ID,
            &defaults,
        )
        .unwrap();
        assert_eq!(multihop.transport.ttl, 255);
        assert_eq!(multihop.bfd.unwrap().hops, BfdHops::Multi);
        assert_eq!(
            direct.transport.minimum_ttl, None,
            "no GTSM field in MetalLB"
        );
    }

    #[test]
    fn local_asn_replaces_my_asn_and_dynamic_asn_is_kept() {
        let defaults = SessionDefaults::default();
        let with_local = Peer {
            local_asn: NonZeroU32::new(64999),
            ..peer(65000)
        };
        let session = settings(&with_local, None, ID, &defaults).unwrap().session;
        assert_eq!(session.fsm.local_as, 64999);
        assert_eq!(session.fsm.remote_as, RemoteAs::Exactly(65000));
        let external = Peer {
            peer_asn: PeerAsn::External,
            ..peer(65000)
        };
        let settings = settings(&external, None, ID, &defaults).unwrap();
        assert_eq!(settings.session.fsm.remote_as, RemoteAs::External);
        assert_eq!(settings.transport.ttl, 1);
    }

    #[test]
    fn timers_connect_time_and_graceful_restart_are_the_peers() {
        let configured = Peer {
            timers: Some(Timers {
                hold: ironlb_api::Duration::from_secs(9),
                keepalive: ironlb_api::Duration::from_secs(3),
            }),
            connect_time: Some(ironlb_api::Duration::from_secs(5)),
            graceful_restart: true,
            port: 1179,
            password: Some(Password::Inline("s3cret".into())),
            source_address: Some("10.0.0.21".parse().unwrap()),
            ..peer(65000)
        };
        let defaults = SessionDefaults {
            batch_delay: Duration::from_millis(3),
            ..SessionDefaults::default()
        };
        let settings = settings(&configured, Some(&profile()), ID, &defaults).unwrap();
        let fsm = &settings.session.fsm;
        assert_eq!(fsm.hold_time, Duration::from_secs(9));
        assert_eq!(fsm.keepalive_time, Duration::from_secs(3));
        assert_eq!(fsm.connect_retry, Duration::from_secs(5));
        assert_eq!(settings.session.batch_delay, Duration::from_millis(3));
        assert_eq!(
            settings.session.graceful_restart,
            Some(GracefulRestartConfig { restart_time: 120 })
        );
        assert_eq!(settings.address, "10.0.0.1:1179".parse().unwrap());
        assert_eq!(settings.transport.md5_key.as_deref(), Some(&b"s3cret"[..]));
        let bfd = settings.bfd.unwrap();
        assert_eq!(bfd.local, configured.source_address);
        assert_eq!(bfd.parameters.desired_min_tx, Duration::from_millis(200));
        assert_eq!(bfd.parameters.required_min_rx, Duration::from_millis(300));
        assert!(bfd.parameters.passive);
        assert_eq!(bfd.hops, BfdHops::Single);
        assert_eq!(bfd.minimum_ttl, 254);
    }

    #[test]
    fn unset_timers_keep_the_engine_defaults() {
        let settings = settings(&peer(65000), None, ID, &SessionDefaults::default()).unwrap();
        let defaults = FsmConfig::new(65100, RemoteAs::Exactly(65000), ID);
        assert_eq!(settings.session.fsm.hold_time, defaults.hold_time);
        assert_eq!(settings.session.fsm.connect_retry, defaults.connect_retry);
        assert_eq!(settings.session.graceful_restart, None);
        assert_eq!(settings.bfd, None);
    }

    #[test]
    fn unnumbered_peers_find_their_router_on_the_interface_and_offer_extended_next_hop() {
        let unnumbered = Peer {
            address: PeerAddress::Interface("eth1".into()),
            ..peer(65000)
        };
        let settings = settings(&unnumbered, None, ID, &SessionDefaults::default()).unwrap();
        assert_eq!(settings.interface.as_deref(), Some("eth1"));
        assert_eq!(settings.address, "[::]:179".parse().unwrap());
        assert!(settings.session.extended_next_hop);
        assert_eq!(settings.transport.ttl, 1);
        let numbered =
            super::settings(&peer(65000), None, ID, &SessionDefaults::default()).unwrap();
        assert_eq!(numbered.interface, None);
        assert!(!numbered.session.extended_next_hop);
        // Another interface, another jitter.
        let other = Peer {
            address: PeerAddress::Interface("eth2".into()),
            ..peer(65000)
        };
        let other = super::settings(&other, None, ID, &SessionDefaults::default()).unwrap();
        assert_ne!(other.session.fsm.seed, settings.session.fsm.seed);
        // BFD with it: single hop, towards the router once its address is learnt.
        let with_bfd = super::settings(
            &unnumbered,
            Some(&profile()),
            ID,
            &SessionDefaults::default(),
        )
        .unwrap();
        let bfd = with_bfd.bfd.expect("BFD");
        assert_eq!(bfd.peer, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(bfd.hops, BfdHops::Single);
    }

    #[test]
    fn router_id_comes_from_the_peer_then_the_flag_then_the_node() {
        let node = node(&[
            ("Hostname", "node-21"),
            ("InternalIP", "fd00::21"),
            ("InternalIP", "10.0.0.21"),
        ]);
        let flag = SessionDefaults {
            router_id: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..SessionDefaults::default()
        };
        let own = Peer {
            router_id: Some("10.9.9.9".parse().unwrap()),
            ..peer(65000)
        };
        assert_eq!(
            router_id(&own, &flag, Some(&node)),
            Ok(Ipv4Addr::new(10, 9, 9, 9))
        );
        assert_eq!(
            router_id(&peer(65000), &flag, Some(&node)),
            Ok(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(
            router_id(&peer(65000), &SessionDefaults::default(), Some(&node)),
            Ok(ID)
        );
        assert_eq!(
            router_id(&peer(65000), &SessionDefaults::default(), None),
            Err(SessionError::NoRouterId)
        );
    }

    #[test]
    fn the_same_inputs_give_equal_settings_and_nodes_jitter_differently() {
        let defaults = SessionDefaults::default();
        let a = settings(&peer(65000), None, ID, &defaults).unwrap();
        let b = settings(&peer(65000), None, ID, &defaults).unwrap();
        assert_eq!(a, b, "no restart when nothing changed");
        let other = settings(&peer(65000), None, Ipv4Addr::new(10, 0, 0, 22), &defaults).unwrap();
        assert_ne!(a.session.fsm.seed, other.session.fsm.seed);
    }
}
