//! Give back the pages that only startup needed.
//!
//! A supervisor touches a lot of code once (option and YAML parsing, user
//! lookup, the dynamic loader's work) and then runs a small loop for months.
//! The kernel keeps every page it once faulted in (and maps 64 KiB around
//! each fault), so that startup code would stay resident forever. Once
//! start-up has been over for a quiet second (not at once: when a scanner
//! starts hundreds of supervisors together, the trim and the faults after
//! it would delay the others' starts) we drop our page-table entries for
//! the read-only, never-written segments of the program and its
//! libraries; the loop's own pages fault back in from the page cache when
//! first used again. The event loop does this again a quiet second after
//! each burst of activity (a status query maps most of the binary again:
//! 64 KiB fault-around over scattered code), so the footprint between
//! events stays small. It costs a few `madvise` calls and one wake-up per
//! burst, none while idle.
//!
//! Only `PT_LOAD` segments without write permission and outside
//! `PT_GNU_RELRO` are touched: their pages are identical to the file, so
//! `MADV_DONTNEED` loses nothing. Relocated data (RELRO) and anything
//! writable is left alone.

/// Everything a quiet supervisor can give back: startup code, freed heap,
/// and the stack below the caller's frame.
pub fn release_idle_memory() {
    release_startup_pages();
    release_free_heap();
    release_stack_below_caller();
}

/// Return the heap pages that startup freed (YAML, option parsing): glibc
/// keeps them resident otherwise, ~20 kB per supervisor.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Startup (YAML parsing recurses deeply) leaves stack pages resident that
/// the loop never reaches again. Everything more than [`STACK_MARGIN`]
/// below this frame is dead when the loop is idle: drop it, and the kernel
/// gives zeroed pages back if the stack ever grows there again.
#[inline(never)]
fn release_stack_below_caller() {
    #[cfg(target_os = "linux")]
    {
        let page = 4096usize;
        let marker = 0u8;
        let here = std::hint::black_box(&marker) as *const u8 as usize;
        let top = (here - STACK_MARGIN) & !(page - 1);
        let bottom = top.saturating_sub(STACK_RELEASE);
        // SAFETY: [bottom, top) lies below the current stack pointer by more
        // than any frame this function or madvise uses (the x86-64 red zone
        // is 128 bytes): no live data is there. Unmapped parts of the range
        // are skipped by the kernel (ENOMEM, ignored).
        unsafe {
            libc::madvise(bottom as *mut libc::c_void, top - bottom, libc::MADV_DONTNEED);
        }
    }
}

/// Kept below the caller's frame: room for this call and the madvise call.
#[cfg(target_os = "linux")]
const STACK_MARGIN: usize = 4 * 1024;
/// How far below the margin to release: more than startup ever used.
#[cfg(target_os = "linux")]
const STACK_RELEASE: usize = 1024 * 1024;

/// Drop the resident pages of read-only file segments (Linux; a no-op
/// elsewhere).
fn release_startup_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: dl_iterate_phdr calls `each_object` with valid pointers for the
    // duration of each call; we pass no data.
    unsafe {
        libc::dl_iterate_phdr(Some(each_object), std::ptr::null_mut());
    }
}

#[cfg(target_os = "linux")]
unsafe extern "C" fn each_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader gives a valid info struct with dlpi_phnum headers.
    let info = unsafe { &*info };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // The vDSO is not backed by a file: leave it alone.
    if !info.dlpi_name.is_null() {
        // SAFETY: a NUL-terminated name provided by the loader.
        let name = unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) };
        if name.to_bytes().starts_with(b"linux-vdso") || name.to_bytes().starts_with(b"linux-gate") {
            return 0;
        }
    }
    // SAFETY: dlpi_phdr (not null, checked above) points to dlpi_phnum
    // program headers that the loader keeps mapped for the whole call.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let page = 4096usize;
    let relro: Vec<(usize, usize)> = phdrs
        .iter()
        .filter(|p| p.p_type == libc::PT_GNU_RELRO)
        .map(|p| {
            let start = info.dlpi_addr as usize + p.p_vaddr as usize;
            (
                start & !(page - 1),
                (start + p.p_memsz as usize + page - 1) & !(page - 1),
            )
        })
        .collect();
    for p in phdrs {
        if p.p_type != libc::PT_LOAD || p.p_flags & libc::PF_W != 0 || p.p_filesz == 0 {
            continue;
        }
        let start = info.dlpi_addr as usize + p.p_vaddr as usize;
        // Whole pages inside the file-backed part of the segment only.
        let first = (start + page - 1) & !(page - 1);
        let last = (start + p.p_filesz as usize) & !(page - 1);
        let mut at = first;
        while at < last {
            // Skip any page overlapping a RELRO range (relocated data).
            let end = relro
                .iter()
                .filter(|&&(rs, _)| rs > at && rs < last)
                .map(|&(rs, _)| rs)
                .min()
                .unwrap_or(last);
            if let Some(&(_, re)) = relro.iter().find(|&&(rs, re)| rs <= at && at < re) {
                at = re;
                continue;
            }
            if end > at {
                // SAFETY: [at, end) lies in a mapped, read-only, unmodified
                // file segment: dropping its pages only causes re-faults.
                unsafe { libc::madvise(at as *mut libc::c_void, end - at, libc::MADV_DONTNEED) };
            }
            at = end;
        }
    }
    0
}
