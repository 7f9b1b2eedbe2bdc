//! NetBSD: processes as `sysctl kern.proc2` (`struct kinfo_proc2`) shows
//! them. No subreaper: a daemon that forks twice is followed through its
//! pid file (and `EVFILT_PROC`).

use super::sysctl;
use super::Info;
use nix::unistd::Pid;

const SIZE: usize = std::mem::size_of::<libc::kinfo_proc2>();

fn kinfo(pid: Pid) -> Option<libc::kinfo_proc2> {
    let mut mib = [
        libc::CTL_KERN,
        libc::KERN_PROC2,
        libc::KERN_PROC_PID,
        pid.as_raw(),
        SIZE as libc::c_int,
        1,
    ];
    sysctl::value(&mut mib)
}

pub fn info(pid: Pid) -> Option<Info> {
    let k = kinfo(pid)?;
    Some(Info {
        ppid: k.p_ppid,
        pgrp: k.p__pgid,
        uid: k.p_uid,
        zombie: i32::from(k.p_stat) == libc::LSZOMB,
        start: sysctl::micros(i64::from(k.p_ustart_sec), i64::from(k.p_ustart_usec)),
    })
}

pub fn all() -> Vec<Pid> {
    // Room for many processes: the kernel fills what fits.
    let count = 16384;
    let mut mib = [
        libc::CTL_KERN,
        libc::KERN_PROC2,
        libc::KERN_PROC_ALL,
        0,
        SIZE as libc::c_int,
        count,
    ];
    let mut buf = vec![0u8; SIZE * count as usize];
    let Ok(n) = sysctl::read(&mut mib, &mut buf) else {
        return Vec::new();
    };
    buf[..n]
        .chunks_exact(SIZE)
        .map(|c| {
            // SAFETY: each chunk holds one kinfo_proc2 the kernel wrote.
            let k: libc::kinfo_proc2 = unsafe { std::ptr::read_unaligned(c.as_ptr().cast()) };
            Pid::from_raw(k.p_pid)
        })
        .collect()
}

pub use sysctl::{boot_id, running_for};

pub fn command_line(pid: Pid) -> Option<String> {
    kinfo(pid).map(|k| sysctl::text(&k.p_comm))
}

pub fn resident_bytes() -> Option<u64> {
    let k = kinfo(Pid::this())?;
    Some(u64::try_from(k.p_vm_rssize).ok()? * super::page_size())
}

pub fn groups_of(pid: Pid, uid: u32) -> Vec<u32> {
    match kinfo(pid) {
        Some(k) if k.p_uid == uid => {
            let n = usize::try_from(k.p_ngroups).unwrap_or(0).min(k.p_groups.len());
            k.p_groups[..n].to_vec()
        }
        _ => Vec::new(),
    }
}

/// No `/proc/PID/fd`.
pub fn fd_path(_pid: Pid, _fd: i32) -> Option<std::path::PathBuf> {
    None
}

/// NetBSD has no subreaper.
pub fn become_subreaper() -> std::io::Result<bool> {
    Ok(false)
}

pub fn name(pid: Pid) -> Option<String> {
    command_line(pid)
}
