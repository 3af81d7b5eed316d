//! Builders shared by the integration tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ironlb_alloc::{ServiceFamily, ServiceRequest};
use ironlb_config::address::parse_entry;
use ironlb_config::{AddressEntry, Config, Pool, Selector, ServiceAllocation};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// An autoAssign pool with one entry per address text (CIDR or range).
pub fn pool(name: &str, addresses: &[&str]) -> Pool {
    Pool {
        name: name.to_string(),
        labels: BTreeMap::new(),
        entries: addresses
            .iter()
            .map(|text| AddressEntry {
                text: text.to_string(),
                cidrs: parse_entry(text).expect("test address"),
            })
            .collect(),
        auto_assign: true,
        avoid_buggy_ips: false,
        service_allocation: None,
    }
}

pub trait PoolBuild {
    fn manual(self) -> Pool;
    fn avoid_buggy(self) -> Pool;
    fn priority(self, priority: i64) -> Pool;
    fn namespaces(self, namespaces: &[&str]) -> Pool;
    fn service_selector(self, key: &str, value: &str) -> Pool;
    /// namespaceSelectors were given but matched no Namespace.
    fn namespace_selector_matching_nothing(self) -> Pool;
}

fn allocation(pool: &mut Pool) -> &mut ServiceAllocation {
    pool.service_allocation
        .get_or_insert_with(ServiceAllocation::default)
}

impl PoolBuild for Pool {
    fn manual(mut self) -> Pool {
        self.auto_assign = false;
        self
    }

    fn avoid_buggy(mut self) -> Pool {
        self.avoid_buggy_ips = true;
        self
    }

    fn priority(mut self, priority: i64) -> Pool {
        allocation(&mut self).priority = priority;
        self
    }

    fn namespaces(mut self, namespaces: &[&str]) -> Pool {
        let allocation = allocation(&mut self);
        allocation.restricts_namespaces = true;
        allocation
            .namespaces
            .extend(namespaces.iter().map(|n| n.to_string()));
        self
    }

    fn service_selector(mut self, key: &str, value: &str) -> Pool {
        let selector = Selector::parse(&LabelSelector {
            match_labels: Some(BTreeMap::from([(key.to_string(), value.to_string())])),
            ..Default::default()
        })
        .expect("test selector");
        allocation(&mut self).service_selectors.push(selector);
        self
    }

    fn namespace_selector_matching_nothing(mut self) -> Pool {
        let allocation = allocation(&mut self);
        allocation.restricts_namespaces = true;
        allocation.namespaces = BTreeSet::new();
        self
    }
}

pub fn config(pools: impl IntoIterator<Item = Pool>) -> Config {
    Config {
        pools: pools.into_iter().map(|p| (p.name.clone(), p)).collect(),
        ..Config::default()
    }
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("test IP")
}

pub fn ips(texts: &[&str]) -> Vec<IpAddr> {
    texts.iter().map(|t| ip(t)).collect()
}

pub fn v4() -> ServiceRequest {
    ServiceRequest::new("default", ServiceFamily::V4)
}

pub fn v6() -> ServiceRequest {
    ServiceRequest::new("default", ServiceFamily::V6)
}

/// Dual-stack, RequireDualStack.
pub fn dual() -> ServiceRequest {
    ServiceRequest::new("default", ServiceFamily::Dual)
}
