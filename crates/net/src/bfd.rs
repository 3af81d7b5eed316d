//! The BFD driver: UDP sockets for the sans-IO [`ironlb_bfd::Session`]s.
//!
//! Single hop (RFC 5881): control packets to UDP 3784, sent with TTL 255, and a received
//! packet whose TTL is not 255 is discarded (GTSM). Multihop (RFC 5883): UDP 4784, received
//! TTL at least the profile's minimumTtl. Each session sends from its own socket, bound to its
//! source address and a source port in 49152–65535. Received packets are matched to a session
//! by Your Discriminator, or by source address while that is still zero.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironlb_bfd::echo::{self, EchoPacket, EchoPath};
use ironlb_bfd::{ControlPacket, Diagnostic, DiscardReason, Event, Parameters, Session, State};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::packet::{Ethertype, PacketSocket};
use crate::socket;

/// One BFD peer to watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub peer: IpAddr,
    /// Source address (the BGP session's local address), or the kernel's choice.
    pub local: Option<IpAddr>,
    pub parameters: Parameters,
    /// RFC 5883 multihop (eBGP multihop peers).
    pub multihop: bool,
    /// Lowest TTL accepted on multihop sessions.
    pub minimum_ttl: u8,
    /// The interface index of a link-local peer (BGP unnumbered), 0 otherwise: the packets
    /// go out of that interface.
    pub scope_id: u32,
}

/// Commands to the driver.
#[derive(Debug)]
pub enum Command {
    /// Starts (or reconfigures) a session.
    Add(PeerConfig),
    /// Stops a session, telling the peer AdminDown first.
    Remove(IpAddr),
    /// Takes a session administratively down (the peer is told, and counts us as not there),
    /// or brings it back.
    Admin(IpAddr, Admin),
    /// Tells every peer AdminDown, stops, and says so on the channel.
    Shutdown(tokio::sync::oneshot::Sender<()>),
}

/// Stops the driver: every peer is told AdminDown (RFC 5880 §6.8.16) before this returns (or
/// after a second at most).
///
/// A speaker that stops with graceful restart calls this only once its BGP connections are
/// closed: FRR 8 reads a peer's AdminDown as BFD Down and, if that comes before the BGP
/// connection's end, tears the session down with Cease/BFD Down and flushes the routes graceful
/// restart was meant to keep (seen in the fault tests); after the connection's end it is ignored.
pub async fn shutdown(commands: &mpsc::UnboundedSender<Command>) {
    let (done, finished) = tokio::sync::oneshot::channel();
    if commands.send(Command::Shutdown(done)).is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), finished).await;
    }
}

/// A session's administrative state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admin {
    Down,
    Up,
}

/// A state change, sent to whoever couples BFD to BGP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub peer: IpAddr,
    pub from: State,
    pub to: State,
    pub diagnostic: Diagnostic,
    /// The peer's state in its last packet (AdminDown: it is being maintained, RFC 5882 §3.2).
    pub remote_state: State,
}

/// What the BGP session of a peer must do after a BFD state change (RFC 5882).
///
/// BFD never holds BGP down: a session may establish while BFD is not Up yet, as FRR and
/// BIRD allow (RFC 5882 §4.1: BFD is bootstrapped by its client; routers such as FRR create
/// the BFD session of a dynamic neighbour only once BGP is up, so waiting for BFD first would
/// wait for ever). BFD going Down takes an established session down at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BgpAction {
    /// Bring BGP down now with Cease/BFD Down (RFC 9384 subcode 10); it connects again as
    /// after any loss (at once if it had been stable, held down if it keeps flapping).
    ResetWithBfdDown,
    /// BFD came Up: the peer is reachable, so a session waiting to connect tries now.
    PeerReachable,
}

/// The coupling rule: Up → Down takes BGP down, unless the peer signalled AdminDown (it is
/// being maintained, not failing: RFC 5882 §3.2 says not to act on that); reaching Up tells a
/// waiting session to connect.
pub fn bgp_action(notice: &Notice) -> Option<BgpAction> {
    match (notice.from, notice.to) {
        (State::Up, State::Down) if notice.remote_state != State::AdminDown => {
            Some(BgpAction::ResetWithBfdDown)
        }
        (from, State::Up) if from != State::Up => Some(BgpAction::PeerReachable),
        _ => None,
    }
}

/// Applies a BFD state change to the BGP session of the same peer (`name` for logs): the one
/// place BFD and BGP are coupled, for the speaker and `ironlb bgp announce` alike.
pub fn couple(notice: &Notice, name: &str, bgp: &mpsc::UnboundedSender<crate::bgp::Command>) {
    match bgp_action(notice) {
        Some(BgpAction::ResetWithBfdDown) => {
            warn!(peer = %name, address = %notice.peer, diagnostic = %notice.diagnostic, "BFD down: bringing the BGP session down (Cease/BFD Down), routes withdrawn from this peer");
            let _ = bgp.send(crate::bgp::Command::Reset(
                ironlb_bgp::packet::CeaseSubcode::BfdDown,
            ));
        }
        Some(BgpAction::PeerReachable) => {
            info!(peer = %name, address = %notice.peer, "BFD up");
            let _ = bgp.send(crate::bgp::Command::PeerReachable);
        }
        None => {}
    }
}

/// What `ironlb get bfd` shows of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: IpAddr,
    pub local: Option<SocketAddr>,
    pub state: State,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    pub diagnostic: Diagnostic,
    pub transmit_interval: Duration,
    pub detection_time: Duration,
    pub since: Instant,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub packets_discarded: u64,
    /// The last packet accepted from the peer (even while the session is AdminDown): when,
    /// and the state the peer said it is in.
    pub heard: Option<(Instant, State)>,
    /// The Echo function runs (BFDProfile echoMode, the peer accepting echo packets).
    pub echo_active: bool,
    pub echo_sent: u64,
    pub echo_received: u64,
}

/// Shared, read-only view of every session.
pub type StatusTable = Arc<Mutex<BTreeMap<IpAddr, PeerStatus>>>;

/// Handle to a running driver.
pub struct Handle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub notices: mpsc::UnboundedReceiver<Notice>,
    pub status: StatusTable,
    /// Packets discarded before reaching a session, by reason.
    pub discarded: Arc<Mutex<BTreeMap<DiscardReason, u64>>>,
}

struct Entry {
    config: PeerConfig,
    session: Session,
    socket: UdpSocket,
    since: Instant,
    /// The last packet accepted from the peer: when, and the state it said the peer is in.
    heard: Option<(Instant, State)>,
    /// Where echo packets go while the session is Up with echo on.
    echo: Option<EchoLink>,
    /// When to try again to set the echo path up, after a failure.
    echo_retry: Option<Instant>,
}

/// The Echo function's path for one session: a packet socket on the interface toward the
/// peer (sending frames to the peer's MAC, receiving the ones its forwarding plane returns),
/// read by a task of its own.
struct EchoLink {
    socket: Arc<PacketSocket>,
    path: EchoPath,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for EchoLink {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Echo packets come back as frames a task per [`EchoLink`] reads: the packet and when.
type EchoReceived = (EchoPacket, Instant);

/// Starts the driver on the current tokio runtime. Binds UDP 3784 (and 4784) for IPv4 and IPv6
/// on every address; fails if the ports are taken (another BFD daemon on this host).
pub fn spawn() -> io::Result<Handle> {
    let receivers = [
        receiver(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ironlb_bfd::SINGLE_HOP_PORT,
        )?,
        receiver(
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ironlb_bfd::SINGLE_HOP_PORT,
        )?,
        receiver(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ironlb_bfd::MULTI_HOP_PORT,
        )?,
        receiver(
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ironlb_bfd::MULTI_HOP_PORT,
        )?,
    ];
    let (command_sender, command_receiver) = mpsc::unbounded_channel();
    let (notice_sender, notice_receiver) = mpsc::unbounded_channel();
    let status: StatusTable = Arc::default();
    let discarded: Arc<Mutex<BTreeMap<DiscardReason, u64>>> = Arc::default();
    let (echo_sender, echo_received) = mpsc::unbounded_channel();
    let driver = Driver {
        receivers,
        echo_sender,
        echo_received,
        sessions: BTreeMap::new(),
        commands: command_receiver,
        notices: notice_sender,
        status: status.clone(),
        discarded: discarded.clone(),
        next_discriminator: initial_discriminator(),
    };
    tokio::spawn(driver.run());
    Ok(Handle {
        commands: command_sender,
        notices: notice_receiver,
        status,
        discarded,
    })
}

fn initial_discriminator() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1);
    (nanos ^ std::process::id().rotate_left(16)) | 1
}

fn receiver(address: IpAddr, port: u16) -> io::Result<UdpSocket> {
    let domain = if address.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let raw = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if address.is_ipv6() {
        raw.set_only_v6(true)?;
    }
    raw.set_reuse_address(true)?;
    raw.set_nonblocking(true)?;
    raw.bind(&SocketAddr::new(address, port).into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen for BFD on UDP {port}: {e} (is another BFD daemon, such as FRR's bfdd, running here?)")))?;
    socket::enable_receive_ttl(&raw, socket::Family::of(address))?;
    UdpSocket::from_std(raw.into())
}

/// A transmit socket: TTL 255, bound to the source address and a port in 49152–65535.
fn transmitter(config: &PeerConfig, discriminator: u32) -> io::Result<UdpSocket> {
    let domain = if config.peer.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let raw = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if config.peer.is_ipv4() {
        raw.set_ttl_v4(255)?;
    } else {
        raw.set_unicast_hops_v6(255)?;
    }
    raw.set_nonblocking(true)?;
    let local = config.local.unwrap_or(if config.peer.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    let range = u32::from(u16::MAX - 49152) + 1;
    let mut last_error = None;
    for attempt in 0..64 {
        let port = 49152 + ((discriminator.wrapping_add(attempt * 7919)) % range) as u16;
        match raw.bind(&SocketAddr::new(local, port).into()) {
            Ok(()) => return UdpSocket::from_std(raw.into()),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free BFD source port")))
}

struct Driver {
    receivers: [UdpSocket; 4],
    echo_sender: mpsc::UnboundedSender<EchoReceived>,
    echo_received: mpsc::UnboundedReceiver<EchoReceived>,
    sessions: BTreeMap<IpAddr, Entry>,
    commands: mpsc::UnboundedReceiver<Command>,
    notices: mpsc::UnboundedSender<Notice>,
    status: StatusTable,
    discarded: Arc<Mutex<BTreeMap<DiscardReason, u64>>>,
    next_discriminator: u32,
}

impl Driver {
    async fn run(mut self) {
        let mut buffer = vec![0u8; 2048];
        loop {
            self.flush(Instant::now());
            let deadline = self
                .sessions
                .values()
                .filter_map(|e| e.session.poll_timeout())
                .min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(done)) => {
                        let now = Instant::now();
                        for entry in self.sessions.values_mut() {
                            entry.session.set_admin_down(now);
                        }
                        self.flush(now);
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.command(command),
                    None => {
                        // The owner is gone: tell every peer we go AdminDown, then stop.
                        let now = Instant::now();
                        for entry in self.sessions.values_mut() {
                            entry.session.set_admin_down(now);
                        }
                        self.flush(now);
                        return;
                    }
                },
                _ = sleep => {
                    let now = Instant::now();
                    for entry in self.sessions.values_mut() {
                        entry.session.handle_timeout(now);
                    }
                }
                index = readable(&self.receivers) => {
                    self.receive(index, &mut buffer);
                }
                Some((packet, at)) = self.echo_received.recv() => {
                    if let Some(entry) = self
                        .sessions
                        .values_mut()
                        .find(|e| e.session.local_discriminator() == packet.discriminator)
                    {
                        entry.session.handle_echo(&packet, at);
                    }
                }
            }
        }
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Add(mut config) => {
                config.parameters = echo_parameters(&config);
                if let Some(entry) = self.sessions.get_mut(&config.peer) {
                    if entry.config.parameters != config.parameters {
                        entry.session.update_parameters(config.parameters, now);
                    }
                    entry.config = config;
                    return;
                }
                let discriminator = self.next_discriminator;
                self.next_discriminator = self.next_discriminator.wrapping_add(1).max(1);
                match transmitter(&config, discriminator) {
                    Ok(socket) => {
                        info!(peer = %config.peer, discriminator, tx_ms = config.parameters.desired_min_tx.as_millis() as u64,
                              rx_ms = config.parameters.required_min_rx.as_millis() as u64,
                              multiplier = config.parameters.detect_multiplier, "BFD session configured");
                        let session = Session::new(
                            config.parameters,
                            discriminator,
                            u64::from(discriminator) << 1,
                            now,
                        );
                        self.sessions.insert(
                            config.peer,
                            Entry {
                                config,
                                session,
                                socket,
                                since: now,
                                heard: None,
                                echo: None,
                                echo_retry: None,
                            },
                        );
                    }
                    Err(error) => {
                        warn!(peer = %config.peer, %error, "cannot open a BFD socket for this peer; no BFD for it")
                    }
                }
            }
            Command::Remove(peer) => {
                if let Some(mut entry) = self.sessions.remove(&peer) {
                    entry.session.set_admin_down(now);
                    while let Some(packet) = entry.session.poll_transmit(now) {
                        let _ = entry
                            .socket
                            .try_send_to(&packet.to_bytes(), destination(&entry.config));
                    }
                    self.status
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&peer);
                    info!(%peer, "BFD session removed");
                }
            }
            Command::Admin(peer, admin) => {
                if let Some(entry) = self.sessions.get_mut(&peer) {
                    match admin {
                        Admin::Down => entry.session.set_admin_down(now),
                        Admin::Up => entry.session.enable(now),
                    }
                }
            }
            // Handled in `run`, which ends the task.
            Command::Shutdown(done) => {
                let _ = done.send(());
            }
        }
    }

    fn receive(&mut self, index: usize, buffer: &mut [u8]) {
        let multihop = index >= 2;
        loop {
            let result = self.receivers[index].try_io(Interest::READABLE, || {
                socket::recv_with_ttl(&self.receivers[index], buffer)
            });
            let (length, source, ttl) = match result {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    warn!(%error, "BFD receive failed");
                    return;
                }
            };
            let now = Instant::now();
            let peer = canonical(source.ip());
            let packet = match ControlPacket::decode(&buffer[..length]) {
                Ok(packet) => packet,
                Err(reason) => {
                    self.count(reason);
                    continue;
                }
            };
            let entry = if packet.your_discriminator != 0 {
                self.sessions
                    .values_mut()
                    .find(|e| e.session.local_discriminator() == packet.your_discriminator)
            } else {
                self.sessions.get_mut(&peer)
            };
            let Some(entry) = entry else {
                self.count(if packet.your_discriminator != 0 {
                    DiscardReason::UnknownDiscriminator
                } else {
                    DiscardReason::UnknownPeer
                });
                continue;
            };
            // GTSM: single hop needs exactly 255; multihop at least the configured minimum.
            let required = if multihop {
                entry.config.minimum_ttl
            } else {
                255
            };
            if multihop != entry.config.multihop
                || ttl.is_some_and(|t| t < required)
                || entry.config.peer != peer
            {
                self.count(DiscardReason::TtlTooLow);
                continue;
            }
            entry.heard = Some((now, packet.state));
            if let Err(reason) = entry.session.handle_packet(&packet, now) {
                self.count(reason);
            }
        }
    }

    fn count(&self, reason: DiscardReason) {
        *self
            .discarded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    fn flush(&mut self, now: Instant) {
        for entry in self.sessions.values_mut() {
            update_echo_path(entry, &self.echo_sender, now);
            while let Some(packet) = entry.session.poll_echo(now) {
                if let Some(link) = &entry.echo
                    && let Err(error) = link.socket.try_send(&echo::frame(&link.path, &packet))
                    && error.kind() != io::ErrorKind::WouldBlock
                {
                    warn!(peer = %entry.config.peer, %error, "BFD echo send failed");
                }
            }
            while let Some(packet) = entry.session.poll_transmit(now) {
                if let Err(error) = entry
                    .socket
                    .try_send_to(&packet.to_bytes(), destination(&entry.config))
                    && error.kind() != io::ErrorKind::WouldBlock
                {
                    warn!(peer = %entry.config.peer, %error, "BFD send failed");
                }
            }
            while let Some(event) = entry.session.poll_event() {
                match event {
                    Event::StateChanged {
                        from,
                        to,
                        diagnostic,
                    } => {
                        entry.since = now;
                        if to == State::Up {
                            info!(peer = %entry.config.peer, "BFD session up");
                        } else if from == State::Up {
                            warn!(peer = %entry.config.peer, %diagnostic, "BFD session down");
                        }
                        let _ = self.notices.send(Notice {
                            peer: entry.config.peer,
                            from,
                            to,
                            diagnostic,
                            remote_state: entry.session.remote_state(),
                        });
                    }
                    Event::ParametersNegotiated {
                        transmit_interval,
                        detection_time,
                    } => {
                        info!(peer = %entry.config.peer, transmit_ms = transmit_interval.as_millis() as u64,
                              detect_ms = detection_time.as_millis() as u64, "BFD intervals negotiated");
                    }
                    Event::Echo {
                        active,
                        interval,
                        detection_time,
                    } => {
                        if active {
                            info!(peer = %entry.config.peer, interval_ms = interval.as_millis() as u64,
                                  detect_ms = detection_time.as_millis() as u64, "BFD echo started: the peer's forwarding plane returns our echo packets");
                        } else {
                            info!(peer = %entry.config.peer, "BFD echo stopped");
                        }
                    }
                }
            }
            let counters = entry.session.counters();
            let status = PeerStatus {
                peer: entry.config.peer,
                local: entry.socket.local_addr().ok(),
                state: entry.session.state(),
                local_discriminator: entry.session.local_discriminator(),
                remote_discriminator: entry.session.remote_discriminator(),
                diagnostic: entry.session.diagnostic(),
                transmit_interval: entry.session.transmit_interval(),
                detection_time: entry.session.detection_time(),
                since: entry.since,
                packets_received: counters.packets_received,
                packets_sent: counters.packets_sent,
                packets_discarded: counters.packets_discarded,
                heard: entry.heard,
                echo_active: entry.session.echo_active(),
                echo_sent: counters.echo_sent,
                echo_received: counters.echo_received,
            };
            self.status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(entry.config.peer, status);
        }
    }
}

/// The parameters a session runs with: echo only where it can work, single hop IPv4 (RFC 5883
/// §3 rules it out for multihop; MetalLB refuses echo mode for IPv6), and the peer's echo
/// packets invited (a nonzero Required Min Echo RX Interval) only when this node forwards
/// IPv4, since its forwarding plane is what returns them.
fn echo_parameters(config: &PeerConfig) -> Parameters {
    let mut parameters = config.parameters;
    if config.multihop || !config.peer.is_ipv4() {
        if parameters.echo_transmit.is_some() {
            info!(peer = %config.peer, "BFD echo mode: not on a multihop or IPv6 session (RFC 5883 §3; as FRR and MetalLB), which runs on control packets alone");
        }
        parameters.echo_transmit = None;
        parameters.echo_receive = Duration::ZERO;
    }
    if !parameters.echo_receive.is_zero() && !forwards_ipv4() {
        info!(peer = %config.peer, "this node does not forward IPv4 (net.ipv4.ip_forward=0): the peer is not invited to send BFD echo packets");
        parameters.echo_receive = Duration::ZERO;
    }
    parameters
}

/// Whether this network namespace forwards IPv4 (`net.ipv4.ip_forward`).
fn forwards_ipv4() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1")
}

/// Opens or drops a session's echo path: open while the session is Up with echo on, retried
/// every second when it cannot be opened (the peer's MAC not resolved yet), dropped when the
/// session leaves Up (a peer back after a failure may have another MAC).
fn update_echo_path(
    entry: &mut Entry,
    received: &mpsc::UnboundedSender<EchoReceived>,
    now: Instant,
) {
    let wanted =
        entry.session.parameters().echo_transmit.is_some() && entry.session.state() == State::Up;
    if !wanted {
        if entry.echo.take().is_some() {
            entry.session.set_echo_path(false, now);
        }
        entry.echo_retry = None;
        return;
    }
    if entry.echo.is_some() || entry.echo_retry.is_some_and(|at| now < at) {
        return;
    }
    match open_echo(&entry.config, &entry.socket, received) {
        Ok(link) => {
            info!(peer = %entry.config.peer, address = %link.path.address,
                  peer_mac = %mac_text(&link.path.peer_mac), "BFD echo path ready");
            entry.echo = Some(link);
            entry.echo_retry = None;
            entry.session.set_echo_path(true, now);
        }
        Err(error) => {
            warn!(peer = %entry.config.peer, %error, "BFD echo cannot run yet; retrying in 1 s (the control packets still detect failures)");
            entry.echo_retry = Some(now + Duration::from_secs(1));
        }
    }
}

/// The echo path toward a single-hop IPv4 peer: our address toward it, the interface holding
/// that address, and the peer's MAC from the neighbour table.
fn open_echo(
    config: &PeerConfig,
    control: &UdpSocket,
    received: &mpsc::UnboundedSender<EchoReceived>,
) -> io::Result<EchoLink> {
    let IpAddr::V4(peer) = config.peer else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "BFD echo is IPv4 only",
        ));
    };
    let address = match config.local {
        Some(IpAddr::V4(local)) => local,
        _ => route_source(peer)?,
    };
    let interfaces = crate::interfaces::list()?;
    let interface = interfaces
        .iter()
        .find(|i| i.addresses.iter().any(|a| a.addr() == IpAddr::V4(address)))
        .ok_or_else(|| io::Error::other(format!("no interface holds {address}")))?;
    let local_mac = interface.mac.ok_or_else(|| {
        io::Error::other(format!(
            "{} has no Ethernet address: no echo over it",
            interface.name
        ))
    })?;
    let peer_mac = socket::neighbour_mac(peer, &interface.name)?.ok_or_else(|| {
        io::Error::other(format!(
            "no neighbour entry for {peer} on {} yet",
            interface.name
        ))
    })?;
    let source_port = control.local_addr().map(|a| a.port()).unwrap_or(49152);
    let socket = Arc::new(PacketSocket::open(interface.index, Ethertype::Ipv4BfdEcho)?);
    let reader = tokio::spawn(read_echo(socket.clone(), address, received.clone()));
    Ok(EchoLink {
        socket,
        path: EchoPath {
            local_mac,
            peer_mac,
            address,
            source_port,
        },
        reader,
    })
}

/// The address this host sends from toward `peer` (a route lookup by connecting a UDP socket).
fn route_source(peer: Ipv4Addr) -> io::Result<Ipv4Addr> {
    let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    probe.connect((peer, ironlb_bfd::SINGLE_HOP_PORT))?;
    match probe.local_addr()?.ip() {
        IpAddr::V4(address) => Ok(address),
        IpAddr::V6(_) => Err(io::Error::other("no IPv4 source toward the peer")),
    }
}

/// Reads the frames of an echo socket, passing on echo packets sent to `address` (ours).
async fn read_echo(
    socket: Arc<PacketSocket>,
    address: Ipv4Addr,
    received: mpsc::UnboundedSender<EchoReceived>,
) {
    let mut buffer = vec![0u8; 2048];
    loop {
        match socket.recv(&mut buffer).await {
            Ok((length, _)) => {
                if let Some((destination, packet)) = echo::parse_frame(&buffer[..length])
                    && destination == address
                    && received.send((packet, Instant::now())).is_err()
                {
                    return;
                }
            }
            // The interface went down: frames resume when it is up again.
            Err(error) if error.raw_os_error() == Some(libc::ENETDOWN) => {}
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {}
            Err(error) => {
                warn!(%error, "BFD echo receive failed; echo packets are no longer read on this interface");
                return;
            }
        }
    }
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn destination(config: &PeerConfig) -> SocketAddr {
    let port = if config.multihop {
        ironlb_bfd::MULTI_HOP_PORT
    } else {
        ironlb_bfd::SINGLE_HOP_PORT
    };
    match config.peer {
        IpAddr::V6(peer) if config.scope_id != 0 => {
            SocketAddr::V6(std::net::SocketAddrV6::new(peer, port, 0, config.scope_id))
        }
        peer => SocketAddr::new(peer, port),
    }
}

/// IPv4-mapped IPv6 sources compare as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// Waits until one of the receive sockets is readable; returns its index.
async fn readable(sockets: &[UdpSocket; 4]) -> usize {
    tokio::select! {
        _ = sockets[0].readable() => 0,
        _ = sockets[1].readable() => 1,
        _ = sockets[2].readable() => 2,
        _ = sockets[3].readable() => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(from: State, to: State, remote_state: State) -> Notice {
        Notice {
            peer: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            from,
            to,
            diagnostic: Diagnostic::None,
            remote_state,
        }
    }

    #[test]
    fn detection_timeout_takes_bgp_down() {
        let n = notice(State::Up, State::Down, State::Up);
        assert_eq!(bgp_action(&n), Some(BgpAction::ResetWithBfdDown));
        let n = notice(State::Up, State::Down, State::Down);
        assert_eq!(bgp_action(&n), Some(BgpAction::ResetWithBfdDown));
    }

    #[test]
    fn a_peer_in_admin_down_does_not_take_bgp_down() {
        let n = notice(State::Up, State::Down, State::AdminDown);
        assert_eq!(bgp_action(&n), None);
    }

    #[test]
    fn reaching_up_lets_bgp_back_and_nothing_else_acts() {
        assert_eq!(
            bgp_action(&notice(State::Init, State::Up, State::Up)),
            Some(BgpAction::PeerReachable)
        );
        assert_eq!(
            bgp_action(&notice(State::Down, State::Up, State::Init)),
            Some(BgpAction::PeerReachable)
        );
        assert_eq!(
            bgp_action(&notice(State::Down, State::Init, State::Down)),
            None
        );
        assert_eq!(
            bgp_action(&notice(State::Init, State::Down, State::Down)),
            None
        );
    }
}
