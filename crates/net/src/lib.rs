//! IO for IronLB's sans-IO protocol cores: the socket options they need ([`socket`], the only
//! `unsafe` code in IronLB), TCP for BGP ([`tcp`]) and thin tokio drivers ([`bfd`], [`bgp`]).

pub mod bfd;
pub mod bgp;
pub mod http;
pub mod socket;
pub mod tcp;
