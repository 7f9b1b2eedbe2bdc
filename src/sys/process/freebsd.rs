//! FreeBSD: processes as `sysctl kern.proc` (`struct kinfo_proc`) shows
//! them; the subreaper is `procctl(PROC_REAP_ACQUIRE)`.

use super::sysctl;
use super::Info;
use nix::unistd::Pid;

fn kinfo(pid: Pid) -> Option<libc::kinfo_proc> {
    let mut mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid.as_raw()];
    sysctl::value(&mut mib)
}

pub fn info(pid: Pid) -> Option<Info> {
    let k = kinfo(pid)?;
    Some(Info {
        ppid: k.ki_ppid,
        pgrp: k.ki_pgid,
        uid: k.ki_uid,
        zombie: k.ki_stat == libc::SZOMB,
        start: sysctl::micros(k.ki_start.tv_sec, k.ki_start.tv_usec),
    })
}

pub fn all() -> Vec<Pid> {
    let mut mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PROC, 0];
    let size = std::mem::size_of::<libc::kinfo_proc>();
    // Room for what runs now and some more (the list may grow meanwhile).
    for extra in [256usize, 4096] {
        let mut len: libc::size_t = 0;
        // SAFETY: a size query: no buffer, the kernel writes the length.
        let r = unsafe { libc::sysctl(mib.as_ptr(), 4, std::ptr::null_mut(), &mut len, std::ptr::null(), 0) };
        if r != 0 {
            return Vec::new();
        }
        let mut buf = vec![0u8; len + extra * size];
        let Ok(n) = sysctl::read(&mut mib, &mut buf) else {
            continue;
        };
        return buf[..n]
            .chunks_exact(size)
            .map(|c| {
                // SAFETY: each chunk holds one kinfo_proc the kernel wrote.
                let k: libc::kinfo_proc = unsafe { std::ptr::read_unaligned(c.as_ptr().cast()) };
                Pid::from_raw(k.ki_pid)
            })
            .collect();
    }
    Vec::new()
}

pub use sysctl::{boot_id, running_for};

pub fn command_line(pid: Pid) -> Option<String> {
    kinfo(pid).map(|k| sysctl::text(&k.ki_comm))
}

pub fn resident_bytes() -> Option<u64> {
    let k = kinfo(Pid::this())?;
    Some(u64::try_from(k.ki_rssize).ok()? * super::page_size())
}

pub fn groups_of(pid: Pid, uid: u32) -> Vec<u32> {
    match kinfo(pid) {
        Some(k) if k.ki_uid == uid => {
            let n = usize::try_from(k.ki_ngroups).unwrap_or(0).min(k.ki_groups.len());
            k.ki_groups[..n].to_vec()
        }
        _ => Vec::new(),
    }
}

/// No `/proc/PID/fd`.
pub fn fd_path(_pid: Pid, _fd: i32) -> Option<std::path::PathBuf> {
    None
}

pub fn become_subreaper() -> std::io::Result<bool> {
    // SAFETY: PROC_REAP_ACQUIRE on ourselves takes no data.
    let r = unsafe {
        libc::procctl(
            libc::P_PID,
            libc::getpid() as libc::id_t,
            libc::PROC_REAP_ACQUIRE,
            std::ptr::null_mut(),
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        // EBUSY: we are a reaper already.
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(e);
        }
    }
    Ok(true)
}

pub fn name(pid: Pid) -> Option<String> {
    command_line(pid)
}
