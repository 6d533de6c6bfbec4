//! How a backend that cannot start is reported (a worker on the wrong host is a deployment
//! error the orchestrator must be able to parse): one JSON line on stderr naming the cause, then
//! the caller prints a human sentence and exits 1.

use serde_json::json;

use crate::ffi::{CoreError, ErrorKind};

/// The cause token of a BACKEND_UNAVAILABLE message ("cuda: <cause>: <sentence>").
pub fn cause(e: &CoreError) -> &str {
    e.message.strip_prefix("cuda: ").and_then(|rest| rest.split_once(": ")).map(|(c, _)| c).unwrap_or("unknown")
}

/// The sentence after the cause token.
pub fn sentence(e: &CoreError) -> &str {
    e.message.strip_prefix("cuda: ").and_then(|rest| rest.split_once(": ")).map(|(_, s)| s).unwrap_or(&e.message)
}

/// Prints the JSON line when `e` is a backend that cannot start; returns whether it was one.
pub fn print_if_unavailable(e: &CoreError, device: Option<i32>) -> bool {
    if e.kind != ErrorKind::BackendUnavailable {
        return false;
    }
    let line = json!({
        "error": "BACKEND_UNAVAILABLE",
        "backend": "cuda",
        "cause": cause(e),
        "device": device,
        "message": sentence(e),
    });
    eprintln!("{line}");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_and_sentence_split() {
        let e = CoreError { kind: ErrorKind::BackendUnavailable, message: "cuda: no_device: no NVIDIA GPU on this host".into() };
        assert_eq!((cause(&e), sentence(&e)), ("no_device", "no NVIDIA GPU on this host"));
        let other = CoreError { kind: ErrorKind::BackendUnavailable, message: "odd".into() };
        assert_eq!((cause(&other), sentence(&other)), ("unknown", "odd"));
    }
}
