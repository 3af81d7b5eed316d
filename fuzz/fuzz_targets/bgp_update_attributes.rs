//! UPDATE path attributes under RFC 7606: the fuzzer writes the path attributes field of an
//! UPDATE that announces one prefix; decoding never panics, a treat-as-withdraw outcome
//! withdraws that prefix, and an accepted UPDATE re-encodes to one read back without error.
//! The first byte picks the session context.
#![no_main]

use ironlb_bgp::packet::{
    CodecContext, Message, PeerType, Received, Update, UpdateOutcome,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&flags, attributes)) = data.split_first() else {
        return;
    };
    let context = CodecContext {
        four_octet_as: flags & 1 != 0,
        extended_messages: true,
        peer_type: if flags & 2 != 0 {
            PeerType::Internal
        } else {
            PeerType::External
        },
    };
    let Ok(attributes_length) = u16::try_from(attributes.len()) else {
        return;
    };
    // Withdrawn Routes empty, the attributes, then NLRI 203.0.113.5/32.
    let nlri = [32, 203, 0, 113, 5];
    let mut body = vec![0, 0];
    body.extend_from_slice(&attributes_length.to_be_bytes());
    body.extend_from_slice(attributes);
    body.extend_from_slice(&nlri);
    let Ok(length) = u16::try_from(body.len() + 19) else {
        return;
    };
    let mut message = vec![0xff; 16];
    message.extend_from_slice(&length.to_be_bytes());
    message.push(2);
    message.extend_from_slice(&body);

    let direct = Update::decode(&body, &context);
    let received = Received::decode(&message, &context);
    match (&direct, &received) {
        (Ok(outcome), Ok(Received::Update(again))) => assert_eq!(outcome, again),
        (Err(error), Err(again)) => assert_eq!(error, again),
        _ => panic!("body and message decoding disagree: {direct:?} / {received:?}"),
    }
    match direct {
        Ok(UpdateOutcome::TreatAsWithdraw { withdrawn, .. }) => {
            assert!(withdrawn.contains(&"203.0.113.5/32".parse().expect("a prefix")));
        }
        Ok(UpdateOutcome::Accepted { update, .. }) => {
            let encoded = Message::Update(update.clone()).encode(&context);
            match Received::decode(&encoded, &context) {
                Ok(Received::Update(UpdateOutcome::Accepted { update: again, discarded })) => {
                    assert!(discarded.is_empty(), "{discarded:?}");
                    assert_eq!(again, update);
                }
                other => panic!("re-encoded UPDATE not accepted: {other:?}"),
            }
        }
        Err(error) => {
            let _ = error.notification();
        }
    }
});
