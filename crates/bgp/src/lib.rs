//! BGP-4 for IronLB, sans-IO: the wire codec ([`packet`]), the finite state machine of one
//! session ([`fsm`]) and the Adj-RIB-Out ([`rib`]).

pub mod fsm;
pub mod packet;
pub mod reconnect;
pub mod rib;
pub mod session;
