//! The lab itself: namespaces come and go, routers start, and two of them peer. This checks the
//! test fabric before any IronLB code is judged with it.

use std::time::Duration;

use ironlb_lab::{Bird, Frr, FrrDaemons, Lab, wait_for};

#[test]
fn frr_and_bird_peer_across_a_veth_and_everything_is_cleaned_up() {
    if !ironlb_lab::require(
        "frr_and_bird_peer",
        &["/usr/lib/frr/bgpd", "bird", "vtysh", "birdc"],
    ) {
        return;
    }
    let names;
    {
        let mut lab = Lab::new("self").unwrap();
        let router = lab.namespace("tor").unwrap();
        let node = lab.namespace("node").unwrap();
        lab.link(
            &router,
            "eth0",
            &["10.0.0.1/24"],
            &node,
            "eth0",
            &["10.0.0.21/24"],
        )
        .unwrap();
        let frr = Frr::start(
            &mut lab,
            &router,
            "tor",
            "router bgp 65000\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n neighbor 10.0.0.21 remote-as 65100\n",
            FrrDaemons { bfd: true },
        )
        .unwrap();
        let _bird = Bird::start(
            &mut lab,
            &node,
            "node",
            "router id 10.0.0.21;\nprotocol device {}\nprotocol static s4 { ipv4; route 203.0.113.5/32 blackhole; }\n\
             protocol bgp tor { local 10.0.0.21 as 65100; neighbor 10.0.0.1 as 65000; ipv4 { import none; export all; }; }\n",
        )
        .unwrap();
        let route = wait_for(
            "FRR to learn 203.0.113.5/32 from BIRD",
            Duration::from_secs(30),
            || {
                let json = frr.json("show bgp ipv4 unicast 203.0.113.5/32 json").ok()?;
                json["paths"].as_array().filter(|p| !p.is_empty()).cloned()
            },
        )
        .unwrap();
        assert_eq!(route[0]["nexthops"][0]["ip"], "10.0.0.21");
        names = lab
            .namespaces()
            .iter()
            .map(|n| n.name().to_string())
            .collect::<Vec<_>>();
    }
    let list = ironlb_lab::run("ip", &["netns", "list"]).unwrap();
    for name in names {
        assert!(!list.contains(&name), "namespace {name} left behind");
    }
}
