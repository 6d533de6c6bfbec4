//! What one job's sampled tokens become on its stream: token events with UTF-8-safe text, stop
//! sequences, the end-of-generation tokens and max_tokens. A token event is held back only while
//! its text may still change (part of a stop sequence or of a UTF-8 character); at the end the held
//! text joins it, so the concatenated `t` values are always exactly the output.

use std::time::SystemTime;

use super::job::{JobControl, JobEvent, StopReason, TokenLogprobs};
use super::stop::{StopMatcher, StopOutcome};
use crate::tokenizer::Tokenizer;
use crate::utf8_stream::Utf8Stream;

/// After a sampled token: keep generating, or the job is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Evaluate this token and sample again.
    Continue,
    Done(StopReason),
}

/// The client is gone (or the job was ended by a cancel or a timeout meanwhile).
#[derive(Debug)]
pub struct Gone;

/// A token event not sent yet.
struct Held {
    text: String,
    index: u32,
    id: u32,
    logprobs: Option<TokenLogprobs>,
}

impl Held {
    fn event(self) -> JobEvent {
        JobEvent::Token { text: self.text, index: self.index, id: self.id, logprobs: self.logprobs }
    }
}

pub struct Generation {
    text: Utf8Stream,
    stops: StopMatcher,
    deferred: Option<Held>,
    pub tokens_out: u32,
    max_tokens: u32,
}

impl Generation {
    pub fn new(stop: Vec<String>, max_tokens: u32) -> Generation {
        Generation { text: Utf8Stream::new(), stops: StopMatcher::new(stop), deferred: None, tokens_out: 0, max_tokens }
    }

    /// Streams a sampled token (an end-of-generation token is not streamed: it ends the job).
    pub fn push(&mut self, token: u32, logprobs: Option<TokenLogprobs>, tokenizer: &Tokenizer, control: &JobControl) -> Result<Next, Gone> {
        if tokenizer.eog_ids().contains(&token) {
            return Ok(Next::Done(StopReason::Eos));
        }
        let piece = self.text.push(tokenizer.token_bytes(token));
        let (released, stopped) = match self.stops.push(&piece) {
            StopOutcome::Continue(t) => (t, false),
            StopOutcome::Stopped(t) => (t, true),
        };
        if let Some(held) = self.deferred.take() {
            send(control, held.event())?;
        }
        let event = Held { text: released, index: self.tokens_out, id: token, logprobs };
        self.tokens_out += 1;
        if stopped {
            self.deferred = Some(event);
            return Ok(Next::Done(StopReason::StopSequence));
        }
        if self.text.has_pending() || self.stops.is_holding() {
            self.deferred = Some(event);
        } else {
            send(control, event.event())?;
        }
        if self.tokens_out >= self.max_tokens {
            return Ok(Next::Done(StopReason::MaxTokens));
        }
        Ok(Next::Continue)
    }

    /// Sends what was held back. After a stop sequence the held text is dropped (it is the stop
    /// sequence or follows it); otherwise a partial stop sequence is just text. Bytes of a
    /// character the generation stopped in the middle of are dropped: they are not text.
    pub fn flush(&mut self, reason: StopReason, control: &JobControl) -> Result<(), Gone> {
        if reason != StopReason::StopSequence {
            let rest = self.stops.finish();
            if let Some(d) = self.deferred.as_mut() {
                d.text.push_str(&rest);
            }
        }
        if let Some(held) = self.deferred.take() {
            send(control, held.event())?;
        }
        Ok(())
    }
}

fn send(control: &JobControl, event: JobEvent) -> Result<(), Gone> {
    if control.send(event) { Ok(()) } else { Err(Gone) }
}

/// UTC time as RFC 3339 with milliseconds ("2026-11-24T13:05:09.123Z").
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::civil_date::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, SystemTime};

    #[test]
    fn rfc3339_known_instants() {
        let at = |s: u64, ms: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_525_509, 123), "2026-11-24T13:05:09.123Z");
    }
}
