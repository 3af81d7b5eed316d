//! The speaker's decisions: what part of the configuration a node judges ([`scope`]), which
//! sessions it holds and with which settings ([`session`]), and which prefixes it announces
//! to which peer ([`plan`]).
//! Pure functions over a configuration and a cluster snapshot; the BGP engine and the
//! Kubernetes / cluster-directory layers only feed them and apply their results.

pub mod layer2;
pub mod liveness;
pub mod plan;
pub mod scope;
pub mod session;

pub use plan::{
    Plan, PlanOptions, PlannedSession, Reason, RouteAttributes, ServiceKey, ServiceOutcome, plan,
};
pub use session::{SessionDefaults, SessionError, SessionSettings};
