//! Stop sequences over streamed text. Text that could still be the start of a stop sequence is
//! held back; once a stop sequence appears, the text before it is released and the rest (the
//! stop sequence included) is never emitted.

pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

pub enum StopOutcome {
    /// Text safe to emit now (possibly empty); generation goes on.
    Continue(String),
    /// A stop sequence matched: emit this text, then end.
    Stopped(String),
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> StopMatcher {
        StopMatcher { stops: stops.into_iter().filter(|s| !s.is_empty()).collect(), held: String::new() }
    }

    pub fn push(&mut self, text: &str) -> StopOutcome {
        self.held.push_str(text);
        // The earliest match wins, so text after it never leaks.
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let out = self.held[..at].to_string();
            self.held.clear();
            return StopOutcome::Stopped(out);
        }
        let keep = self.longest_partial_suffix();
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_string();
        self.held.drain(..cut);
        StopOutcome::Continue(out)
    }

    /// Whether text is held back as a possible start of a stop sequence.
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Whatever is still held back, at the end of generation.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Bytes at the end of `held` that are a proper prefix of some stop sequence.
    fn longest_partial_suffix(&self) -> usize {
        let mut best = 0;
        for s in &self.stops {
            let max = s.len().saturating_sub(1).min(self.held.len());
            for n in (best + 1..=max).rev() {
                let start = self.held.len() - n;
                if self.held.is_char_boundary(start) && s.starts_with(&self.held[start..]) {
                    best = n;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            match m.push(p) {
                StopOutcome::Continue(t) => out.push_str(&t),
                StopOutcome::Stopped(t) => {
                    out.push_str(&t);
                    return (out, true);
                }
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn matches_across_pieces_and_hides_the_stop() {
        assert_eq!(run(&["\n\n"], &["Hello", "\n", "\nWorld"]), ("Hello".into(), true));
        assert_eq!(run(&["END"], &["abc E", "N", "D more"]), ("abc ".into(), true));
    }

    #[test]
    fn partial_prefix_is_released_when_it_stops_matching() {
        assert_eq!(run(&["END"], &["abc E", "N", "x"]), ("abc ENx".into(), false));
        assert_eq!(run(&["END"], &["abc EN"]), ("abc EN".into(), false));
    }

    #[test]
    fn earliest_of_several_stops_wins_and_multibyte_is_safe() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".into(), true));
        assert_eq!(run(&["日本"], &["こんにちは日", "本語"]), ("こんにちは".into(), true));
        assert_eq!(run(&[], &["plain"]), ("plain".into(), false));
    }
}
