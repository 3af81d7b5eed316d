//! BGP messages: framing and decoding never panic, and a message that decodes re-encodes to one
//! that decodes to the same value. The first byte picks the session context.
#![no_main]

use ironlb_bgp::packet::{CodecContext, Message, PeerType, Received, frame_length};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let context = CodecContext {
        four_octet_as: flags & 1 != 0,
        extended_messages: flags & 2 != 0,
        peer_type: if flags & 4 != 0 {
            PeerType::Internal
        } else {
            PeerType::External
        },
    };
    let _ = frame_length(bytes, &context);
    if let Ok(received) = Received::decode(bytes, &context) {
        let _ = format!("{received:?}");
    }
    if let Ok(message) = Message::decode(bytes, &context) {
        let encoded = message.encode(&context);
        // Re-encoding may use the Extended Length bit where the sender did not, so a message at
        // the size limit can outgrow it; only messages that still fit must read back.
        if encoded.len() <= context.maximum_message_length() {
            let again = Message::decode(&encoded, &context).expect("an encoded message decodes");
            assert_eq!(again, message);
        }
    }
});
