//! IO for IronLB's sans-IO protocol cores: the socket options they need ([`socket`], the only
//! `unsafe` code in IronLB), TCP for BGP ([`tcp`]), thin tokio drivers ([`bfd`], [`bgp`]), and
//! for layer 2 mode the packet sockets ARP and Neighbor Discovery go through ([`packet`]) and
//! the node's interfaces ([`interfaces`]); BGP unnumbered's router discovery
//! ([`unnumbered`]).

pub mod bfd;
pub mod bgp;
pub mod http;
pub mod interfaces;
pub mod l2;
pub mod packet;
pub mod socket;
pub mod tcp;
pub mod unnumbered;
