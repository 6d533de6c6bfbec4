//! The start-up memory check on the CPU: a session for the configured context (its exact size
//! comes from the core, `Model::session_bytes`) must fit in what the host has available, or the
//! worker refuses to start (saying required vs available). On CUDA the core makes this check
//! itself, before it copies any weight.

/// MemAvailable from /proc/meminfo, if readable.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
