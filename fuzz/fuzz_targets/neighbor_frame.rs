//! Layer 2 mode: random frames into a Responder owning a few addresses on two interfaces never
//! panic; whatever it sends is a valid frame; what decodes re-encodes to the same frame.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ironlb_neighbor::packet::Frame;
use ironlb_neighbor::{Interface, InterfaceId, Mac, Responder};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::decode(data) {
        let again = Frame::decode(&frame.to_bytes()).expect("an encoded frame decodes");
        assert_eq!(again, frame);
    }

    let start = Instant::now();
    let mut responder = Responder::new();
    let owned = |mac: Mac, addresses: &[IpAddr]| Interface {
        mac,
        addresses: addresses.iter().copied().collect::<BTreeSet<_>>(),
    };
    responder.set_interfaces(
        BTreeMap::from([
            (
                InterfaceId(1),
                owned(
                    Mac([2, 0, 0, 0, 0, 0x0a]),
                    &[
                        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)),
                    ],
                ),
            ),
            (
                InterfaceId(2),
                owned(
                    Mac([2, 0, 0, 0, 0, 0x0b]),
                    &[IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10))],
                ),
            ),
        ]),
        start,
    );
    // The first byte picks the interface, the rest is the frame.
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let now = start + Duration::from_millis(u64::from(selector));
    responder.handle_frame(InterfaceId(u32::from(selector % 3)), frame, now);
    responder.handle_frame(InterfaceId(1), data, now);
    for now in [now, start + Duration::from_secs(6)] {
        while let Some((_, sent)) = responder.poll_transmit(now) {
            Frame::decode(&sent).expect("the responder sends valid frames");
        }
    }
});
