//! Prometheus text exposition of IronLB's status, with MetalLB's metric names and labels so
//! existing dashboards and alerts keep working (plus BFD as `metallb_bfd_*`).

use std::fmt::Write as _;

use crate::status::{
    BfdSessionStatus, BfdState, BgpState, ControllerStatus, Layer2Counters, PeerSessionStatus,
    SpeakerStatus,
};

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let rendered: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", rendered.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn config_metrics(out: &mut String, loaded: bool, stale: bool, updates: u64) {
    Family::new(
        out,
        "metallb_k8s_client_config_loaded_bool",
        "gauge",
        "1 if a valid configuration is loaded",
    )
    .sample(
        "metallb_k8s_client_config_loaded_bool",
        &[],
        u8::from(loaded),
    );
    Family::new(
        out,
        "metallb_k8s_client_config_stale_bool",
        "gauge",
        "1 while running on a configuration older than the current, invalid one",
    )
    .sample("metallb_k8s_client_config_stale_bool", &[], u8::from(stale));
    Family::new(
        out,
        "metallb_k8s_client_updates_total",
        "counter",
        "Cluster changes processed",
    )
    .sample("metallb_k8s_client_updates_total", &[], updates);
}

/// The controller's metrics.
pub fn controller(status: &ControllerStatus, loaded: bool, updates: u64) -> String {
    let mut out = String::new();
    type Count = fn(&crate::status::PoolStatus) -> i64;
    let families: [(&str, &str, Count); 6] = [
        (
            "metallb_allocator_addresses_total",
            "Usable addresses of the pool",
            |p| {
                p.assigned_ipv4
                    .saturating_add(p.available_ipv4)
                    .saturating_add(p.assigned_ipv6)
                    .saturating_add(p.available_ipv6)
            },
        ),
        (
            "metallb_allocator_ipv4_addresses_total",
            "Usable IPv4 addresses of the pool",
            |p| p.assigned_ipv4.saturating_add(p.available_ipv4),
        ),
        (
            "metallb_allocator_ipv6_addresses_total",
            "Usable IPv6 addresses of the pool",
            |p| p.assigned_ipv6.saturating_add(p.available_ipv6),
        ),
        (
            "metallb_allocator_addresses_in_use_total",
            "Addresses of the pool in use",
            |p| p.assigned_ipv4.saturating_add(p.assigned_ipv6),
        ),
        (
            "metallb_allocator_ipv4_addresses_in_use_total",
            "IPv4 addresses of the pool in use",
            |p| p.assigned_ipv4,
        ),
        (
            "metallb_allocator_ipv6_addresses_in_use_total",
            "IPv6 addresses of the pool in use",
            |p| p.assigned_ipv6,
        ),
    ];
    for (name, help, value) in families {
        let mut family = Family::new(&mut out, name, "gauge", help);
        for pool in &status.pools {
            family.sample(name, &[("pool", &pool.name)], value(pool));
        }
    }
    config_metrics(
        &mut out,
        loaded,
        loaded && !status.configuration_errors.is_empty(),
        updates,
    );
    out
}

/// Label of a BGP peer in MetalLB's metrics: `ip:port`, with the session's real port
/// (MetalLB's native speaker: `fmt.Sprintf("%s:%d", PeerAddress, PeerPort)`). An IPv6
/// address is bracketed (`[2001:db8::1]:179`, as Go's `net.JoinHostPort` writes it), where
/// MetalLB's `Sprintf` would run the port into the address. An unnumbered peer is labelled
/// by its interface (`eth0:179`), before and after its router's link-local address is known
/// (`fe80::1%eth0` in the status), so its series do not change name.
fn peer_label(peer: &PeerSessionStatus) -> String {
    if let Some((_, interface)) = peer.address.split_once('%') {
        format!("{interface}:{}", peer.port)
    } else if peer.address.contains(':') {
        format!("[{}]:{}", peer.address, peer.port)
    } else {
        format!("{}:{}", peer.address, peer.port)
    }
}

type PeerValue = fn(&PeerSessionStatus) -> u64;
type Layer2Value = fn(&Layer2Counters) -> u64;
type BfdValue = fn(&BfdSessionStatus) -> u64;

/// A speaker's metrics.
pub fn speaker(status: &SpeakerStatus, loaded: bool, updates: u64) -> String {
    let mut out = String::new();
    let peer_families: [(&str, &str, &str, PeerValue); 4] = [
        (
            "metallb_bgp_session_up",
            "gauge",
            "BGP session state (1 is up, 0 is down)",
            |p| u64::from(p.state == BgpState::Established),
        ),
        (
            "metallb_bgp_updates_total",
            "counter",
            "Number of BGP UPDATE messages sent",
            |p| p.updates_sent,
        ),
        (
            "metallb_bgp_announced_prefixes_total",
            "gauge",
            "Number of prefixes currently being advertised on the BGP session",
            |p| p.prefixes_sent,
        ),
        (
            "metallb_bgp_pending_prefixes_total",
            "gauge",
            "Number of prefixes that should be advertised on the BGP session",
            |p| p.prefixes_wanted,
        ),
    ];
    for (name, kind, help, value) in peer_families {
        let mut family = Family::new(&mut out, name, kind, help);
        for peer in &status.peers {
            family.sample(name, &[("peer", &peer_label(peer))], value(peer));
        }
    }
    let mut family = Family::new(
        &mut out,
        "metallb_speaker_announced",
        "gauge",
        "Services being announced from this node (1) to the BGP peers",
    );
    for service in &status.services {
        let name = format!("{}/{}", service.namespace, service.name);
        for prefix in &service.prefixes {
            let ip = prefix.addr().to_string();
            let ip = ip.as_str();
            family.sample(
                "metallb_speaker_announced",
                &[
                    ("ip", ip),
                    ("node", &status.node),
                    ("protocol", "bgp"),
                    ("service", &name),
                ],
                1,
            );
        }
    }
    for announcement in &status.layer2 {
        if announcement.owner.as_deref() != Some(status.node.as_str()) {
            continue;
        }
        let name = format!("{}/{}", announcement.namespace, announcement.name);
        for ip in &announcement.addresses {
            family.sample(
                "metallb_speaker_announced",
                &[
                    ("ip", ip),
                    ("node", &status.node),
                    ("protocol", "layer2"),
                    ("service", &name),
                ],
                1,
            );
        }
    }
    let layer2_families: [(&str, &str, Layer2Value); 3] = [
        (
            "metallb_layer2_requests_received",
            "Number of layer2 requests received for owned IPs",
            |c| c.requests_received,
        ),
        (
            "metallb_layer2_responses_sent",
            "Number of layer2 responses sent for owned IPs",
            |c| c.responses_sent,
        ),
        (
            "metallb_layer2_gratuitous_sent",
            "Number of gratuitous layer2 packets sent for owned IPs",
            |c| c.gratuitous_sent,
        ),
    ];
    for (name, help, value) in layer2_families {
        let mut family = Family::new(&mut out, name, "counter", help);
        for counters in &status.layer2_counters {
            family.sample(name, &[("ip", &counters.address)], value(counters));
        }
    }
    let mut family = Family::new(
        &mut out,
        "ironlb_layer2_speaker_alive",
        "gauge",
        "Other speakers layer 2 ownership counts as alive (1) or not (0), by node",
    );
    for speaker in &status.speakers {
        family.sample(
            "ironlb_layer2_speaker_alive",
            &[("node", &speaker.node)],
            u64::from(speaker.alive),
        );
    }
    let bfd_families: [(&str, &str, &str, BfdValue); 5] = [
        (
            "metallb_bfd_session_up",
            "gauge",
            "BFD session state (1 is up, 0 is down)",
            |b| u64::from(b.state == BfdState::Up),
        ),
        (
            "metallb_bfd_control_packet_input",
            "counter",
            "Number of received BFD control packets",
            |b| b.packets_received,
        ),
        (
            "metallb_bfd_control_packet_output",
            "counter",
            "Number of sent BFD control packets",
            |b| b.packets_sent,
        ),
        (
            "metallb_bfd_echo_packet_input",
            "counter",
            "Number of received BFD echo packets",
            |b| b.echo_packets_received,
        ),
        (
            "metallb_bfd_echo_packet_output",
            "counter",
            "Number of sent BFD echo packets",
            |b| b.echo_packets_sent,
        ),
    ];
    for (name, kind, help, value) in bfd_families {
        let mut family = Family::new(&mut out, name, kind, help);
        for bfd in &status.bfd {
            family.sample(name, &[("peer", &bfd.peer), ("vrf", "")], value(bfd));
        }
    }
    config_metrics(
        &mut out,
        loaded,
        loaded && !status.configuration_errors.is_empty(),
        updates,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{BfdSessionStatus, PeerSessionStatus, PoolStatus, ServiceAnnouncement};

    #[test]
    fn speaker_metrics_have_metallb_names_and_labels() {
        let status = SpeakerStatus {
            node: "node-21".into(),
            peers: vec![
                PeerSessionStatus {
                    name: "tor1".into(),
                    address: "10.0.0.1".into(),
                    port: 179,
                    state: BgpState::Established,
                    prefixes_sent: 1,
                    prefixes_wanted: 1,
                    updates_sent: 3,
                    ..Default::default()
                },
                PeerSessionStatus {
                    name: "tor3".into(),
                    address: "10.0.0.3".into(),
                    port: 1179,
                    state: BgpState::Established,
                    ..Default::default()
                },
                PeerSessionStatus {
                    name: "tor6".into(),
                    address: "2001:db8::6".into(),
                    port: 1790,
                    ..Default::default()
                },
                PeerSessionStatus {
                    name: "tor7".into(),
                    address: "fe80::7%eth1".into(),
                    port: 179,
                    ..Default::default()
                },
                PeerSessionStatus {
                    name: "tor8".into(),
                    address: "eth2".into(),
                    port: 179,
                    ..Default::default()
                },
            ],
            bfd: vec![BfdSessionStatus {
                peer: "10.0.0.1".into(),
                state: BfdState::Up,
                packets_received: 10,
                packets_sent: 11,
                echo: true,
                echo_packets_received: 40,
                echo_packets_sent: 41,
                ..Default::default()
            }],
            services: vec![ServiceAnnouncement {
                namespace: "default".into(),
                name: "web".into(),
                prefixes: vec!["203.0.113.5/32".parse().unwrap()],
                peers: vec!["tor1".into()],
                reason: None,
            }],
            ..Default::default()
        };
        let text = speaker(&status, true, 7);
        for line in [
            "metallb_bgp_session_up{peer=\"10.0.0.1:179\"} 1",
            "metallb_bgp_updates_total{peer=\"10.0.0.1:179\"} 3",
            "metallb_bgp_announced_prefixes_total{peer=\"10.0.0.1:179\"} 1",
            // peerPort is the session's port, and its label's.
            "metallb_bgp_session_up{peer=\"10.0.0.3:1179\"} 1",
            "metallb_bgp_session_up{peer=\"[2001:db8::6]:1790\"} 0",
            // Unnumbered: the interface, whether or not the router was found.
            "metallb_bgp_session_up{peer=\"eth1:179\"} 0",
            "metallb_bgp_session_up{peer=\"eth2:179\"} 0",
            "metallb_speaker_announced{ip=\"203.0.113.5\",node=\"node-21\",protocol=\"bgp\",service=\"default/web\"} 1",
            "metallb_bfd_session_up{peer=\"10.0.0.1\",vrf=\"\"} 1",
            "metallb_bfd_control_packet_input{peer=\"10.0.0.1\",vrf=\"\"} 10",
            "metallb_bfd_echo_packet_input{peer=\"10.0.0.1\",vrf=\"\"} 40",
            "metallb_bfd_echo_packet_output{peer=\"10.0.0.1\",vrf=\"\"} 41",
            "metallb_k8s_client_config_loaded_bool 1",
            "metallb_k8s_client_updates_total 7",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // Every family is declared once, before its samples.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} has no TYPE"
            );
        }
    }

    #[test]
    fn controller_metrics_count_addresses_per_pool() {
        let status = ControllerStatus {
            pools: vec![PoolStatus {
                name: "prod-pool".into(),
                assigned_ipv4: 2,
                available_ipv4: 254,
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = controller(&status, true, 1);
        assert!(
            text.contains("metallb_allocator_addresses_total{pool=\"prod-pool\"} 256"),
            "{text}"
        );
        assert!(
            text.contains("metallb_allocator_ipv4_addresses_in_use_total{pool=\"prod-pool\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("metallb_k8s_client_config_stale_bool 0"),
            "{text}"
        );
    }
}
