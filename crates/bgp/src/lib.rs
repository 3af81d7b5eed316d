//! BGP-4 for IronLB, sans-IO.

pub mod fsm;
pub mod rib;
