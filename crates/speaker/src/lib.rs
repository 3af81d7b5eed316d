//! The speaker's decisions: which prefixes a node announces to which peer ([`plan`]).
//! Pure functions over a configuration and a cluster snapshot; the BGP engine and the
//! Kubernetes / cluster-directory layers only feed them and apply their results.

pub mod plan;
pub mod runtime;

pub use plan::{Plan, PlanOptions, Reason, RouteAttributes, ServiceKey, ServiceOutcome, plan};
