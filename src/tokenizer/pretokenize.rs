//! Pre-tokenizers of byte-level BPE vocabularies, selected by `tokenizer.ggml.pre`. Each name maps
//! to the splitting rules llama.cpp applies for it, expressed with the `tokenizers` crate.

use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::TokenizerError;

/// Names this build understands, for error messages.
pub const SUPPORTED: &[&str] = &["default", "gpt-2", "smollm"];

/// GPT-2's split (contractions, letters, digits, other symbols, whitespace) plus the byte-level
/// mapping; never adds a prefix space.
fn gpt2() -> PreTokenizerWrapper {
    PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, true))
}

fn isolate(pattern: &str) -> Result<PreTokenizerWrapper, TokenizerError> {
    let split = Split::new(SplitPattern::Regex(pattern.to_string()), SplitDelimiterBehavior::Isolated, false)
        .map_err(|e| TokenizerError::Build(format!("pre-tokenizer regex {pattern:?}: {e}")))?;
    Ok(PreTokenizerWrapper::Split(split))
}

pub fn for_name(name: &str) -> Result<PreTokenizerWrapper, TokenizerError> {
    match name {
        // An absent pre-tokenizer means GPT-2's rules, as in llama.cpp.
        "" | "default" | "gpt-2" | "gpt2" => Ok(gpt2()),
        // SmolLM: every digit is its own piece, then GPT-2's rules.
        "smollm" => Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![isolate(r"\p{N}")?, gpt2()]))),
        other => Err(TokenizerError::UnknownPreTokenizer { name: other.to_string(), supported: SUPPORTED.join(", ") }),
    }
}
