//! BFD control packets: decoding never panics, and what decodes re-encodes to the same packet.
#![no_main]

use ironlb_bfd::ControlPacket;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = ControlPacket::decode(data) {
        let again = ControlPacket::decode(&packet.to_bytes()).expect("an encoded packet decodes");
        assert_eq!(again, packet);
    }
});
