//! The seed's network: top-of-rack routers running real FRR and Kubernetes nodes, all on one
//! layer-2 segment (10.0.0.0/24, a bridge in its own namespace), with IronLB's controller and
//! one speaker per node reading a cluster directory. A dual-stack fabric
//! ([`FabricSpec::dual_stack`]) adds 2001:db8:ffff::/64 on the same segment, and IPv6
//! neighbours on the ToRs.
//!
//! Used by `ironlb lab` and by the end-to-end tests.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Frr, FrrDaemons, Lab, LabError, Namespace, Process, Result, wait_for};

/// The switch namespace's address on the segment.
pub const SWITCH_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 250);

/// The segment's IPv4 prefix.
pub const SEGMENT_V4: &str = "10.0.0.0/24";

/// The segment's IPv6 prefix (dual-stack fabrics).
pub const SEGMENT_V6: &str = "2001:db8:ffff::/64";

/// A member's IPv6 address on a dual-stack segment: its IPv4 address's last octet written as
/// the last group (10.0.0.21 → 2001:db8:ffff::21), so both read alike in logs and FIBs.
pub fn segment_ipv6(address: Ipv4Addr) -> Ipv6Addr {
    let last = address.octets()[3];
    // Decimal digits are hexadecimal digits too: "21" reads as 0x21.
    let group = u16::from_str_radix(&last.to_string(), 16).unwrap_or(u16::from(last));
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, group)
}

/// A link's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Up,
    Down,
}

/// How a process is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM (a rollout, an upgrade).
    Term,
    /// SIGKILL (a crash, the OOM killer).
    Kill,
}

/// How a ToR knows its nodes: the two configurations operators run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Peering {
    /// One `neighbor ADDRESS peer-group nodes` line per node.
    #[default]
    Static,
    /// `bgp listen range 10.0.0.0/24 peer-group nodes` (and `2001:db8:ffff::/64 peer-group
    /// nodes6` on a dual-stack fabric): dynamic neighbours, which FRR creates when a node
    /// connects and deletes (with their BFD session) when the session drops.
    ListenRange,
}

impl std::fmt::Display for Peering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Peering::Static => "static neighbours",
            Peering::ListenRange => "bgp listen range",
        })
    }
}

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// A router of the fabric.
#[derive(Clone, Debug)]
pub struct TorSpec {
    pub name: String,
    pub address: Ipv4Addr,
    /// BFD with the nodes (FRR's defaults: 300 ms × 3).
    pub bfd: bool,
    pub peering: Peering,
    /// Extra lines for the `nodes` peer group (`bfd check-control-plane-failure`, timers).
    pub extra: Vec<String>,
    /// Multiprotocol sessions, on a dual-stack fabric: each peer group active in both families
    /// (`nodes` in IPv6 unicast as well, `nodes6` in IPv4 unicast as well), so a node may send
    /// IPv6 routes over its IPv4 session and IPv4 routes over its IPv6 one (a BGPPeer's
    /// `dualStackAddressFamily`).
    pub multiprotocol: bool,
}

/// What to build.
#[derive(Clone, Debug)]
pub struct FabricSpec {
    pub tors: Vec<TorSpec>,
    /// Node names and addresses.
    pub nodes: Vec<(String, Ipv4Addr)>,
    pub tor_asn: u32,
    pub node_asn: u32,
    /// The `ironlb` binary.
    pub ironlb: PathBuf,
    /// Dual stack: every member also gets its [`segment_ipv6`] address, and each ToR a second
    /// peer group `nodes6` of the nodes' IPv6 addresses, active in IPv6 unicast only.
    pub ipv6: bool,
}

impl FabricSpec {
    /// The seed's fabric: tor1 10.0.0.1 (BFD), tor2 10.0.0.2, node-21..23 at 10.0.0.21..23,
    /// ToRs in AS 65000, nodes in AS 65100.
    pub fn seed(ironlb: PathBuf) -> FabricSpec {
        FabricSpec {
            tors: vec![
                TorSpec {
                    name: "tor1".into(),
                    address: Ipv4Addr::new(10, 0, 0, 1),
                    bfd: true,
                    peering: Peering::Static,
                    extra: Vec::new(),
                    multiprotocol: false,
                },
                TorSpec {
                    name: "tor2".into(),
                    address: Ipv4Addr::new(10, 0, 0, 2),
                    bfd: false,
                    peering: Peering::Static,
                    extra: Vec::new(),
                    multiprotocol: false,
                },
            ],
            nodes: (21..=23)
                .map(|i| (format!("node-{i}"), Ipv4Addr::new(10, 0, 0, i)))
                .collect(),
            tor_asn: 65000,
            node_asn: 65100,
            ironlb,
            ipv6: false,
        }
    }

    /// The same fabric, dual-stack (see [`FabricSpec::ipv6`]).
    pub fn dual_stack(mut self) -> FabricSpec {
        self.ipv6 = true;
        self
    }

    /// A member's IPv6 address, on a dual-stack fabric.
    fn address6(&self, address: Ipv4Addr) -> Option<Ipv6Addr> {
        self.ipv6.then(|| segment_ipv6(address))
    }
}

/// A ToR's FRR configuration: peer group `nodes` (IPv4), and on a dual-stack fabric `nodes6`
/// (IPv6) active in IPv6 unicast only (unless [`TorSpec::multiprotocol`]), with the ToR's BFD, extra lines and peering style on
/// both; ECMP over up to 16 paths in each family.
pub fn tor_config(spec: &FabricSpec, tor: &TorSpec) -> String {
    let mut config = format!(
        "router bgp {asn}\n bgp router-id {id}\n no bgp ebgp-requires-policy\n",
        asn = spec.tor_asn,
        id = tor.address,
    );
    let mut groups = vec![("nodes", SEGMENT_V4)];
    if spec.ipv6 {
        // Otherwise every neighbour, the IPv6 ones included, is active in IPv4 unicast.
        config.push_str(" no bgp default ipv4-unicast\n");
        groups.push(("nodes6", SEGMENT_V6));
    }
    config.push_str(" bgp bestpath as-path multipath-relax\n");
    for (group, range) in &groups {
        let _ = writeln!(config, " neighbor {group} peer-group");
        let _ = writeln!(config, " neighbor {group} remote-as {}", spec.node_asn);
        if tor.bfd {
            let _ = writeln!(config, " neighbor {group} bfd");
        }
        for line in &tor.extra {
            let _ = writeln!(config, " neighbor {group} {line}");
        }
        match tor.peering {
            Peering::Static => {
                for (_, address) in &spec.nodes {
                    let address = match *group {
                        "nodes6" => IpAddr::V6(segment_ipv6(*address)),
                        _ => IpAddr::V4(*address),
                    };
                    let _ = writeln!(config, " neighbor {address} peer-group {group}");
                }
            }
            Peering::ListenRange => {
                let _ = writeln!(config, " bgp listen range {range} peer-group {group}");
            }
        }
    }
    for (family, (group, _)) in ["ipv4", "ipv6"].iter().zip(&groups) {
        let _ = writeln!(config, " address-family {family} unicast");
        if spec.ipv6 {
            // The family's own group, then (multiprotocol) the other one.
            let other = groups.iter().map(|(g, _)| *g).filter(|g| g != group);
            let active = std::iter::once(*group).chain(other.filter(|_| tor.multiprotocol));
            for group in active {
                let _ = writeln!(config, "  neighbor {group} activate");
            }
        }
        config.push_str("  maximum-paths 16\n  maximum-paths ibgp 16\n exit-address-family\n");
    }
    config
}

/// A router of a running fabric, as tools re-attaching to it see it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TorView {
    pub name: String,
    pub address: Ipv4Addr,
    /// Its IPv6 address, on a dual-stack fabric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<Ipv6Addr>,
    pub namespace: String,
    /// FRR's per-instance directory (vty sockets, logs).
    pub frr_directory: PathBuf,
}

/// A node of a running fabric.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NodeView {
    pub name: String,
    pub address: Ipv4Addr,
    /// Its IPv6 address, on a dual-stack fabric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<Ipv6Addr>,
    pub namespace: String,
}

/// What is needed to operate a running fabric: where things are. Serializable, so `ironlb lab
/// up` can leave a fabric running and later commands re-attach to it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FabricView {
    pub directory: PathBuf,
    pub cluster_dir: PathBuf,
    pub tors: Vec<TorView>,
    pub nodes: Vec<NodeView>,
    /// Every namespace of the fabric.
    pub namespaces: Vec<String>,
    /// Every process started for it (routers, controller, speakers), by PID.
    #[serde(default)]
    pub pids: Vec<u32>,
}

impl FabricView {
    /// Writes a file into the cluster directory atomically (as `kubectl apply` would change
    /// the cluster: whole objects at once).
    pub fn write(&self, file: &str, yaml: &str) -> Result<()> {
        let temporary = self.cluster_dir.join(format!(".{file}.tmp"));
        std::fs::write(&temporary, yaml)
            .map_err(|e| LabError(format!("cannot write {}: {e}", temporary.display())))?;
        std::fs::rename(&temporary, self.cluster_dir.join(file))
            .map_err(|e| LabError(format!("cannot write {file}: {e}")))
    }

    /// Removes a file of the cluster directory.
    pub fn remove(&self, file: &str) -> Result<()> {
        std::fs::remove_file(self.cluster_dir.join(file))
            .map_err(|e| LabError(format!("cannot remove {file}: {e}")))
    }

    /// The log of a process the fabric started (`controller`, `speaker-node-21`).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.directory.join(format!("{name}.log"))).unwrap_or_default()
    }

    fn tor_view(&self, name: &str) -> Result<&TorView> {
        self.tors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| LabError(format!("no ToR {name}")))
    }

    fn node_view(&self, name: &str) -> Result<&NodeView> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| LabError(format!("no node {name}")))
    }

    /// The addresses of `family` of the named nodes (the next hops a ToR should use for them;
    /// none of IPv6 on an IPv4-only fabric), sorted.
    pub fn node_addresses(&self, nodes: &[&str], family: Family) -> Vec<IpAddr> {
        let mut addresses: Vec<IpAddr> = self
            .nodes
            .iter()
            .filter(|node| nodes.contains(&node.name.as_str()))
            .filter_map(|node| match family {
                Family::V4 => Some(IpAddr::V4(node.address)),
                Family::V6 => node.address6.map(IpAddr::V6),
            })
            .collect();
        addresses.sort();
        addresses
    }

    /// Runs a vtysh command on a ToR.
    pub fn vtysh(&self, tor: &str, command: &str) -> Result<String> {
        let tor = self.tor_view(tor)?;
        let dir = tor.frr_directory.display().to_string();
        Namespace::existing(&tor.namespace).exec(
            "vtysh",
            &["--vty_socket", &dir, "--config_dir", &dir, "-c", command],
        )
    }

    /// The Node objects of the fabric's nodes (`labels` added to the named nodes).
    pub fn nodes_yaml(&self, labels: &[(&str, &str, &str)]) -> String {
        let mut yaml = String::new();
        for node in &self.nodes {
            let mut node_labels = format!("    kubernetes.io/hostname: {name}\n", name = node.name);
            for (name, key, value) in labels {
                if *name == node.name {
                    let _ = writeln!(node_labels, "    {key}: \"{value}\"");
                }
            }
            let mut addresses = format!("  - type: InternalIP\n    address: {}\n", node.address);
            if let Some(address6) = node.address6 {
                let _ = writeln!(addresses, "  - type: InternalIP\n    address: {address6}");
            }
            let _ = write!(
                yaml,
                "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n{node_labels}status:\n  addresses:\n{addresses}  conditions:\n  - type: Ready\n    status: \"True\"\n",
                name = node.name,
            );
        }
        yaml
    }

    /// IPv4 next hops of `prefix` in a ToR's kernel FIB (empty when there is no route); see
    /// [`FabricView::route_next_hops`] for either family.
    pub fn next_hops(&self, tor: &str, prefix: &str) -> Vec<Ipv4Addr> {
        ipv4_only(self.route_next_hops(tor, prefix))
    }

    /// Next hops of `prefix` (IPv4 or IPv6: `ip -6 route show` for a prefix with a colon) in
    /// a ToR's kernel FIB, sorted (empty when there is no route).
    pub fn route_next_hops(&self, tor: &str, prefix: &str) -> Vec<IpAddr> {
        let Ok(tor) = self.tor_view(tor) else {
            return Vec::new();
        };
        let family = if prefix.contains(':') { "-6" } else { "-4" };
        Namespace::existing(&tor.namespace)
            .ip(&[family, "route", "show", prefix])
            .map(|text| parse_next_hops(&text))
            .unwrap_or_default()
    }

    /// Waits until a ToR's FIB has exactly these IPv4 next hops for `prefix`; returns how long
    /// it took. [`FabricView::wait_route_next_hops`] for either family.
    pub fn wait_next_hops(
        &self,
        tor: &str,
        prefix: &str,
        expected: &[Ipv4Addr],
        timeout: Duration,
    ) -> Result<Duration> {
        let expected: Vec<IpAddr> = expected.iter().copied().map(IpAddr::V4).collect();
        self.wait_route_next_hops(tor, prefix, &expected, timeout)
    }

    /// Waits until a ToR's FIB has exactly these next hops (either family) for `prefix`;
    /// returns how long it took.
    pub fn wait_route_next_hops(
        &self,
        tor: &str,
        prefix: &str,
        expected: &[IpAddr],
        timeout: Duration,
    ) -> Result<Duration> {
        let times = self.wait_routes(&[RouteExpectation::new(tor, prefix, expected)], timeout)?;
        Ok(times.first().copied().unwrap_or_default())
    }

    /// Waits until each expectation has held (ToR, prefix, exact next hops), polling the ones
    /// not met yet in turn every 20 ms; returns, for each, how long after the call it was
    /// first seen, so the times of several ToRs and families are comparable (an expectation
    /// met once counts as met, even if it stops holding later).
    pub fn wait_routes(
        &self,
        expectations: &[RouteExpectation],
        timeout: Duration,
    ) -> Result<Vec<Duration>> {
        let start = Instant::now();
        let mut seen: Vec<Option<Duration>> = vec![None; expectations.len()];
        let mut last: Vec<Vec<IpAddr>> = vec![Vec::new(); expectations.len()];
        let result = wait_for("routes", timeout, || {
            for (index, expectation) in expectations.iter().enumerate() {
                if seen[index].is_none() {
                    last[index] = self.route_next_hops(&expectation.tor, &expectation.prefix);
                    if last[index] == expectation.next_hops {
                        seen[index] = Some(start.elapsed());
                    }
                }
            }
            seen.iter().copied().collect::<Option<Vec<Duration>>>()
        });
        result.map_err(|e| {
            let missing: Vec<String> = expectations
                .iter()
                .zip(&seen)
                .zip(&last)
                .filter(|((_, seen), _)| seen.is_none())
                .map(|((expectation, _), last)| format!("{expectation} (last seen: {last:?})"))
                .collect();
            LabError(format!("{e}: {}", missing.join("; ")))
        })
    }

    /// Cuts a node off: every packet it sends to the routers is dropped (no FIN, no withdraw).
    pub fn cut(&self, node: &str) -> Result<()> {
        let namespace = Namespace::existing(&self.node_view(node)?.namespace);
        for tor in self.tor_hosts() {
            namespace.ip(&["route", "add", "blackhole", &tor])?;
        }
        Ok(())
    }

    /// Every ToR address as a host route (`/32`, `/128`).
    fn tor_hosts(&self) -> Vec<String> {
        let mut hosts = Vec::new();
        for tor in &self.tors {
            hosts.push(format!("{}/32", tor.address));
            hosts.extend(tor.address6.map(|a| format!("{a}/128")));
        }
        hosts
    }

    /// The switch namespace (the bridge every node and ToR is plugged into).
    fn switch(&self) -> Result<Namespace> {
        self.namespaces
            .iter()
            .find(|n| n.ends_with("-sw"))
            .map(|n| Namespace::existing(n))
            .ok_or_else(|| LabError("the fabric has no switch namespace".into()))
    }

    /// A blip: the switch drops every frame to and from `node` (its bridge port disabled),
    /// both ways, while its link stays up. [`FabricView::rejoin`] ends it.
    pub fn isolate(&self, node: &str) -> Result<()> {
        self.node_view(node)?;
        self.switch()?
            .exec(
                "bridge",
                &["link", "set", "dev", &format!("p-{node}"), "state", "0"],
            )
            .map(|_| ())
    }

    /// Ends [`FabricView::isolate`]: the port forwards again.
    pub fn rejoin(&self, node: &str) -> Result<()> {
        self.node_view(node)?;
        self.switch()?
            .exec(
                "bridge",
                &["link", "set", "dev", &format!("p-{node}"), "state", "3"],
            )
            .map(|_| ())
    }

    /// Takes `node`'s link down (its interface loses carrier) or brings it back up.
    pub fn set_link(&self, node: &str, link: Link) -> Result<()> {
        self.node_view(node)?;
        let state = match link {
            Link::Up => "up",
            Link::Down => "down",
        };
        self.switch()?
            .ip(&["link", "set", &format!("p-{node}"), state])
            .map(|_| ())
    }

    /// Undoes [`FabricView::cut`].
    pub fn restore(&self, node: &str) -> Result<()> {
        let namespace = Namespace::existing(&self.node_view(node)?.namespace);
        for tor in self.tor_hosts() {
            let _ = namespace.ip(&["route", "del", "blackhole", &tor]);
        }
        Ok(())
    }

    /// Stops every process by PID and removes every namespace and the directory: for a
    /// fabric left running by `ironlb lab up`.
    pub fn tear_down(&self) {
        for pid in &self.pids {
            let _ = crate::run("kill", &["-TERM", &pid.to_string()]);
        }
        std::thread::sleep(Duration::from_millis(300));
        for pid in &self.pids {
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = crate::run("kill", &["-KILL", &pid.to_string()]);
            }
        }
        for namespace in &self.namespaces {
            crate::kill_namespace_processes(namespace);
            let _ = crate::run("ip", &["netns", "del", namespace]);
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// What a ToR's FIB should hold: `prefix` (as `ip route show` takes it) via exactly these
/// next hops (none: no route).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteExpectation {
    pub tor: String,
    pub prefix: String,
    /// Sorted.
    pub next_hops: Vec<IpAddr>,
}

impl RouteExpectation {
    pub fn new(tor: &str, prefix: &str, next_hops: &[IpAddr]) -> RouteExpectation {
        let mut next_hops = next_hops.to_vec();
        next_hops.sort();
        next_hops.dedup();
        RouteExpectation {
            tor: tor.to_string(),
            prefix: prefix.to_string(),
            next_hops,
        }
    }
}

impl std::fmt::Display for RouteExpectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} via {:?}", self.tor, self.prefix, self.next_hops)
    }
}

/// A running router.
pub struct Tor {
    pub spec: TorSpec,
    pub frr: Frr,
}

/// The running fabric. Dropping it stops every process and removes every namespace.
pub struct Fabric {
    pub spec: FabricSpec,
    pub tors: Vec<Tor>,
    pub switch: Namespace,
    view: FabricView,
    speakers: Vec<(String, Process)>,
    // Last: dropped after the processes above are forgotten (the lab stops them all).
    pub lab: Lab,
}

impl std::ops::Deref for Fabric {
    type Target = FabricView;

    fn deref(&self) -> &FabricView {
        &self.view
    }
}

impl Fabric {
    /// Builds the namespaces, the segment and the routers (no IronLB process yet).
    pub fn build(name: &str, spec: FabricSpec) -> Result<Fabric> {
        let mut lab = Lab::new(name)?;
        let switch = lab.namespace("sw")?;
        switch.ip(&["link", "add", "br0", "type", "bridge"])?;
        switch.ip(&["link", "set", "br0", "up"])?;
        // The switch namespace is on the segment too: the lab's Kubernetes API server listens
        // there, where the node namespaces' speakers reach it.
        switch.ip(&[
            "-4",
            "addr",
            "add",
            &format!("{SWITCH_ADDRESS}/24"),
            "dev",
            "br0",
        ])?;
        let cluster_dir = lab.subdirectory("cluster", None)?;
        let attach = |lab: &mut Lab, short: &str, address: Ipv4Addr| -> Result<Namespace> {
            let namespace = lab.namespace(short)?;
            let port = format!("p-{short}");
            // nodad: usable at once, no Duplicate Address Detection to wait for.
            let mut addresses = vec![format!("{address}/24")];
            addresses.extend(spec.address6(address).map(|a| format!("{a}/64")));
            let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
            lab.link(&namespace, "eth0", &addresses, &switch, &port, &[])?;
            switch.ip(&["link", "set", &port, "master", "br0"])?;
            Ok(namespace)
        };
        let mut nodes = Vec::new();
        for (name, address) in &spec.nodes {
            let namespace = attach(&mut lab, name, *address)?;
            nodes.push(NodeView {
                name: name.clone(),
                address: *address,
                address6: spec.address6(*address),
                namespace: namespace.name().to_string(),
            });
        }
        let mut tors = Vec::new();
        let mut tor_views = Vec::new();
        for tor in &spec.tors {
            let namespace = attach(&mut lab, &tor.name, tor.address)?;
            let config = tor_config(&spec, tor);
            let frr = Frr::start(
                &mut lab,
                &namespace,
                &tor.name,
                &config,
                FrrDaemons { bfd: tor.bfd },
            )?;
            tor_views.push(TorView {
                name: tor.name.clone(),
                address: tor.address,
                address6: spec.address6(tor.address),
                namespace: namespace.name().to_string(),
                frr_directory: frr.directory().to_path_buf(),
            });
            tors.push(Tor {
                spec: tor.clone(),
                frr,
            });
        }
        let view = FabricView {
            directory: lab.directory().to_path_buf(),
            cluster_dir,
            tors: tor_views,
            nodes,
            namespaces: lab
                .namespaces()
                .iter()
                .map(|n| n.name().to_string())
                .collect(),
            pids: Vec::new(),
        };
        Ok(Fabric {
            spec,
            tors,
            switch,
            view,
            speakers: Vec::new(),
            lab,
        })
    }

    /// Where things are, with every process started so far.
    pub fn view(&self) -> FabricView {
        let mut view = self.view.clone();
        view.pids = self.lab.pids();
        view
    }

    /// Leaves everything running (for `ironlb lab up`); [`FabricView::tear_down`] removes it.
    pub fn detach(mut self) -> FabricView {
        let view = self.view();
        self.lab.forget();
        view
    }

    /// An EndpointSlice for Service `default/NAME` with one ready endpoint per node listed.
    pub fn endpoints_yaml(service: &str, nodes: &[&str]) -> String {
        Fabric::family_endpoints_yaml(service, Family::V4, nodes)
    }

    /// An EndpointSlice of `family` (`addressType: IPv4` or `IPv6`) for Service `default/NAME`
    /// with one ready endpoint per node listed. Named `NAME-lab` (IPv4) or `NAME-lab-v6`, so a
    /// dual-stack Service has one of each, as Kubernetes gives it.
    pub fn family_endpoints_yaml(service: &str, family: Family, nodes: &[&str]) -> String {
        let (suffix, address_type) = match family {
            Family::V4 => ("", "IPv4"),
            Family::V6 => ("-v6", "IPv6"),
        };
        let mut yaml = format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {service}-lab{suffix}\n  namespace: default\n  labels:\n    kubernetes.io/service-name: {service}\naddressType: {address_type}\nports:\n- name: https\n  port: 8443\n  protocol: TCP\n"
        );
        if nodes.is_empty() {
            yaml.push_str("endpoints: []\n");
            return yaml;
        }
        yaml.push_str("endpoints:\n");
        for (index, node) in nodes.iter().enumerate() {
            let address = match family {
                Family::V4 => format!("10.244.{}.{}", index + 1, 10 + index),
                Family::V6 => format!("2001:db8:244:{}::{}", index + 1, 10 + index),
            };
            let _ = write!(
                yaml,
                "- addresses: [\"{address}\"]\n  nodeName: {node}\n  conditions: {{ready: true, serving: true, terminating: false}}\n",
            );
        }
        yaml
    }

    /// Starts the controller (in the switch namespace: it needs no network).
    pub fn start_controller(&mut self) -> Result<()> {
        let dir = self.view.cluster_dir.display().to_string();
        let ironlb = self.spec.ironlb.display().to_string();
        self.lab.spawn(
            &self.switch,
            "controller",
            &ironlb,
            &["controller", "--cluster-dir", &dir],
        )?;
        Ok(())
    }

    /// Starts the speaker of `node` inside its namespace.
    pub fn start_speaker(&mut self, node: &str, extra: &[&str]) -> Result<()> {
        let namespace = Namespace::existing(&self.view.node_view(node)?.namespace);
        let dir = self.view.cluster_dir.display().to_string();
        let ironlb = self.spec.ironlb.display().to_string();
        let mut args = vec!["speaker", "--cluster-dir", &dir, "--node", node];
        args.extend_from_slice(extra);
        let process = self
            .lab
            .spawn(&namespace, &format!("speaker-{node}"), &ironlb, &args)?;
        self.speakers.push((node.to_string(), process));
        Ok(())
    }

    /// Starts `ironlb ARGS` in a namespace (by name) with environment `env`, logging to
    /// `<lab dir>/<log>.log`.
    pub fn spawn_ironlb(
        &mut self,
        namespace: &str,
        log: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Process> {
        let ironlb = self.spec.ironlb.display().to_string();
        self.spawn(namespace, log, env, &ironlb, args)
    }

    /// Starts `program ARGS` in a namespace (by name) with environment `env` (through `env`,
    /// which execs it: the PID is the program's), logging to `<lab dir>/<log>.log`. The
    /// fabric stops it by PID when dropped, or [`Fabric::stop`] does before.
    pub fn spawn(
        &mut self,
        namespace: &str,
        log: &str,
        env: &[(&str, &str)],
        program: &str,
        args: &[&str],
    ) -> Result<Process> {
        let mut full: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        full.push(program.to_string());
        full.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        self.lab
            .spawn(&Namespace::existing(namespace), log, "env", &refs)
    }

    /// Starts an FRR instance (zebra, bgpd, bfdd when asked) in a namespace of the fabric
    /// (a node's, for an FRR-based speaker), its files in `<lab dir>/<name>`.
    pub fn start_frr(
        &mut self,
        namespace: &str,
        name: &str,
        bgpd_config: &str,
        daemons: FrrDaemons,
    ) -> Result<Frr> {
        Frr::start(
            &mut self.lab,
            &Namespace::existing(namespace),
            name,
            bgpd_config,
            daemons,
        )
    }

    /// Stops a process started by [`Fabric::spawn`] now (SIGTERM, SIGKILL after 3 s), by PID.
    pub fn stop(&mut self, process: &Process) {
        self.lab.stop(process);
    }

    /// The switch namespace's name.
    pub fn switch_namespace(&self) -> &str {
        self.switch.name()
    }

    /// Stops a node's speaker: SIGTERM (it leaves its peers as configured), or SIGKILL (a
    /// crash).
    pub fn stop_speaker(&mut self, node: &str, stop: Stop) {
        if let Some(index) = self.speakers.iter().position(|(n, _)| n == node) {
            let (_, process) = self.speakers.remove(index);
            if stop == Stop::Kill {
                process.signal("KILL");
            }
            self.lab.stop(&process);
        }
    }

    /// A client on the segment (layer 2 tests): a namespace plugged into the switch with
    /// `addresses` (CIDR notation) on its `eth0`, and `routes` (prefixes it reaches on-link,
    /// so it resolves their addresses with ARP or Neighbor Discovery itself).
    pub fn add_client(
        &mut self,
        name: &str,
        addresses: &[&str],
        routes: &[&str],
    ) -> Result<Namespace> {
        let namespace = self.lab.namespace(name)?;
        let port = format!("p-{name}");
        self.lab
            .link(&namespace, "eth0", addresses, &self.switch, &port, &[])?;
        self.switch.ip(&["link", "set", &port, "master", "br0"])?;
        for route in routes {
            namespace.ip(&["route", "add", route, "dev", "eth0"])?;
        }
        self.view.namespaces.push(namespace.name().to_string());
        Ok(namespace)
    }

    /// Kills a ToR's bgpd (SIGKILL: no NOTIFICATION, zebra drops its routes) and starts it
    /// again with the same configuration; returns once the new bgpd answers vtysh, that is
    /// once it accepts connections.
    pub fn restart_tor_bgpd(&mut self, name: &str) -> Result<Instant> {
        let index = self
            .tors
            .iter()
            .position(|t| t.spec.name == name)
            .ok_or_else(|| LabError(format!("no ToR {name}")))?;
        let tor = &mut self.tors[index];
        if let Some(bgpd) = tor.frr.processes().get(1) {
            bgpd.signal("KILL");
        }
        tor.frr.stop_bgpd(&mut self.lab);
        tor.frr.start_bgpd(&mut self.lab)?;
        Ok(Instant::now())
    }

    /// The PID of a node's speaker, while it runs.
    pub fn speaker_pid(&self, node: &str) -> Option<u32> {
        self.speakers
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, process)| process.pid())
    }

    pub fn tor(&self, name: &str) -> &Tor {
        self.tors
            .iter()
            .find(|t| t.spec.name == name)
            .unwrap_or_else(|| panic!("no ToR {name}"))
    }
}

/// The IPv4 addresses of `hops`, in their order.
fn ipv4_only(hops: Vec<IpAddr>) -> Vec<Ipv4Addr> {
    hops.into_iter()
        .filter_map(|hop| match hop {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect()
}

/// Next hops from `ip route show PREFIX` or `ip -6 route show PREFIX` output, sorted: as
/// `Ipv4Addr`, `Ipv6Addr` or `IpAddr` (words after `via` that are not such an address, as
/// `inet6` in `via inet6 ADDRESS`, are skipped).
pub fn parse_next_hops<A: std::str::FromStr + Ord>(text: &str) -> Vec<A> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut hops: Vec<A> = words
        .iter()
        .enumerate()
        .filter(|(_, word)| **word == "via")
        .filter_map(|(index, _)| {
            // `via inet6 ADDRESS` (an IPv4 route over an IPv6 next hop) names the family first.
            let next = words.get(index + 1)?;
            let address = if *next == "inet" || *next == "inet6" {
                words.get(index + 2)?
            } else {
                next
            };
            address.parse().ok()
        })
        .collect();
    hops.sort();
    hops.dedup();
    hops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hops_single_and_multipath() {
        assert_eq!(
            parse_next_hops::<Ipv4Addr>(
                "203.0.113.5 nhid 12 via 10.0.0.21 dev eth0 proto bgp metric 20\n"
            ),
            [Ipv4Addr::new(10, 0, 0, 21)]
        );
        let multipath = "203.0.113.5 nhid 20 proto bgp metric 20 \n\tnexthop via 10.0.0.23 dev eth0 weight 1 \n\tnexthop via 10.0.0.21 dev eth0 weight 1 \n";
        assert_eq!(
            parse_next_hops::<Ipv4Addr>(multipath),
            [Ipv4Addr::new(10, 0, 0, 21), Ipv4Addr::new(10, 0, 0, 23)]
        );
        assert!(parse_next_hops::<Ipv4Addr>("").is_empty());
    }

    #[test]
    fn next_hops_of_ipv6_routes() {
        let multipath = "2001:db8::5 nhid 31 proto bgp metric 20 pref medium\n\tnexthop via 2001:db8:ffff::23 dev eth0 weight 1 \n\tnexthop via 2001:db8:ffff::21 dev eth0 weight 1 \n";
        let hops: Vec<IpAddr> = parse_next_hops(multipath);
        assert_eq!(
            hops,
            ["2001:db8:ffff::21", "2001:db8:ffff::23"].map(|a| a.parse::<IpAddr>().unwrap())
        );
        // IPv4 only callers see none of them.
        assert!(parse_next_hops::<Ipv4Addr>(multipath).is_empty());
        let single =
            "2001:db8::5 nhid 12 via 2001:db8:ffff::22 dev eth0 proto bgp metric 20 pref medium\n";
        assert_eq!(
            parse_next_hops::<Ipv6Addr>(single),
            [segment_ipv6(Ipv4Addr::new(10, 0, 0, 22))]
        );
        // An IPv4 route over an IPv6 next hop (RFC 8950) names the family first.
        assert_eq!(
            parse_next_hops::<IpAddr>("203.0.113.5 via inet6 fe80::1 dev eth0 proto bgp\n"),
            ["fe80::1".parse::<IpAddr>().unwrap()]
        );
        // Words that are no address are skipped, never a panic.
        assert!(parse_next_hops::<IpAddr>("via via inet6").is_empty());
    }

    #[test]
    fn segment_ipv6_reads_like_the_ipv4_address() {
        assert_eq!(
            segment_ipv6(Ipv4Addr::new(10, 0, 0, 21)),
            "2001:db8:ffff::21".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            segment_ipv6(Ipv4Addr::new(10, 0, 0, 1)),
            "2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            segment_ipv6(Ipv4Addr::new(10, 0, 0, 250)),
            "2001:db8:ffff::250".parse::<Ipv6Addr>().unwrap()
        );
    }

    fn fabric_spec(peering: Peering, ipv6: bool) -> (FabricSpec, TorSpec) {
        let mut spec = FabricSpec::seed(PathBuf::from("/nonexistent"));
        spec.ipv6 = ipv6;
        let mut tor = spec.tors[0].clone();
        tor.peering = peering;
        tor.extra = vec!["timers 3 9".into()];
        (spec, tor)
    }

    #[test]
    fn ipv4_only_tor_config_is_the_seeds() {
        let (spec, tor) = fabric_spec(Peering::Static, false);
        assert_eq!(
            tor_config(&spec, &tor),
            "router bgp 65000\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n bgp bestpath as-path multipath-relax\n neighbor nodes peer-group\n neighbor nodes remote-as 65100\n neighbor nodes bfd\n neighbor nodes timers 3 9\n neighbor 10.0.0.21 peer-group nodes\n neighbor 10.0.0.22 peer-group nodes\n neighbor 10.0.0.23 peer-group nodes\n address-family ipv4 unicast\n  maximum-paths 16\n  maximum-paths ibgp 16\n exit-address-family\n"
        );
        let (spec, tor) = fabric_spec(Peering::ListenRange, false);
        let config = tor_config(&spec, &tor);
        assert!(config.contains(" bgp listen range 10.0.0.0/24 peer-group nodes\n"));
        assert!(!config.contains("nodes6") && !config.contains("activate"));
    }

    #[test]
    fn dual_stack_tor_config_activates_each_group_in_its_family() {
        let (spec, tor) = fabric_spec(Peering::Static, true);
        let config = tor_config(&spec, &tor);
        assert_eq!(
            config,
            "router bgp 65000\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n bgp bestpath as-path multipath-relax\n neighbor nodes peer-group\n neighbor nodes remote-as 65100\n neighbor nodes bfd\n neighbor nodes timers 3 9\n neighbor 10.0.0.21 peer-group nodes\n neighbor 10.0.0.22 peer-group nodes\n neighbor 10.0.0.23 peer-group nodes\n neighbor nodes6 peer-group\n neighbor nodes6 remote-as 65100\n neighbor nodes6 bfd\n neighbor nodes6 timers 3 9\n neighbor 2001:db8:ffff::21 peer-group nodes6\n neighbor 2001:db8:ffff::22 peer-group nodes6\n neighbor 2001:db8:ffff::23 peer-group nodes6\n address-family ipv4 unicast\n  neighbor nodes activate\n  maximum-paths 16\n  maximum-paths ibgp 16\n exit-address-family\n address-family ipv6 unicast\n  neighbor nodes6 activate\n  maximum-paths 16\n  maximum-paths ibgp 16\n exit-address-family\n"
        );
        let (spec, mut tor) = fabric_spec(Peering::ListenRange, true);
        tor.bfd = false;
        let config = tor_config(&spec, &tor);
        assert!(config.contains(" bgp listen range 10.0.0.0/24 peer-group nodes\n"));
        assert!(config.contains(" bgp listen range 2001:db8:ffff::/64 peer-group nodes6\n"));
        assert!(!config.contains("bfd") && !config.contains(" neighbor 2001:"));
    }

    #[test]
    fn multiprotocol_tor_config_activates_both_groups_in_both_families() {
        let (spec, mut tor) = fabric_spec(Peering::ListenRange, true);
        tor.multiprotocol = true;
        let config = tor_config(&spec, &tor);
        assert!(config.ends_with(
            " address-family ipv4 unicast\n  neighbor nodes activate\n  neighbor nodes6 activate\n  maximum-paths 16\n  maximum-paths ibgp 16\n exit-address-family\n address-family ipv6 unicast\n  neighbor nodes6 activate\n  neighbor nodes activate\n  maximum-paths 16\n  maximum-paths ibgp 16\n exit-address-family\n"
        ), "{config}");
        // On an IPv4-only fabric there is no second group, and nothing to activate.
        let (spec, mut tor) = fabric_spec(Peering::Static, false);
        tor.multiprotocol = true;
        assert!(!tor_config(&spec, &tor).contains("activate"));
    }
}
