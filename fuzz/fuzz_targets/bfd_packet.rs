//! BFD control packets: decoding never panics, and what decodes re-encodes to the same packet.
//! The same bytes as an Ethernet frame for the Echo function's parser: never panics, and an
//! echo it finds re-encodes to a frame it parses the same.
#![no_main]

use ironlb_bfd::ControlPacket;
use ironlb_bfd::echo::{EchoPath, frame, parse_frame};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = ControlPacket::decode(data) {
        let again = ControlPacket::decode(&packet.to_bytes()).expect("an encoded packet decodes");
        assert_eq!(again, packet);
    }
    if let Some((address, echo)) = parse_frame(data) {
        let path = EchoPath {
            local_mac: [2, 0, 0, 0, 0, 1],
            peer_mac: [2, 0, 0, 0, 0, 2],
            address,
            source_port: 49152,
        };
        assert_eq!(parse_frame(&frame(&path, &echo)), Some((address, echo)));
    }
});
