//! Turns a stream of token byte pieces into text without ever splitting a UTF-8 character: bytes
//! of an incomplete character are held back until the rest arrives. Invalid sequences become
//! U+FFFD once it is certain they cannot complete.

#[derive(Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` and returns the text that is now complete (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).expect("valid prefix"));
                    match e.error_len() {
                        // An incomplete character at the end: keep it for the next push.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // A byte sequence that can never become valid.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whether bytes of an incomplete character are held back.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Flushes whatever is held back (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_split_characters() {
        let mut s = Utf8Stream::new();
        let euro = "€".as_bytes(); // 3 bytes
        assert_eq!(s.push(&euro[..1]), "");
        assert_eq!(s.push(&euro[1..2]), "");
        assert_eq!(s.push(&[euro[2], b'a']), "€a");
        let emoji = "🙂".as_bytes(); // 4 bytes
        assert_eq!(s.push(&emoji[..3]), "");
        assert_eq!(s.push(&emoji[3..]), "🙂");
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement() {
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(&[b'x', 0xff, b'y']), "x\u{fffd}y");
        assert_eq!(s.push(&[0xe2, 0x82]), "");
        assert_eq!(s.finish(), "\u{fffd}");
    }
}
