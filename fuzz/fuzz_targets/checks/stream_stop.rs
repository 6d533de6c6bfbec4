//! The streaming UTF-8 detokenizer (`Utf8Stream`) feeding the stop-sequence matcher
//! (`StopMatcher`), as generation drives them, on arbitrary token pieces and stop sequences.
//! Invariants: the stream's text is exactly the lossy UTF-8 of all its bytes, however they are
//! split; the matcher emits exactly the text before the earliest stop sequence and nothing after
//! it, or, when nothing matches, all the text.
//!
//! Input layout: up to 4 stop sequences, each a length byte (mod 9) and that many bytes (lossy
//! UTF-8), behind a count byte (mod 5); then the token pieces, each a length byte (mod 8) and
//! that many bytes.

use worker_orcd::engine::stop::{StopMatcher, StopOutcome};
use worker_orcd::utf8_stream::Utf8Stream;

/// The next `len`-prefixed field (the length byte taken mod `modulus`); None at the end.
fn field<'a>(data: &mut &'a [u8], modulus: u8) -> Option<&'a [u8]> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len % modulus).min(rest.len());
    let (f, tail) = rest.split_at(len);
    *data = tail;
    Some(f)
}

pub fn check(data: &[u8]) {
    let mut data = data;
    let n_stops = data.first().map_or(0, |b| b % 5);
    data = data.get(1..).unwrap_or_default();
    let stops: Vec<String> =
        (0..n_stops).filter_map(|_| field(&mut data, 9)).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let mut pieces = Vec::new();
    while let Some(p) = field(&mut data, 8) {
        pieces.push(p);
    }

    let mut stream = Utf8Stream::new();
    let mut matcher = StopMatcher::new(stops.clone());
    // `fed`: all text handed to the matcher; `before_last`: its length before the latest push.
    let (mut streamed, mut fed, mut emitted) = (String::new(), String::new(), String::new());
    let mut before_last = 0;
    let mut stopped = false;
    let mut feed = |text: &str, matcher: &mut StopMatcher, fed: &mut String, emitted: &mut String| {
        before_last = fed.len();
        fed.push_str(text);
        match matcher.push(text) {
            StopOutcome::Continue(t) => {
                emitted.push_str(&t);
                false
            }
            StopOutcome::Stopped(t) => {
                emitted.push_str(&t);
                true
            }
        }
    };
    for p in &pieces {
        let text = stream.push(p);
        streamed.push_str(&text);
        if !stopped {
            stopped = feed(&text, &mut matcher, &mut fed, &mut emitted);
        }
    }
    let tail = stream.finish();
    streamed.push_str(&tail);
    assert_eq!(streamed, String::from_utf8_lossy(&pieces.concat()), "the stream's text is not the bytes' text");
    assert!(!stream.has_pending());
    if !stopped {
        stopped = feed(&tail, &mut matcher, &mut fed, &mut emitted);
        if !stopped {
            emitted.push_str(&matcher.finish());
        }
    }

    let earliest = |text: &str| stops.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min();
    if stopped {
        // The matcher stops at the push that completes the first match, and then the match that
        // starts earliest in everything it saw wins.
        assert!(earliest(&fed[..before_last]).is_none(), "the matcher missed an earlier stop sequence");
        let at = earliest(&fed).expect("the matcher stopped on no stop sequence");
        assert_eq!(emitted, fed[..at], "the matcher emitted other text than what precedes the stop");
    } else {
        assert!(earliest(&fed).is_none(), "a stop sequence occurs but the matcher did not stop");
        assert_eq!(emitted, fed, "text was lost or invented");
        assert_eq!(fed, streamed);
    }
}
