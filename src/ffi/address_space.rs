//! A cap on this process's address space (`setrlimit(RLIMIT_AS)`), for the chat template helper
//! (src/chat/isolated.rs): past the cap an allocation fails and the process aborts, instead of a
//! hostile template taking the machine's memory. glibc's own `setrlimit`; no libc crate needed.

use std::os::raw::c_int;

#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

/// RLIMIT_AS on Linux (x86_64 and aarch64 alike).
const RLIMIT_AS: c_int = 9;

extern "C" {
    fn setrlimit(resource: c_int, rlim: *const RLimit) -> c_int;
}

/// Virtual memory the process maps now (`VmSize` of /proc/self/status), in bytes.
pub fn mapped_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
    let kib: u64 = line.trim_start_matches("VmSize:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Lets the process map at most `bytes` more than it maps now (soft and hard limit alike, so it
/// cannot raise it back).
pub fn limit_growth_to(bytes: u64) -> std::io::Result<()> {
    let now = mapped_bytes().ok_or_else(|| std::io::Error::other("cannot read VmSize from /proc/self/status"))?;
    let cap = now.saturating_add(bytes);
    let limit = RLimit { cur: cap, max: cap };
    // SAFETY: `limit` is a valid rlimit for the duration of the call; setrlimit only reads it.
    let rc = unsafe { setrlimit(RLIMIT_AS, &limit) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
