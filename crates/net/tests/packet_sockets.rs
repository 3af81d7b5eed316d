//! Layer 2 mode's packet sockets and interface list against real tools, in network
//! namespaces: a [`PacketSocket`] on one end of a veth receives the ARP request `arping` sends
//! from the other end and the Neighbor Solicitation `ndisc6` sends, and the hand-built answers
//! it sends back make both tools print the MAC; the filters keep everything else (a flood of
//! IPv6 that is not a solicitation, the node's own requests) out of the socket; an interface
//! going down is reported once and frames resume when it is up; and the interfaces listed
//! inside a namespace, from a thread that entered it and from a process started by
//! `ip netns exec`, are that namespace's, as `ip -j addr` shows them.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ironlb_lab::{Lab, Namespace};
use ironlb_net::interfaces::{self, Interface};
use ironlb_net::packet::{Ethertype, PacketKind, PacketSocket};

/// The address nobody in the lab has, which the socket's owner answers for (a Service's).
const SERVICE_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 99);
const SERVICE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99);
const NODE_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const NODE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Namespaces `node` and `client` joined by a veth (`eth0` on both ends), without Duplicate
/// Address Detection, so that no Neighbor Solicitation is sent unless a test sends it.
fn node_and_client(name: &str) -> (Lab, Namespace, Namespace) {
    let mut lab = Lab::new(name).expect("lab");
    let node = lab.namespace("node").expect("node namespace");
    let client = lab.namespace("client").expect("client namespace");
    for namespace in [&node, &client] {
        namespace
            .exec("sysctl", &["-qw", "net.ipv6.conf.default.accept_dad=0"])
            .expect("no DAD");
    }
    lab.link(
        &node,
        "eth0",
        &["10.0.0.1/24", "2001:db8::1/64"],
        &client,
        "eth0",
        &["10.0.0.2/24", "2001:db8::2/64"],
    )
    .expect("veth");
    // IPv6 is configured on a link once it has carrier, which the kernel tells within a
    // second: until then there is no link-local address, nor a route to multicast groups.
    for namespace in [&node, &client] {
        ironlb_lab::wait_for("IPv6 on eth0", Duration::from_secs(5), || {
            let link_local = namespace
                .ip(&["-6", "addr", "show", "dev", "eth0", "scope", "link"])
                .ok()?;
            link_local.contains("fe80::").then_some(())
        })
        .expect("IPv6 ready");
    }
    (lab, node, client)
}

/// Runs `work` on a new thread that entered `namespace`, on a current-thread tokio runtime.
fn on_thread_in<T, F>(
    namespace: &Namespace,
    work: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<T>
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    let path = PathBuf::from("/run/netns").join(namespace.name());
    std::thread::spawn(move || {
        ironlb_net::socket::enter_network_namespace(&path).expect("enter the namespace");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work())
    })
}

/// The interface named `name` in the calling thread's namespace.
fn interface(name: &str) -> Interface {
    interfaces::list()
        .expect("interfaces")
        .into_iter()
        .find(|interface| interface.name == name)
        .unwrap_or_else(|| panic!("{name} is listed"))
}

/// Runs `command` to completion, killing it (by its PID) after `timeout`; always reaps it.
fn run_bounded(mut command: Command, timeout: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > timeout {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("wait")
}

fn text(output: &Output) -> String {
    format!(
        "{} {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `arping` is either iputils' (`-I interface`) or Thomas Habets' (`-i interface`).
fn arping_interface_option() -> &'static str {
    let help = Command::new("arping")
        .arg("--help")
        .output()
        .expect("arping");
    if text(&help).contains("Habets") {
        "-i"
    } else {
        "-I"
    }
}

/// What a node-side socket saw: each frame with its kind.
type Received = Vec<(Vec<u8>, PacketKind)>;

/// On a thread in `namespace`: opens a socket on `eth0` for `ethertype`, reports its MAC, then
/// receives until told to stop (or 30 s), answering each frame `answer` builds an answer for.
fn serve(
    namespace: &Namespace,
    ethertype: Ethertype,
    answer: fn(&[u8], [u8; 6]) -> Option<Vec<u8>>,
) -> (
    [u8; 6],
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<Received>,
) {
    let (ready_sender, ready) = std::sync::mpsc::channel();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = on_thread_in(namespace, move || async move {
        let eth0 = interface("eth0");
        let mac = eth0.mac.expect("eth0 has a MAC");
        let socket = PacketSocket::open(eth0.index, ethertype).expect("packet socket");
        assert_eq!(socket.interface_index(), eth0.index);
        ready_sender.send(mac).unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 1600];
        let deadline = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = &mut deadline => break,
                result = socket.recv(&mut buffer) => {
                    let (length, kind) = result.expect("recv");
                    let frame = buffer[..length].to_vec();
                    if let Some(reply) = answer(&frame, mac) {
                        socket.send(&reply).await.expect("send");
                    }
                    received.push((frame, kind));
                }
            }
        }
        received
    });
    let mac = ready
        .recv_timeout(Duration::from_secs(10))
        .expect("socket open");
    (mac, stop, thread)
}

// ---- ARP (RFC 826) ----

/// An ARP request's (sender MAC, sender IPv4, target IPv4), if `frame` is one.
fn arp_request(frame: &[u8]) -> Option<([u8; 6], Ipv4Addr, Ipv4Addr)> {
    if frame.len() < 42 || frame[12..14] != [0x08, 0x06] || frame[20..22] != [0, 1] {
        return None;
    }
    let ipv4 = |at: usize| Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
    Some((frame[22..28].try_into().unwrap(), ipv4(28), ipv4(38)))
}

/// The reply a responder owning [`SERVICE_V4`] on `mac` sends to a request for it.
fn arp_reply(request: &[u8], mac: [u8; 6]) -> Option<Vec<u8>> {
    let (sender_mac, sender_ip, target_ip) = arp_request(request)?;
    if target_ip != SERVICE_V4 {
        return None;
    }
    let mut reply = Vec::with_capacity(42);
    reply.extend_from_slice(&sender_mac);
    reply.extend_from_slice(&mac);
    reply.extend_from_slice(&[0x08, 0x06]);
    // Ethernet, IPv4, 6- and 4-byte addresses, reply.
    reply.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    reply.extend_from_slice(&mac);
    reply.extend_from_slice(&SERVICE_V4.octets());
    reply.extend_from_slice(&sender_mac);
    reply.extend_from_slice(&sender_ip.octets());
    Some(reply)
}

#[test]
fn arping_gets_the_answer_to_the_request_the_socket_received() {
    if !ironlb_lab::require(
        "arping_gets_the_answer_to_the_request_the_socket_received",
        &["arping", "ndisc6", "ping"],
    ) {
        return;
    }
    let (lab, node, client) = node_and_client("arp");
    let client_mac = on_thread_in(&client, || async { interface("eth0").mac.unwrap() })
        .join()
        .unwrap();
    let (mac, stop, thread) = serve(&node, Ethertype::Arp, arp_reply);

    let mut arping = client.command("arping");
    arping.args([
        "-c",
        "1",
        "-w",
        "2",
        arping_interface_option(),
        "eth0",
        &SERVICE_V4.to_string(),
    ]);
    let output = run_bounded(arping, Duration::from_secs(10));
    // The node's kernel resolves the client itself: its own request must not reach the socket.
    node.ip(&["neigh", "flush", "dev", "eth0"]).unwrap();
    let ping = node
        .exec("ping", &["-c", "1", "-W", "2", &CLIENT_V4.to_string()])
        .expect("the node pings the client, resolving it with ARP");
    stop.send(()).unwrap();
    let received = thread.join().expect("node thread");

    assert!(
        output.status.success(),
        "arping exits 0 on a reply: {}",
        text(&output)
    );
    assert!(
        text(&output).to_lowercase().contains(&mac_text(mac)),
        "arping prints the answering MAC {}: {}",
        mac_text(mac),
        text(&output)
    );
    assert!(ping.contains("1 received"), "{ping}");
    let requests: Vec<_> = received
        .iter()
        .map(|(frame, kind)| (arp_request(frame).expect("only ARP requests"), *kind))
        .collect();
    assert_eq!(
        requests,
        [((client_mac, CLIENT_V4, SERVICE_V4), PacketKind::Broadcast)],
        "exactly arping's request, not the node's own to {CLIENT_V4} from {NODE_V4}"
    );
    drop(lab);
}

// ---- Neighbor Discovery (RFC 4861) ----

/// How many users made `interface` receive all multicast (the kernel's count, `IFLA_ALLMULTI`,
/// Linux 6.0): the `ALLMULTI` flag `ip link` prints is only the one set by `ip link set
/// allmulticast on`.
fn all_multicast_users(namespace: &Namespace, interface: &str) -> Option<u64> {
    let json = namespace
        .ip(&["-d", "-j", "link", "show", interface])
        .unwrap();
    let links: serde_json::Value = serde_json::from_str(&json).unwrap();
    links[0]["allmulti"].as_u64()
}

/// A Neighbor Solicitation's (source MAC, source IPv6, target), if `frame` is one.
fn neighbor_solicitation(frame: &[u8]) -> Option<([u8; 6], Ipv6Addr, Ipv6Addr)> {
    if frame.len() < 78 || frame[12..14] != [0x86, 0xdd] || frame[20] != 58 || frame[54] != 135 {
        return None;
    }
    let ipv6 = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&frame[at..at + 16]).unwrap());
    Some((frame[6..12].try_into().unwrap(), ipv6(22), ipv6(62)))
}

/// The one's complement sum of ICMPv6 over its IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200
/// §8.1): 0 over a message carrying its right checksum.
fn icmpv6_checksum(source: Ipv6Addr, destination: Ipv6Addr, message: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + message.len() + 1);
    pseudo.extend_from_slice(&source.octets());
    pseudo.extend_from_slice(&destination.octets());
    pseudo.extend_from_slice(&(message.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(message);
    if pseudo.len() % 2 == 1 {
        pseudo.push(0);
    }
    let mut sum: u32 = pseudo
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The solicited Neighbor Advertisement a responder owning [`SERVICE_V6`] on `mac` sends to a
/// solicitation for it: Solicited and Override set, the Target Link-Layer Address option.
fn neighbor_advertisement(solicitation: &[u8], mac: [u8; 6]) -> Option<Vec<u8>> {
    let (source_mac, source, target) = neighbor_solicitation(solicitation)?;
    if target != SERVICE_V6 {
        return None;
    }
    let mut message = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    message.extend_from_slice(&SERVICE_V6.octets());
    message.extend_from_slice(&[2, 1]);
    message.extend_from_slice(&mac);
    let checksum = icmpv6_checksum(SERVICE_V6, source, &message);
    message[2..4].copy_from_slice(&checksum.to_be_bytes());
    assert_eq!(icmpv6_checksum(SERVICE_V6, source, &message), 0);

    let mut frame = Vec::with_capacity(14 + 40 + message.len());
    frame.extend_from_slice(&source_mac);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&[0x86, 0xdd]);
    frame.extend_from_slice(&[0x60, 0, 0, 0]);
    frame.extend_from_slice(&(message.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[58, 255]);
    frame.extend_from_slice(&SERVICE_V6.octets());
    frame.extend_from_slice(&source.octets());
    frame.extend_from_slice(&message);
    Some(frame)
}

#[test]
fn ndisc6_gets_the_answer_to_the_solicitation_the_socket_received() {
    if !ironlb_lab::require(
        "ndisc6_gets_the_answer_to_the_solicitation_the_socket_received",
        &["arping", "ndisc6", "ping"],
    ) {
        return;
    }
    let (lab, node, client) = node_and_client("ndp");
    // ndisc6 solicits from its link-local address, as the kernel picks a source for a
    // link-scoped destination (the solicited-node group).
    let (client_mac, client_link_local) = on_thread_in(&client, || async {
        let eth0 = interface("eth0");
        let link_local = eth0
            .addresses
            .iter()
            .find_map(|address| match address {
                ipnet::IpNet::V6(v6) if v6.addr().segments()[0] == 0xfe80 => Some(v6.addr()),
                _ => None,
            })
            .expect("a link-local address");
        (eth0.mac.unwrap(), link_local)
    })
    .join()
    .unwrap();
    let (mac, stop, thread) = serve(&node, Ethertype::Ipv6, neighbor_advertisement);
    assert_eq!(
        all_multicast_users(&node, "eth0"),
        Some(1),
        "the IPv6 socket makes eth0 receive all multicast"
    );

    let mut ndisc6 = client.command("ndisc6");
    ndisc6.args(["-1", "-r", "1", &SERVICE_V6.to_string(), "eth0"]);
    let output = run_bounded(ndisc6, Duration::from_secs(10));
    node.ip(&["neigh", "flush", "dev", "eth0"]).unwrap();
    let ping = node
        .exec(
            "ping",
            &["-6", "-c", "1", "-W", "2", &CLIENT_V6.to_string()],
        )
        .expect("the node pings the client, resolving it with a solicitation");
    stop.send(()).unwrap();
    let received = thread.join().expect("node thread");
    assert_eq!(
        all_multicast_users(&node, "eth0"),
        Some(0),
        "closing the socket undoes its all-multicast membership"
    );

    assert!(
        output.status.success(),
        "ndisc6 exits 0 on an answer: {}",
        text(&output)
    );
    assert!(
        text(&output).to_lowercase().contains(&mac_text(mac)),
        "ndisc6 prints the answering MAC {}: {}",
        mac_text(mac),
        text(&output)
    );
    assert!(ping.contains("1 received"), "{ping}");
    let solicitations: Vec<_> = received
        .iter()
        .map(|(frame, kind)| {
            (
                neighbor_solicitation(frame).expect("only Neighbor Solicitations"),
                *kind,
            )
        })
        .collect();
    assert_eq!(
        solicitations,
        [(
            (client_mac, client_link_local, SERVICE_V6),
            PacketKind::Multicast
        )],
        "exactly ndisc6's solicitation, not the node's own for {CLIENT_V6} from {NODE_V6}"
    );
    drop(lab);
}

/// The packets `interface` received so far, as the kernel counts them.
fn received_packets(namespace: &Namespace, interface: &str) -> u64 {
    let json = namespace
        .ip(&["-j", "-s", "link", "show", interface])
        .unwrap();
    let links: serde_json::Value = serde_json::from_str(&json).unwrap();
    links[0]["stats64"]["rx"]["packets"]
        .as_u64()
        .expect("rx packets")
}

#[test]
fn ipv6_that_is_not_a_solicitation_never_reaches_the_socket() {
    if !ironlb_lab::require(
        "ipv6_that_is_not_a_solicitation_never_reaches_the_socket",
        &["arping", "ndisc6", "ping"],
    ) {
        return;
    }
    let (lab, node, client) = node_and_client("flood");
    // Both ends know each other: the flood itself needs no solicitation.
    let node_mac = on_thread_in(&node, || async { interface("eth0").mac.unwrap() })
        .join()
        .unwrap();
    let client_mac = on_thread_in(&client, || async { interface("eth0").mac.unwrap() })
        .join()
        .unwrap();
    for (namespace, neighbor, mac) in [(&node, CLIENT_V6, client_mac), (&client, NODE_V6, node_mac)]
    {
        namespace
            .ip(&[
                "neigh",
                "replace",
                &neighbor.to_string(),
                "lladdr",
                &mac_text(mac),
                "dev",
                "eth0",
                "nud",
                "permanent",
            ])
            .unwrap();
    }
    let (_, stop, thread) = serve(&node, Ethertype::Ipv6, |_, _| None);
    let before = received_packets(&node, "eth0");

    // 1,000 echo requests as fast as they are answered, and 1,000 UDP datagrams.
    let ping = client
        .exec(
            "ping",
            &["-6", "-f", "-c", "1000", "-s", "100", &NODE_V6.to_string()],
        )
        .expect("flood ping");
    assert!(ping.contains("1000 received"), "{ping}");
    on_thread_in(&client, || async {
        let socket = std::net::UdpSocket::bind("[2001:db8::2]:0").unwrap();
        for sequence in 0..1000u32 {
            socket
                .send_to(&sequence.to_be_bytes(), "[2001:db8::1]:9")
                .unwrap();
        }
    })
    .join()
    .unwrap();

    let arrived = received_packets(&node, "eth0") - before;
    std::thread::sleep(Duration::from_millis(200));
    stop.send(()).unwrap();
    let received = thread.join().expect("node thread");
    assert!(arrived >= 2000, "the flood reached eth0: {arrived} packets");
    assert_eq!(
        received.len(),
        0,
        "{arrived} packets on eth0, none of them a solicitation, reached the socket: {received:?}"
    );
    drop(lab);
}

#[test]
fn interface_going_down_is_reported_once_and_frames_resume_when_it_is_up() {
    if !ironlb_lab::require(
        "interface_going_down_is_reported_once_and_frames_resume_when_it_is_up",
        &["arping", "ndisc6", "ping"],
    ) {
        return;
    }
    let (lab, node, client) = node_and_client("down");
    // The node's thread and this one take turns: each waits for the other's word.
    let (node_done, node_step) = std::sync::mpsc::channel::<()>();
    let (test_done, test_step) = std::sync::mpsc::channel::<()>();
    let thread = on_thread_in(&node, move || async move {
        let eth0 = interface("eth0");
        let socket = PacketSocket::open(eth0.index, Ethertype::Arp).expect("packet socket");
        node_done.send(()).unwrap();
        let mut buffer = [0u8; 1600];
        // eth0 goes down: the waiting receive fails...
        let down = tokio::time::timeout(Duration::from_secs(10), socket.recv(&mut buffer))
            .await
            .expect("the socket wakes up when eth0 goes down")
            .expect_err("eth0 went down");
        // ...once: then there is just nothing to receive.
        let again = socket.try_recv(&mut buffer).expect_err("nothing queued");
        // Sending while down says so.
        let send_error = socket.try_send(&[0u8; 42]).expect_err("eth0 is down");
        node_done.send(()).unwrap();
        test_step.recv().unwrap();
        // Up again: arping's request arrives.
        let (length, kind) =
            tokio::time::timeout(Duration::from_secs(10), socket.recv(&mut buffer))
                .await
                .expect("a frame once eth0 is up")
                .expect("receive");
        (
            down,
            again,
            send_error,
            arp_request(&buffer[..length]),
            kind,
        )
    });
    let turn = || node_step.recv_timeout(Duration::from_secs(15)).unwrap();
    turn();
    node.ip(&["link", "set", "eth0", "down"]).unwrap();
    turn();
    node.ip(&["link", "set", "eth0", "up"]).unwrap();
    test_done.send(()).unwrap();
    let mut arping = client.command("arping");
    arping.args([
        "-c",
        "3",
        "-w",
        "4",
        arping_interface_option(),
        "eth0",
        &SERVICE_V4.to_string(),
    ]);
    run_bounded(arping, Duration::from_secs(10));
    let (down, again, send_error, request, kind) = thread.join().expect("node thread");

    assert_eq!(down.kind(), std::io::ErrorKind::NetworkDown, "{down}");
    assert!(down.to_string().contains("went down"), "{down}");
    assert_eq!(again.kind(), std::io::ErrorKind::WouldBlock, "{again}");
    assert_eq!(
        send_error.kind(),
        std::io::ErrorKind::NetworkDown,
        "{send_error}"
    );
    assert!(send_error.to_string().contains("is down"), "{send_error}");
    let (_, sender, target) = request.expect("an ARP request");
    assert_eq!(
        (sender, target, kind),
        (CLIENT_V4, SERVICE_V4, PacketKind::Broadcast)
    );
    drop(lab);
}

#[test]
fn packet_socket_on_an_interface_that_does_not_exist_says_so() {
    if !ironlb_lab::require(
        "packet_socket_on_an_interface_that_does_not_exist_says_so",
        &[],
    ) {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let error = PacketSocket::open(0, Ethertype::Arp).expect_err("index 0");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
    let unused = interfaces::list()
        .unwrap()
        .iter()
        .map(|interface| interface.index)
        .max()
        .unwrap()
        + 1000;
    let error = PacketSocket::open(unused, Ethertype::Ipv6).expect_err("no such interface");
    assert!(
        error.to_string().contains("no interface has index"),
        "{error}"
    );
}

// ---- Interfaces ----

/// What `ip -j addr` says about the calling thread's namespace, as [`Interface`]s.
fn interfaces_from_ip() -> Vec<Interface> {
    let output = Command::new("ip")
        .args(["-j", "addr", "show"])
        .output()
        .expect("ip");
    let links: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).expect("json");
    let mut interfaces: Vec<Interface> = links
        .iter()
        .map(|link| {
            let mac = (link["link_type"] == "ether").then(|| {
                let text = link["address"].as_str().unwrap();
                let bytes: Vec<u8> = text
                    .split(':')
                    .map(|byte| u8::from_str_radix(byte, 16).unwrap())
                    .collect();
                <[u8; 6]>::try_from(bytes).unwrap()
            });
            let flags: Vec<&str> = link["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|flag| flag.as_str().unwrap())
                .collect();
            let operstate = link["operstate"].as_str().unwrap_or_default();
            let mut addresses: Vec<ipnet::IpNet> = link["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .map(|address| {
                    format!(
                        "{}/{}",
                        address["local"].as_str().unwrap(),
                        address["prefixlen"]
                    )
                    .parse()
                    .unwrap()
                })
                .collect();
            addresses.sort();
            Interface {
                index: link["ifindex"].as_u64().unwrap() as u32,
                name: link["ifname"].as_str().unwrap().to_string(),
                mac,
                up: flags.contains(&"UP") && (operstate == "UP" || operstate == "UNKNOWN"),
                addresses,
            }
        })
        .collect();
    interfaces.sort_by_key(|interface| interface.index);
    interfaces
}

/// [`interfaces::list`] with each interface's addresses sorted, to compare with `ip`.
fn listed_sorted() -> Vec<Interface> {
    let mut interfaces = interfaces::list().expect("interfaces");
    for interface in &mut interfaces {
        interface.addresses.sort();
    }
    interfaces
}

/// Names the interfaces [`interfaces_agree_with_ip_addr_here`] must find, when set (by
/// [`interfaces_in_a_namespace_are_that_namespaces`], running this binary again inside one).
const EXPECTED_NAMES: &str = "IRONLB_TEST_EXPECTED_INTERFACES";

#[test]
fn interfaces_agree_with_ip_addr_here() {
    if !ironlb_lab::require("interfaces_agree_with_ip_addr_here", &[]) {
        return;
    }
    let listed = listed_sorted();
    assert_eq!(listed, interfaces_from_ip());
    if let Ok(expected) = std::env::var(EXPECTED_NAMES) {
        let names: Vec<&str> = listed
            .iter()
            .map(|interface| interface.name.as_str())
            .collect();
        assert_eq!(names.join(","), expected);
    }
}

#[test]
fn interfaces_in_a_namespace_are_that_namespaces() {
    if !ironlb_lab::require("interfaces_in_a_namespace_are_that_namespaces", &[]) {
        return;
    }
    let (lab, node, client) = node_and_client("ifaces");
    node.ip(&[
        "addr",
        "add",
        "10.0.0.100/32",
        "dev",
        "eth0",
        "label",
        "eth0:vip",
    ])
    .unwrap();

    // From a thread that entered the namespace (setns): what `ip` there says, and only lo
    // and eth0, with the addresses the lab put on it (the labelled one included).
    let (listed, from_ip) =
        on_thread_in(&node, || async { (listed_sorted(), interfaces_from_ip()) })
            .join()
            .unwrap();
    assert_eq!(listed, from_ip);
    let names: Vec<&str> = listed
        .iter()
        .map(|interface| interface.name.as_str())
        .collect();
    assert_eq!(names, ["lo", "eth0"]);
    let eth0 = &listed[1];
    assert!(eth0.up && eth0.mac.is_some() && eth0.index > 1, "{eth0:?}");
    let network = |text: &str| text.parse::<ipnet::IpNet>().unwrap();
    for address in ["10.0.0.1/24", "10.0.0.100/32", "2001:db8::1/64"] {
        assert!(
            eth0.addresses.contains(&network(address)),
            "{address} in {eth0:?}"
        );
    }
    assert!(
        eth0.addresses.iter().any(
            |address| matches!(address, ipnet::IpNet::V6(v6) if v6.addr().segments()[0] == 0xfe80)
        ),
        "the link-local address: {eth0:?}"
    );
    assert_eq!(listed[0].mac, None, "lo has no MAC");

    // The peer down: eth0 stays administratively up but loses its carrier (the kernel
    // tells within a second: link changes are batched).
    client.ip(&["link", "set", "eth0", "down"]).unwrap();
    let listing = |up: bool| {
        ironlb_lab::wait_for("eth0's carrier", Duration::from_secs(5), || {
            let eth0 = on_thread_in(&node, || async { interface("eth0") })
                .join()
                .unwrap();
            (eth0.up == up).then_some(())
        })
    };
    listing(false).expect("eth0 is not up without carrier");
    client.ip(&["link", "set", "eth0", "up"]).unwrap();
    listing(true).expect("eth0 is up again");

    // From a process started with `ip netns exec` (which mounts the namespace's /sys): this
    // binary again, running the test above there.
    let mut command = node.command(
        std::env::current_exe()
            .unwrap()
            .to_str()
            .expect("UTF-8 path"),
    );
    command
        .args([
            "--exact",
            "interfaces_agree_with_ip_addr_here",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(EXPECTED_NAMES, "lo,eth0")
        .env_remove("IRONLB_SKIP_LOG");
    let output = run_bounded(command, Duration::from_secs(30));
    assert!(
        output.status.success() && text(&output).contains("1 passed"),
        "{}",
        text(&output)
    );
    drop(lab);
}
