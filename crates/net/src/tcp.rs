//! TCP for BGP: dialing a peer from a chosen source address, TCP MD5 (RFC 2385), the TTL of
//! sent segments (1 for directly connected eBGP, 255 for multihop or GTSM), the minimum TTL of
//! received ones (GTSM, RFC 5082), and listening on port 179.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::socket;

/// How a BGP connection's sockets are set up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Local address to bind (the peer's `sourceAddress`).
    pub source: Option<IpAddr>,
    /// TCP MD5 key.
    pub md5_key: Option<Vec<u8>>,
    /// TTL / hop limit of sent segments (1 direct eBGP, 255 multihop or GTSM; None: kernel default).
    pub ttl: Option<u8>,
    /// Drop received segments below this TTL (GTSM: 255 - hops + 1).
    pub minimum_ttl: Option<u8>,
}

fn new_socket(family_of: IpAddr) -> io::Result<Socket> {
    let domain = if family_of.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket)
}

fn apply(socket: &Socket, peer: IpAddr, options: &TcpOptions) -> io::Result<()> {
    if let Some(key) = &options.md5_key {
        socket::set_tcp_md5(socket, peer, key).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot set the TCP MD5 key for {peer}: {e}"),
            )
        })?;
    }
    if let Some(ttl) = options.ttl {
        if peer.is_ipv4() {
            socket.set_ttl_v4(u32::from(ttl))?;
        } else {
            socket.set_unicast_hops_v6(u32::from(ttl))?;
        }
    }
    if let Some(minimum) = options.minimum_ttl {
        socket::set_minimum_ttl(socket, socket::Family::of(peer), minimum)?;
    }
    Ok(())
}

/// Dials `peer` with the options, giving up after `timeout`.
pub async fn connect(
    peer: SocketAddr,
    options: &TcpOptions,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = new_socket(peer.ip())?;
    apply(&socket, peer.ip(), options)?;
    if let Some(source) = options.source {
        socket.bind(&SocketAddr::new(source, 0).into()).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot bind source address {source}: {e} (is it configured on a local interface?)"))
        })?;
    }
    let socket = TcpSocket::from_std_stream(socket.into());
    match tokio::time::timeout(timeout, socket.connect(peer)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer from {peer} within {timeout:?}"),
        )),
    }
}

/// Listens on `address` (port 179 usually). MD5 keys and minimum TTLs are set per peer with
/// [`allow_peer`].
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = new_socket(address.ip())?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket
        .bind(&address.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {address}: {e}")))?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

/// Sets a peer's MD5 key and minimum TTL on a listening socket, so its connections are accepted.
pub fn allow_peer(listener: &TcpListener, peer: IpAddr, options: &TcpOptions) -> io::Result<()> {
    if let Some(key) = &options.md5_key {
        socket::set_tcp_md5(listener, peer, key)?;
    }
    if let Some(minimum) = options.minimum_ttl {
        socket::set_minimum_ttl(listener, socket::Family::of(peer), minimum)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn md5_with_the_right_key_connects_and_with_a_wrong_key_does_not() {
        runtime().block_on(async {
            let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
            let address = listener.local_addr().unwrap();
            let local: IpAddr = "127.0.0.1".parse().unwrap();
            allow_peer(
                &listener,
                local,
                &TcpOptions {
                    md5_key: Some(b"s3cret".to_vec()),
                    ..Default::default()
                },
            )
            .unwrap();
            let accept = tokio::spawn(async move { listener.accept().await.map(|(_, from)| from) });

            let wrong = TcpOptions {
                md5_key: Some(b"wrong".to_vec()),
                ..Default::default()
            };
            assert!(
                connect(address, &wrong, Duration::from_millis(800))
                    .await
                    .is_err(),
                "wrong key must not connect"
            );
            let none = TcpOptions::default();
            assert!(
                connect(address, &none, Duration::from_millis(800))
                    .await
                    .is_err(),
                "no key must not connect"
            );
            let right = TcpOptions {
                md5_key: Some(b"s3cret".to_vec()),
                ..Default::default()
            };
            let stream = connect(address, &right, Duration::from_secs(3))
                .await
                .expect("right key connects");
            let accepted = accept.await.unwrap().unwrap();
            assert_eq!(accepted, stream.local_addr().unwrap());
        });
    }

    #[test]
    fn source_address_that_is_not_local_is_a_clear_error() {
        runtime().block_on(async {
            let options = TcpOptions {
                source: Some("192.0.2.77".parse().unwrap()),
                ..Default::default()
            };
            let error = connect(
                "127.0.0.1:9".parse().unwrap(),
                &options,
                Duration::from_secs(1),
            )
            .await
            .unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("cannot bind source address 192.0.2.77"),
                "{error}"
            );
        });
    }
}
