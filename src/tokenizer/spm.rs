//! SentencePiece-style tokenization of `tokenizer.ggml.model = llama` vocabularies (Llama 2,
//! Mistral, Phi-3), as llama.cpp does it: the text (spaces already escaped to U+2581) starts as
//! one symbol per character; the adjacent pair whose concatenation is a vocabulary token with the
//! highest score merges first (ties: the leftmost pair), until no pair forms a token. A character
//! that never became part of a token falls back to its bytes' `<0xNN>` tokens.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

pub struct SpmModel {
    ids: HashMap<Vec<u8>, u32>,
    scores: Vec<f32>,
    /// Token of each byte for the fallback: `<0xNN>`, else the one-byte token, else unk.
    byte_tokens: [Option<u32>; 256],
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of symbols `left` and `right` whose texts add up to `len` bytes.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Ord for Bigram {
    /// The heap pops the highest score first and, among equal scores, the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

impl SpmModel {
    /// `scores` may be empty (every score 0).
    pub fn new(tokens: &[Vec<u8>], scores: &[f32], unk: Option<u32>) -> SpmModel {
        let ids: HashMap<Vec<u8>, u32> = tokens.iter().enumerate().map(|(id, t)| (t.clone(), id as u32)).collect();
        let byte_tokens = std::array::from_fn(|b| {
            ids.get(format!("<0x{b:02X}>").as_bytes()).or_else(|| ids.get(&[b as u8][..])).copied().or(unk)
        });
        let scores = if scores.is_empty() { vec![0.0; tokens.len()] } else { scores.to_vec() };
        SpmModel { ids, scores, byte_tokens }
    }

    /// Appends the tokens of `text` (whitespace already escaped) to `out`. Bytes without any token
    /// (no `<0xNN>`, no unk) are skipped, where llama.cpp would abort.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) {
        let bytes = text.as_bytes();
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            symbols.push(Symbol { start, len: c.len_utf8(), prev: i.checked_sub(1), next: Some(i + 1) });
        }
        let Some(last) = symbols.last_mut() else { return };
        last.next = None;

        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: Option<usize>, right: Option<usize>| {
            let (Some(left), Some(right)) = (left, right) else { return };
            let (l, r) = (symbols[left], symbols[right]);
            let len = l.len + r.len;
            if let Some(&id) = self.ids.get(&bytes[l.start..l.start + len]) {
                heap.push(Bigram { score: self.scores[id as usize], left, right, len });
            }
        };
        for i in 1..symbols.len() {
            push(&mut heap, &symbols, Some(i - 1), Some(i));
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            // Either side already merged into something else: the pair is stale.
            if l.len == 0 || r.len == 0 || l.len + r.len != b.len {
                continue;
            }
            symbols[b.left].len = b.len;
            symbols[b.left].next = r.next;
            symbols[b.right].len = 0;
            if let Some(n) = r.next {
                symbols[n].prev = Some(b.left);
            }
            push(&mut heap, &symbols, symbols[b.left].prev, Some(b.left));
            push(&mut heap, &symbols, Some(b.left), symbols[b.left].next);
        }

        let mut at = Some(0);
        while let Some(i) = at {
            let s = symbols[i];
            let piece = &bytes[s.start..s.start + s.len];
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                None => out.extend(piece.iter().filter_map(|&b| self.byte_tokens[b as usize])),
            }
            at = s.next;
        }
    }
}

/// SentencePiece's whitespace escape: every space becomes U+2581 ("▁").
pub fn escape_whitespace(text: &str) -> String {
    text.replace(' ', "\u{2581}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(tokens: &[(&str, f32)]) -> SpmModel {
        let texts: Vec<Vec<u8>> = tokens.iter().map(|(t, _)| t.as_bytes().to_vec()).collect();
        let scores: Vec<f32> = tokens.iter().map(|(_, s)| *s).collect();
        SpmModel::new(&texts, &scores, Some(0))
    }

    #[test]
    fn highest_scoring_pair_merges_first() {
        // "abc": "ab" (-1) would win over "bc" (-2), leaving "c"; with "bc" scored higher, "a"+"bc".
        let m = model(&[("<unk>", 0.0), ("a", -5.0), ("b", -5.0), ("c", -5.0), ("ab", -1.0), ("bc", -2.0)]);
        let mut out = Vec::new();
        m.encode("abc", &mut out);
        assert_eq!(out, vec![4, 3]);
        let m = model(&[("<unk>", 0.0), ("a", -5.0), ("b", -5.0), ("c", -5.0), ("ab", -3.0), ("bc", -2.0)]);
        let mut out = Vec::new();
        m.encode("abc", &mut out);
        assert_eq!(out, vec![1, 5]);
    }

    #[test]
    fn equal_scores_merge_leftmost_first_and_chains_continue() {
        let m = model(&[("<unk>", 0.0), ("a", -5.0), ("aa", -1.0), ("aaaa", -0.5)]);
        let mut out = Vec::new();
        m.encode("aaaaa", &mut out);
        assert_eq!(out, vec![3, 1]);
    }

    #[test]
    fn unknown_characters_fall_back_to_byte_tokens_then_unk() {
        let m = model(&[("<unk>", 0.0), ("<0xC3>", 0.0), ("<0xA9>", 0.0), ("x", -1.0)]);
        let mut out = Vec::new();
        m.encode("xé€", &mut out);
        // é is C3 A9 (both byte tokens exist); € is E2 82 AC (none do, so unk for each byte)
        assert_eq!(out, vec![3, 1, 2, 0, 0, 0]);
    }

    #[test]
    fn empty_text_gives_no_tokens() {
        let m = model(&[("<unk>", 0.0)]);
        let mut out = Vec::new();
        m.encode("", &mut out);
        assert!(out.is_empty());
    }
}
