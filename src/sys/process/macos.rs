//! macOS: processes as `proc_pidinfo(PROC_PIDTBSDINFO)` shows them, the
//! resident size from `PROC_PIDTASKINFO`. No subreaper: a daemon that
//! forks twice is followed through its pid file (and `EVFILT_PROC`).

use super::sysctl;
use super::Info;
use nix::unistd::Pid;

/// `proc_pidinfo(pid, flavor)` into a `T`, if it came whole.
fn pidinfo<T: Copy>(pid: Pid, flavor: libc::c_int) -> Option<T> {
    // SAFETY: T is plain data (a C struct of integers): all-zero is valid.
    let mut out: T = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<T>() as libc::c_int;
    // SAFETY: the kernel writes at most `size` bytes into `out`.
    let n = unsafe { libc::proc_pidinfo(pid.as_raw(), flavor, 0, (&mut out as *mut T).cast(), size) };
    (n == size).then_some(out)
}

fn bsdinfo(pid: Pid) -> Option<libc::proc_bsdinfo> {
    pidinfo(pid, libc::PROC_PIDTBSDINFO)
}

pub fn info(pid: Pid) -> Option<Info> {
    let b = bsdinfo(pid)?;
    Some(Info {
        ppid: b.pbi_ppid as i32,
        pgrp: b.pbi_pgid as i32,
        uid: b.pbi_uid,
        zombie: b.pbi_status == libc::SZOMB,
        start: b.pbi_start_tvsec * 1_000_000 + b.pbi_start_tvusec,
    })
}

pub fn all() -> Vec<Pid> {
    // SAFETY: a size query: no buffer.
    let n = unsafe { libc::proc_listallpids(std::ptr::null_mut(), 0) };
    let Ok(n) = usize::try_from(n) else { return Vec::new() };
    // Room for some more started meanwhile.
    let mut pids = vec![0 as libc::pid_t; n + 256];
    let bytes = (pids.len() * std::mem::size_of::<libc::pid_t>()) as libc::c_int;
    // SAFETY: the kernel writes at most `bytes` bytes of pids into `pids`.
    let got = unsafe { libc::proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
    let Ok(got) = usize::try_from(got) else {
        return Vec::new();
    };
    pids.truncate(got.min(pids.len()));
    pids.into_iter().filter(|&p| p > 0).map(Pid::from_raw).collect()
}

pub use sysctl::{boot_id, running_for};

pub fn command_line(pid: Pid) -> Option<String> {
    bsdinfo(pid).map(|b| sysctl::text(&b.pbi_comm))
}

pub fn resident_bytes() -> Option<u64> {
    pidinfo::<libc::proc_taskinfo>(Pid::this(), libc::PROC_PIDTASKINFO).map(|t| t.pti_resident_size)
}

/// Not shown by `proc_pidinfo`: only the primary group counts.
pub fn groups_of(_pid: Pid, _uid: u32) -> Vec<u32> {
    Vec::new()
}

/// No `/proc/PID/fd`.
pub fn fd_path(_pid: Pid, _fd: i32) -> Option<std::path::PathBuf> {
    None
}

/// macOS has no subreaper.
pub fn become_subreaper() -> std::io::Result<bool> {
    Ok(false)
}

pub fn name(pid: Pid) -> Option<String> {
    command_line(pid)
}
