//! The tokio driver of BGP unnumbered's router discovery ([`RouterDiscovery`], sans-IO in
//! `ironlb-neighbor`): on the named interface, a packet socket that receives only Router
//! Advertisements (a BPF filter in the kernel) and sends ours. What it finds is published on a
//! watch: the interface's index and link-local address, its global IPv6 address if any, and the
//! router's link-local address once the router advertised. The BGP driver dials that address.
//!
//! The interface may be missing, down or without a link-local address (DAD still running):
//! the state says so in words and the driver looks again every [`RETRY`]. The task ends when
//! every receiver of the watch is gone.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use ironlb_neighbor::Mac;
use ironlb_neighbor::router::{Received, RouterDiscovery};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::interfaces::{self, Interface};
use crate::packet::{Ethertype, PacketSocket};

/// Time between our Router Advertisements (FRR advertises every 10 s towards unnumbered
/// neighbours).
pub const DEFAULT_INTERVAL: Duration = ironlb_neighbor::router::DEFAULT_INTERVAL;

/// How often a missing interface or link-local address is looked for again.
pub const RETRY: Duration = Duration::from_secs(2);

/// What router discovery knows of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// The interface's name, as configured.
    pub interface: String,
    /// Its index (the scope of link-local addresses on it), once found.
    pub index: Option<u32>,
    /// Our link-local address on it.
    pub local: Option<Ipv6Addr>,
    /// Its first global IPv6 address, if any (the global next hop beside the link-local one).
    pub global: Option<Ipv6Addr>,
    /// The router's link-local address, from its Router Advertisements.
    pub router: Option<Ipv6Addr>,
    /// Why there is no router yet, for logs and status.
    pub error: Option<String>,
}

/// Starts router discovery on `interface`, advertising every `interval`.
pub fn spawn(interface: String, interval: Duration) -> (watch::Receiver<Link>, JoinHandle<()>) {
    let (sender, receiver) = watch::channel(Link {
        interface: interface.clone(),
        error: Some(format!("looking for interface {interface}")),
        ..Link::default()
    });
    let task = tokio::spawn(run(interface, interval, sender));
    (receiver, task)
}

/// The interface's index, MAC, link-local and global IPv6 address, or why it cannot be used.
fn find(interface: &str) -> Result<(u32, Mac, Ipv6Addr, Option<Ipv6Addr>), String> {
    let interfaces = interfaces::list()
        .map_err(|error| format!("cannot list the node's interfaces: {error}"))?;
    let Some(found) = interfaces.iter().find(|i| i.name == interface) else {
        return Err(format!(
            "interface {interface} (BGPPeer spec.interface) does not exist on this node: \
             name an interface that does, or select only nodes that have it (spec.nodeSelectors)"
        ));
    };
    let Interface { index, mac, up, .. } = found;
    let Some(mac) = mac else {
        return Err(format!(
            "interface {interface} has no Ethernet address: BGP unnumbered needs an Ethernet link"
        ));
    };
    if !up {
        return Err(format!("interface {interface} is down: bring it up"));
    }
    let v6 = |link_local: bool| {
        found.addresses.iter().find_map(|a| match a.addr() {
            IpAddr::V6(v6) if v6.is_unicast_link_local() == link_local && !v6.is_loopback() => {
                Some(v6)
            }
            _ => None,
        })
    };
    let Some(local) = v6(true) else {
        return Err(format!(
            "interface {interface} has no IPv6 link-local address yet (IPv6 disabled on it, or \
             duplicate address detection still running): enable IPv6 on it \
             (net.ipv6.conf.{interface}.disable_ipv6=0)"
        ));
    };
    Ok((*index, Mac(*mac), local, v6(false)))
}

async fn run(interface: String, interval: Duration, sender: watch::Sender<Link>) {
    let mut buffer = vec![0u8; 65536];
    loop {
        if sender.is_closed() {
            return;
        }
        let (index, mac, local, global) = match find(&interface) {
            Ok(found) => found,
            Err(error) => {
                publish_error(&sender, &interface, error);
                if wait_or_closed(&sender, RETRY).await {
                    return;
                }
                continue;
            }
        };
        let socket = match PacketSocket::open(index, Ethertype::Ipv6RouterAdvertisement) {
            Ok(socket) => socket,
            Err(error) => {
                publish_error(
                    &sender,
                    &interface,
                    format!(
                        "cannot open a packet socket on {interface} (needs CAP_NET_RAW): {error}"
                    ),
                );
                if wait_or_closed(&sender, RETRY).await {
                    return;
                }
                continue;
            }
        };
        let mut discovery = RouterDiscovery::new(mac, local, interval);
        sender.send_modify(|link| {
            link.index = Some(index);
            link.local = Some(local);
            link.global = global;
            link.router = None;
            link.error = Some(format!(
                "no Router Advertisement from a router on {interface} yet: is the router's \
                 neighbor configured with `interface` (FRR: neighbor {interface} interface)?"
            ));
        });
        info!(interface = %interface, index, local = %local, "BGP unnumbered: router discovery started");
        let mut recheck = Instant::now() + interval;
        loop {
            while let Some(frame) = discovery.poll_transmit(std::time::Instant::now()) {
                if let Err(error) = socket.send(&frame).await {
                    warn!(interface = %interface, %error, "BGP unnumbered: cannot send a Router Advertisement");
                }
            }
            let deadline = discovery
                .poll_timeout()
                .map(Instant::from_std)
                .unwrap_or(recheck)
                .min(recheck);
            tokio::select! {
                () = sender.closed() => return,
                received = socket.recv(&mut buffer) => match received {
                    Ok((length, _kind)) => {
                        let frame = buffer.get(..length).unwrap_or_default();
                        if let Received::NewRouter(router) =
                            discovery.handle_frame(frame, std::time::Instant::now())
                        {
                            info!(interface = %interface, router = %router, "BGP unnumbered: router found from its Router Advertisement");
                            sender.send_modify(|link| {
                                link.router = Some(router);
                                link.error = None;
                            });
                        }
                    }
                    Err(error) => {
                        publish_error(&sender, &interface, format!("receiving on {interface}: {error}"));
                        break;
                    }
                },
                () = tokio::time::sleep_until(deadline) => {
                    if Instant::now() >= recheck {
                        recheck = Instant::now() + interval;
                        // The interface was replaced or lost its address: start again.
                        match find(&interface) {
                            Ok((i, m, l, g)) if i == index && m == mac && l == local => {
                                sender.send_if_modified(|link| {
                                    let changed = link.global != g;
                                    link.global = g;
                                    changed
                                });
                            }
                            Ok(_) => break,
                            Err(error) => {
                                publish_error(&sender, &interface, error);
                                break;
                            }
                        }
                    }
                }
            }
        }
        if wait_or_closed(&sender, RETRY).await {
            return;
        }
    }
}

fn publish_error(sender: &watch::Sender<Link>, interface: &str, error: String) {
    sender.send_if_modified(|link| {
        if link.error.as_deref() == Some(error.as_str()) && link.router.is_none() {
            return false;
        }
        warn!(interface = %interface, error = %error, "BGP unnumbered: no router on the interface");
        *link = Link {
            interface: interface.to_string(),
            error: Some(error),
            ..Link::default()
        };
        true
    });
}

/// Sleeps `duration`; true if every receiver went away meanwhile.
async fn wait_or_closed(sender: &watch::Sender<Link>, duration: Duration) -> bool {
    tokio::select! {
        () = sender.closed() => true,
        () = tokio::time::sleep(duration) => false,
    }
}
