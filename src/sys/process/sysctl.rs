//! `sysctl(3)` by MIB, for the BSDs and macOS.

/// Read the MIB `mib` into `buf`; the length the kernel wrote.
pub fn read(mib: &mut [libc::c_int], buf: &mut [u8]) -> std::io::Result<usize> {
    let mut len: libc::size_t = buf.len();
    // SAFETY: `mib` holds `mib.len()` ints; the kernel writes at most `len`
    // bytes into `buf` and the length written into `len`; nothing is set.
    let r = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            mib.len() as libc::c_uint,
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(len)
}

/// A value of type `T` (plain data) read from `mib`, if it came whole.
pub fn value<T: Copy>(mib: &mut [libc::c_int]) -> Option<T> {
    let mut buf = vec![0u8; std::mem::size_of::<T>()];
    let n = read(mib, &mut buf).ok()?;
    // SAFETY: `buf` holds size_of::<T>() bytes the kernel wrote (checked);
    // T is plain data (a C struct of integers), valid for any bytes;
    // read_unaligned copes with the Vec's alignment.
    (n == buf.len()).then(|| unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<T>()) })
}

/// `kern.boottime`, as `SECONDS.MICROSECONDS`: the same for one boot.
pub fn boot_id() -> Option<String> {
    let mut mib = [libc::CTL_KERN, libc::KERN_BOOTTIME];
    let tv: libc::timeval = value(&mut mib)?;
    Some(format!("{}.{:06}", tv.tv_sec, tv.tv_usec))
}

/// Time since a process started at `start` (microseconds since the epoch).
pub fn running_for(start: u64) -> Option<std::time::Duration> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(now.saturating_sub(std::time::Duration::from_micros(start)))
}

/// A C string field (`comm`) as text.
pub fn text(field: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = field.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Microseconds since the epoch of a start time.
#[cfg(not(target_os = "macos"))]
pub fn micros(sec: i64, usec: i64) -> u64 {
    (sec.max(0) as u64) * 1_000_000 + usec.clamp(0, 999_999) as u64
}
