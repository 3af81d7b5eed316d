//! Real requests, captured from arping (iputils), ndisc6 and the Linux kernel in a pair of
//! network namespaces (tests/data/capture.sh, format in tests/data/README.md), each with the
//! answer the Linux kernel gave when it owned the address. The responder, owning the same
//! address with the kernel's MAC, must give the same answer: the same bytes, but for the
//! Ethernet padding to 60 octets that veth leaves out and a NIC adds.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ironlb_neighbor::packet::Frame;
use ironlb_neighbor::{Interface, InterfaceId, Mac, Responder};

struct Capture {
    owns: IpAddr,
    request: Vec<u8>,
    reply: Vec<u8>,
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn hex(text: &str) -> Vec<u8> {
    let text = text.trim();
    assert!(text.len().is_multiple_of(2), "odd number of hex digits");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn read(path: &Path) -> Capture {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("# made by capture.sh:"),
        "{}: the first line says how the capture was made",
        path.display()
    );
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("{}: no {name} line", path.display()))
    };
    Capture {
        owns: field("# owns:").trim().parse().unwrap(),
        request: hex(field("request:")),
        reply: hex(field("reply:")),
    }
}

/// Feeds the request to a responder owning the address with the kernel's MAC; returns what
/// it sent and the responder.
fn answer(capture: &Capture) -> (Vec<Vec<u8>>, Responder) {
    let kernel_mac = Mac(capture.reply[6..12].try_into().unwrap());
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        BTreeMap::from([(
            InterfaceId(7),
            Interface {
                mac: kernel_mac,
                addresses: BTreeSet::from([capture.owns]),
            },
        )]),
        now,
    );
    // The announcements of a newly owned address go first.
    while responder.poll_transmit(now).is_some() {}
    responder.handle_frame(InterfaceId(7), &capture.request, now);
    let sent = std::iter::from_fn(|| responder.poll_transmit(now))
        .map(|(interface, frame)| {
            assert_eq!(interface, InterfaceId(7));
            frame
        })
        .collect();
    (sent, responder)
}

fn answers_as_linux_does(name: &str) {
    let capture = read(&data(name));
    assert!(
        Frame::decode(&capture.request).is_ok(),
        "{name}: the request decodes"
    );
    let (sent, responder) = answer(&capture);
    let mut expected = capture.reply.clone();
    expected.resize(expected.len().max(60), 0);
    assert_eq!(sent, [expected], "{name}");
    let counters = responder.counters().address(capture.owns).unwrap();
    assert_eq!(counters.requests_received, 1, "{name}");
    assert_eq!(counters.responses_sent, 1, "{name}");
    assert_eq!(responder.counters().dropped_total(), 0, "{name}");
}

#[test]
fn iputils_arping_request_is_answered_as_linux_answers_it() {
    // iputils asks with THA = broadcast; the answer is the same.
    answers_as_linux_does("iputils-arping-request.hex");
}

#[test]
fn linux_arp_request_is_answered_as_linux_answers_it() {
    answers_as_linux_does("linux-arp-request.hex");
}

#[test]
fn ndisc6_solicitation_is_answered_as_linux_answers_it() {
    // From a link-local source, with a flow label: answered to the link-local address.
    answers_as_linux_does("ndisc6-solicitation.hex");
}

#[test]
fn linux_solicitation_is_answered_as_linux_answers_it() {
    answers_as_linux_does("linux-solicitation.hex");
}

#[test]
fn linux_duplicate_address_detection_is_answered_as_linux_defends_the_address() {
    // From ::, with a nonce option (RFC 7527): answered to all-nodes, Solicited = 0.
    answers_as_linux_does("linux-duplicate-address-detection.hex");
}

#[test]
fn every_capture_is_answered_as_linux_answers_it() {
    let mut names: Vec<String> = std::fs::read_dir(data(""))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".hex"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "captures: {names:?}");
    for name in &names {
        answers_as_linux_does(name);
    }
}

#[test]
fn a_capture_is_not_answered_on_an_interface_that_does_not_own_the_address() {
    let capture = read(&data("iputils-arping-request.hex"));
    let (_, mut responder) = answer(&capture);
    responder.handle_frame(InterfaceId(8), &capture.request, Instant::now());
    assert_eq!(responder.poll_transmit(Instant::now()), None);
    assert_eq!(
        responder
            .counters()
            .dropped(ironlb_neighbor::DropReason::UnknownInterface),
        1
    );
}
