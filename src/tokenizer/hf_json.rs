//! `tokenizer.json` files (`--tokenizer PATH`), run by the `tokenizers` crate. Added tokens are
//! split off by our own special-token splitter (so `--no-parse-special` means the same for every
//! kind); each remaining fragment goes through the file's normalizer, pre-tokenizer and model.
//! BOS/EOS come from the file's post-processor.

use std::path::Path;

use tokenizers::{Model, Normalizer, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer as HfTokenizer};

use super::byte_level;
use super::special::{SpecialToken, SpecialTokens};
use super::TokenizerError;

pub struct HfJson {
    tok: HfTokenizer,
}

/// What the tokenizer around an `HfJson` needs besides the tokenizer itself.
pub struct HfJsonParts {
    pub hf: HfJson,
    pub special: SpecialTokens,
    pub pieces: Vec<Vec<u8>>,
    /// Ids the post-processor puts before and after a sequence (BOS, EOS).
    pub prefix: Vec<u32>,
    pub suffix: Vec<u32>,
    /// Texts of the added tokens marked special, by id.
    pub special_texts: Vec<(u32, String)>,
}

fn err(path: &Path, e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Build(format!("{}: {e}", path.display()))
}

pub fn load(path: &Path) -> Result<HfJsonParts, TokenizerError> {
    let tok = HfTokenizer::from_file(path).map_err(|e| err(path, e))?;
    let added = tok.get_added_tokens_decoder();
    let n = tok.get_vocab_size(true);

    // Byte-level decoders store bytes as GPT-2's stand-in characters; the others (Metaspace,
    // byte fallback) store spaces as U+2581 and raw bytes as <0xNN>.
    let byte_level = tok.get_decoder().and_then(|d| serde_json::to_string(d).ok()).is_some_and(|d| d.contains("\"ByteLevel\""));
    let mut pieces = vec![Vec::new(); n];
    for (id, piece) in pieces.iter_mut().enumerate() {
        let id = id as u32;
        if let Some(a) = added.get(&id) {
            if !a.special {
                *piece = a.content.as_bytes().to_vec();
            }
            continue;
        }
        let Some(text) = tok.get_model().id_to_token(id) else { continue };
        *piece = if byte_level {
            byte_level::token_to_bytes(&text)
        } else if let Some(b) = super::parse_byte_token(text.as_bytes()) {
            vec![b]
        } else {
            text.replace('\u{2581}', " ").into_bytes()
        };
    }

    let special = SpecialTokens::new(
        added
            .iter()
            .filter(|(_, a)| !a.content.is_empty())
            .map(|(&id, a)| SpecialToken { text: a.content.clone(), id, is_control: a.special, rstrip: a.rstrip })
            .collect(),
    );
    let special_texts = added.iter().filter(|(_, a)| a.special).map(|(&id, a)| (id, a.content.clone())).collect();

    // The post-processor's additions, read off one probe sequence encoded with and without them.
    let plain = tok.encode_fast("a", false).map_err(|e| err(path, e))?.get_ids().to_vec();
    let full = tok.encode_fast("a", true).map_err(|e| err(path, e))?.get_ids().to_vec();
    let (prefix, suffix) = match full.windows(plain.len().max(1)).position(|w| w == plain.as_slice()) {
        Some(at) if !plain.is_empty() => (full[..at].to_vec(), full[at + plain.len()..].to_vec()),
        _ => (Vec::new(), Vec::new()),
    };
    Ok(HfJsonParts { hf: HfJson { tok }, special, pieces, prefix, suffix, special_texts })
}

impl HfJson {
    /// Ids of a fragment that holds no added token: normalizer, pre-tokenizer, model.
    pub fn encode_fragment(&self, text: &str, out: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let fail = |e: tokenizers::Error| TokenizerError::Encode(e.to_string());
        let mut normalized = tokenizers::NormalizedString::from(text);
        if let Some(n) = self.tok.get_normalizer() {
            n.normalize(&mut normalized).map_err(fail)?;
        }
        let mut pre = PreTokenizedString::from(normalized);
        if let Some(p) = self.tok.get_pre_tokenizer() {
            p.pre_tokenize(&mut pre).map_err(fail)?;
        }
        pre.tokenize(|s| self.tok.get_model().tokenize(s.get())).map_err(fail)?;
        let enc = pre.into_encoding(None, 0, OffsetType::None).map_err(fail)?;
        out.extend_from_slice(enc.get_ids());
        Ok(())
    }

    /// Text of `ids` through the file's own decoder, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.tok.decode(ids, true).map_err(|e| TokenizerError::Encode(e.to_string()))
    }
}
