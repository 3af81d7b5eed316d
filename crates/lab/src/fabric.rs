//! The seed's network: top-of-rack routers running real FRR and Kubernetes nodes, all on one
//! layer-2 segment (10.0.0.0/24, a bridge in its own namespace), with IronLB's controller and
//! one speaker per node reading a cluster directory.
//!
//! Used by `ironlb lab` and by the end-to-end tests.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Frr, FrrDaemons, Lab, LabError, Namespace, Process, Result, wait_for};

/// The switch namespace's address on the segment.
pub const SWITCH_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 250);

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
    /// `bgp listen range 10.0.0.0/24 peer-group nodes`: dynamic neighbours, which FRR creates
    /// when a node connects and deletes (with their BFD session) when the session drops.
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
                },
                TorSpec {
                    name: "tor2".into(),
                    address: Ipv4Addr::new(10, 0, 0, 2),
                    bfd: false,
                    peering: Peering::Static,
                    extra: Vec::new(),
                },
            ],
            nodes: (21..=23)
                .map(|i| (format!("node-{i}"), Ipv4Addr::new(10, 0, 0, i)))
                .collect(),
            tor_asn: 65000,
            node_asn: 65100,
            ironlb,
        }
    }
}

/// A router of a running fabric, as tools re-attaching to it see it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TorView {
    pub name: String,
    pub address: Ipv4Addr,
    pub namespace: String,
    /// FRR's per-instance directory (vty sockets, logs).
    pub frr_directory: PathBuf,
}

/// A node of a running fabric.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NodeView {
    pub name: String,
    pub address: Ipv4Addr,
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
            let _ = write!(
                yaml,
                "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n{node_labels}status:\n  addresses:\n  - type: InternalIP\n    address: {address}\n  conditions:\n  - type: Ready\n    status: \"True\"\n",
                name = node.name,
                address = node.address
            );
        }
        yaml
    }

    /// Next hops of `prefix` in a ToR's kernel FIB (empty when there is no route).
    pub fn next_hops(&self, tor: &str, prefix: &str) -> Vec<Ipv4Addr> {
        let Ok(tor) = self.tor_view(tor) else {
            return Vec::new();
        };
        let Ok(text) = Namespace::existing(&tor.namespace).ip(&["route", "show", prefix]) else {
            return Vec::new();
        };
        parse_next_hops(&text)
    }

    /// Waits until a ToR's FIB has exactly these next hops for `prefix`; returns how long it took.
    pub fn wait_next_hops(
        &self,
        tor: &str,
        prefix: &str,
        expected: &[Ipv4Addr],
        timeout: Duration,
    ) -> Result<Duration> {
        let start = Instant::now();
        let mut expected = expected.to_vec();
        expected.sort();
        let mut last = Vec::new();
        let found = wait_for(
            &format!("{tor}: {prefix} via {expected:?}"),
            timeout,
            || {
                last = self.next_hops(tor, prefix);
                (last == expected).then(|| start.elapsed())
            },
        );
        found.map_err(|e| LabError(format!("{e} (last seen: {last:?})")))
    }

    /// Cuts a node off: every packet it sends to the routers is dropped (no FIN, no withdraw).
    pub fn cut(&self, node: &str) -> Result<()> {
        let namespace = Namespace::existing(&self.node_view(node)?.namespace);
        for tor in &self.tors {
            namespace.ip(&["route", "add", "blackhole", &format!("{}/32", tor.address)])?;
        }
        Ok(())
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
        for tor in &self.tors {
            let _ = namespace.ip(&["route", "del", "blackhole", &format!("{}/32", tor.address)]);
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
            lab.link(
                &namespace,
                "eth0",
                &[&format!("{address}/24")],
                &switch,
                &port,
                &[],
            )?;
            switch.ip(&["link", "set", &port, "master", "br0"])?;
            Ok(namespace)
        };
        let mut nodes = Vec::new();
        for (name, address) in &spec.nodes {
            let namespace = attach(&mut lab, name, *address)?;
            nodes.push(NodeView {
                name: name.clone(),
                address: *address,
                namespace: namespace.name().to_string(),
            });
        }
        let mut tors = Vec::new();
        let mut tor_views = Vec::new();
        for tor in &spec.tors {
            let namespace = attach(&mut lab, &tor.name, tor.address)?;
            let mut config = format!(
                "router bgp {asn}\n bgp router-id {id}\n no bgp ebgp-requires-policy\n bgp bestpath as-path multipath-relax\n neighbor nodes peer-group\n neighbor nodes remote-as {node_asn}\n",
                asn = spec.tor_asn,
                id = tor.address,
                node_asn = spec.node_asn,
            );
            if tor.bfd {
                config.push_str(" neighbor nodes bfd\n");
            }
            for line in &tor.extra {
                let _ = writeln!(config, " neighbor nodes {line}");
            }
            match tor.peering {
                Peering::Static => {
                    for (_, address) in &spec.nodes {
                        let _ = writeln!(config, " neighbor {address} peer-group nodes");
                    }
                }
                Peering::ListenRange => {
                    config.push_str(" bgp listen range 10.0.0.0/24 peer-group nodes\n");
                }
            }
            config.push_str(
                " address-family ipv4 unicast\n  maximum-paths 16\n  maximum-paths ibgp 16\n exit-address-family\n",
            );
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
        let mut yaml = format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {service}-lab\n  namespace: default\n  labels:\n    kubernetes.io/service-name: {service}\naddressType: IPv4\nports:\n- name: https\n  port: 8443\n  protocol: TCP\n"
        );
        if nodes.is_empty() {
            yaml.push_str("endpoints: []\n");
            return yaml;
        }
        yaml.push_str("endpoints:\n");
        for (index, node) in nodes.iter().enumerate() {
            let _ = write!(
                yaml,
                "- addresses: [\"10.244.{}.{}\"]\n  nodeName: {node}\n  conditions: {{ready: true, serving: true, terminating: false}}\n",
                index + 1,
                10 + index
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
        let mut full: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        full.push(ironlb);
        full.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        self.lab
            .spawn(&Namespace::existing(namespace), log, "env", &refs)
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

/// Next hops from `ip route show PREFIX` output, sorted.
pub fn parse_next_hops(text: &str) -> Vec<Ipv4Addr> {
    let mut hops: Vec<Ipv4Addr> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "via")
        .filter_map(|w| w[1].parse().ok())
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
            parse_next_hops("203.0.113.5 nhid 12 via 10.0.0.21 dev eth0 proto bgp metric 20\n"),
            [Ipv4Addr::new(10, 0, 0, 21)]
        );
        let multipath = "203.0.113.5 nhid 20 proto bgp metric 20 \n\tnexthop via 10.0.0.23 dev eth0 weight 1 \n\tnexthop via 10.0.0.21 dev eth0 weight 1 \n";
        assert_eq!(
            parse_next_hops(multipath),
            [Ipv4Addr::new(10, 0, 0, 21), Ipv4Addr::new(10, 0, 0, 23)]
        );
        assert!(parse_next_hops("").is_empty());
    }
}
