//! Scripted peers on loopback send malformed messages to IronLB's BGP driver: each gets the
//! NOTIFICATION the RFCs require, and a healthy session beside them is not disturbed.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use ironlb_bgp::fsm::{Config, RemoteAs, State};
use ironlb_bgp::packet::{
    Capability, CodecContext, Family, Message, Notification, Open, frame_length,
};
use ironlb_bgp::session::{RouteAttributes, SessionConfig};
use ironlb_net::bgp::{self, Command, PeerConfig};
use ironlb_net::tcp::TcpOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn context() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    }
}

fn peer_config(name: &str, address: SocketAddr) -> PeerConfig {
    let mut fsm = Config::new(65100, RemoteAs::Exactly(65000), Ipv4Addr::new(10, 0, 0, 2));
    fsm.hold_time = Duration::from_secs(9);
    // Quick reconnects, so the cases follow each other fast.
    fsm.connect_retry = Duration::from_millis(100);
    fsm.max_connect_retry = Duration::from_millis(400);
    PeerConfig {
        name: name.into(),
        address,
        interface: None,
        tcp: TcpOptions::default(),
        start_delay: Duration::ZERO,
        session: SessionConfig::new(fsm),
    }
}

/// Reads one whole message.
async fn read_message(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if let Some(Ok(length)) = frame_length(buffer, &CodecContext::default())
            && buffer.len() >= length
        {
            return buffer.drain(..length).collect();
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("IronLB answers within 10 s")
            .expect("read");
        assert!(n > 0, "connection closed before a whole message");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Accepts IronLB's connection and brings the session to Established.
async fn establish(listener: &TcpListener) -> (TcpStream, Vec<u8>) {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut buffer = Vec::new();
    let open = read_message(&mut stream, &mut buffer).await;
    assert!(matches!(
        Message::decode(&open, &CodecContext::default()),
        Ok(Message::Open(_))
    ));
    let ours = Open::new(
        65000,
        9,
        Ipv4Addr::new(10, 0, 0, 1),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::FourOctetAs(65000),
        ],
    );
    let mut bytes = Message::Open(ours).encode(&CodecContext::default());
    bytes.extend(Message::Keepalive.encode(&context()));
    stream.write_all(&bytes).await.unwrap();
    // IronLB's KEEPALIVE, then its routes and End-of-RIB.
    loop {
        let message = read_message(&mut stream, &mut buffer).await;
        if matches!(
            Message::decode(&message, &context()),
            Ok(Message::Keepalive)
        ) {
            break;
        }
    }
    (stream, buffer)
}

/// Reads until a NOTIFICATION arrives.
async fn notification(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Notification {
    loop {
        let message = read_message(stream, buffer).await;
        if let Ok(Message::Notification(notification)) = Message::decode(&message, &context()) {
            return notification;
        }
    }
}

fn update_with_attributes(attributes: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attributes.len()).unwrap().to_be_bytes());
    body.extend_from_slice(attributes);
    body.extend_from_slice(&[32, 203, 0, 113, 5]);
    message(2, &body)
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xff; 16];
    bytes.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_messages_get_the_rfc_notification_and_other_sessions_carry_on() {
    let healthy_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (events, mut event_receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move { while event_receiver.recv().await.is_some() {} });
    let healthy = bgp::spawn(
        peer_config("healthy", healthy_listener.local_addr().unwrap()),
        events.clone(),
    );
    let routes: BTreeMap<IpNet, std::sync::Arc<RouteAttributes>> = [(
        "203.0.113.5/32".parse().unwrap(),
        std::sync::Arc::new(RouteAttributes::default()),
    )]
    .into();
    healthy
        .commands
        .send(Command::SetRoutes(routes.clone()))
        .unwrap();
    let (healthy_stream, _) = establish(&healthy_listener).await;
    // The healthy router keeps its side alive and counts what IronLB sends.
    let (mut healthy_read, mut healthy_write) = healthy_stream.into_split();
    let keepalive = message(4, &[]);
    tokio::spawn(async move {
        loop {
            if healthy_write.write_all(&keepalive).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = healthy_read.read(&mut chunk).await {
            if n == 0 {
                return;
            }
            counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let bad = bgp::spawn(
        peer_config("bad", bad_listener.local_addr().unwrap()),
        events,
    );

    // (name, bytes sent once Established, expected code/subcode)
    let cases: Vec<(&str, Vec<u8>, (u8, u8))> = vec![
        (
            "marker not all ones",
            {
                let mut keepalive = message(4, &[]);
                keepalive[3] = 0;
                keepalive
            },
            (1, 1),
        ),
        (
            "length below the minimum",
            {
                let mut bytes = message(4, &[]);
                bytes[17] = 18;
                bytes
            },
            (1, 2),
        ),
        ("unknown message type", message(9, &[]), (1, 3)),
        ("KEEPALIVE with a body", message(4, &[0]), (1, 2)),
        (
            "withdrawn routes length overruns the message",
            message(2, &[0, 50, 0, 0]),
            (3, 1),
        ),
        (
            "OPEN while Established",
            Message::Open(Open::new(65000, 9, Ipv4Addr::new(10, 0, 0, 1), vec![]))
                .encode(&CodecContext::default()),
            (5, 3),
        ),
    ];
    for (name, bytes, (code, subcode)) in cases {
        let (mut stream, mut buffer) = establish(&bad_listener).await;
        stream.write_all(&bytes).await.unwrap();
        let notification = notification(&mut stream, &mut buffer).await;
        assert_eq!(
            (notification.code.code(), notification.subcode),
            (code, subcode),
            "{name}: got {notification:?}"
        );
        drop(stream);
        // The healthy session never noticed.
        let status = healthy.status.borrow().clone();
        assert_eq!(status.state, State::Established, "{name}");
        assert_eq!(status.established_transitions, 1, "{name}");
    }
    // Attribute errors RFC 7606 handles without a reset (treat-as-withdraw): a bad ORIGIN
    // value, and an attribute whose length overruns the attribute list (§4). The session
    // stays up and nothing is kept.
    let (mut stream, buffer) = establish(&bad_listener).await;
    let mut attributes = vec![0x40, 1, 1, 7]; // ORIGIN 7
    attributes.extend_from_slice(&[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8]); // AS_PATH 65000
    attributes.extend_from_slice(&[0x40, 3, 4, 10, 0, 0, 1]); // NEXT_HOP
    stream
        .write_all(&update_with_attributes(&attributes))
        .await
        .unwrap();
    // ORIGIN claiming 10 octets of value with 1 present.
    stream
        .write_all(&update_with_attributes(&[0x40, 1, 10, 0]))
        .await
        .unwrap();
    stream.write_all(&message(4, &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = bad.status.borrow().clone();
    assert_eq!(status.state, State::Established);
    assert_eq!(status.prefixes_received, 0);
    drop(stream);
    drop(buffer);
    // The healthy peer still gets keepalives (hold 9 s: one every 3 s).
    let before = received.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(received.load(std::sync::atomic::Ordering::Relaxed) > before);
    let status = healthy.status.borrow().clone();
    assert_eq!(status.state, State::Established);
    assert_eq!(status.established_transitions, 1);
    assert_eq!(status.advertised.len(), 1);
}
