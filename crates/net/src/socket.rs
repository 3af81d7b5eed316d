//! The system calls IronLB needs that the standard library and socket2 do not offer: TCP MD5
//! signatures (RFC 2385), minimum TTL / hop limit (GTSM, RFC 5082), receiving the TTL / hop
//! limit of each datagram (BFD's RFC 5881 §5 check), entering a network namespace, inotify
//! for watching a cluster directory, packet sockets (`AF_PACKET`, whole Ethernet frames, with
//! a classic BPF filter) for layer 2 mode's ARP and Neighbor Discovery, and listing the
//! interfaces and their addresses (`getifaddrs`); and handing free heap back to the system.
//! All of IronLB's `unsafe` code is here, each block a single call on a file descriptor the
//! caller owns (or, for the heap and the interface list, memory the C library hands over).

#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

/// Longest TCP MD5 key the kernel accepts.
pub const TCP_MD5_MAX_KEY_LENGTH: usize = 80;

/// `struct tcp_md5sig` from `linux/tcp.h`.
#[repr(C)]
struct TcpMd5Sig {
    address: libc::sockaddr_storage,
    flags: u8,
    prefix_length: u8,
    key_length: u16,
    interface_index: libc::c_int,
    key: [u8; TCP_MD5_MAX_KEY_LENGTH],
}

/// Sets (or with an empty key, removes) the TCP MD5 key for segments to and from `peer`.
/// On a listening socket it applies to connections from that peer.
pub fn set_tcp_md5(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > TCP_MD5_MAX_KEY_LENGTH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a TCP MD5 key is at most {TCP_MD5_MAX_KEY_LENGTH} bytes, this one has {}",
                key.len()
            ),
        ));
    }
    // SAFETY: an all-zero tcp_md5sig (and sockaddr_storage) is a valid value.
    let mut signature: TcpMd5Sig = unsafe { zeroed() };
    write_sockaddr(&mut signature.address, SocketAddr::new(peer, 0));
    signature.key_length = key.len() as u16;
    signature.key[..key.len()].copy_from_slice(key);
    set_option(
        socket.as_raw_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_MD5SIG,
        &signature,
    )
}

/// The address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// The family of `address`.
    pub fn of(address: std::net::IpAddr) -> Family {
        if address.is_ipv6() {
            Family::Ipv6
        } else {
            Family::Ipv4
        }
    }
}

/// Drops received packets whose TTL (IPv4) or hop limit (IPv6) is below `minimum`: with 255 and
/// peers sending at 255, only directly connected peers get through (GTSM, RFC 5082).
pub fn set_minimum_ttl(socket: &impl AsRawFd, family: Family, minimum: u8) -> io::Result<()> {
    let value = libc::c_int::from(minimum);
    if family == Family::Ipv6 {
        set_option(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MINHOPCOUNT,
            &value,
        )
    } else {
        set_option(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MINTTL,
            &value,
        )
    }
}

/// Asks the kernel to report each received datagram's TTL / hop limit (see [`recv_with_ttl`]).
pub fn enable_receive_ttl(socket: &impl AsRawFd, family: Family) -> io::Result<()> {
    let on: libc::c_int = 1;
    if family == Family::Ipv6 {
        set_option(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVHOPLIMIT,
            &on,
        )
    } else {
        set_option(socket.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVTTL, &on)
    }
}

/// Receives one datagram without blocking, with its source and TTL / hop limit (when
/// [`enable_receive_ttl`] was set). `WouldBlock` when nothing is queued.
pub fn recv_with_ttl(
    socket: &impl AsRawFd,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    // SAFETY: zeroed sockaddr_storage and msghdr are valid; every pointer below points into
    // locals that outlive the recvmsg call, with the lengths of those locals.
    unsafe {
        let mut source: libc::sockaddr_storage = zeroed();
        let mut control = [0u64; 16];
        let mut vector = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        };
        let mut message: libc::msghdr = zeroed();
        message.msg_name = (&mut source as *mut libc::sockaddr_storage).cast();
        message.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        message.msg_iov = &mut vector;
        message.msg_iovlen = 1 as _;
        message.msg_control = control.as_mut_ptr().cast();
        // usize on glibc, socklen_t on musl.
        message.msg_controllen = size_of::<[u64; 16]>() as _;
        let received = libc::recvmsg(socket.as_raw_fd(), &mut message, libc::MSG_DONTWAIT);
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ttl = None;
        let mut header = libc::CMSG_FIRSTHDR(&message);
        while !header.is_null() {
            let level = (*header).cmsg_level;
            let kind = (*header).cmsg_type;
            if (level == libc::IPPROTO_IP && kind == libc::IP_TTL)
                || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_HOPLIMIT)
            {
                let value = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<libc::c_int>());
                ttl = u8::try_from(value).ok();
            }
            header = libc::CMSG_NXTHDR(&message, header);
        }
        let source = read_sockaddr(&source).ok_or_else(|| {
            io::Error::other("datagram from an address that is neither IPv4 nor IPv6")
        })?;
        Ok((received as usize, source, ttl))
    }
}

/// Moves the calling thread into the network namespace at `path` (`/run/netns/NAME`); sockets
/// it creates afterwards live there. Used by tests and the lab to run a driver "on a node".
pub fn enter_network_namespace(path: &std::path::Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    // SAFETY: setns on a namespace file descriptor we hold open; affects only this thread.
    let result = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Hands the allocator's free memory back to the system (glibc's `malloc_trim`), returns
/// whether any was. A long-running component that has just dropped a large view of the
/// cluster (thousands of decoded objects, each event's transient JSON) otherwise keeps the
/// freed pages, interleaved with live objects, in its resident set. A no-op off glibc.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks and trims the allocator's own free lists; it takes
        // no pointer and is thread-safe.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// What the watched directory's files went through, as inotify reports it (see
/// [`parse_events`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameEvent {
    /// The writer has finished: a descriptor open for writing was closed (`IN_CLOSE_WRITE`) or
    /// a whole file was moved in under this name (`IN_MOVED_TO`). The file can be read.
    Complete,
    /// A writer is at work (`IN_MODIFY`): the file may be half written until its `Complete`.
    Writing,
    /// The name appeared (`IN_CREATE`): usually a writer's `open(O_CREAT)`, whose writes and
    /// close follow; sometimes a whole file (a hard or symbolic link), which has no writer.
    Created,
    /// The name is gone (`IN_DELETE`, `IN_MOVED_FROM`).
    Removed,
}

/// One read of a [`DirectoryWatch`], decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchEvents {
    /// The names the events concern, in the kernel's order (repeats kept).
    pub names: Vec<(std::ffi::OsString, NameEvent)>,
    /// Events were lost: the kernel's queue overflowed (`IN_Q_OVERFLOW`), or the buffer did not
    /// decode. Nothing about the directory can be trusted until it is read again whole.
    pub overflow: bool,
    /// The watched directory itself was deleted, moved or unmounted (`IN_DELETE_SELF`,
    /// `IN_MOVE_SELF`, `IN_UNMOUNT`, `IN_IGNORED`): the watch must be set up again
    /// ([`DirectoryWatch::rewatch`]) and the directory read again whole.
    pub watch_lost: bool,
}

impl WatchEvents {
    fn extend(&mut self, other: WatchEvents) {
        self.names.extend(other.names);
        self.overflow |= other.overflow;
        self.watch_lost |= other.watch_lost;
    }
}

/// Decodes what `read(2)` on an inotify descriptor returned: a run of `struct inotify_event`
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     wd (watch descriptor)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                             mask                              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            cookie                             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   len (of name, NUL padding included)         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |              name (len bytes, NUL-terminated and padded)    ...
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// in host byte order (inotify(7)). Events of watch descriptors other than `watch` (an
/// earlier watch of the same instance, removed by [`DirectoryWatch::rewatch`]) are ignored,
/// except `IN_Q_OVERFLOW`, which the kernel sends with descriptor -1. The kernel only hands
/// out whole events; a buffer that ends inside one or whose name runs past its end is not
/// from the kernel and counts as an overflow, so the caller reads everything again. Never
/// panics.
pub fn parse_events(buffer: &[u8], watch: Option<i32>) -> WatchEvents {
    use std::os::unix::ffi::OsStrExt;
    const HEADER: usize = size_of::<libc::inotify_event>();
    let field = |at: usize| {
        u32::from_ne_bytes([buffer[at], buffer[at + 1], buffer[at + 2], buffer[at + 3]])
    };
    let mut events = WatchEvents::default();
    let mut offset = 0usize;
    while offset < buffer.len() {
        let Some(name_start) = offset
            .checked_add(HEADER)
            .filter(|&end| end <= buffer.len())
        else {
            events.overflow = true;
            break;
        };
        let descriptor = field(offset) as i32;
        let mask = field(offset + 4);
        let name_length = field(offset + 12) as usize;
        let Some(name_end) = name_start
            .checked_add(name_length)
            .filter(|&end| end <= buffer.len())
        else {
            events.overflow = true;
            break;
        };
        offset = name_end;
        if mask & libc::IN_Q_OVERFLOW != 0 {
            events.overflow = true;
            continue;
        }
        if Some(descriptor) != watch {
            continue;
        }
        if mask & (libc::IN_IGNORED | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_UNMOUNT)
            != 0
        {
            events.watch_lost = true;
            continue;
        }
        let name = buffer[name_start..name_end]
            .split(|&b| b == 0)
            .next()
            .unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        let event = if mask & (libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO) != 0 {
            NameEvent::Complete
        } else if mask & (libc::IN_DELETE | libc::IN_MOVED_FROM) != 0 {
            NameEvent::Removed
        } else if mask & libc::IN_CREATE != 0 {
            NameEvent::Created
        } else if mask & libc::IN_MODIFY != 0 {
            NameEvent::Writing
        } else {
            continue;
        };
        events
            .names
            .push((std::ffi::OsStr::from_bytes(name).to_os_string(), event));
    }
    events
}

/// What a [`DirectoryWatch`] asks the kernel for. `IN_MODIFY` and `IN_CREATE` only tell that a
/// writer is at work; files are read at `IN_CLOSE_WRITE` or `IN_MOVED_TO`. `IN_Q_OVERFLOW`,
/// `IN_IGNORED` and `IN_UNMOUNT` come without asking.
const DIRECTORY_MASK: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_CREATE
    | libc::IN_MODIFY
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// An inotify instance watching one directory (not its subdirectories) for files created,
/// written, moved or deleted, and for the directory itself going away.
pub struct DirectoryWatch {
    fd: std::os::fd::OwnedFd,
    path: std::ffi::CString,
    /// The watch descriptor, with the device and inode it was set on; `None` while the
    /// directory is gone.
    watch: Option<(i32, u64, u64)>,
}

impl DirectoryWatch {
    /// Watches `directory`. Non-blocking.
    pub fn new(directory: &std::path::Path) -> io::Result<Self> {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(directory.as_os_str().as_bytes()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "directory path contains a NUL byte",
            )
        })?;
        // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let mut watch = DirectoryWatch {
            fd,
            path,
            watch: None,
        };
        watch.rewatch()?;
        Ok(watch)
    }

    /// Drops the current watch, if any, and watches the directory now at the path again (after
    /// [`WatchEvents::watch_lost`], or when [`DirectoryWatch::is_current`] says the path names
    /// another directory). Fails while there is no directory there; events of the old watch
    /// still queued are ignored from now on.
    pub fn rewatch(&mut self) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        if let Some((old, _, _)) = self.watch.take() {
            // SAFETY: a plain call on our own descriptor; EINVAL when the kernel already
            // dropped the watch (directory deleted or unmounted), which is fine.
            unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), old) };
        }
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let descriptor = unsafe {
            libc::inotify_add_watch(
                self.fd.as_raw_fd(),
                self.path.as_ptr(),
                DIRECTORY_MASK | libc::IN_ONLYDIR,
            )
        };
        if descriptor < 0 {
            return Err(io::Error::last_os_error());
        }
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(self.path.as_bytes()));
        let (device, inode) = match std::fs::metadata(path) {
            Ok(metadata) => (metadata.dev(), metadata.ino()),
            Err(_) => (0, 0),
        };
        self.watch = Some((descriptor, device, inode));
        Ok(())
    }

    /// Whether the watch is set on the directory the path names now: false while it is gone,
    /// and after it was moved away, replaced, or had a file system mounted on or unmounted
    /// from it (which inotify does not always report).
    pub fn is_current(&self) -> bool {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let Some((_, device, inode)) = self.watch else {
            return false;
        };
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(self.path.as_bytes()));
        std::fs::metadata(path).is_ok_and(|m| m.is_dir() && m.dev() == device && m.ino() == inode)
    }

    /// Drains pending events (`WouldBlock`: there were none).
    pub fn read_events(&self) -> io::Result<WatchEvents> {
        // Room for many events; one is at most a header and NAME_MAX + 1 bytes.
        let mut buffer = [0u8; 16384];
        let mut events: Option<WatchEvents> = None;
        // A bound, so a writer faster than this loop cannot keep it here: what is left stays
        // queued and the descriptor readable.
        for _ in 0..64 {
            // SAFETY: reading into a local buffer of the given length.
            let length = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                )
            };
            if length < 0 {
                let error = io::Error::last_os_error();
                return match (events, error.kind()) {
                    (Some(events), io::ErrorKind::WouldBlock) => Ok(events),
                    (_, _) => Err(error),
                };
            }
            if length == 0 {
                break;
            }
            let read = parse_events(
                &buffer[..length as usize],
                self.watch.map(|(descriptor, _, _)| descriptor),
            );
            events.get_or_insert_with(WatchEvents::default).extend(read);
        }
        events.ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }
}

impl DirectoryWatch {
    /// Registers the watch with the current tokio runtime.
    pub fn into_async(self) -> io::Result<tokio::io::unix::AsyncFd<DirectoryWatch>> {
        // SAFETY: the descriptor is an OwnedFd held by the DirectoryWatch for its whole life,
        // and as_raw_fd always returns that same descriptor (rewatch changes the watch, not
        // the descriptor).
        unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(self, tokio::io::Interest::READABLE)
        }
        .map_err(io::Error::from)
    }
}

impl AsRawFd for DirectoryWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A packet socket's `sockaddr_ll` for one interface and ethertype. Index 0 would mean "every
/// interface" to `bind`, and indexes past `i32::MAX` do not exist: both are refused.
fn link_address(interface_index: u32, ethertype: u16) -> io::Result<libc::sockaddr_ll> {
    let index = libc::c_int::try_from(interface_index)
        .ok()
        .filter(|&index| index > 0)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "interface index {interface_index} names no interface: give the index the \
                     kernel lists for it (ip link, or ironlb_net::interfaces::list)"
                ),
            )
        })?;
    // SAFETY: an all-zero sockaddr_ll is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { zeroed() };
    address.sll_family = libc::AF_PACKET as libc::c_ushort;
    address.sll_protocol = ethertype.to_be();
    address.sll_ifindex = index;
    Ok(address)
}

/// `error` with `what` (the situation, and what to do about it) in front, its kind kept.
fn explained(error: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// Opens a packet socket (`AF_PACKET`, `SOCK_RAW`: whole Ethernet frames, header included)
/// receiving the frames of one `ethertype` on one interface that pass `filter`, a classic BPF
/// program run by the kernel on each frame; non-blocking and close-on-exec.
///
/// The socket is created receiving nothing (protocol 0), the filter attached, and only then is
/// it bound to the interface and ethertype: no frame the filter would drop is ever queued.
/// Frames this host sends never reach it: the kernel copies outgoing frames (`PACKET_OUTGOING`)
/// only to sockets bound to every ethertype (`ETH_P_ALL`, as tcpdump's), and drops looped-back
/// multicast (`PACKET_LOOPBACK`) for all packet sockets.
/// While the interface is down the socket receives nothing, and its next receive fails with
/// `ENETDOWN` once; frames flow again when the interface is up. If the interface is deleted the
/// socket never receives again: open a new one.
pub fn open_packet_socket(
    interface_index: u32,
    ethertype: u16,
    filter: &[libc::sock_filter],
) -> io::Result<PacketFd> {
    use std::os::fd::FromRawFd;
    let address = link_address(interface_index, ethertype)?;
    let program = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a BPF filter has at most 65535 instructions, this one {}",
                    filter.len()
                ),
            )
        })?,
        // The kernel only reads the program (it copies it in SO_ATTACH_FILTER).
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: socket takes integers only and returns a new descriptor or -1.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => explained(
                error,
                "cannot open a packet socket: the speaker needs CAP_NET_RAW for layer 2 mode",
            ),
            Some(libc::EAFNOSUPPORT) => explained(
                error,
                "this kernel has no packet sockets (CONFIG_PACKET), which layer 2 mode needs",
            ),
            _ => explained(error, "cannot open a packet socket"),
        });
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    set_option(
        socket.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &program,
    )
    .map_err(|error| {
        explained(
            error,
            "the kernel refused the packet socket's BPF filter (a bug in IronLB, or \
             net.core.optmem_max too small)",
        )
    })?;
    // SAFETY: `address` is a sockaddr_ll on the stack, its size passed along.
    let result = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&address as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if result < 0 {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::ENODEV) => explained(
                error,
                format!(
                    "no interface has index {interface_index} in the speaker's network namespace \
                     (deleted, or the speaker does not run with hostNetwork)"
                ),
            ),
            _ => explained(
                error,
                format!("cannot bind a packet socket to interface index {interface_index}"),
            ),
        });
    }
    Ok(PacketFd(socket))
}

/// A packet socket's descriptor ([`open_packet_socket`]), closed on drop.
#[derive(Debug)]
pub struct PacketFd(std::os::fd::OwnedFd);

impl PacketFd {
    /// Registers the socket with the current tokio runtime, for readiness (readable, writable,
    /// and error: an interface going down only sets the socket's error).
    pub fn into_async(self) -> io::Result<tokio::io::unix::AsyncFd<PacketFd>> {
        // SAFETY: the descriptor is the PacketFd's own OwnedFd, which nothing replaces or
        // closes while the PacketFd lives; AsyncFd deregisters it before dropping it.
        unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                self,
                tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE,
            )
        }
        .map_err(io::Error::from)
    }
}

impl AsRawFd for PacketFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Makes the interface pass every multicast frame up to the host (`PACKET_MR_ALLMULTI`), as
/// long as `socket` is open: Neighbor Solicitations go to solicited-node groups
/// (`33:33:ff:xx:xx:xx`) that a NIC filters out unless the host joined them. The kernel counts
/// these memberships, so closing the socket undoes exactly this one.
pub fn receive_all_multicast(socket: &impl AsRawFd, interface_index: u32) -> io::Result<()> {
    let index = link_address(interface_index, 0)?.sll_ifindex;
    let request = libc::packet_mreq {
        mr_ifindex: index,
        mr_type: libc::PACKET_MR_ALLMULTI as libc::c_ushort,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    set_option(
        socket.as_raw_fd(),
        libc::SOL_PACKET,
        libc::PACKET_ADD_MEMBERSHIP,
        &request,
    )
    .map_err(|error| {
        explained(
            error,
            format!(
                "cannot make interface index {interface_index} receive all multicast frames, \
                 which Neighbor Solicitations need"
            ),
        )
    })
}

/// What the kernel says about a frame a packet socket received (its `sockaddr_ll`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// The frame's whole length, which is more than what was copied when the buffer was too
    /// short (`MSG_TRUNC`).
    pub length: usize,
    /// The interface it came in on (or, for `PACKET_OUTGOING`, went out of).
    pub interface_index: u32,
    /// `sll_pkttype`: `PACKET_HOST`, `PACKET_BROADCAST`, `PACKET_MULTICAST`,
    /// `PACKET_OTHERHOST`, `PACKET_OUTGOING`, `PACKET_LOOPBACK`...
    pub packet_type: u8,
}

/// Receives one whole frame from a packet socket without blocking (`WouldBlock` when none is
/// queued). The frame is copied into `buffer` up to its length; [`ReceivedFrame::length`] says
/// how long it really was.
pub fn recv_frame(socket: &impl AsRawFd, buffer: &mut [u8]) -> io::Result<ReceivedFrame> {
    // SAFETY: an all-zero sockaddr_ll is a valid value.
    let mut source: libc::sockaddr_ll = unsafe { zeroed() };
    let mut source_length = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `buffer` and `source` are valid for writes of the lengths passed along for the
    // duration of the call; the kernel copies at most `source_length` bytes of address.
    let received = unsafe {
        libc::recvfrom(
            socket.as_raw_fd(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            (&mut source as *mut libc::sockaddr_ll).cast(),
            &mut source_length,
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ReceivedFrame {
        length: received as usize,
        interface_index: u32::try_from(source.sll_ifindex).unwrap_or(0),
        packet_type: source.sll_pkttype,
    })
}

/// Sends one whole frame (Ethernet header included, as it goes on the wire) out of the
/// interface, without blocking (`WouldBlock` when the socket's send buffer is full).
pub fn send_frame(
    socket: &impl AsRawFd,
    interface_index: u32,
    ethertype: u16,
    frame: &[u8],
) -> io::Result<()> {
    const ETHERNET_HEADER: usize = 14;
    if frame.len() < ETHERNET_HEADER {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a frame of {} bytes has no room for its {ETHERNET_HEADER}-byte Ethernet header",
                frame.len()
            ),
        ));
    }
    let mut address = link_address(interface_index, ethertype)?;
    address.sll_halen = 6;
    address.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` and `address` are valid for reads of the lengths passed along for the
    // duration of the call.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT,
            (&address as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::ENETDOWN) => explained(
                error,
                format!(
                    "interface index {interface_index} is down: nothing can be sent until it is up"
                ),
            ),
            Some(libc::ENXIO | libc::ENODEV) => explained(
                error,
                format!(
                    "interface index {interface_index} is gone: open a socket on its successor"
                ),
            ),
            Some(libc::EMSGSIZE) => explained(
                error,
                format!(
                    "a frame of {} bytes is longer than interface index {interface_index}'s MTU \
                     and link header",
                    frame.len()
                ),
            ),
            Some(libc::EAGAIN) => error,
            _ => explained(
                error,
                format!("cannot send a frame on interface index {interface_index}"),
            ),
        });
    }
    if sent as usize != frame.len() {
        return Err(io::Error::other(format!(
            "the kernel sent {sent} bytes of a {}-byte frame",
            frame.len()
        )));
    }
    Ok(())
}

/// One entry of `getifaddrs(3)`: an interface's link, or one of its IPv4 or IPv6 addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceEntry {
    /// The interface's name; for an IPv4 address, the address's label, which is the name
    /// unless the address was given another (`ip addr add ... label eth0:vip`).
    pub name: String,
    /// The interface's flags (`IFF_UP`, `IFF_RUNNING`, `IFF_LOOPBACK`, ...), as
    /// `SIOCGIFFLAGS` reports them.
    pub flags: u32,
    /// What the entry is about.
    pub kind: InterfaceEntryKind,
}

/// What an [`InterfaceEntry`] is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceEntryKind {
    /// The link itself (an `AF_PACKET` entry, one per interface).
    Link {
        /// The kernel's interface index.
        index: u32,
        /// `ARPHRD_*`: 1 for Ethernet (and veth, bridges, bonds, VLANs, macvlans), 772 for
        /// loopback, 65534 for interfaces without link-layer header (tun, WireGuard).
        hardware_type: u16,
        /// The link-layer address, as long as the link type makes it.
        hardware_address: Vec<u8>,
    },
    /// An address of the interface, with the length of its prefix.
    Address { address: IpAddr, prefix_length: u8 },
}

/// The calling thread's network namespace's interfaces and their addresses, as one
/// `getifaddrs(3)` call lists them (glibc and musl read them over rtnetlink, so the list is
/// the namespace of the thread, not of the process or of a mounted `/sys`).
pub fn interface_entries() -> io::Result<Vec<InterfaceEntry>> {
    /// The list getifaddrs returned, freed on drop.
    struct List(*mut libc::ifaddrs);
    impl Drop for List {
        fn drop(&mut self) {
            // SAFETY: the pointer is the head getifaddrs returned, freed only here.
            unsafe { libc::freeifaddrs(self.0) }
        }
    }
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes the head of a list it allocates into `head`, or fails.
    if unsafe { libc::getifaddrs(&mut head) } < 0 {
        return Err(explained(
            io::Error::last_os_error(),
            "cannot list the network interfaces (getifaddrs)",
        ));
    }
    let list = List(head);
    let mut entries = Vec::new();
    let mut cursor = list.0.cast_const();
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list, which lives until `list` is dropped.
        let node = unsafe { &*cursor };
        cursor = node.ifa_next;
        if node.ifa_name.is_null() || node.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: a non-null ifa_name is a NUL-terminated string of the list.
        let name = unsafe { std::ffi::CStr::from_ptr(node.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: a non-null ifa_addr points to a socket address at least as large as the
        // one its family names (getifaddrs allocates a union of them); read unaligned, as
        // nothing promises more.
        let family = unsafe { std::ptr::read_unaligned(node.ifa_addr) }.sa_family;
        let kind = match libc::c_int::from(family) {
            libc::AF_PACKET => {
                // SAFETY: as above, the family says it is a sockaddr_ll.
                let link: libc::sockaddr_ll =
                    unsafe { std::ptr::read_unaligned(node.ifa_addr.cast()) };
                let length = usize::from(link.sll_halen).min(link.sll_addr.len());
                InterfaceEntryKind::Link {
                    index: u32::try_from(link.sll_ifindex).unwrap_or(0),
                    hardware_type: link.sll_hatype,
                    hardware_address: link.sll_addr[..length].to_vec(),
                }
            }
            libc::AF_INET | libc::AF_INET6 => {
                let family = libc::c_int::from(family);
                // SAFETY: as above, the family says it is a sockaddr_in or sockaddr_in6.
                let Some(address) = (unsafe { read_socket_address(node.ifa_addr, family) }) else {
                    continue;
                };
                let prefix_length = if node.ifa_netmask.is_null() {
                    None
                } else {
                    // SAFETY: getifaddrs gives the netmask the storage of an address of the
                    // same family (whatever its own sa_family says).
                    match unsafe { read_socket_address(node.ifa_netmask, family) } {
                        Some(IpAddr::V4(mask)) => Some(u32::from(mask).count_ones() as u8),
                        Some(IpAddr::V6(mask)) => Some(u128::from(mask).count_ones() as u8),
                        None => None,
                    }
                };
                InterfaceEntryKind::Address {
                    address,
                    prefix_length: prefix_length.unwrap_or(if address.is_ipv4() {
                        32
                    } else {
                        128
                    }),
                }
            }
            _ => continue,
        };
        entries.push(InterfaceEntry {
            name,
            flags: node.ifa_flags,
            kind,
        });
    }
    Ok(entries)
}

/// The IP address of a socket address of `family` (`AF_INET` or `AF_INET6`; `None` for
/// others), whatever its own family field says.
///
/// # Safety
/// `address` points to at least as many readable bytes as `family`'s socket address
/// (`sockaddr_in`, `sockaddr_in6`), alignment not required.
unsafe fn read_socket_address(
    address: *const libc::sockaddr,
    family: libc::c_int,
) -> Option<IpAddr> {
    match family {
        libc::AF_INET => {
            // SAFETY: the caller's promise, for a sockaddr_in.
            let v4: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(address.cast()) };
            Some(IpAddr::V4(u32::from_be(v4.sin_addr.s_addr).into()))
        }
        libc::AF_INET6 => {
            // SAFETY: the caller's promise, for a sockaddr_in6.
            let v6: libc::sockaddr_in6 = unsafe { std::ptr::read_unaligned(address.cast()) };
            Some(IpAddr::V6(v6.sin6_addr.s6_addr.into()))
        }
        _ => None,
    }
}

fn set_option<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a valid T for the duration of the call and its size is passed along.
    let result = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn write_sockaddr(storage: &mut libc::sockaddr_storage, address: SocketAddr) {
    match address {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let target = unsafe {
                &mut *(storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            target.sin_family = libc::AF_INET as libc::sa_family_t;
            target.sin_port = v4.port().to_be();
            target.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let target = unsafe {
                &mut *(storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            target.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            target.sin6_port = v6.port().to_be();
            target.sin6_addr.s6_addr = v6.ip().octets();
            target.sin6_scope_id = v6.scope_id();
        }
    }
}

fn read_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let v4 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                u32::from_be(v4.sin_addr.s_addr).into(),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let v6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                v6.sin6_addr.s6_addr.into(),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Lets SIGPIPE end the process again, as for any command-line tool: `ironlb get ... | head`
/// then stops quietly when `head` closes the pipe, instead of panicking in `println!`. Only for
/// commands that print and exit: the daemons keep Rust's default (ignored), so a peer closing a
/// connection is an error to handle, not the end of the process.
pub fn exit_on_broken_pipe() {
    // SAFETY: signal with SIG_DFL installs no handler; it only changes this signal's action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `ATF_COM` (`<net/if_arp.h>`): the neighbour entry is complete (its MAC is known).
const ARP_ENTRY_COMPLETE: libc::c_int = 0x02;

/// The MAC address the kernel's neighbour table holds for IPv4 `neighbour` on `interface`
/// (`SIOCGARP`), in the calling thread's network namespace; `None` while it is unknown or
/// unresolved. BFD's Echo function addresses its frames to it.
pub fn neighbour_mac(
    neighbour: std::net::Ipv4Addr,
    interface: &str,
) -> io::Result<Option<[u8; 6]>> {
    use std::os::fd::FromRawFd;
    // SAFETY: arpreq is plain data; all-zero is a valid value.
    let mut request: libc::arpreq = unsafe { zeroed() };
    // SAFETY: sockaddr and sockaddr_in have the same size on Linux, and arp_pa is a sockaddr
    // the kernel reads as the sockaddr_in written here.
    let protocol_address: &mut libc::sockaddr_in =
        unsafe { &mut *(&mut request.arp_pa as *mut libc::sockaddr).cast() };
    protocol_address.sin_family = libc::AF_INET as libc::sa_family_t;
    protocol_address.sin_addr.s_addr = u32::from(neighbour).to_be();
    let name = interface.as_bytes();
    if name.is_empty() || name.len() >= request.arp_dev.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{interface:?} is not an interface name"),
        ));
    }
    for (slot, byte) in request.arp_dev.iter_mut().zip(name) {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: socket takes integers only and returns a new descriptor or -1.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    // SAFETY: SIOCGARP reads and writes the arpreq passed by pointer, which lives on the stack.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGARP, &mut request) };
    if result < 0 {
        let error = io::Error::last_os_error();
        // ENXIO: no entry for that address.
        return match error.raw_os_error() {
            Some(libc::ENXIO) => Ok(None),
            _ => Err(explained(
                error,
                format!("cannot read the neighbour entry of {neighbour} on {interface}"),
            )),
        };
    }
    if request.arp_flags & ARP_ENTRY_COMPLETE == 0 {
        return Ok(None);
    }
    let mut mac = [0u8; 6];
    for (byte, value) in mac.iter_mut().zip(request.arp_ha.sa_data.iter()) {
        *byte = *value as u8;
    }
    Ok(Some(mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn receives_datagram_with_its_ttl() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_receive_ttl(&receiver, Family::Ipv4).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.set_ttl(200).unwrap();
        sender
            .send_to(b"hello", receiver.local_addr().unwrap())
            .unwrap();
        let mut buffer = [0u8; 64];
        let (length, source, ttl) = loop {
            match recv_with_ttl(&receiver, &mut buffer) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                other => break other.unwrap(),
            }
        };
        assert_eq!(&buffer[..length], b"hello");
        assert_eq!(source, sender.local_addr().unwrap());
        assert_eq!(ttl, Some(200));
    }

    #[test]
    fn md5_key_longer_than_80_bytes_is_refused_before_the_kernel() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(set_tcp_md5(&socket, "127.0.0.1".parse().unwrap(), &[b'k'; 81]).is_err());
        set_tcp_md5(&socket, "127.0.0.1".parse().unwrap(), b"secret").unwrap();
    }

    /// One `struct inotify_event` as the kernel lays it out, the name NUL-padded to `padded`.
    fn inotify_event(descriptor: i32, mask: u32, name: &str, padded: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&descriptor.to_ne_bytes());
        bytes.extend_from_slice(&mask.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(&(padded as u32).to_ne_bytes());
        let mut name = name.as_bytes().to_vec();
        assert!(padded == 0 || padded > name.len());
        name.resize(padded, 0);
        bytes.extend_from_slice(&name);
        bytes
    }

    fn named(events: &WatchEvents) -> Vec<(&str, NameEvent)> {
        events
            .names
            .iter()
            .map(|(name, event)| (name.to_str().unwrap(), *event))
            .collect()
    }

    #[test]
    fn inotify_events_decode_into_names_and_what_happened_to_them() {
        let buffer = [
            inotify_event(1, libc::IN_CREATE, "pool.yaml", 16),
            inotify_event(1, libc::IN_MODIFY, "pool.yaml", 16),
            inotify_event(1, libc::IN_CLOSE_WRITE, "pool.yaml", 16),
            inotify_event(1, libc::IN_MOVED_FROM, ".peers.yaml.tmp", 16),
            inotify_event(1, libc::IN_MOVED_TO, "peers.yaml", 16),
            inotify_event(1, libc::IN_DELETE, "old.yaml", 32),
            inotify_event(1, libc::IN_CREATE | libc::IN_ISDIR, "sub", 16),
            // Not asked for; and an event with no name (about the directory itself).
            inotify_event(1, libc::IN_ATTRIB, "pool.yaml", 16),
            inotify_event(1, libc::IN_MODIFY, "", 0),
        ]
        .concat();
        let events = parse_events(&buffer, Some(1));
        assert_eq!(
            named(&events),
            [
                ("pool.yaml", NameEvent::Created),
                ("pool.yaml", NameEvent::Writing),
                ("pool.yaml", NameEvent::Complete),
                (".peers.yaml.tmp", NameEvent::Removed),
                ("peers.yaml", NameEvent::Complete),
                ("old.yaml", NameEvent::Removed),
                ("sub", NameEvent::Created),
            ]
        );
        assert!(!events.overflow && !events.watch_lost);
        assert_eq!(parse_events(&[], Some(1)), WatchEvents::default());
    }

    #[test]
    fn queue_overflow_comes_with_descriptor_minus_one_and_is_reported() {
        let buffer = [
            inotify_event(1, libc::IN_CLOSE_WRITE, "pool.yaml", 16),
            inotify_event(-1, libc::IN_Q_OVERFLOW, "", 0),
        ]
        .concat();
        let events = parse_events(&buffer, Some(1));
        assert!(events.overflow);
        assert!(!events.watch_lost);
        assert_eq!(named(&events), [("pool.yaml", NameEvent::Complete)]);
        // Even while no directory is watched.
        assert!(parse_events(&buffer, None).overflow);
    }

    #[test]
    fn watched_directory_deleted_moved_or_unmounted_loses_the_watch() {
        for mask in [
            libc::IN_DELETE_SELF,
            libc::IN_MOVE_SELF,
            libc::IN_UNMOUNT,
            libc::IN_IGNORED,
        ] {
            let events = parse_events(&inotify_event(3, mask, "", 0), Some(3));
            assert!(events.watch_lost, "{mask:#x}");
            assert!(!events.overflow && events.names.is_empty());
        }
    }

    #[test]
    fn events_of_an_earlier_watch_are_ignored() {
        // After rewatch, the old descriptor's IN_IGNORED (and anything it still had queued)
        // must not be taken for the new watch's.
        let buffer = [
            inotify_event(1, libc::IN_CLOSE_WRITE, "moved-away.yaml", 16),
            inotify_event(1, libc::IN_IGNORED, "", 0),
            inotify_event(2, libc::IN_CLOSE_WRITE, "pool.yaml", 16),
        ]
        .concat();
        let events = parse_events(&buffer, Some(2));
        assert_eq!(named(&events), [("pool.yaml", NameEvent::Complete)]);
        assert!(!events.watch_lost && !events.overflow);
        let events = parse_events(&buffer, None);
        assert!(events.names.is_empty() && !events.watch_lost);
    }

    #[test]
    fn truncated_or_garbage_buffer_never_panics_and_counts_as_overflow() {
        let whole = [
            inotify_event(1, libc::IN_CLOSE_WRITE, "pool.yaml", 16),
            inotify_event(1, libc::IN_MOVED_TO, "peers.yaml", 16),
        ]
        .concat();
        // Cut inside the second header, then inside its name: the first event stands.
        for cut in [33, 40, 50] {
            let events = parse_events(&whole[..cut], Some(1));
            assert!(events.overflow, "cut at {cut}");
            assert_eq!(named(&events), [("pool.yaml", NameEvent::Complete)]);
        }
        // Cut at an event boundary: nothing is missing.
        assert!(!parse_events(&whole[..32], Some(1)).overflow);
        // A name length running far past the buffer (and past usize on 32 bits).
        let mut huge = inotify_event(1, libc::IN_CLOSE_WRITE, "pool.yaml", 16);
        huge[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(parse_events(&huge, Some(1)).overflow);
        // Every prefix, and pseudo-random bytes: decoded or rejected, never a panic.
        for cut in 0..=whole.len() {
            parse_events(&whole[..cut], Some(1));
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for length in 0..2000 {
            let garbage: Vec<u8> = (0..length % 300)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            parse_events(
                &garbage,
                Some(i32::from_ne_bytes(
                    [garbage.first().copied().unwrap_or(0); 4],
                )),
            );
        }
    }

    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let path =
                std::env::temp_dir().join(format!("ironlb-watch-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn directory_watch_tells_writing_from_written() {
        use std::io::Write;
        let directory = TempDir::new("events");
        let watch = DirectoryWatch::new(&directory.0).unwrap();
        assert_eq!(
            watch.read_events().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let mut file = std::fs::File::create(directory.0.join("pool.yaml")).unwrap();
        file.write_all(b"kind: ").unwrap();
        file.sync_all().unwrap();
        let events = watch.read_events().unwrap();
        assert_eq!(
            named(&events),
            [
                ("pool.yaml", NameEvent::Created),
                ("pool.yaml", NameEvent::Writing)
            ]
        );
        file.write_all(b"IPAddressPool\n").unwrap();
        drop(file);
        let events = watch.read_events().unwrap();
        assert_eq!(
            named(&events),
            [
                ("pool.yaml", NameEvent::Writing),
                ("pool.yaml", NameEvent::Complete)
            ]
        );
        std::fs::write(directory.0.join(".peers.yaml.tmp"), "x").unwrap();
        std::fs::rename(
            directory.0.join(".peers.yaml.tmp"),
            directory.0.join("peers.yaml"),
        )
        .unwrap();
        std::fs::remove_file(directory.0.join("pool.yaml")).unwrap();
        let events = watch.read_events().unwrap();
        let last = &named(&events)[events.names.len() - 3..];
        assert_eq!(
            last,
            [
                (".peers.yaml.tmp", NameEvent::Removed),
                ("peers.yaml", NameEvent::Complete),
                ("pool.yaml", NameEvent::Removed),
            ]
        );
        assert!(!events.overflow && !events.watch_lost);
    }

    #[test]
    fn kernel_queue_overflow_is_reported() {
        // No sysctl is changed: the queue is filled up to the system's own limit, with
        // modifications alternating between two files so the kernel cannot merge them.
        use std::io::Write;
        let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let directory = TempDir::new("overflow");
        let mut first = std::fs::File::create(directory.0.join("a.txt")).unwrap();
        let mut second = std::fs::File::create(directory.0.join("b.txt")).unwrap();
        let watch = DirectoryWatch::new(&directory.0).unwrap();
        for _ in 0..=limit / 2 {
            first.write_all(b"x").unwrap();
            second.write_all(b"x").unwrap();
        }
        let events = watch.read_events().unwrap();
        assert!(events.overflow);
        assert!(
            events.names.len() + 1 >= limit,
            "the queue held the limit: {}",
            events.names.len()
        );
        // Once drained, the queue works again.
        first.write_all(b"x").unwrap();
        let events = watch.read_events().unwrap();
        assert!(!events.overflow);
        assert_eq!(named(&events), [("a.txt", NameEvent::Writing)]);
    }

    #[test]
    fn deleted_directory_loses_the_watch_until_it_is_back() {
        let parent = TempDir::new("lost");
        let directory = parent.0.join("cluster");
        std::fs::create_dir(&directory).unwrap();
        let mut watch = DirectoryWatch::new(&directory).unwrap();
        assert!(watch.is_current());
        std::fs::remove_dir(&directory).unwrap();
        let events = watch.read_events().unwrap();
        assert!(events.watch_lost);
        assert!(!watch.is_current());
        assert_eq!(watch.rewatch().unwrap_err().kind(), io::ErrorKind::NotFound);
        std::fs::create_dir(&directory).unwrap();
        watch.rewatch().unwrap();
        assert!(watch.is_current());
        std::fs::write(directory.join("pool.yaml"), "x").unwrap();
        let events = watch.read_events().unwrap();
        assert!(
            !events.watch_lost,
            "the old watch's IN_IGNORED is not the new one's"
        );
        assert!(named(&events).contains(&("pool.yaml", NameEvent::Complete)));
        // Moved away: the watch follows the old inode, which is no longer at the path.
        std::fs::rename(&directory, parent.0.join("elsewhere")).unwrap();
        assert!(watch.read_events().unwrap().watch_lost);
        assert!(!watch.is_current());
    }

    #[test]
    fn minimum_ttl_is_accepted_by_the_kernel() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        set_minimum_ttl(&socket, Family::Ipv4, 255).unwrap();
    }
}
