//! Every error maps to what the RFCs require: the NOTIFICATION (code, subcode, data) for
//! errors that end the session, and RFC 7606's action for UPDATE errors.

mod common;

use common::{MARKER, hex, message};
use ipnet::IpNet;
use ironlb_bgp::packet::*;

const ORIGIN: &str = "40 01 01 00";
const AS_PATH: &str = "40 02 06 02 01 0000fde9";
const NEXT_HOP: &str = "40 03 04 c0000201";
const NLRI: &str = "20 cb007105";

fn four_octet(peer_type: PeerType) -> CodecContext {
    CodecContext {
        four_octet_as: true,
        extended_messages: false,
        peer_type,
    }
}

fn external() -> CodecContext {
    four_octet(PeerType::External)
}

fn internal() -> CodecContext {
    four_octet(PeerType::Internal)
}

/// A whole UPDATE with these fields (hex), lengths computed.
fn update_message(withdrawn: &str, attributes: &str, nlri: &str) -> Vec<u8> {
    let withdrawn = hex(withdrawn);
    let attributes = hex(attributes);
    let nlri = hex(nlri);
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(&withdrawn);
    body.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    body.extend_from_slice(&attributes);
    body.extend_from_slice(&nlri);
    let mut bytes = hex(MARKER);
    bytes.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
    bytes.push(2);
    bytes.extend_from_slice(&body);
    bytes
}

fn receive(bytes: &[u8], context: &CodecContext) -> Result<UpdateOutcome, DecodeError> {
    match Received::decode(bytes, context)? {
        Received::Update(outcome) => Ok(outcome),
        other => panic!("not an UPDATE: {other:?}"),
    }
}

fn receive_update(
    attributes: &str,
    nlri: &str,
    context: &CodecContext,
) -> Result<UpdateOutcome, DecodeError> {
    receive(&update_message("", attributes, nlri), context)
}

/// The single error of a treat-as-withdraw outcome, and the prefixes withdrawn.
fn treat_as_withdraw(outcome: UpdateOutcome) -> (Vec<IpNet>, UpdateError) {
    match outcome {
        UpdateOutcome::TreatAsWithdraw {
            withdrawn,
            mut errors,
        } => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            (withdrawn, errors.remove(0))
        }
        accepted => panic!("not treat-as-withdraw: {accepted:?}"),
    }
}

/// The single discarded attribute of an accepted outcome, and the update.
fn attribute_discard(outcome: UpdateOutcome) -> (Update, UpdateError) {
    match outcome {
        UpdateOutcome::Accepted {
            update,
            mut discarded,
        } => {
            assert_eq!(discarded.len(), 1, "{discarded:?}");
            (update, discarded.remove(0))
        }
        withdrawn => panic!("not accepted: {withdrawn:?}"),
    }
}

fn session_reset(result: Result<UpdateOutcome, DecodeError>) -> Notification {
    match result {
        Err(error) => error.notification(),
        Ok(outcome) => panic!("not a session reset: {outcome:?}"),
    }
}

fn codes(notification: &Notification) -> (u8, u8) {
    (notification.code.code(), notification.subcode)
}

fn prefix(text: &str) -> IpNet {
    text.parse().unwrap()
}

// ---- Message header (RFC 4271 §6.1) ----

#[test]
fn bad_marker_is_connection_not_synchronized_1_1() {
    let mut bytes = message("0013 04");
    bytes[3] = 0;
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(error, DecodeError::ConnectionNotSynchronized);
    let notification = error.notification();
    assert_eq!(codes(&notification), (1, 1));
    assert!(notification.data.is_empty());
}

#[test]
fn length_below_19_is_bad_message_length_1_2_with_the_length_as_data() {
    let error = Received::decode(&message("0012 04"), &CodecContext::default()).unwrap_err();
    let notification = error.notification();
    assert_eq!(codes(&notification), (1, 2));
    assert_eq!(notification.data, [0x00, 0x12]);
}

#[test]
fn length_above_4096_is_bad_message_length_1_2_unless_extended_messages() {
    let header = message("1001 02 # UPDATE of 4097 octets");
    let plain = CodecContext::default();
    let error = frame_length(&header, &plain).unwrap().unwrap_err();
    assert_eq!(codes(&error.notification()), (1, 2));
    assert_eq!(error.notification().data, [0x10, 0x01]);
    let extended = CodecContext {
        extended_messages: true,
        ..plain
    };
    assert_eq!(frame_length(&header, &extended).unwrap().unwrap(), 4097);
}

#[test]
fn open_above_4096_is_bad_message_length_1_2_even_with_extended_messages() {
    // RFC 8654 §3: the extended length never applies to OPEN or KEEPALIVE.
    let extended = CodecContext {
        extended_messages: true,
        ..CodecContext::default()
    };
    let error = frame_length(&message("1001 01"), &extended)
        .unwrap()
        .unwrap_err();
    assert_eq!(error, DecodeError::BadMessageLength { length: 4097 });
}

#[test]
fn keepalive_with_a_body_is_bad_message_length_1_2() {
    let error = Received::decode(&message("0014 04 00"), &CodecContext::default()).unwrap_err();
    assert_eq!(error, DecodeError::BadMessageLength { length: 20 });
}

#[test]
fn messages_shorter_than_their_type_allows_are_bad_message_length_1_2() {
    for (bytes, length) in [
        (message("001c 01 04 fde9 005a c0000201"), 28), // OPEN < 29
        (message("0016 02 0000 00"), 22),               // UPDATE < 23
        (message("0014 03 06"), 20),                    // NOTIFICATION < 21
    ] {
        let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
        assert_eq!(error, DecodeError::BadMessageLength { length });
        assert_eq!(codes(&error.notification()), (1, 2));
    }
}

#[test]
fn unknown_type_is_bad_message_type_1_3_with_the_type_as_data() {
    let error = Received::decode(&message("0013 07"), &CodecContext::default()).unwrap_err();
    let notification = error.notification();
    assert_eq!(codes(&notification), (1, 3));
    assert_eq!(notification.data, [7]);
}

#[test]
fn bytes_that_disagree_with_the_length_field_are_bad_message_length() {
    let mut bytes = message("0013 04");
    bytes.push(0);
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(error, DecodeError::BadMessageLength { length: 19 });
    let error = Received::decode(&bytes[..10], &CodecContext::default()).unwrap_err();
    assert_eq!(codes(&error.notification()), (1, 2));
}

#[test]
fn frame_length_waits_for_19_octets_and_checks_the_header_early() {
    let context = CodecContext::default();
    let keepalive = message("0013 04");
    assert!(frame_length(&keepalive[..18], &context).is_none());
    assert_eq!(frame_length(&keepalive, &context).unwrap().unwrap(), 19);
    let mut two = keepalive.clone();
    two.extend_from_slice(&keepalive);
    assert_eq!(frame_length(&two, &context).unwrap().unwrap(), 19);
    let mut bad = keepalive.clone();
    bad[0] = 0;
    assert_eq!(
        frame_length(&bad, &context).unwrap().unwrap_err(),
        DecodeError::ConnectionNotSynchronized
    );
}

// ---- OPEN (RFC 4271 §6.2, RFC 5492, RFC 7607, RFC 6286) ----

#[test]
fn open_version_3_is_unsupported_version_2_1_with_version_4_as_data() {
    let bytes = message("001d 01 03 fde9 005a c0000201 00");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(error, DecodeError::UnsupportedVersionNumber { version: 3 });
    let notification = error.notification();
    assert_eq!(codes(&notification), (2, 1));
    assert_eq!(notification.data, [0, 4]);
}

#[test]
fn open_as_0_is_bad_peer_as_2_2() {
    let bytes = message("001d 01 04 0000 005a c0000201 00");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(codes(&error.notification()), (2, 2));
}

#[test]
fn four_octet_as_capability_0_is_bad_peer_as_2_2() {
    let bytes = message("0025 01 04 5ba0 005a c0000201 08 02 06 41 04 00000000");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(error, DecodeError::BadPeerAs { as_number: 0 });
    assert_eq!(codes(&error.notification()), (2, 2));
}

#[test]
fn open_identifier_zero_is_bad_bgp_identifier_2_3() {
    let bytes = message("001d 01 04 fde9 005a 00000000 00");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(codes(&error.notification()), (2, 3));
}

#[test]
fn authentication_parameter_is_unsupported_optional_parameter_2_4() {
    let bytes = message("0020 01 04 fde9 005a c0000201 03 01 01 00");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(
        error,
        DecodeError::UnsupportedOptionalParameter { parameter_type: 1 }
    );
    assert_eq!(codes(&error.notification()), (2, 4));
}

#[test]
fn hold_time_1_or_2_is_unacceptable_hold_time_2_6() {
    for hold in ["0001", "0002"] {
        let bytes = message(&format!("001d 01 04 fde9 {hold} c0000201 00"));
        let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
        assert_eq!(codes(&error.notification()), (2, 6));
    }
    for hold in ["0000", "0003"] {
        let bytes = message(&format!("001d 01 04 fde9 {hold} c0000201 00"));
        assert!(Received::decode(&bytes, &CodecContext::default()).is_ok());
    }
}

#[test]
fn unsupported_capability_2_7_carries_the_capabilities_as_data() {
    let error = DecodeError::UnsupportedCapability {
        capabilities: vec![
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::FourOctetAs(65001),
        ],
    };
    let notification = error.notification();
    assert_eq!(codes(&notification), (2, 7));
    assert_eq!(notification.data, hex("01 04 0002 00 01 41 04 0000fde9"));
}

#[test]
fn malformed_known_capability_is_open_error_unspecific_2_0() {
    // 4-octet AS capability with a 2-octet value.
    let bytes = message("0023 01 04 fde9 005a c0000201 06 02 04 41 02 fde9");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert!(matches!(error, DecodeError::MalformedOpen { .. }));
    assert_eq!(codes(&error.notification()), (2, 0));
}

#[test]
fn optional_parameters_that_disagree_with_the_message_are_2_0() {
    // Parameters length 5, but 4 octets follow.
    let bytes = message("0021 01 04 fde9 005a c0000201 05 02 02 02 00");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(codes(&error.notification()), (2, 0));
    // Parameters length 2, but 4 octets follow.
    let bytes = message("0021 01 04 fde9 005a c0000201 02 02 02 02 00");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(codes(&error.notification()), (2, 0));
}

// ---- ROUTE-REFRESH (RFC 7313 §5) ----

#[test]
fn route_refresh_of_wrong_length_is_7_1_with_the_message_as_data() {
    let bytes = message("0018 05 0001 00 01 00");
    let error = Received::decode(&bytes, &CodecContext::default()).unwrap_err();
    let notification = error.notification();
    assert_eq!(codes(&notification), (7, 1));
    assert_eq!(notification.data, bytes);
}

// ---- UPDATE: session reset (RFC 4271 §6.3, RFC 7606 §3, §4, §5.3, §7.11) ----

#[test]
fn withdrawn_length_overrunning_the_message_is_malformed_attribute_list_3_1() {
    let bytes = message("0019 02 0005 0000 0000");
    let notification = session_reset(receive(&bytes, &external()));
    assert_eq!(codes(&notification), (3, 1));
    assert!(notification.data.is_empty());
}

#[test]
fn attribute_length_overrunning_the_message_is_malformed_attribute_list_3_1() {
    let bytes = message("0017 02 0000 0001");
    assert_eq!(codes(&session_reset(receive(&bytes, &external()))), (3, 1));
}

#[test]
fn nlri_prefix_longer_than_32_is_invalid_network_field_3_10() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP}"),
        "21 0a000000 00",
        &external(),
    );
    assert_eq!(codes(&session_reset(result)), (3, 10));
}

#[test]
fn nlri_cut_inside_a_prefix_is_invalid_network_field_3_10() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP}"),
        "18 0a00",
        &external(),
    );
    assert_eq!(codes(&session_reset(result)), (3, 10));
}

#[test]
fn withdrawn_route_that_does_not_parse_is_invalid_network_field_3_10() {
    let bytes = update_message("20 0a00", "", "");
    assert_eq!(codes(&session_reset(receive(&bytes, &external()))), (3, 10));
}

#[test]
fn unrecognized_well_known_attribute_is_3_2_session_reset_with_the_attribute_as_data() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 40 63 02 abcd"),
        NLRI,
        &external(),
    );
    let notification = session_reset(result);
    assert_eq!(codes(&notification), (3, 2));
    assert_eq!(notification.data, hex("40 63 02 abcd"));
}

#[test]
fn mp_reach_with_a_next_hop_length_wrong_for_the_family_is_session_reset_3_9() {
    // IPv6 unicast with a 4-octet next hop.
    let result = receive_update(
        &format!("90 0e 000e 0002 01 04 c0000201 00 20 20010db8 {ORIGIN} {AS_PATH}"),
        "",
        &external(),
    );
    let notification = session_reset(result);
    assert_eq!(codes(&notification), (3, 9));
    assert_eq!(
        notification.data,
        hex("90 0e 000e 0002 01 04 c0000201 00 20 20010db8")
    );
}

#[test]
fn mp_reach_nlri_that_do_not_parse_is_session_reset_3_9() {
    let result = receive_update(
        &format!(
            "90 0e 0017 0002 01 10 20010db8000000000000000000000001 00 81 00 {ORIGIN} {AS_PATH}"
        ),
        "",
        &external(),
    );
    assert_eq!(codes(&session_reset(result)), (3, 9));
}

#[test]
fn mp_unreach_too_short_is_session_reset_3_9() {
    let result = receive_update("90 0f 0002 0002", "", &external());
    assert_eq!(codes(&session_reset(result)), (3, 9));
}

#[test]
fn repeated_mp_unreach_is_session_reset_malformed_attribute_list_3_1() {
    let result = receive_update("90 0f 0003 0002 01 90 0f 0003 0002 01", "", &external());
    assert_eq!(codes(&session_reset(result)), (3, 1));
}

// ---- UPDATE: treat-as-withdraw ----

#[test]
fn attribute_overrunning_the_total_length_is_treat_as_withdraw_and_the_nlri_is_still_found() {
    // RFC 7606 §4: COMMUNITIES claims 8 octets where 4 remain.
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 08 08 fde80064"),
        NLRI,
        &external(),
    );
    let (withdrawn, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(withdrawn, [prefix("203.0.113.5/32")]);
    assert_eq!(error.subcode, UpdateMessageSubcode::MalformedAttributeList);
}

#[test]
fn attribute_header_cut_by_the_total_length_is_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 08"),
        NLRI,
        &external(),
    );
    let (withdrawn, _) = treat_as_withdraw(result.unwrap());
    assert_eq!(withdrawn, [prefix("203.0.113.5/32")]);
}

#[test]
fn missing_origin_is_treat_as_withdraw_3_3_with_the_type_code() {
    let result = receive_update(&format!("{AS_PATH} {NEXT_HOP}"), NLRI, &external());
    let (withdrawn, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(withdrawn, [prefix("203.0.113.5/32")]);
    let notification = error.notification();
    assert_eq!(codes(&notification), (3, 3));
    assert_eq!(notification.data, [1]);
}

#[test]
fn missing_next_hop_with_ipv4_nlri_is_treat_as_withdraw_3_3() {
    let result = receive_update(&format!("{ORIGIN} {AS_PATH}"), NLRI, &external());
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(error.data, [3]);
}

#[test]
fn mp_reach_alone_needs_no_next_hop_and_withdrawals_need_no_attributes() {
    let mp_reach = "90 0e 001e 0002 01 10 20010db8000000000000000000000001 00 40 20010db800000000";
    let outcome =
        receive_update(&format!("{mp_reach} {ORIGIN} {AS_PATH}"), "", &external()).unwrap();
    assert!(outcome.errors().is_empty(), "{outcome:?}");
    let outcome = receive(&update_message("20 cb007105", "", ""), &external()).unwrap();
    assert!(outcome.errors().is_empty());
    let outcome = receive_update(mp_reach, "", &external()).unwrap();
    let (withdrawn, errors) = match outcome {
        UpdateOutcome::TreatAsWithdraw { withdrawn, errors } => (withdrawn, errors),
        other => panic!("{other:?}"),
    };
    assert_eq!(withdrawn, [prefix("2001:db8::/64")]);
    assert_eq!(errors.len(), 2, "ORIGIN and AS_PATH missing");
}

#[test]
fn origin_flags_error_is_treat_as_withdraw_3_4_with_the_attribute_as_data() {
    let result = receive_update(
        &format!("c0 01 01 00 {AS_PATH} {NEXT_HOP}"),
        NLRI,
        &external(),
    );
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(codes(&error.notification()), (3, 4));
    assert_eq!(error.data, hex("c0 01 01 00"));
}

#[test]
fn origin_length_error_is_treat_as_withdraw_3_5() {
    let result = receive_update(
        &format!("40 01 02 0000 {AS_PATH} {NEXT_HOP}"),
        NLRI,
        &external(),
    );
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(codes(&error.notification()), (3, 5));
    assert_eq!(error.data, hex("40 01 02 0000"));
}

#[test]
fn invalid_origin_value_is_treat_as_withdraw_3_6() {
    let result = receive_update(
        &format!("40 01 01 03 {AS_PATH} {NEXT_HOP}"),
        NLRI,
        &external(),
    );
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(codes(&error.notification()), (3, 6));
    assert_eq!(error.data, hex("40 01 01 03"));
}

#[test]
fn as_path_length_error_is_treat_as_withdraw() {
    // The segment claims two ASes, one follows: malformed AS_PATH, 3/11 without data.
    let result = receive_update(
        &format!("{ORIGIN} 40 02 06 02 02 0000fde9 {NEXT_HOP}"),
        NLRI,
        &external(),
    );
    let (withdrawn, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(withdrawn, [prefix("203.0.113.5/32")]);
    assert_eq!(codes(&error.notification()), (3, 11));
    assert!(error.data.is_empty());
}

#[test]
fn as_path_segment_of_length_zero_is_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} 40 02 02 02 00 {NEXT_HOP}"),
        NLRI,
        &external(),
    );
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(error.subcode, UpdateMessageSubcode::MalformedAsPath);
}

#[test]
fn as_path_with_unknown_segment_type_is_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} 40 02 06 05 01 0000fde9 {NEXT_HOP}"),
        NLRI,
        &external(),
    );
    treat_as_withdraw(result.unwrap());
}

#[test]
fn as_path_with_as_0_is_treat_as_withdraw_rfc_7607() {
    let result = receive_update(
        &format!("{ORIGIN} 40 02 06 02 01 00000000 {NEXT_HOP}"),
        NLRI,
        &external(),
    );
    treat_as_withdraw(result.unwrap());
}

#[test]
fn as_path_width_follows_the_context() {
    // The same bytes are one 4-octet AS or two 2-octet ASes.
    let attributes = format!("{ORIGIN} 40 02 06 02 01 0000fde9 {NEXT_HOP}");
    assert!(
        receive_update(&attributes, NLRI, &external())
            .unwrap()
            .errors()
            .is_empty()
    );
    let two_octet = CodecContext::default();
    treat_as_withdraw(receive_update(&attributes, NLRI, &two_octet).unwrap());
}

#[test]
fn confederation_segment_from_an_external_peer_is_treat_as_withdraw() {
    let attributes = format!("{ORIGIN} 40 02 0c 03 01 0000fc00 02 01 0000fde9 {NEXT_HOP}");
    treat_as_withdraw(receive_update(&attributes, NLRI, &external()).unwrap());
    let outcome = receive_update(&attributes, NLRI, &internal()).unwrap();
    assert!(outcome.errors().is_empty());
}

#[test]
fn next_hop_length_error_is_treat_as_withdraw_3_5() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} 40 03 05 c000020100"),
        NLRI,
        &external(),
    );
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(codes(&error.notification()), (3, 5));
}

#[test]
fn next_hop_0_0_0_0_is_invalid_next_hop_3_8_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} 40 03 04 00000000"),
        NLRI,
        &external(),
    );
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(codes(&error.notification()), (3, 8));
    assert_eq!(error.data, hex("40 03 04 00000000"));
}

#[test]
fn malformed_next_hop_without_ipv4_nlri_is_only_discarded() {
    // RFC 4760 §3: the NEXT_HOP of an UPDATE without IPv4 NLRI is ignored.
    let mp_reach = "90 0e 001e 0002 01 10 20010db8000000000000000000000001 00 40 20010db800000000";
    let result = receive_update(
        &format!("{mp_reach} {ORIGIN} {AS_PATH} 40 03 02 0000"),
        "",
        &external(),
    );
    let (update, error) = attribute_discard(result.unwrap());
    assert_eq!(error.action, ErrorAction::AttributeDiscard);
    assert_eq!(update.announced(), [prefix("2001:db8::/64")]);
}

#[test]
fn multi_exit_disc_length_error_is_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 80 04 02 0064"),
        NLRI,
        &external(),
    );
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(codes(&error.notification()), (3, 5));
}

#[test]
fn local_pref_from_an_external_peer_is_discarded() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 40 05 04 00000064"),
        NLRI,
        &external(),
    );
    let (update, error) = attribute_discard(result.unwrap());
    assert_eq!(error.attribute_type, Some(5));
    assert_eq!(update.attributes.len(), 3);
}

#[test]
fn local_pref_length_error_from_an_internal_peer_is_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 40 05 02 0064"),
        NLRI,
        &internal(),
    );
    treat_as_withdraw(result.unwrap());
}

#[test]
fn atomic_aggregate_length_error_is_attribute_discard() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 40 06 01 00"),
        NLRI,
        &external(),
    );
    let (update, error) = attribute_discard(result.unwrap());
    assert_eq!(codes(&error.notification()), (3, 5));
    assert_eq!(update.nlri.len(), 1);
}

#[test]
fn aggregator_length_error_is_attribute_discard() {
    // 6 octets on a 4-octet AS session, where 8 are expected.
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 07 06 fde9 0a000001"),
        NLRI,
        &external(),
    );
    let (_, error) = attribute_discard(result.unwrap());
    assert_eq!(error.attribute_type, Some(7));
    // The same octets are right on a 2-octet session.
    let two_octet = CodecContext::default();
    let attributes = format!("{ORIGIN} 40 02 04 02 01 fde9 {NEXT_HOP} c0 07 06 fde9 0a000001");
    assert!(
        receive_update(&attributes, NLRI, &two_octet)
            .unwrap()
            .errors()
            .is_empty()
    );
}

#[test]
fn aggregator_with_as_0_is_attribute_discard() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 07 08 00000000 0a000001"),
        NLRI,
        &external(),
    );
    attribute_discard(result.unwrap());
}

#[test]
fn communities_length_error_is_treat_as_withdraw() {
    for communities in ["c0 08 00", "c0 08 05 fde8006400"] {
        let result = receive_update(
            &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} {communities}"),
            NLRI,
            &external(),
        );
        let (_, error) = treat_as_withdraw(result.unwrap());
        assert_eq!(error.attribute_type, Some(8));
    }
}

#[test]
fn large_communities_length_error_is_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 20 08 0000fde8 00000001"),
        NLRI,
        &external(),
    );
    let (_, error) = treat_as_withdraw(result.unwrap());
    assert_eq!(error.attribute_type, Some(32));
}

#[test]
fn extended_communities_length_error_is_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 10 04 0002fde8"),
        NLRI,
        &external(),
    );
    treat_as_withdraw(result.unwrap());
}

#[test]
fn originator_id_and_cluster_list_from_an_external_peer_are_discarded() {
    let attributes = format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 80 09 04 0a000009 80 0a 04 0a000001");
    match receive_update(&attributes, NLRI, &external()).unwrap() {
        UpdateOutcome::Accepted { update, discarded } => {
            assert_eq!(discarded.len(), 2);
            assert_eq!(update.attributes.len(), 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cluster_list_length_error_from_an_internal_peer_is_treat_as_withdraw() {
    let result = receive_update(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 80 0a 03 0a0000"),
        NLRI,
        &internal(),
    );
    treat_as_withdraw(result.unwrap());
}

#[test]
fn treat_as_withdraw_withdraws_mp_reach_and_nlri_prefixes_too() {
    let mp_reach = "90 0e 001e 0002 01 10 20010db8000000000000000000000001 00 40 20010db800000000";
    let mp_unreach = "90 0f 000a 0002 01 30 20010db80002";
    let bytes = update_message(
        "18 0a0000",
        &format!("{mp_reach} {mp_unreach} 40 01 01 07 {AS_PATH} {NEXT_HOP}"),
        NLRI,
    );
    let (withdrawn, error) = treat_as_withdraw(receive(&bytes, &external()).unwrap());
    assert_eq!(error.subcode, UpdateMessageSubcode::InvalidOriginAttribute);
    assert_eq!(
        withdrawn,
        [
            prefix("10.0.0.0/24"),
            prefix("2001:db8:2::/48"),
            prefix("203.0.113.5/32"),
            prefix("2001:db8::/64"),
        ]
    );
}

#[test]
fn mp_reach_with_wrong_flags_is_treat_as_withdraw_of_its_prefixes() {
    let mp_reach = "d0 0e 001e 0002 01 10 20010db8000000000000000000000001 00 40 20010db800000000";
    let (withdrawn, error) = treat_as_withdraw(
        receive_update(&format!("{mp_reach} {ORIGIN} {AS_PATH}"), "", &external()).unwrap(),
    );
    assert_eq!(error.subcode, UpdateMessageSubcode::AttributeFlagsError);
    assert_eq!(withdrawn, [prefix("2001:db8::/64")]);
}

// ---- UPDATE: attribute discard and repeats ----

#[test]
fn repeated_attribute_keeps_the_first() {
    let attributes = format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 08 04 fde80064 c0 08 04 fde800c8");
    let (update, error) =
        attribute_discard(receive_update(&attributes, NLRI, &external()).unwrap());
    assert_eq!(update.communities(), [Community::new(65000, 100)]);
    assert_eq!(error.attribute_type, Some(8));
}

#[test]
fn malformed_as4_path_is_attribute_discard_rfc_6793() {
    let two_octet = CodecContext::default();
    let attributes = format!("{ORIGIN} 40 02 04 02 01 fde9 {NEXT_HOP} c0 11 06 02 02 0000fde9");
    let (update, error) = attribute_discard(receive_update(&attributes, NLRI, &two_octet).unwrap());
    assert_eq!(error.attribute_type, Some(17));
    assert_eq!(update.attributes.len(), 3);
}

#[test]
fn as4_path_from_a_four_octet_speaker_is_discarded() {
    let attributes = format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 11 06 02 01 0000fde9");
    let (_, error) = attribute_discard(receive_update(&attributes, NLRI, &external()).unwrap());
    assert_eq!(error.attribute_type, Some(17));
}

#[test]
fn confederation_segments_are_removed_from_as4_path() {
    let two_octet = CodecContext::default();
    let attributes =
        format!("{ORIGIN} 40 02 04 02 01 fde9 {NEXT_HOP} c0 11 0c 03 01 0000fc00 02 01 fa56ea00");
    let (update, error) = attribute_discard(receive_update(&attributes, NLRI, &two_octet).unwrap());
    assert_eq!(error.attribute_type, Some(17));
    assert_eq!(
        update.attribute(17),
        Some(&PathAttribute::As4Path(AsPath::sequence([4_200_000_000])))
    );
}

#[test]
fn as4_aggregator_length_error_is_attribute_discard() {
    let two_octet = CodecContext::default();
    let attributes = format!("{ORIGIN} 40 02 04 02 01 fde9 {NEXT_HOP} c0 12 06 fde9 0a000001");
    attribute_discard(receive_update(&attributes, NLRI, &two_octet).unwrap());
}

#[test]
fn unknown_optional_attributes_are_kept_whatever_their_flags() {
    let attributes = format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 80 63 01 00 90 64 0001 ff");
    let outcome = receive_update(&attributes, NLRI, &external()).unwrap();
    assert!(outcome.errors().is_empty());
    let UpdateOutcome::Accepted { update, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(
        update.attribute(100),
        Some(&PathAttribute::Unknown(UnknownAttribute {
            flags: AttributeFlags::OPTIONAL_NON_TRANSITIVE,
            type_code: 100,
            value: vec![0xff],
        }))
    );
}

#[test]
fn the_most_severe_action_wins() {
    // A discard (ATOMIC_AGGREGATE) and a treat-as-withdraw (MED) in one UPDATE.
    let attributes = format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 80 04 01 00 40 06 01 00");
    match receive_update(&attributes, NLRI, &external()).unwrap() {
        UpdateOutcome::TreatAsWithdraw { errors, .. } => assert_eq!(errors.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn strict_decoding_turns_every_update_error_into_its_notification() {
    let bytes = update_message(
        "",
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 80 04 02 0064"),
        NLRI,
    );
    let error = Message::decode(&bytes, &external()).unwrap_err();
    assert_eq!(codes(&error.notification()), (3, 5));
    assert_eq!(error.notification().data, hex("80 04 02 0064"));
    let bytes = update_message(
        "",
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 40 06 01 00"),
        NLRI,
    );
    let error = Message::decode(&bytes, &external()).unwrap_err();
    assert_eq!(codes(&error.notification()), (3, 5));
}
