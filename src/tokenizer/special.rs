//! Splitting prompt text on special tokens written in it (`<|im_start|>`), before BPE sees it.
//!
//! As llama.cpp does: candidates are tried longest first, each splitting every remaining plain
//! fragment at its occurrences. Control tokens are recognised only when the caller asks for
//! special-token parsing; user-defined tokens always are.

use super::vocab::{token_type, GgufVocab};

#[derive(Debug, PartialEq, Eq)]
pub enum Fragment<'t> {
    Text(&'t str),
    Token(u32),
}

pub struct SpecialTokens {
    /// (text, id, is_control), longest text first.
    entries: Vec<(String, u32, bool)>,
}

impl SpecialTokens {
    pub fn from_vocab(v: &GgufVocab) -> SpecialTokens {
        let mut entries: Vec<(String, u32, bool)> = v
            .tokens
            .iter()
            .zip(&v.token_types)
            .enumerate()
            .filter(|(_, (text, &ty))| !text.is_empty() && (ty == token_type::CONTROL || ty == token_type::USER_DEFINED))
            .filter_map(|(id, (text, &ty))| {
                String::from_utf8(text.clone()).ok().map(|s| (s, id as u32, ty == token_type::CONTROL))
            })
            .collect();
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        SpecialTokens { entries }
    }

    pub fn split<'t>(&self, text: &'t str, parse_control: bool) -> Vec<Fragment<'t>> {
        let mut fragments = vec![Fragment::Text(text)];
        for (special, id, is_control) in &self.entries {
            if *is_control && !parse_control {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len());
            for f in fragments {
                let Fragment::Text(mut rest) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(at) = rest.find(special.as_str()) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Token(*id));
                    rest = &rest[at + special.len()..];
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
}
