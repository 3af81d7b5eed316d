//! IronLB's BFD against FRR's bfdd, in network namespaces: the session comes up with the
//! negotiated intervals, a parameter change while Up goes through Poll/Final without a flap,
//! and a cut link is detected by FRR within the detection time.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_bfd::{Parameters, State};
use ironlb_lab::{Frr, FrrDaemons, Lab, wait_for};
use ironlb_net::bfd::{Command, PeerConfig, StatusTable};

struct Node {
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    status: StatusTable,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Runs IronLB's BFD driver on a thread inside `namespace`.
    fn start(namespace: &str) -> Node {
        let path = PathBuf::from(format!("/run/netns/{namespace}"));
        let (ready_sender, ready) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            ironlb_net::socket::enter_network_namespace(&path).expect("enter the node's namespace");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let handle = ironlb_net::bfd::spawn().expect("BFD driver starts");
                ready_sender
                    .send((handle.commands.clone(), handle.status.clone()))
                    .unwrap();
                let _keep = handle;
                let _ = stopped.await;
            });
        });
        let (commands, status) = ready
            .recv_timeout(Duration::from_secs(10))
            .expect("driver ready");
        Node {
            commands,
            status,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn state(&self, peer: IpAddr) -> Option<State> {
        self.status.lock().unwrap().get(&peer).map(|s| s.state)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn frr_peer(frr: &Frr) -> Option<serde_json::Value> {
    let peers = frr.json("show bfd peers json").ok()?;
    peers
        .as_array()?
        .iter()
        .find(|p| p["peer"] == "10.0.0.21")
        .cloned()
}

#[test]
fn bfd_interoperates_with_frr_bfdd() {
    if !ironlb_lab::require(
        "bfd_interoperates_with_frr_bfdd",
        &["/usr/lib/frr/bfdd", "vtysh"],
    ) {
        return;
    }
    let mut lab = Lab::new("bfd").unwrap();
    let tor = lab.namespace("tor").unwrap();
    let node_namespace = lab.namespace("node").unwrap();
    lab.link(
        &tor,
        "eth0",
        &["10.0.0.1/24"],
        &node_namespace,
        "eth0",
        &["10.0.0.21/24"],
    )
    .unwrap();
    let frr = Frr::start(&mut lab, &tor, "tor", "", FrrDaemons { bfd: true }).unwrap();
    frr.configure(&[
        "bfd",
        "peer 10.0.0.21 local-address 10.0.0.1",
        "receive-interval 300",
        "transmit-interval 300",
        "detect-multiplier 3",
    ])
    .unwrap();

    let node = Node::start(node_namespace.name());
    let tor_address: IpAddr = "10.0.0.1".parse().unwrap();
    let config = PeerConfig {
        peer: tor_address,
        local: Some("10.0.0.21".parse().unwrap()),
        parameters: Parameters::default(),
        multihop: false,
        minimum_ttl: 254,
        scope_id: 0,
    };
    node.commands.send(Command::Add(config.clone())).unwrap();

    // Up on both sides, with the negotiated 300 ms intervals visible at FRR.
    let started = Instant::now();
    let peer = wait_for(
        "FRR to report the BFD peer up",
        Duration::from_secs(15),
        || frr_peer(&frr).filter(|p| p["status"] == "up" && p["remote-receive-interval"] == 300),
    )
    .unwrap();
    eprintln!("BFD up at FRR after {:?}: {peer}", started.elapsed());
    assert_eq!(peer["remote-transmit-interval"], 300);
    assert_eq!(peer["remote-detect-multiplier"], 3);
    wait_for("IronLB to report Up", Duration::from_secs(5), || {
        (node.state(tor_address) == Some(State::Up)).then_some(())
    })
    .unwrap();
    let downs_before = frr.json("show bfd peers counters json").unwrap();

    // Faster parameters while Up: Poll/Final, no flap.
    let fast = PeerConfig {
        parameters: Parameters {
            desired_min_tx: Duration::from_millis(100),
            required_min_rx: Duration::from_millis(100),
            ..Parameters::default()
        },
        ..config.clone()
    };
    node.commands.send(Command::Add(fast)).unwrap();
    wait_for(
        "FRR to see the new intervals",
        Duration::from_secs(10),
        || {
            frr_peer(&frr).filter(|p| {
                p["remote-receive-interval"] == 100 && p["remote-transmit-interval"] == 100
            })
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let peer = frr_peer(&frr).unwrap();
    assert_eq!(peer["status"], "up");
    let downs_after = frr.json("show bfd peers counters json").unwrap();
    let down_events = |counters: &serde_json::Value| counters[0]["session-down-events"].as_u64();
    assert_eq!(
        down_events(&downs_before),
        down_events(&downs_after),
        "the parameter change must not flap the session"
    );

    // Hard failure: the node's link goes away without a word. FRR notices within detection time.
    node_namespace.ip(&["link", "set", "eth0", "down"]).unwrap();
    let cut = Instant::now();
    let peer = wait_for(
        "FRR to declare the peer down",
        Duration::from_secs(5),
        || frr_peer(&frr).filter(|p| p["status"] == "down"),
    )
    .unwrap();
    let detected = cut.elapsed();
    eprintln!("FRR detected the cut after {detected:?}: {peer}");
    assert_eq!(peer["diagnostic"], "control detection time expired");
    assert!(
        detected < Duration::from_millis(300 * 3 + 500),
        "{detected:?}"
    );
    wait_for(
        "IronLB to see the peer down",
        Duration::from_secs(5),
        || (node.state(tor_address) != Some(State::Up)).then_some(()),
    )
    .unwrap();
    drop(node);
}
