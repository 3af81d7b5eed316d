//! LoadBalancer IP allocation as MetalLB's controller does it, as a pure, deterministic
//! library: no IO, no clock, no randomness, no Kubernetes client.
//!
//! - [`ServiceRequest::from_service`] reads a `Service` (type, class, family, annotations,
//!   ports, traffic policy) into what the allocator needs.
//! - [`Allocator`] owns the pools of a validated [`ironlb_config::Config`] and assigns
//!   addresses: [`Allocator::reconcile`] / [`Allocator::assign`] per Service,
//!   [`Allocator::restore`] to re-adopt addresses at startup, [`Allocator::release`],
//!   [`Allocator::set_config`], and [`Allocator::usage`] for pool status and metrics.
//!
//! ```
//! use ironlb_alloc::{Allocator, ServiceFamily, ServiceRequest};
//! use ironlb_config::{AddressEntry, Config, Pool};
//!
//! let entry = AddressEntry { text: "192.0.2.0/30".into(), cidrs: vec!["192.0.2.0/30".parse().unwrap()] };
//! let pool = Pool {
//!     name: "default".into(), labels: Default::default(), entries: vec![entry],
//!     auto_assign: true, avoid_buggy_ips: true, service_allocation: None,
//! };
//! let config = Config { pools: [("default".to_string(), pool)].into(), ..Config::default() };
//! let mut allocator = Allocator::new(&config);
//! let web = ServiceRequest::new("shop", ServiceFamily::V4);
//! let got = allocator.assign("shop/web", &web).unwrap();
//! assert_eq!(got.ips, ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
//! assert_eq!(got.pool, "default");
//! // Idempotent: the Service keeps its address.
//! assert!(!allocator.reconcile("shop/web", &web).changed());
//! ```
//!
//! Where IronLB departs from MetalLB on purpose:
//! - pools of equal priority, and the fallback pools, are tried in name order instead of Go
//!   map order (MetalLB is random there);
//! - PreferDualStack adds a second family only to a dual-stack Service (two clusterIPs) that
//!   requests no specific IPs; MetalLB also adds one to a single-stack Service, or to one
//!   requesting a single IP, then drops both on the next reconcile because they no longer
//!   match the family or the request, and so on.

mod allocator;
mod error;
mod few;
mod request;
mod space;

pub use allocator::{Allocator, Assignment, ConfigChange, PoolUsage, Reconciled};
pub use error::{AllocError, ClearReason, FamilyNeed, SharingConflict};
pub use request::{
    ANNOTATION_ADDRESS_POOL, ANNOTATION_ALLOCATED_FROM_POOL, ANNOTATION_ALLOW_SHARED_IP,
    ANNOTATION_LOAD_BALANCER_IPS, DEPRECATED_PREFIX, FamilyPolicy, IpFamily, Port, RequestError,
    RequestOptions, ServiceFamily, ServiceRequest, backend_key, ingress_ips,
};
pub use space::is_buggy;
