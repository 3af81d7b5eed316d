//! Decided sessions, as the engines' drivers take them: the one mapping from
//! [`SessionSettings`] (pure, `ironlb_speaker::session`) to the tokio drivers of `ironlb_net`,
//! for the speaker and `ironlb bgp announce` alike.

use std::time::Duration;

use ironlb_net::bfd;
use ironlb_net::bgp;
use ironlb_net::tcp::TcpOptions;
use ironlb_speaker::session::{BfdHops, BfdSettings, SessionSettings};

/// The BGP driver's configuration of a session.
pub fn bgp_peer(settings: &SessionSettings) -> bgp::PeerConfig {
    bgp::PeerConfig {
        name: settings.name.clone(),
        address: settings.address,
        interface: settings.interface.clone(),
        tcp: TcpOptions {
            source: settings.transport.source,
            md5_key: settings.transport.md5_key.clone(),
            ttl: Some(settings.transport.ttl),
            minimum_ttl: settings.transport.minimum_ttl,
        },
        session: settings.session.clone(),
        start_delay: Duration::ZERO,
    }
}

/// The BFD driver's configuration of a session.
pub fn bfd_peer(settings: &BfdSettings) -> bfd::PeerConfig {
    bfd::PeerConfig {
        peer: settings.peer,
        local: settings.local,
        scope_id: 0,
        parameters: settings.parameters,
        multihop: settings.hops == BfdHops::Multi,
        minimum_ttl: settings.minimum_ttl,
    }
}
