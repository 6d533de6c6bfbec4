//! The three tokenizer kinds behind one `Tokenizer`:
//!   - `gguf-bpe`: byte-level BPE vocabularies of a GGUF (`tokenizer.ggml.model = gpt2`), with
//!     llama.cpp's pre-tokenizer rules per `tokenizer.ggml.pre` (pretokenize.rs); merging is the
//!     `tokenizers` crate's BPE.
//!   - `gguf-spm`: SentencePiece-style vocabularies (`tokenizer.ggml.model = llama`) with scores
//!     and `<0xNN>` byte fallback (spm.rs), tokenized as llama.cpp does.
//!   - `hf-json`: a `tokenizer.json` given with `--tokenizer` (hf_json.rs).
//!
//! Special tokens written in the text are split off first (special.rs) for every kind. Decoding
//! goes through per-token byte pieces, so streaming never re-decodes the output.

pub mod byte_level;
mod hf_json;
mod pretokenize;
mod special;
mod spm;
pub mod vocab;

use std::path::Path;

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::Tokenizer as HfTokenizer;

use special::{Fragment, SpecialTokens};
use vocab::{token_type, GgufVocab};

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer model '{0}' is not supported (supported: gpt2, llama)")]
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

/// Token texts llama.cpp treats as end-of-generation wherever they appear in a vocabulary (and
/// forces to control type, so they decode to nothing and are parsed only as special tokens).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "[e~[",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    GgufBpe,
    GgufSpm,
    HfJson,
}

impl TokenizerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenizerKind::GgufBpe => "gguf-bpe",
            TokenizerKind::GgufSpm => "gguf-spm",
            TokenizerKind::HfJson => "hf-json",
        }
    }
}

enum Engine {
    ByteBpe(HfTokenizer),
    Spm { model: spm::SpmModel, add_space_prefix: bool },
    HfJson(hf_json::HfJson),
}

pub struct Tokenizer {
    engine: Engine,
    special: SpecialTokens,
    /// Raw bytes each id stands for when decoded (control tokens decode to nothing).
    pieces: Vec<Vec<u8>>,
    /// Ids added before / after the text when special tokens are added (BOS / EOS).
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    eog: Vec<u32>,
    /// llama.cpp's detokenizer drops one leading space of the first piece (SentencePiece's
    /// space prefix).
    strip_first_space: bool,
    /// Texts of the BOS and EOS tokens ("" when there are none), for chat templates.
    bos_text: String,
    eos_text: String,
}

fn id_if_valid(id: Option<u32>, n: usize) -> Option<u32> {
    id.filter(|&i| (i as usize) < n)
}

impl Tokenizer {
    pub fn from_gguf_vocab(v: &GgufVocab) -> Result<Tokenizer, TokenizerError> {
        let n = v.tokens.len();
        if n != v.token_types.len() {
            return Err(TokenizerError::Vocab(format!("{n} tokens but {} token types", v.token_types.len())));
        }
        if !v.scores.is_empty() && v.scores.len() != n {
            return Err(TokenizerError::Vocab(format!("{n} tokens but {} scores", v.scores.len())));
        }
        let is_spm = match v.model.as_str() {
            "gpt2" => false,
            "llama" => true,
            other => return Err(TokenizerError::UnsupportedModel(other.to_string())),
        };

        // End-of-generation tokens: eos/eot/eom from metadata plus llama.cpp's well-known texts,
        // which become control tokens whatever the file says.
        let mut token_types = v.token_types.clone();
        let (bos, eos, unk) = if is_spm {
            // llama.cpp's SentencePiece defaults when the metadata is silent
            (v.bos_id.or(Some(1)), v.eos_id.or(Some(2)), v.unk_id.or(Some(0)))
        } else {
            (v.bos_id, v.eos_id, v.unk_id)
        };
        let (bos, eos, unk) = (id_if_valid(bos, n), id_if_valid(eos, n), id_if_valid(unk, n));
        let mut eog: Vec<u32> = [eos, v.eot_id, v.eom_id].into_iter().flatten().collect();
        for (id, t) in v.tokens.iter().enumerate() {
            if EOG_TEXTS.iter().any(|e| e.as_bytes() == t.as_slice()) {
                eog.push(id as u32);
                token_types[id] = token_type::CONTROL;
            }
        }
        eog.sort_unstable();
        eog.dedup();
        let mut v_typed = v.clone();
        v_typed.token_types = token_types;
        let v = &v_typed;

        let mut special = SpecialTokens::from_vocab(v);
        let name = v.model_name.to_lowercase();
        if name.contains("phi-3") || name.contains("phi3") {
            // llama.cpp strips whitespace after Phi-3's special tokens, except these
            special.set_rstrip_all(true);
            special.set_rstrip("</s>", true);
            for t in ["<unk>", "<s>", "<|endoftext|>"] {
                special.set_rstrip(t, false);
            }
        }

        let (engine, add_bos, strip_first_space) = if is_spm {
            let add_space_prefix = v.add_space_prefix.unwrap_or(true);
            (
                Engine::Spm { model: spm::SpmModel::new(&v.tokens, &v.scores, unk), add_space_prefix },
                v.add_bos.unwrap_or(true),
                add_space_prefix,
            )
        } else {
            let spec = pretokenize::for_name(&v.pre)?;
            (Engine::ByteBpe(byte_bpe(v, spec.ignore_merges, spec.pre_tokenizer)?), v.add_bos.unwrap_or(spec.default_add_bos), false)
        };

        let pieces = v
            .tokens
            .iter()
            .zip(&v.token_types)
            .map(|(t, &ty)| match ty {
                token_type::NORMAL if is_spm => String::from_utf8_lossy(t).replace('\u{2581}', " ").into_bytes(),
                token_type::NORMAL => byte_level::token_to_bytes(&String::from_utf8_lossy(t)),
                token_type::USER_DEFINED => t.clone(),
                token_type::BYTE => parse_byte_token(t).map(|b| vec![b]).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect();

        let text_of = |id: Option<u32>| id.map(|i| String::from_utf8_lossy(&v.tokens[i as usize]).into_owned()).unwrap_or_default();
        Ok(Tokenizer {
            engine,
            special,
            pieces,
            prefix: if add_bos { bos.into_iter().collect() } else { Vec::new() },
            suffix: if v.add_eos == Some(true) { eos.into_iter().collect() } else { Vec::new() },
            eog,
            strip_first_space,
            bos_text: text_of(bos),
            eos_text: text_of(eos),
        })
    }

    /// A `tokenizer.json` (the `hf-json` kind). `gguf` is the model's own vocabulary, whose
    /// end-of-generation ids are kept when given.
    pub fn from_hf_json(path: &Path, gguf: Option<&GgufVocab>) -> Result<Tokenizer, TokenizerError> {
        let parts = hf_json::load(path)?;
        let mut eog: Vec<u32> = parts
            .special_texts
            .iter()
            .filter(|(_, text)| EOG_TEXTS.contains(&text.as_str()))
            .map(|(id, _)| *id)
            .collect();
        if let Some(v) = gguf {
            eog.extend([v.eos_id, v.eot_id, v.eom_id].into_iter().flatten());
        }
        eog.sort_unstable();
        eog.dedup();
        let text_of = |id: Option<&u32>| {
            id.and_then(|id| parts.special_texts.iter().find(|(i, _)| i == id)).map(|(_, t)| t.clone()).unwrap_or_default()
        };
        let (bos_text, eos_text) = (text_of(parts.prefix.first()), text_of(parts.suffix.last()));
        Ok(Tokenizer {
            bos_text,
            eos_text,
            engine: Engine::HfJson(parts.hf),
            special: parts.special,
            pieces: parts.pieces,
            prefix: parts.prefix,
            suffix: parts.suffix,
            eog,
            strip_first_space: false,
        })
    }

    pub fn kind(&self) -> TokenizerKind {
        match self.engine {
            Engine::ByteBpe(_) => TokenizerKind::GgufBpe,
            Engine::Spm { .. } => TokenizerKind::GgufSpm,
            Engine::HfJson(_) => TokenizerKind::HfJson,
        }
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
        if add_special {
            out.extend_from_slice(&self.prefix);
        }
        // SentencePiece prefixes a space to text at the start and after every special token.
        let mut after_special = true;
        for fragment in self.special.split(text, parse_special) {
            match fragment {
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
                Fragment::Text(t) => {
                    match &self.engine {
                        Engine::ByteBpe(bpe) => {
                            let enc = bpe.encode_fast(t, false).map_err(|e| TokenizerError::Encode(e.to_string()))?;
                            out.extend_from_slice(enc.get_ids());
                        }
                        Engine::Spm { model, add_space_prefix } => {
                            let prefixed = if *add_space_prefix && after_special { format!(" {t}") } else { t.to_string() };
                            model.encode(&spm::escape_whitespace(&prefixed), &mut out);
                        }
                        Engine::HfJson(hf) => hf.encode_fragment(t, &mut out)?,
                    }
                    after_special = false;
                }
            }
        }
        if add_special {
            out.extend_from_slice(&self.suffix);
        }
        Ok(out)
    }

    /// The raw bytes token `id` stands for when streamed (empty for control tokens and unknown
    /// ids).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map(Vec::as_slice).unwrap_or_default()
    }

    /// Text of `ids` as llama.cpp's detokenizer gives it (control tokens skipped; SentencePiece's
    /// leading space dropped); invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        if let Engine::HfJson(hf) = &self.engine {
            if let Ok(text) = hf.decode(ids) {
                return text;
            }
        }
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let piece = self.token_bytes(id);
            let piece = if i == 0 && self.strip_first_space { piece.strip_prefix(b" ").unwrap_or(piece) } else { piece };
            bytes.extend_from_slice(piece);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// What a chat template needs to know about BOS/EOS: their texts and whether encoding adds
    /// them itself.
    pub fn template_tokens(&self) -> crate::chat::TemplateTokens {
        crate::chat::TemplateTokens {
            bos: self.bos_text.clone(),
            eos: self.eos_text.clone(),
            tokenizer_adds_bos: !self.prefix.is_empty(),
            tokenizer_adds_eos: !self.suffix.is_empty(),
        }
    }

    /// Tokens that end generation: eos/eot/eom from metadata plus the well-known end markers.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }
}

fn byte_bpe(
    v: &GgufVocab,
    ignore_merges: bool,
    pre_tokenizer: tokenizers::PreTokenizerWrapper,
) -> Result<HfTokenizer, TokenizerError> {
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
        .ignore_merges(ignore_merges)
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;
    let mut bpe = HfTokenizer::new(model);
    bpe.with_pre_tokenizer(Some(pre_tokenizer));
    Ok(bpe)
}

/// The byte of a `<0xNN>` token.
fn parse_byte_token(text: &[u8]) -> Option<u8> {
    let hex = text.strip_prefix(b"<0x")?.strip_suffix(b">")?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
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
    fn byte_tokens_are_exactly_two_hex_digits() {
        assert_eq!(parse_byte_token(b"<0x0A>"), Some(10));
        assert_eq!(parse_byte_token(b"<0xff>"), Some(255));
        assert_eq!(parse_byte_token(b"<0x100>"), None);
        assert_eq!(parse_byte_token(b"0x0A"), None);
    }

    #[test]
    fn unknown_pre_tokenizer_is_named() {
        let mut v = tiny();
        v.pre = "martian".into();
        let err = Tokenizer::from_gguf_vocab(&v).err().unwrap().to_string();
        assert!(err.contains("martian") && err.contains("smollm"), "{err}");
    }
}
