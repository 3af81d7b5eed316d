//! The layer 2 driver: packet sockets for the sans-IO [`Responder`] of `ironlb-neighbor`.
//!
//! Per interface the responder owns addresses on, one ARP socket (when it owns IPv4 addresses
//! there) and one IPv6 socket filtered in the kernel to Neighbor Solicitations (when it owns
//! IPv6 addresses there). A task per socket reads frames into one channel; the driver hands
//! them to the responder, sends what it asks for, and wakes at its timers (the gratuitous
//! announcements). Sockets come and go with the interfaces in use.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ironlb_neighbor::{Counters, Interface, InterfaceId, Responder};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::packet::{Ethertype, PacketSocket};

/// Commands to the driver.
#[derive(Debug)]
pub enum Command {
    /// What this node answers for now, per interface.
    Set(BTreeMap<InterfaceId, Interface>),
    /// Announces everything owned again, as if newly owned (other nodes may have announced
    /// it meanwhile: [`Responder::announce_again`]).
    Announce,
    /// Stops answering at once (a stopping speaker hands its addresses over) and ends.
    Shutdown(oneshot::Sender<()>),
}

/// Handle to a running driver.
pub struct Handle {
    pub commands: mpsc::UnboundedSender<Command>,
    /// The responder's counters, as of the last frame or timer.
    pub counters: Arc<Mutex<Counters>>,
    /// Why sockets could not be opened, by interface (e.g. no CAP_NET_RAW).
    pub errors: Arc<Mutex<BTreeMap<InterfaceId, String>>>,
}

/// Starts the driver on the current tokio runtime.
pub fn spawn() -> Handle {
    let (commands, receiver) = mpsc::unbounded_channel();
    let (frames, frames_receiver) = mpsc::channel(1024);
    let counters = Arc::new(Mutex::new(Counters::default()));
    let errors = Arc::new(Mutex::new(BTreeMap::new()));
    let driver = Driver {
        responder: Responder::new(),
        commands: receiver,
        frames,
        received: frames_receiver,
        sockets: BTreeMap::new(),
        counters: counters.clone(),
        errors: errors.clone(),
    };
    tokio::spawn(driver.run());
    Handle {
        commands,
        counters,
        errors,
    }
}

/// Stops the driver: no address is answered for once this returns.
pub async fn shutdown(commands: &mpsc::UnboundedSender<Command>) {
    let (done, finished) = oneshot::channel();
    if commands.send(Command::Shutdown(done)).is_ok() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), finished).await;
    }
}

/// The sockets of one interface, with their reading tasks.
#[derive(Default)]
struct Sockets {
    arp: Option<Open>,
    ipv6: Option<Open>,
}

struct Open {
    socket: Arc<PacketSocket>,
    reader: JoinHandle<()>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct Driver {
    responder: Responder,
    commands: mpsc::UnboundedReceiver<Command>,
    frames: mpsc::Sender<(InterfaceId, Vec<u8>)>,
    received: mpsc::Receiver<(InterfaceId, Vec<u8>)>,
    sockets: BTreeMap<InterfaceId, Sockets>,
    counters: Arc<Mutex<Counters>>,
    errors: Arc<Mutex<BTreeMap<InterfaceId, String>>>,
}

impl Driver {
    async fn run(mut self) {
        loop {
            self.transmit(Instant::now());
            let deadline = self.responder.poll_timeout();
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Set(interfaces)) => self.set(interfaces),
                    Some(Command::Announce) => self.responder.announce_again(Instant::now()),
                    Some(Command::Shutdown(done)) => {
                        self.responder.set_interfaces(BTreeMap::new(), Instant::now());
                        self.sockets.clear();
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                Some((interface, frame)) = self.received.recv() => {
                    self.responder.handle_frame(interface, &frame, Instant::now());
                }
                () = async {
                    match deadline {
                        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
            *self.counters.lock().unwrap_or_else(|e| e.into_inner()) =
                self.responder.counters().clone();
        }
    }

    /// New ownership: the responder's, and the sockets it needs.
    fn set(&mut self, interfaces: BTreeMap<InterfaceId, Interface>) {
        let mut errors = BTreeMap::new();
        self.sockets.retain(|id, _| interfaces.contains_key(id));
        for (id, interface) in &interfaces {
            let sockets = self.sockets.entry(*id).or_default();
            let wants_arp = interface.addresses.iter().any(|a| a.is_ipv4());
            let wants_ipv6 = interface.addresses.iter().any(|a| a.is_ipv6());
            for (wanted, slot, ethertype) in [
                (wants_arp, &mut sockets.arp, Ethertype::Arp),
                (wants_ipv6, &mut sockets.ipv6, Ethertype::Ipv6),
            ] {
                if !wanted {
                    *slot = None;
                    continue;
                }
                if slot.is_some() {
                    continue;
                }
                match open(*id, ethertype, self.frames.clone()) {
                    Ok(open) => {
                        info!(interface = id.0, ?ethertype, "layer 2 socket open");
                        *slot = Some(open);
                    }
                    Err(error) => {
                        warn!(interface = id.0, ?ethertype, %error, "cannot answer on this interface");
                        errors.insert(*id, error.to_string());
                    }
                }
            }
        }
        *self.errors.lock().unwrap_or_else(|e| e.into_inner()) = errors;
        self.responder.set_interfaces(interfaces, Instant::now());
    }

    fn transmit(&mut self, now: Instant) {
        while let Some((interface, frame)) = self.responder.poll_transmit(now) {
            let Some(sockets) = self.sockets.get(&interface) else {
                continue;
            };
            // Frames go out through whichever socket of the interface is open: both are bound
            // to it and send whole frames.
            let Some(open) = sockets.arp.as_ref().or(sockets.ipv6.as_ref()) else {
                continue;
            };
            if let Err(error) = open.socket.try_send(&frame)
                && error.kind() != io::ErrorKind::WouldBlock
            {
                warn!(interface = interface.0, %error, "layer 2 send failed");
            }
        }
    }
}

/// Opens a socket on `interface` and starts the task that reads it into `frames`.
fn open(
    interface: InterfaceId,
    ethertype: Ethertype,
    frames: mpsc::Sender<(InterfaceId, Vec<u8>)>,
) -> io::Result<Open> {
    let socket = Arc::new(PacketSocket::open(interface.0, ethertype)?);
    let reading = socket.clone();
    let reader = tokio::spawn(async move {
        let mut buffer = vec![0u8; 65536];
        loop {
            match reading.recv(&mut buffer).await {
                Ok((length, _kind)) => {
                    let frame = buffer.get(..length).unwrap_or_default().to_vec();
                    // A full queue drops the frame (a flood): the requester asks again.
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        frames.try_send((interface, frame))
                    {
                        return;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::NetworkDown => {
                    // The interface went down: it answers again once it is up.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(error) if error.kind() == io::ErrorKind::InvalidData => {}
                Err(error) => {
                    warn!(interface = interface.0, %error, "layer 2 receive failed; the socket is closed");
                    return;
                }
            }
        }
    });
    Ok(Open { socket, reader })
}
