//! The system calls IronLB needs that the standard library and socket2 do not offer: TCP MD5
//! signatures (RFC 2385), minimum TTL / hop limit (GTSM, RFC 5082), receiving the TTL / hop
//! limit of each datagram (BFD's RFC 5881 §5 check), entering a network namespace, and inotify
//! for watching a cluster directory; and handing free heap back to the system. All of IronLB's
//! `unsafe` code is here, each block a single call on a file descriptor the caller owns (or, for
//! the heap, none).

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

/// Drops received packets whose TTL (IPv4) or hop limit (IPv6) is below `minimum`: with 255 and
/// peers sending at 255, only directly connected peers get through (GTSM, RFC 5082).
pub fn set_minimum_ttl(socket: &impl AsRawFd, ipv6: bool, minimum: u8) -> io::Result<()> {
    let value = libc::c_int::from(minimum);
    if ipv6 {
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
pub fn enable_receive_ttl(socket: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    if ipv6 {
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

/// An inotify instance watching one directory for files created, written, moved or deleted.
pub struct DirectoryWatch {
    fd: std::os::fd::OwnedFd,
}

impl DirectoryWatch {
    /// Watches `directory` (not its subdirectories). Non-blocking.
    pub fn new(directory: &std::path::Path) -> io::Result<Self> {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let path = std::ffi::CString::new(directory.as_os_str().as_bytes()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "directory path contains a NUL byte",
            )
        })?;
        let mask = libc::IN_CLOSE_WRITE
            | libc::IN_MOVED_TO
            | libc::IN_MOVED_FROM
            | libc::IN_DELETE
            | libc::IN_CREATE
            | libc::IN_MODIFY;
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let watch = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
        if watch < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DirectoryWatch { fd })
    }

    /// Drains pending events; returns the names of the files they concern (`WouldBlock`: none).
    pub fn read_names(&self) -> io::Result<Vec<std::ffi::OsString>> {
        use std::os::unix::ffi::OsStrExt;
        let mut buffer = [0u8; 8192];
        // SAFETY: reading into a local buffer of the given length.
        let length = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        if length < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut names = Vec::new();
        let mut offset = 0usize;
        let header = size_of::<libc::inotify_event>();
        let length = length as usize;
        while offset + header <= length {
            // SAFETY: the kernel wrote a whole inotify_event header at `offset`.
            let event = unsafe {
                std::ptr::read_unaligned(buffer[offset..].as_ptr().cast::<libc::inotify_event>())
            };
            let name_length = event.len as usize;
            let name_start = offset + header;
            let name_end = (name_start + name_length).min(length);
            let name = &buffer[name_start..name_end];
            let name = name.split(|&b| b == 0).next().unwrap_or_default();
            if !name.is_empty() {
                names.push(std::ffi::OsStr::from_bytes(name).to_os_string());
            }
            offset = name_start + name_length;
        }
        Ok(names)
    }
}

impl DirectoryWatch {
    /// Registers the watch with the current tokio runtime.
    pub fn into_async(self) -> io::Result<tokio::io::unix::AsyncFd<DirectoryWatch>> {
        // SAFETY: the descriptor is an OwnedFd held by the DirectoryWatch for its whole life,
        // and as_raw_fd always returns that same descriptor.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn receives_datagram_with_its_ttl() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_receive_ttl(&receiver, false).unwrap();
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

    #[test]
    fn directory_watch_reports_file_names() {
        let directory = std::env::temp_dir().join(format!("ironlb-watch-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let watch = DirectoryWatch::new(&directory).unwrap();
        assert_eq!(
            watch.read_names().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        std::fs::write(directory.join("pool.yaml"), "x").unwrap();
        let names = watch.read_names().unwrap();
        assert!(names.iter().any(|n| n == "pool.yaml"), "{names:?}");
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn minimum_ttl_is_accepted_by_the_kernel() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        set_minimum_ttl(&socket, false, 255).unwrap();
    }
}
