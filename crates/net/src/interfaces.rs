//! The node's network interfaces, as typed values: which ones layer 2 mode can answer on
//! (index, MAC, up) and their addresses.
//!
//! # What is read from where
//!
//! Everything comes from one `getifaddrs(3)` call ([`crate::socket::interface_entries`]), which
//! glibc and musl answer from rtnetlink dumps (`RTM_GETLINK`, `RTM_GETADDR`):
//!
//! - index, name, link-layer address and hardware type: the link's `AF_PACKET` entry
//!   (`sockaddr_ll`: `sll_ifindex`, `sll_addr`, `sll_hatype`);
//! - up: its flags, `IFF_UP` (administratively up) and `IFF_RUNNING` (operationally up: carrier,
//!   `operstate` "up" or "unknown");
//! - IPv4 and IPv6 addresses with their prefix lengths: the `AF_INET` and `AF_INET6` entries
//!   (address and netmask), IPv6 link-local ones included.
//!
//! Not `/sys/class/net` and `/proc/net/if_inet6`: `/sys` shows the interfaces of the network
//! namespace it was mounted in (right after `ip netns exec`, which mounts it again, but not in
//! a thread that entered another namespace with `setns`, as the tests and the lab do), and
//! `/proc/net` the namespace of the process's main thread; rtnetlink answers for the calling
//! thread's namespace, and one call lists links and addresses together.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::socket::{self, InterfaceEntry, InterfaceEntryKind};

/// `ARPHRD_ETHER`: links with Ethernet (48-bit MAC) framing.
const ETHERNET_HARDWARE_TYPE: u16 = 1;

/// A network interface of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The kernel's index, what a [`crate::packet::PacketSocket`] is opened with.
    pub index: u32,
    /// The name (`eth0`, `ens3`, `bond0.100`).
    pub name: String,
    /// The MAC address, for Ethernet links (Ethernet, veth, bridge, bond, VLAN, macvlan);
    /// `None` for loopback and links without Ethernet framing (tun, WireGuard, IP tunnels),
    /// where ARP and Neighbor Discovery do not apply.
    pub mac: Option<[u8; 6]>,
    /// Administratively and operationally up (`IFF_UP` and `IFF_RUNNING`): frames can be sent
    /// and received.
    pub up: bool,
    /// IPv4 and IPv6 addresses with their prefixes, IPv6 link-local ones included, in the
    /// kernel's order (IPv4 first, primary before secondary).
    pub addresses: Vec<IpNet>,
}

/// The interfaces of the calling thread's network namespace, by index.
pub fn list() -> io::Result<Vec<Interface>> {
    Ok(assemble(socket::interface_entries()?))
}

/// Groups the link entries and the address entries of `getifaddrs` into interfaces. An IPv4
/// address carries its label as name (`eth0:vip`); it belongs to the interface named like the
/// label up to its colon (interface names have none). Addresses of no listed interface (one that appeared between the
/// link and the address dumps) are left out.
fn assemble(entries: Vec<InterfaceEntry>) -> Vec<Interface> {
    let mut interfaces: BTreeMap<u32, Interface> = BTreeMap::new();
    let mut addresses = Vec::new();
    for entry in entries {
        match entry.kind {
            InterfaceEntryKind::Link {
                index,
                hardware_type,
                hardware_address,
            } => {
                let mac = (hardware_type == ETHERNET_HARDWARE_TYPE)
                    .then(|| <[u8; 6]>::try_from(hardware_address.as_slice()).ok())
                    .flatten();
                let running = libc::IFF_UP as u32 | libc::IFF_RUNNING as u32;
                interfaces.insert(
                    index,
                    Interface {
                        index,
                        name: entry.name,
                        mac,
                        up: entry.flags & running == running,
                        addresses: Vec::new(),
                    },
                );
            }
            InterfaceEntryKind::Address {
                address,
                prefix_length,
            } => {
                if let Ok(network) = IpNet::new(address, prefix_length) {
                    addresses.push((entry.name, network));
                }
            }
        }
    }
    for (name, network) in addresses {
        let device = name
            .split_once(':')
            .map_or(name.as_str(), |(device, _label)| device);
        if let Some(interface) = interfaces
            .values_mut()
            .find(|interface| interface.name == device)
        {
            interface.addresses.push(network);
        }
    }
    interfaces.into_values().collect()
}

/// The address a session connected from `local` gives as next hop for the other family's
/// routes (BGPPeer `dualStackAddressFamily`): the first address of the other family on the
/// interface that holds `local`, global IPv6 only (a link-local next hop forwards only on its
/// link and needs the interface named beside it). This is FRR's choice too: bgpd takes the
/// IPv6 next hop of a session over IPv4 from the interface of its local address.
pub fn other_family_address(interfaces: &[Interface], local: IpAddr) -> Option<IpAddr> {
    let interface = interfaces
        .iter()
        .find(|interface| interface.addresses.iter().any(|a| a.addr() == local))?;
    interface
        .addresses
        .iter()
        .map(IpNet::addr)
        .find(|address| match (local, address) {
            (IpAddr::V6(_), IpAddr::V4(v4)) => !v4.is_loopback() && !v4.is_unspecified(),
            (IpAddr::V4(_), IpAddr::V6(v6)) => {
                !v6.is_loopback() && !v6.is_unspecified() && !v6.is_unicast_link_local()
            }
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(
        name: &str,
        index: u32,
        hardware_type: u16,
        address: &[u8],
        flags: i32,
    ) -> InterfaceEntry {
        InterfaceEntry {
            name: name.to_string(),
            flags: flags as u32,
            kind: InterfaceEntryKind::Link {
                index,
                hardware_type,
                hardware_address: address.to_vec(),
            },
        }
    }

    fn address(name: &str, network: &str) -> InterfaceEntry {
        let network: IpNet = network.parse().unwrap();
        InterfaceEntry {
            name: name.to_string(),
            flags: 0,
            kind: InterfaceEntryKind::Address {
                address: network.addr(),
                prefix_length: network.prefix_len(),
            },
        }
    }

    const UP: i32 = libc::IFF_UP | libc::IFF_RUNNING | libc::IFF_BROADCAST;
    const MAC: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0, 2];

    #[test]
    fn links_and_their_addresses_become_interfaces_by_index() {
        let interfaces = assemble(vec![
            link(
                "lo",
                1,
                772,
                &[0; 6],
                libc::IFF_UP | libc::IFF_RUNNING | libc::IFF_LOOPBACK,
            ),
            link("eth0", 2, 1, &MAC, UP),
            link("wg0", 3, 65534, &[], UP),
            address("lo", "127.0.0.1/8"),
            address("eth0", "10.0.0.1/24"),
            address("eth0:vip", "10.0.0.100/32"),
            address("eth0", "2001:db8::1/64"),
            address("eth0", "fe80::42:acff:fe11:2/64"),
            address("lo", "::1/128"),
            address("gone0", "192.0.2.1/24"),
        ]);
        let network = |text: &str| text.parse::<IpNet>().unwrap();
        assert_eq!(
            interfaces,
            [
                Interface {
                    index: 1,
                    name: "lo".into(),
                    mac: None,
                    up: true,
                    addresses: vec![network("127.0.0.1/8"), network("::1/128")],
                },
                Interface {
                    index: 2,
                    name: "eth0".into(),
                    mac: Some(MAC),
                    up: true,
                    addresses: vec![
                        network("10.0.0.1/24"),
                        network("10.0.0.100/32"),
                        network("2001:db8::1/64"),
                        network("fe80::42:acff:fe11:2/64"),
                    ],
                },
                Interface {
                    index: 3,
                    name: "wg0".into(),
                    mac: None,
                    up: true,
                    addresses: vec![],
                },
            ]
        );
    }

    #[test]
    fn up_means_administratively_and_operationally_up() {
        let interfaces = assemble(vec![
            link("admin-down", 4, 1, &MAC, libc::IFF_BROADCAST),
            // Up, but no carrier (a veth whose peer is down, a cable out).
            link("no-carrier", 5, 1, &MAC, libc::IFF_UP | libc::IFF_BROADCAST),
            link("running", 6, 1, &MAC, UP),
        ]);
        let up: Vec<(&str, bool)> = interfaces
            .iter()
            .map(|interface| (interface.name.as_str(), interface.up))
            .collect();
        assert_eq!(
            up,
            [
                ("admin-down", false),
                ("no-carrier", false),
                ("running", true)
            ]
        );
    }

    #[test]
    fn lists_this_namespaces_loopback() {
        // Whatever namespace the tests run in has a loopback interface; it has no MAC.
        let interfaces = list().unwrap();
        let loopback = interfaces
            .iter()
            .find(|interface| interface.name == "lo")
            .expect("lo is listed");
        assert_eq!(loopback.mac, None);
        assert!(loopback.index > 0);
    }

    #[test]
    fn the_other_family_next_hop_comes_from_the_interface_of_the_local_address() {
        let interfaces = assemble(vec![
            link("lo", 1, 772, &[0; 6], libc::IFF_UP | libc::IFF_RUNNING),
            link("eth0", 2, 1, &MAC, UP),
            link("eth1", 3, 1, &MAC, UP),
            address("lo", "127.0.0.1/8"),
            address("lo", "::1/128"),
            address("eth0", "10.0.0.21/24"),
            address("eth0", "fe80::1/64"),
            address("eth0", "2001:db8:ffff::21/64"),
            address("eth1", "10.1.0.21/24"),
            address("eth1", "fe80::2/64"),
        ]);
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        // IPv4 session: the global IPv6 address of the same interface, never its link-local.
        assert_eq!(
            other_family_address(&interfaces, ip("10.0.0.21")),
            Some(ip("2001:db8:ffff::21"))
        );
        // IPv6 session: the interface's IPv4 address.
        assert_eq!(
            other_family_address(&interfaces, ip("2001:db8:ffff::21")),
            Some(ip("10.0.0.21"))
        );
        // An interface with only a link-local IPv6 address has no IPv6 next hop to give.
        assert_eq!(other_family_address(&interfaces, ip("10.1.0.21")), None);
        // An address no interface holds (the connection is gone): nothing.
        assert_eq!(other_family_address(&interfaces, ip("10.9.9.9")), None);
        assert_eq!(other_family_address(&interfaces, ip("127.0.0.1")), None);
    }
}
