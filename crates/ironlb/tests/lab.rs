//! The README's main job and its Kubernetes variant, run as a user runs them: `ironlb lab`
//! prints the seed's verification and the drill; `ironlb lab up --kubernetes` leaves a real
//! control plane with IronLB running, on which the seed's kubectl commands work, routes stay
//! at the ToRs while the API server is unreachable, and changes flow again afterwards. And the
//! layer 2 scenario, `ironlb lab --scenario layer2`: the owner answers at the client, and the
//! client's neighbour entries follow a failover by themselves. And the dual-stack scenario,
//! `ironlb lab --scenario dual-stack`: both families at both ToRs, and the seed's drill for each.
//!
//! The tests take turns: they use the lab's single state file.

use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ironlb_lab::fabric::FabricView;

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");

fn ironlb(args: &[&str]) -> (bool, String) {
    let output = Command::new(IRONLB)
        .args(args)
        .output()
        .expect("ironlb runs");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// One lab at a time on the machine's state file.
static ONE_LAB: Mutex<()> = Mutex::new(());

fn one_lab() -> MutexGuard<'static, ()> {
    ONE_LAB.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes the lab whatever happens.
struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = ironlb(&["lab", "down"]);
    }
}

fn kubectl(view: &FabricView, args: &[&str]) -> String {
    let switch = view
        .namespaces
        .iter()
        .find(|n| n.ends_with("-sw"))
        .expect("switch namespace");
    let bin = std::fs::read_dir(dirs_cache())
        .ok()
        .and_then(|mut versions| {
            versions.find_map(|v| Some(v.ok()?.path().join("bin/kubectl")).filter(|p| p.exists()))
        })
        .expect("kubectl in the cache");
    let output = Command::new("ip")
        .args(["netns", "exec", switch])
        .arg(bin)
        .arg("--kubeconfig")
        .arg(view.directory.join("kube/kubeconfig"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn dirs_cache() -> std::path::PathBuf {
    std::env::var_os("IRONLB_KUBE_CACHE")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/ironlb-kube")
        })
}

#[test]
fn the_main_job_and_its_kubernetes_variant() {
    let _one = one_lab();
    if !ironlb_lab::require(
        "the_main_job_and_its_kubernetes_variant",
        &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "go"],
    ) {
        return;
    }
    let _down = Down;
    let (ok, output) = ironlb(&["lab"]);
    assert!(ok, "{output}");
    for expected in [
        "web    LoadBalancer   203.0.113.5",
        "BGP session established",
        "tor1# show ip route 203.0.113.5",
        "* 10.0.0.21, via eth0",
        "* 10.0.0.22, via eth0",
        "* 10.0.0.23, via eth0",
        "endpoint drained (Local)",
        "node hard failure",
    ] {
        assert!(
            output.contains(expected),
            "missing {expected:?} in:\n{output}"
        );
    }

    let (ok, output) = ironlb(&["lab", "up", "--kubernetes"]);
    assert!(ok, "{output}");
    assert!(output.contains("export KUBECONFIG="), "{output}");
    let view: FabricView =
        serde_json::from_str(&std::fs::read_to_string("/run/ironlb-lab.json").unwrap()).unwrap();
    // kwok plays the kubelets, and keeps the nodes' own addresses.
    let addresses = kubectl(
        &view,
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.addresses[?(@.type==\"InternalIP\")].address} {end}",
        ],
    );
    assert_eq!(
        addresses.trim(),
        "node-21=10.0.0.21 node-22=10.0.0.22 node-23=10.0.0.23"
    );
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed");
    for file in [
        "pool.yaml",
        "bfd.yaml",
        "peers.yaml",
        "advertisement.yaml",
        "service.yaml",
    ] {
        kubectl(&view, &["apply", "-f", &format!("{seed}/{file}")]);
    }
    kubectl(
        &view,
        &[
            "create",
            "deployment",
            "web",
            "--image=registry.invalid/web:lab",
            "--replicas=3",
        ],
    );
    let ip = ironlb_lab::wait_for("EXTERNAL-IP", Duration::from_secs(60), || {
        let ip = kubectl(
            &view,
            &[
                "get",
                "svc",
                "web",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip}",
            ],
        );
        (!ip.is_empty()).then_some(ip)
    })
    .unwrap();
    assert!(ip.starts_with("203.0.113."), "{ip}");
    assert!(kubectl(&view, &["describe", "svc", "web"]).contains("IPAllocated"));
    // Local policy: the next hops are the nodes the scheduler put web's pods on.
    let nodes_with_pods = || {
        let text = kubectl(
            &view,
            &[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={.items[*].spec.nodeName}",
            ],
        );
        let mut hops: Vec<std::net::Ipv4Addr> = text
            .split_whitespace()
            .filter_map(|name| view.nodes.iter().find(|n| n.name == name))
            .map(|n| n.address)
            .collect();
        hops.sort();
        hops.dedup();
        hops
    };
    let expected = nodes_with_pods();
    assert!(!expected.is_empty());
    view.wait_next_hops("tor1", &ip, &expected, Duration::from_secs(60))
        .expect("routes at tor1");
    // The speakers announce ServiceBGPStatus for what they actually sent.
    let statuses = ironlb_lab::wait_for("ServiceBGPStatus", Duration::from_secs(20), || {
        let text = kubectl(
            &view,
            &[
                "-n",
                "metallb-system",
                "get",
                "servicebgpstatuses",
                "-o",
                "json",
            ],
        );
        text.contains("\"tor1\"").then_some(text)
    })
    .unwrap();
    assert!(statuses.contains("\"serviceName\": \"web\""), "{statuses}");
    // MetalLB's speaker event, and each component's ConfigurationState.
    ironlb_lab::wait_for("nodeAssigned", Duration::from_secs(20), || {
        kubectl(&view, &["describe", "svc", "web"])
            .contains("nodeAssigned")
            .then_some(())
    })
    .unwrap();
    let states = ironlb_lab::wait_for("ConfigurationStates", Duration::from_secs(20), || {
        let text = kubectl(
            &view,
            &[
                "-n",
                "metallb-system",
                "get",
                "configurationstates",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}={.status.result} {end}",
            ],
        );
        (text.split_whitespace().count() == 4).then_some(text)
    })
    .unwrap();
    for state in [
        "controller=Valid",
        "speaker-node-21=Valid",
        "speaker-node-22=Valid",
        "speaker-node-23=Valid",
    ] {
        assert!(states.contains(state), "{states}");
    }

    // The API server becomes unreachable (frozen) for 60 s: routes stay.
    let pids = std::fs::read_to_string(view.directory.join("kube/pids")).unwrap();
    let apiserver = pids
        .lines()
        .find(|l| l.contains("kube-apiserver"))
        .and_then(|l| {
            l.split_whitespace()
                .find(|w| w.bytes().all(|b| b.is_ascii_digit()))
        })
        .expect("kube-apiserver's PID in kube/pids")
        .to_string();
    Command::new("kill")
        .args(["-STOP", &apiserver])
        .status()
        .unwrap();
    let frozen = Instant::now();
    while frozen.elapsed() < Duration::from_secs(60) {
        assert_eq!(
            view.next_hops("tor1", &ip),
            expected,
            "routes withdrawn while the API was away"
        );
        std::thread::sleep(Duration::from_secs(5));
    }
    // Past the lab's --api-staleness-bound (75 s) the speakers stop trusting their view and
    // withdraw, loudly; their sessions stay up.
    view.wait_next_hops("tor1", &ip, &[], Duration::from_secs(60))
        .expect("routes withdrawn past the staleness bound");
    let withdrawn = frozen.elapsed();
    println!("API server frozen: routes withdrawn after {withdrawn:?} (bound 75 s)");
    // The bound counts from the speaker's last word with the API, which may precede the
    // freeze by up to half a probe interval (75 s / 6 / 2) and a probe's answer.
    assert!(withdrawn >= Duration::from_secs(68), "{withdrawn:?}");
    let log = view.log("speaker-node-21");
    assert!(log.contains("Kubernetes API unreachable"), "{log}");
    assert!(log.contains("cluster view stale"), "{log}");
    Command::new("kill")
        .args(["-CONT", &apiserver])
        .status()
        .unwrap();
    // The API answers again: the routes come back at once.
    let thawed = Instant::now();
    view.wait_next_hops("tor1", &ip, &expected, Duration::from_secs(30))
        .expect("routes back once the API answers");
    println!("API server back: routes back after {:?}", thawed.elapsed());
    // Changes flow again: scaling to one replica leaves one next hop.
    ironlb_lab::wait_for("the API server back", Duration::from_secs(60), || {
        Command::new("true").status().ok()?;
        Some(kubectl(&view, &["get", "--raw", "/readyz"]))
    })
    .unwrap();
    kubectl(&view, &["scale", "deployment", "web", "--replicas=1"]);
    let one = ironlb_lab::wait_for("one replica left", Duration::from_secs(60), || {
        let hops = nodes_with_pods();
        (hops.len() == 1).then_some(hops)
    })
    .unwrap();
    view.wait_next_hops("tor1", &ip, &one, Duration::from_secs(120))
        .expect("next hops follow the scale-down after the API came back");
}

/// `ironlb ARGS` as a user runs it; also returns its PID (its namespaces carry it).
fn ironlb_with_pid(args: &[&str]) -> (bool, String, u32) {
    let child = Command::new(IRONLB)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ironlb runs");
    let pid = child.id();
    let output = child.wait_with_output().expect("ironlb ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text, pid)
}

/// The namespaces a process created (`ilb-<pid>-...`) that still exist.
fn namespaces_of(pid: u32) -> Vec<String> {
    let list = ironlb_lab::run("ip", &["netns", "list"]).unwrap_or_default();
    list.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(&format!("ilb-{pid}-")))
        .map(String::from)
        .collect()
}

/// The figures of a drill summary line (`owner's link down  IPv4  505 ms  IPv6 ...`), in
/// milliseconds: moved IPv4, moved IPv6, back IPv4, back IPv6.
fn figures(output: &str, line_start: &str) -> Vec<u64> {
    let line = output
        .lines()
        .find(|l| l.trim_start().starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start:?} line in:\n{output}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[1].starts_with("ms"))
        .filter_map(|w| w[0].parse().ok())
        .collect()
}

/// Takes the lab's turn, checks the scenario's manifests (`examples/SCENARIO`) and runs
/// `ironlb lab --scenario SCENARIO` as a user does; returns the turn, its output and its PID,
/// or `None` when `programs` are missing (a skip).
fn full_scenario(
    test: &str,
    programs: &[&str],
    scenario: &str,
) -> Option<(MutexGuard<'static, ()>, String, u32)> {
    let one = one_lab();
    if !ironlb_lab::require(test, programs) {
        return None;
    }
    let example = format!("{}/../../examples/{scenario}", env!("CARGO_MANIFEST_DIR"));
    let (ok, output) = ironlb(&["validate", "-f", &example]);
    assert!(ok, "{output}");
    let (ok, output, pid) = ironlb_with_pid(&["lab", "--scenario", scenario]);
    println!("{output}");
    assert!(ok, "{output}");
    Some((one, output, pid))
}

/// `ironlb lab up --scenario SCENARIO`: the lab is up, its state records the scenario. Returns
/// the command's PID.
fn up_scenario(scenario: &str) -> u32 {
    let (ok, output, pid) = ironlb_with_pid(&["lab", "up", "--scenario", scenario]);
    assert!(ok, "{output}");
    assert!(output.contains("The lab is up."), "{output}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("/run/ironlb-lab.json").unwrap()).unwrap();
    assert_eq!(state["scenario"], scenario);
    pid
}

#[test]
fn layer2_scenario_shows_one_owner_at_the_client_and_times_its_failover() {
    // The whole scenario, then nothing of it left.
    let Some((_one, output, pid)) = full_scenario(
        "layer2_scenario_shows_one_owner_at_the_client_and_times_its_failover",
        &["arping", "ndisc6", "ping"],
        "layer2",
    ) else {
        return;
    };
    // MetalLB's election (the hash of node and address) names the owner.
    let owner = ["node-21", "node-22", "node-23"]
        .into_iter()
        .min_by_key(|node| ironlb_speaker::layer2::election_hash(node, "203.0.113.10"))
        .unwrap();
    for expected in [
        "L2-OWNER".to_string(),
        format!("web    LoadBalancer   203.0.113.10,2001:db8:5::10   443/TCP   {owner}"),
        "client$ arping".to_string(),
        "# ARP for 203.0.113.10: ".to_string(),
        "Neighbor Solicitation for 2001:db8:5::10: ".to_string(),
        format!("{owner}'s eth0, the owner; no other node answered"),
        format!("## 1. {owner}'s link goes down"),
        format!("## 2. {owner}'s speaker is SIGKILLed"),
        "# tearing the lab down".to_string(),
    ] {
        assert!(
            output.contains(&expected),
            "missing {expected:?} in:\n{output}"
        );
    }
    assert_eq!(
        output.matches("the owner; no other node answered").count(),
        2,
        "{output}"
    );
    // Moves within the detection time and an announcement, with room for a busy machine;
    // back once the owner's link is up (BFD Up again), or its speaker's start-up grace ends.
    let link = figures(&output, "owner's link down");
    let kill = figures(&output, "owner's speaker killed");
    assert_eq!((link.len(), kill.len()), (4, 4), "{output}");
    assert!(link.iter().all(|ms| *ms < 5000), "{link:?}");
    assert!(kill[..2].iter().all(|ms| *ms < 5000), "{kill:?}");
    assert!(
        kill[2..].iter().all(|ms| (2500..10_000).contains(ms)),
        "{kill:?}"
    );
    assert_eq!(namespaces_of(pid), Vec::<String>::new());

    // Left running: status and drill act on it without naming the scenario again; the
    // speaker the drill starts again is recorded, and `down` removes everything.
    let _down = Down;
    let pid = up_scenario("layer2");
    let (ok, output) = ironlb(&["lab", "status"]);
    assert!(ok, "{output}");
    assert!(output.contains("L2-OWNER"), "{output}");
    let (ok, output) = ironlb(&["lab", "drill"]);
    assert!(ok, "{output}");
    assert!(output.contains("# Summary"), "{output}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("/run/ironlb-lab.json").unwrap()).unwrap();
    assert_eq!(state["scenario"], "layer2");
    let pids: Vec<u64> = state["pids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    // The controller and three speakers, one of them started again by the drill.
    assert_eq!(pids.len(), 4, "{state}");
    let cluster_dir = state["cluster_dir"].as_str().unwrap().to_string();
    let (ok, output) = ironlb(&["lab", "down"]);
    assert!(ok, "{output}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
    for pid in pids {
        // Gone (a PID reused since is another program, not given this lab's directory).
        let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&command).contains(&cluster_dir),
            "process {pid} still runs after down"
        );
    }
}

/// Processes still running with a file of the lab `ironlb lab` (process `pid`) made in their
/// command line (its FRR daemons, controller and speakers all have one).
fn processes_of(pid: u32) -> Vec<String> {
    let directory = format!("ironlb-lab-lab-{pid}/");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let command = std::fs::read(entry.ok()?.path().join("cmdline")).ok()?;
            let command = String::from_utf8_lossy(&command).replace('\0', " ");
            command.contains(&directory).then_some(command)
        })
        .collect()
}

#[test]
fn dual_stack_scenario_routes_both_families_and_times_their_failover() {
    // The whole scenario, then nothing of it left.
    let Some((_one, output, pid)) = full_scenario(
        "dual_stack_scenario_routes_both_families_and_times_their_failover",
        &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"],
        "dual-stack",
    ) else {
        return;
    };
    let mut expected = vec![
        "web    LoadBalancer   203.0.113.5,2001:db8:5::5   443/TCP".to_string(),
        "tor1# show ip route 203.0.113.5".to_string(),
        "tor2# show ipv6 route 2001:db8:5::5".to_string(),
        "* 2001:db8:ffff::22, via eth0".to_string(),
        "## 2. node-22 fails hard".to_string(),
        "# tearing the lab down".to_string(),
    ];
    for tor in ["tor1", "tor2"] {
        // Both FIBs, both families, via every node.
        expected.push(format!(
            "{tor}# (kernel FIB) ip route show 203.0.113.5\n203.0.113.5/32 via 10.0.0.21, via 10.0.0.22, via 10.0.0.23\n"
        ));
        expected.push(format!(
            "{tor}# (kernel FIB) ip -6 route show 2001:db8:5::5\n2001:db8:5::5/128 via 2001:db8:ffff::21, via 2001:db8:ffff::22, via 2001:db8:ffff::23\n"
        ));
    }
    for node in ["node-21", "node-22", "node-23"] {
        for (peer, address) in [
            ("tor1", "10.0.0.1"),
            ("tor1-v6", "2001:db8:ffff::1"),
            ("tor2", "10.0.0.2"),
            ("tor2-v6", "2001:db8:ffff::2"),
        ] {
            // `ironlb get peers`: every session of both families Established.
            expected.push(format!(
                "{node}   {peer:<7}   {address:<16}   65100 -> 65000   Established"
            ));
        }
        let established = output
            .lines()
            .filter(|l| l.starts_with(&format!("{node}: ")))
            .filter(|l| l.contains("BGP session established"))
            .filter(|l| l.contains("name=tor1-v6") || l.contains("name=tor2-v6"))
            .filter(|l| l.contains("families=IPv6 unicast"))
            .count();
        assert!(established >= 2, "{node}: no IPv6 sessions in:\n{output}");
    }
    for expected in &expected {
        assert!(
            output.contains(expected.as_str()),
            "missing {expected:?} in:\n{output}"
        );
    }
    // `ironlb get bfd`: tor1's sessions of both families up, from each node.
    for address in ["10.0.0.1", "2001:db8:ffff::1"] {
        let up = output
            .lines()
            .filter(|l| l.contains(&format!(" {address} ")) && l.contains("   up   "))
            .count();
        assert_eq!(up, 3, "BFD with {address} from each node in:\n{output}");
    }
    // The drill's figures, tor1 IPv4, IPv6, then tor2's: the endpoint's withdrawal well under
    // a second; node-22 dropped by tor1's BFD (300 ms x 3) within 2 s in both families, and by
    // tor2 only on its hold timer (9 s, from its last keepalive: 6 to 9 s).
    let drained = figures(&output, "endpoint drained (Local)");
    let failed = figures(&output, "node hard failure");
    assert_eq!((drained.len(), failed.len()), (4, 4), "{output}");
    for (what, times, within) in [
        ("endpoint drained", &drained[..], 0..1000),
        ("node-22 down at tor1", &failed[..2], 0..2000),
        ("node-22 down at tor2", &failed[2..], 5000..12_000),
    ] {
        assert!(
            times.iter().all(|ms| within.contains(ms)),
            "{what}: {times:?} ms, not within {within:?}"
        );
    }
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
    assert_eq!(processes_of(pid), Vec::<String>::new());

    // Left running: `status` uses the recorded scenario, and `down` removes everything.
    let _down = Down;
    let pid = up_scenario("dual-stack");
    let (ok, output) = ironlb(&["lab", "status"]);
    assert!(ok, "{output}");
    assert!(
        output.contains(
            "2001:db8:5::5/128 via 2001:db8:ffff::21, via 2001:db8:ffff::22, via 2001:db8:ffff::23"
        ),
        "{output}"
    );
    let (ok, output) = ironlb(&["lab", "down"]);
    assert!(ok, "{output}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
    assert_eq!(processes_of(pid), Vec::<String>::new());
}
