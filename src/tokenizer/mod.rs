//! Tokenizers built from a GGUF's own vocabulary (`tokenizer.ggml.*`), so a model tokenizes the
//! way llama.cpp tokenizes it. First cut: byte-level BPE (`tokenizer.ggml.model = gpt2`) with the
//! Byte-level BPE pre-tokenizers of llama.cpp's types (pretokenize.rs); BPE merging itself is the
//! `tokenizers` crate's.

pub mod byte_level;
mod pretokenize;
mod special;
pub mod vocab;

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::Tokenizer as HfTokenizer;

use special::{Fragment, SpecialTokens};
use vocab::{token_type, GgufVocab};

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer model '{0}' is not supported yet (supported: gpt2)")]
    UnsupportedModel(String),
    #[error("unknown pre-tokenizer '{name}' (tokenizer.ggml.pre); supported: {supported}")]
    UnknownPreTokenizer { name: String, supported: String },
    #[error("the vocabulary is malformed: {0}")]
    Vocab(String),
    #[error("cannot build the tokenizer: {0}")]
    Build(String),
    #[error("tokenization failed: {0}")]
    Encode(String),
}

/// Token texts llama.cpp treats as end-of-generation wherever they appear in a vocabulary.
const EOG_TEXTS: &[&str] = &["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<|end_of_text|>"];

pub struct Tokenizer {
    bpe: HfTokenizer,
    special: SpecialTokens,
    /// Raw bytes each id stands for when decoded (control tokens decode to nothing).
    pieces: Vec<Vec<u8>>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    eog: Vec<u32>,
}

impl Tokenizer {
    pub fn from_gguf_vocab(v: &GgufVocab) -> Result<Tokenizer, TokenizerError> {
        if v.model != "gpt2" {
            return Err(TokenizerError::UnsupportedModel(v.model.clone()));
        }
        if v.tokens.len() != v.token_types.len() {
            return Err(TokenizerError::Vocab(format!("{} tokens but {} token types", v.tokens.len(), v.token_types.len())));
        }
        let spec = pretokenize::for_name(&v.pre)?;

        let mut ids = Vocab::default();
        for (id, t) in v.tokens.iter().enumerate() {
            let s = String::from_utf8(t.clone()).map_err(|_| TokenizerError::Vocab(format!("token {id} is not UTF-8")))?;
            ids.entry(s).or_insert(id as u32);
        }
        let mut merges = Vec::with_capacity(v.merges.len());
        for (i, m) in v.merges.iter().enumerate() {
            let (a, b) = m.split_once(' ').ok_or_else(|| TokenizerError::Vocab(format!("merge {i} ({m:?}) is not two tokens")))?;
            merges.push((a.to_string(), b.to_string()));
        }
        let model = BPE::builder()
            .vocab_and_merges(ids, merges)
            .ignore_merges(spec.ignore_merges)
            .build()
            .map_err(|e| TokenizerError::Build(e.to_string()))?;
        let mut bpe = HfTokenizer::new(model);
        bpe.with_pre_tokenizer(Some(spec.pre_tokenizer));

        let pieces = v
            .tokens
            .iter()
            .zip(&v.token_types)
            .map(|(t, &ty)| match ty {
                token_type::NORMAL => byte_level::token_to_bytes(&String::from_utf8_lossy(t)),
                token_type::USER_DEFINED => t.clone(),
                _ => Vec::new(),
            })
            .collect();

        let mut eog: Vec<u32> = [v.eos_id, v.eot_id, v.eom_id].into_iter().flatten().collect();
        for (id, t) in v.tokens.iter().enumerate() {
            if EOG_TEXTS.iter().any(|e| e.as_bytes() == t.as_slice()) {
                eog.push(id as u32);
            }
        }
        eog.sort_unstable();
        eog.dedup();

        Ok(Tokenizer {
            bpe,
            special: SpecialTokens::from_vocab(v),
            pieces,
            bos: v.bos_id,
            eos: v.eos_id,
            add_bos: v.add_bos.unwrap_or(spec.default_add_bos),
            add_eos: v.add_eos == Some(true),
            eog,
        })
    }

    pub fn kind(&self) -> &'static str {
        "gguf-bpe"
    }

    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    /// Token ids of `text`. With `parse_special`, control tokens written in the text become single
    /// tokens; BOS/EOS are added only when the vocabulary's metadata asks for them.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, TokenizerError> {
        self.encode_with(text, parse_special, true)
    }

    /// As `encode`; `add_special = false` never adds BOS/EOS (llama.cpp's `add_special`).
    pub fn encode_with(&self, text: &str, parse_special: bool, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        for fragment in self.special.split(text, parse_special) {
            match fragment {
                Fragment::Token(id) => out.push(id),
                Fragment::Text(t) => {
                    let enc = self.bpe.encode_fast(t, false).map_err(|e| TokenizerError::Encode(e.to_string()))?;
                    out.extend_from_slice(enc.get_ids());
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        Ok(out)
    }

    /// The raw bytes token `id` stands for (empty for control tokens and unknown ids).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        self.pieces.get(id as usize).cloned().unwrap_or_default()
    }

    /// Text of `ids`, control tokens skipped; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Tokens that end generation: eos/eot/eom from metadata plus the well-known end markers.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny byte-level vocabulary: single bytes for "a", "b", " ", "1", "2", merges "a b" -> "ab"
    /// and "Ġ ab" -> "Ġab", plus two control tokens.
    fn tiny() -> GgufVocab {
        let toks = ["<|endoftext|>", "<|im_end|>", "a", "b", "Ġ", "1", "2", "ab", "Ġab", "12"];
        let mut types = vec![token_type::NORMAL; toks.len()];
        types[0] = token_type::CONTROL;
        types[1] = token_type::CONTROL;
        GgufVocab {
            model: "gpt2".into(),
            pre: "smollm".into(),
            tokens: toks.iter().map(|t| t.as_bytes().to_vec()).collect(),
            token_types: types,
            merges: vec!["a b".into(), "Ġ ab".into(), "1 2".into()],
            eos_id: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn merges_apply_in_priority_order_and_digits_stay_single() {
        let t = Tokenizer::from_gguf_vocab(&tiny()).unwrap();
        assert_eq!(t.encode("ab ab", true).unwrap(), vec![7, 8]);
        // smollm isolates every digit, so the "1 2" merge can never fire
        assert_eq!(t.encode("12", true).unwrap(), vec![5, 6]);
    }

    #[test]
    fn special_tokens_parse_only_when_asked_and_decode_to_nothing() {
        let t = Tokenizer::from_gguf_vocab(&tiny()).unwrap();
        assert_eq!(t.encode("ab<|im_end|>", true).unwrap(), vec![7, 1]);
        assert_eq!(t.decode(&[7, 1, 8]), "ab ab");
        assert_eq!(t.eog_ids(), &[0, 1]);
    }

    #[test]
    fn unknown_pre_tokenizer_is_named() {
        let mut v = tiny();
        v.pre = "martian".into();
        let err = Tokenizer::from_gguf_vocab(&v).err().unwrap().to_string();
        assert!(err.contains("martian") && err.contains("smollm"), "{err}");
    }
}
