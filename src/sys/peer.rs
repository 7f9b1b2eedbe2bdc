//! Who is at the other end of a local socket, as the kernel vouches:
//!
//! - a connection (the API socket): Linux `SO_PEERCRED`; NetBSD
//!   `LOCAL_PEEREID`; FreeBSD and macOS `getpeereid` (and macOS's
//!   `LOCAL_PEERPID` for the pid; FreeBSD's pid is not asked: 0);
//! - a datagram (sd_notify): Linux `SO_PASSCRED` and `SCM_CREDENTIALS`.
//!   Elsewhere datagrams carry no sender the way sd_notify needs, so the
//!   notify socket is not offered (`ready: notify` is refused, see
//!   [`super::system::Capabilities::notify_socket`]).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// The peer of a connection: its pid (0: not known), effective uid and gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// The peer of the connected local socket `fd`.
#[cfg(target_os = "linux")]
pub fn of(fd: BorrowedFd<'_>) -> Option<Cred> {
    let c = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    Some(Cred {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// The peer of the connected local socket `fd`.
#[cfg(target_os = "netbsd")]
pub fn of(fd: BorrowedFd<'_>) -> Option<Cred> {
    // SAFETY: unpcbid is plain data; all-zero is valid.
    let mut id: libc::unpcbid = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::unpcbid>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `id`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            0, // SOL_LOCAL
            libc::LOCAL_PEEREID,
            (&mut id as *mut libc::unpcbid).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(Cred {
        pid: id.unp_pid,
        uid: id.unp_euid,
        gid: id.unp_egid,
    })
}

/// The peer of the connected local socket `fd`.
#[cfg(not(any(target_os = "linux", target_os = "netbsd")))]
pub fn of(fd: BorrowedFd<'_>) -> Option<Cred> {
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: getpeereid writes two ids we own.
    if unsafe { libc::getpeereid(fd.as_raw_fd(), &mut uid, &mut gid) } != 0 {
        return None;
    }
    Some(Cred {
        pid: peer_pid(fd),
        uid,
        gid,
    })
}

#[cfg(target_os = "macos")]
fn peer_pid(fd: BorrowedFd<'_>) -> i32 {
    let mut pid: libc::pid_t = 0;
    let mut len = std::mem::size_of::<libc::pid_t>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `pid`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_LOCAL,
            libc::LOCAL_PEERPID,
            (&mut pid as *mut libc::pid_t).cast(),
            &mut len,
        )
    };
    if r == 0 {
        pid
    } else {
        0
    }
}

#[cfg(not(any(target_os = "linux", target_os = "netbsd", target_os = "macos")))]
fn peer_pid(_fd: BorrowedFd<'_>) -> i32 {
    0
}

/// A datagram's sender: pid and uid.
pub type Sender = (i32, u32);

/// Bind a datagram socket at `path` whose datagrams come with their
/// sender; a path too long for `sun_path` gets an abstract name instead.
/// The socket and the address to give its clients (`@name` when
/// abstract).
#[cfg(target_os = "linux")]
pub fn bind_credentialed(path: &Path) -> std::io::Result<(UnixDatagram, Option<String>)> {
    use nix::sys::socket::{self, sockopt};
    let (sock, abstract_name) = if path.as_os_str().len() < 100 {
        let _ = std::fs::remove_file(path);
        (UnixDatagram::bind(path)?, None)
    } else {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("immortal-notify-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        (UnixDatagram::bind_addr(&addr)?, Some(format!("@{name}")))
    };
    sock.set_nonblocking(true)?;
    socket::setsockopt(&sock, sockopt::PassCred, &true)?;
    Ok((sock, abstract_name))
}

/// Not offered: datagrams here carry no sender.
#[cfg(not(target_os = "linux"))]
pub fn bind_credentialed(_path: &Path) -> std::io::Result<(UnixDatagram, Option<String>)> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        super::system::unavailable("a socket whose datagrams name their sender"),
    ))
}

/// Every datagram waiting on `sock` (of at most `max` bytes), with its
/// sender (None: no credentials came). Descriptors sent along (sd_notify's
/// `FDSTORE=1`, `BARRIER=1`) are closed, which is the barrier's answer.
#[cfg(target_os = "linux")]
pub fn receive(sock: &UnixDatagram, max: usize) -> Vec<(Option<Sender>, Vec<u8>)> {
    use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, UnixCredentials};
    use std::io::IoSliceMut;
    let mut out = Vec::new();
    loop {
        let mut buf = vec![0u8; max];
        let mut space = nix::cmsg_space!(UnixCredentials, [std::os::fd::RawFd; 16]);
        let (len, sender) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = match socket::recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => msg,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break, // EAGAIN: nothing more
            };
            let mut sender = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::ScmCredentials(cred) => sender = Some((cred.pid(), cred.uid())),
                        ControlMessageOwned::ScmRights(fds) => {
                            for fd in fds {
                                let _ = nix::unistd::close(fd);
                            }
                        }
                        _ => {}
                    }
                }
            }
            (msg.bytes, sender)
        };
        buf.truncate(len);
        out.push((sender, buf));
    }
    out
}

/// Never bound here (see [`bind_credentialed`]).
#[cfg(not(target_os = "linux"))]
pub fn receive(_sock: &UnixDatagram, _max: usize) -> Vec<(Option<Sender>, Vec<u8>)> {
    Vec::new()
}
