//! `ironlb lab --kubernetes`: the same fabric, plus a real Kubernetes control plane (etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler built from Go modules by
//! `tools/kube/build.sh`) listening in the switch namespace at 10.0.0.250, kwok playing the
//! nodes' kubelets, and IronLB's controller and speakers in Kubernetes mode. The
//! seed's scenario then runs with the seed's own kubectl commands.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ironlb_lab::fabric::SWITCH_ADDRESS;
use ironlb_lab::{Fabric, FabricSpec};

/// The control plane of a kubernetes lab. It listens in the switch namespace (10.0.0.250),
/// which only the lab's namespaces reach: kubectl runs inside that namespace too, never from
/// the host's, where 10.0.0.0/24 would be routed to the outside.
pub struct Kube {
    pub kubeconfig: PathBuf,
    pub bin: PathBuf,
    pub namespace: String,
}

type Result<T> = std::result::Result<T, String>;

impl Kube {
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        ironlb_lab::kube::kubectl(
            &self.bin,
            &self.kubeconfig,
            Some(&self.namespace),
            args,
            stdin,
        )
    }

    pub fn apply(&self, yaml: &str) -> Result<String> {
        self.kubectl(&["apply", "-f", "-"], Some(yaml))
    }
}

/// Builds the fabric and the control plane, and starts IronLB against it.
pub fn up(ironlb: PathBuf) -> Result<(Fabric, Kube)> {
    let tools = ironlb_lab::kube::tools();
    println!(
        "# building (once; cached) the Kubernetes control plane: {}/build.sh",
        tools.display()
    );
    let start = Instant::now();
    let bin = ironlb_lab::kube::build(true)?;
    println!(
        "# control plane binaries in {} ({:.1} s)",
        bin.display(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "# building the fabric: tor1 10.0.0.1 (FRR, BFD), tor2 10.0.0.2 (FRR), node-21..23 10.0.0.21-23, API server 10.0.0.250"
    );
    let mut fabric = Fabric::build("lab", FabricSpec::seed(ironlb)).map_err(|e| e.to_string())?;
    let state = fabric.directory.join("kube");
    let start = Instant::now();
    let up = Command::new("ip")
        .args(["netns", "exec", fabric.switch_namespace(), "env"])
        .arg("IRONLB_KUBE_KCM=1")
        .arg("IRONLB_KUBE_SCHEDULER=1")
        .arg("IRONLB_KUBE_KWOK=1")
        .arg("IRONLB_KCM_CONTROLLERS=namespace,garbagecollector,serviceaccount,serviceaccount-token,endpoint,endpointslice,deployment,replicaset")
        .arg(tools.join("up.sh"))
        .arg(&state)
        .arg(SWITCH_ADDRESS.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    if !up.status.success() {
        return Err(format!(
            "tools/kube/up.sh failed: {}{}",
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        ));
    }
    let kube = Kube {
        kubeconfig: state.join("kubeconfig"),
        bin,
        namespace: fabric.switch_namespace().to_string(),
    };
    println!(
        "# API server ready in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    kube.kubectl(&["create", "namespace", "metallb-system"], None)?;
    let crds = ironlb_api::crd::to_yaml().map_err(|e| e.to_string())?;
    kube.apply(&crds)?;
    kube.kubectl(
        &[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "crd",
            "--all",
        ],
        None,
    )?;
    let kubeconfig = kube.kubeconfig.display().to_string();
    let env = [("KUBECONFIG", kubeconfig.as_str())];
    let switch = fabric.switch_namespace().to_string();
    // The nodes' kubelets are kwok's (started by up.sh): register the Nodes for it.
    let mut register = Command::new("ip");
    register
        .args(["netns", "exec", &switch])
        .arg(&fabric.spec.ironlb)
        .args(["lab", "register-nodes"])
        .env("KUBECONFIG", &kubeconfig);
    for node in &fabric.nodes {
        register
            .arg("--node")
            .arg(format!("{}={}", node.name, node.address));
    }
    let registered = register.output().map_err(|e| e.to_string())?;
    if !registered.status.success() {
        return Err(format!(
            "registering the lab's Nodes failed: {}",
            String::from_utf8_lossy(&registered.stderr)
        ));
    }
    fabric
        .spawn_ironlb(
            &switch,
            "controller",
            &env,
            &["controller", "--kubernetes", "--identity", "controller-0"],
        )
        .map_err(|e| e.to_string())?;
    let nodes: Vec<(String, String)> = fabric
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.namespace.clone()))
        .collect();
    for (name, namespace) in nodes {
        fabric
            .spawn_ironlb(
                &namespace,
                &format!("speaker-{name}"),
                &env,
                &[
                    "speaker",
                    "--kubernetes",
                    "--node",
                    &name,
                    "--api-staleness-bound",
                    LAB_STALENESS_BOUND,
                ],
            )
            .map_err(|e| e.to_string())?;
    }
    ironlb_lab::wait_for("the lab's Nodes Ready", Duration::from_secs(30), || {
        let text = kube.kubectl(&["get", "nodes", "--no-headers"], None).ok()?;
        (text.lines().filter(|l| l.contains(" Ready")).count() == 3).then_some(())
    })
    .map_err(|e| e.to_string())?;
    println!("\n{}", kube.kubectl(&["get", "nodes", "-o", "wide"], None)?);
    Ok((fabric, kube))
}

/// The lab's speakers keep announcing their last known state this long without the API
/// server, then withdraw (production default: for ever, as MetalLB).
pub const LAB_STALENESS_BOUND: &str = "75s";

/// Shell lines for using the lab's cluster. The API server is reachable only from the lab's
/// namespaces, so kubectl runs in the switch namespace.
pub fn exports(kube: &Kube) -> String {
    format!(
        "export KUBECONFIG={}\nexport PATH={}:$PATH\nalias kubectl='ip netns exec {} {}/kubectl'",
        kube.kubeconfig.display(),
        kube.bin.display(),
        kube.namespace,
        kube.bin.display()
    )
}

/// The seed's scenario with the seed's commands.
pub fn scenario(fabric: &Fabric, kube: &Kube, manifests: &[(&str, String)]) -> Result<()> {
    let ip = "203.0.113.5";
    for (name, yaml) in manifests {
        println!("$ kubectl apply -f {name}");
        print!("{}", kube.apply(yaml)?);
    }
    println!("$ kubectl apply -f web-deployment.yaml");
    print!("{}", kube.apply(ironlb_lab::kube::WEB_DEPLOYMENT)?);
    let start = Instant::now();
    ironlb_lab::wait_for("EXTERNAL-IP", Duration::from_secs(60), || {
        let text = kube
            .kubectl(
                &[
                    "get",
                    "svc",
                    "web",
                    "-o",
                    "jsonpath={.status.loadBalancer.ingress[0].ip}",
                ],
                None,
            )
            .ok()?;
        (!text.is_empty()).then_some(())
    })
    .map_err(|e| format!("{e}\ncontroller log:\n{}", fabric.log("controller")))?;
    let all: Vec<std::net::Ipv4Addr> = fabric.nodes.iter().map(|n| n.address).collect();
    for tor in ["tor1", "tor2"] {
        fabric
            .wait_next_hops(tor, ip, &all, Duration::from_secs(60))
            .map_err(|e| format!("{e}\nspeaker log:\n{}", fabric.log("speaker-node-21")))?;
    }
    println!(
        "# route via all three nodes at both ToRs {:.0} ms after the Service was applied",
        start.elapsed().as_secs_f64() * 1e3
    );
    println!("\n$ kubectl get svc web");
    print!("{}", kube.kubectl(&["get", "svc", "web"], None)?);
    println!("# EXTERNAL-IP should be from 203.0.113.0/24, not <pending>");
    println!("\n$ kubectl logs -n metallb-system -l component=speaker | grep -i \"BGP session\"");
    for node in &fabric.nodes {
        for line in fabric
            .log(&format!("speaker-{}", node.name))
            .lines()
            .filter(|l| l.to_lowercase().contains("bgp session established"))
        {
            println!("{}: {line}", node.name);
        }
    }
    for tor in ["tor1", "tor2"] {
        println!("\n{tor}# show ip route {ip}");
        print!(
            "{}",
            fabric
                .vtysh(tor, &format!("show ip route {ip}"))
                .unwrap_or_default()
        );
    }
    println!("\n$ kubectl get endpointslices -l kubernetes.io/service-name=web -o wide");
    print!(
        "{}",
        kube.kubectl(
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "wide"
            ],
            None
        )?
    );
    println!("\n$ kubectl drain node-21 --ignore-daemonsets --delete-emptydir-data");
    let start = Instant::now();
    print!(
        "{}",
        kube.kubectl(
            &[
                "drain",
                "node-21",
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--timeout=60s"
            ],
            None
        )?
    );
    let remaining: Vec<std::net::Ipv4Addr> = all
        .iter()
        .copied()
        .filter(|a| a.octets()[3] != 21)
        .collect();
    let mut times = Vec::new();
    for tor in ["tor1", "tor2"] {
        fabric
            .wait_next_hops(tor, ip, &remaining, Duration::from_secs(60))
            .map_err(|e| e.to_string())?;
        times.push(start.elapsed());
    }
    println!(
        "# node-21's next hop left both ToRs' FIBs {:.0} ms after `kubectl drain` started",
        times
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    );
    println!("\ntor1# show ip route {ip}");
    print!(
        "{}",
        fabric
            .vtysh("tor1", &format!("show ip route {ip}"))
            .unwrap_or_default()
    );
    Ok(())
}
