//! Splitting prompt text on special tokens written in it (`<|im_start|>`), before BPE sees it.
//!
//! As llama.cpp does: candidates are tried longest first, each splitting every remaining plain
//! fragment at its occurrences. Control (and unknown) tokens are recognised only when the caller
//! asks for special-token parsing; user-defined tokens always are.
//!
//! Gemma 3 has some 6,000 such tokens, so one pass of an Aho-Corasick automaton first finds which
//! of them occur in the text at all; only those take part in the (unchanged) longest-first split.

use aho_corasick::AhoCorasick;

use super::vocab::{token_type, GgufVocab};

#[derive(Debug, PartialEq, Eq)]
pub enum Fragment<'t> {
    Text(&'t str),
    Token(u32),
}

/// A token that is matched as a whole in the text.
#[derive(Debug, Clone)]
pub struct SpecialToken {
    pub text: String,
    pub id: u32,
    /// Control and unknown tokens are matched only when the caller parses special tokens;
    /// user-defined ones always are.
    pub is_control: bool,
    /// Whitespace right after the token is dropped (llama.cpp's RSTRIP attribute).
    pub rstrip: bool,
}

pub struct SpecialTokens {
    /// Longest text first.
    entries: Vec<SpecialToken>,
    /// Matches every entry's text (pattern i is entries[i]); None when there are no entries.
    finder: Option<AhoCorasick>,
}

impl SpecialTokens {
    /// Control, unknown and user-defined tokens of a GGUF vocabulary (`token_types` as the
    /// tokenizer settled them), none stripping whitespace.
    pub fn from_vocab(v: &GgufVocab) -> SpecialTokens {
        let entries = v
            .tokens
            .iter()
            .zip(&v.token_types)
            .enumerate()
            .filter(|(_, (text, &ty))| {
                !text.is_empty() && matches!(ty, token_type::CONTROL | token_type::USER_DEFINED | token_type::UNKNOWN)
            })
            .filter_map(|(id, (text, &ty))| {
                String::from_utf8(text.clone()).ok().map(|text| SpecialToken {
                    text,
                    id: id as u32,
                    is_control: ty != token_type::USER_DEFINED,
                    rstrip: false,
                })
            })
            .collect();
        SpecialTokens::new(entries)
    }

    pub fn new(mut entries: Vec<SpecialToken>) -> SpecialTokens {
        entries.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.id.cmp(&b.id)));
        // Building fails only past the automaton's size limits; then every entry is simply tried.
        let finder = if entries.is_empty() { None } else { AhoCorasick::new(entries.iter().map(|e| e.text.as_str())).ok() };
        SpecialTokens { entries, finder }
    }

    /// Sets the RSTRIP attribute of the token with text `text`, if there is one.
    pub fn set_rstrip(&mut self, text: &str, rstrip: bool) {
        for e in self.entries.iter_mut().filter(|e| e.text == text) {
            e.rstrip = rstrip;
        }
    }

    pub fn set_rstrip_all(&mut self, rstrip: bool) {
        for e in &mut self.entries {
            e.rstrip = rstrip;
        }
    }

    pub fn split<'t>(&self, text: &'t str, parse_control: bool) -> Vec<Fragment<'t>> {
        // An empty text has no fragments at all (SentencePiece must not prefix a space to it).
        let mut fragments = if text.is_empty() { Vec::new() } else { vec![Fragment::Text(text)] };
        // Fragments are pieces of `text`, so a token absent from it can split none of them.
        let present: Option<Vec<bool>> = self.finder.as_ref().map(|f| {
            let mut seen = vec![false; self.entries.len()];
            for m in f.find_overlapping_iter(text) {
                seen[m.pattern().as_usize()] = true;
            }
            seen
        });
        for (i, special) in self.entries.iter().enumerate() {
            if (special.is_control && !parse_control) || present.as_ref().is_some_and(|p| !p[i]) {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len());
            for f in fragments {
                let Fragment::Text(mut rest) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(at) = rest.find(special.text.as_str()) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Token(special.id));
                    rest = &rest[at + special.text.len()..];
                    if special.rstrip {
                        // C's isspace: space, \t, \n, \v, \f, \r
                        rest = rest.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
                    }
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            fragments = next;
        }
        fragments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> GgufVocab {
        let toks = ["<|im_start|>", "<|im_end|>", "<tool>", "<|im", "a"];
        GgufVocab {
            tokens: toks.iter().map(|t| t.as_bytes().to_vec()).collect(),
            token_types: vec![token_type::CONTROL, token_type::CONTROL, token_type::USER_DEFINED, token_type::CONTROL, token_type::NORMAL],
            ..Default::default()
        }
    }

    #[test]
    fn splits_longest_first_and_keeps_text_between() {
        let s = SpecialTokens::from_vocab(&vocab());
        let got = s.split("x<|im_start|>user\n<|im_end|><|im", true);
        assert_eq!(
            got,
            vec![Fragment::Text("x"), Fragment::Token(0), Fragment::Text("user\n"), Fragment::Token(1), Fragment::Token(3)]
        );
    }

    #[test]
    fn control_tokens_stay_text_without_parsing_but_user_defined_do_not() {
        let s = SpecialTokens::from_vocab(&vocab());
        assert_eq!(s.split("<|im_end|> <tool>", false), vec![Fragment::Text("<|im_end|> "), Fragment::Token(2)]);
    }

    #[test]
    fn rstrip_tokens_swallow_the_whitespace_after_them() {
        let mut s = SpecialTokens::from_vocab(&vocab());
        s.set_rstrip("<|im_start|>", true);
        assert_eq!(
            s.split("<|im_start|>\n user<|im_end|>\n", true),
            vec![Fragment::Token(0), Fragment::Text("user"), Fragment::Token(1), Fragment::Text("\n")]
        );
    }
}
