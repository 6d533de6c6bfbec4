//! Pre-tokenizers of byte-level BPE vocabularies, selected by `tokenizer.ggml.pre`. llama.cpp
//! splits text with a list of regexes applied one after another (each splits the pieces the
//! previous left, keeping unmatched text as pieces) and then maps bytes to GPT-2's alphabet; here
//! each regex is a `Split` (Isolated) and the mapping a `ByteLevel` without its own regex. The
//! regexes are llama.cpp's (src/llama-vocab.cpp, llm_tokenizer_bpe), per pre-tokenizer type.

use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::TokenizerError;

/// GPT-2's split.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's split, with the case-insensitive contractions spelled out.
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's: Llama 3's with single digits.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
// Non-ASCII code points are escaped: editors and copies may normalise some of them (U+1F7D to
// U+03CE), which would turn valid ranges into reversed ones.
const DEEPSEEK_LLM: &[&str] = &[
    r"[\r\n]",
    "\\s?[A-Za-z\u{b5}\u{c0}-\u{d6}\u{d8}-\u{f6}\u{f8}-\u{1ba}\u{1bc}-\u{1bf}\u{1c4}-\u{293}\u{295}-\u{2af}\u{370}-\u{373}\u{376}\u{377}\u{37b}-\u{37d}\u{37f}\u{386}\u{388}-\u{38a}\u{38c}\u{38e}-\u{3a1}\u{3a3}-\u{3f5}\u{3f7}-\u{481}\u{48a}-\u{52f}\u{531}-\u{556}\u{10a0}-\u{10c5}\u{13a0}-\u{13f5}\u{13f8}-\u{13fd}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}\u{1d00}-\u{1d2b}\u{1d6b}-\u{1d77}\u{1d79}-\u{1d9a}\u{1e00}-\u{1f15}\u{1f18}-\u{1f1d}\u{1f20}-\u{1f45}\u{1f48}-\u{1f4d}\u{1f50}-\u{1f57}\u{1f59}\u{1f5b}\u{1f5d}\u{1f5f}-\u{1f7d}\u{1f80}-\u{1fb4}\u{1fb6}-\u{1fbc}\u{1fbe}\u{1fc2}-\u{1fc4}\u{1fc6}-\u{1fcc}\u{1fd0}-\u{1fd3}\u{1fd6}-\u{1fdb}\u{1fe0}-\u{1fec}\u{1ff2}-\u{1ff4}\u{1ff6}-\u{1ffc}\u{2102}\u{2107}\u{210a}-\u{2113}\u{2115}\u{2119}-\u{211d}\u{2124}\u{2126}\u{2128}\u{212a}-\u{212d}\u{212f}-\u{2134}\u{2139}\u{213c}-\u{213f}\u{2145}-\u{2149}\u{214e}\u{2183}\u{2184}\u{2c00}-\u{2c7b}\u{2c7e}-\u{2ce4}\u{2ceb}-\u{2cee}\u{2cf2}\u{2cf3}\u{a640}-\u{a66d}\u{a680}-\u{a69b}\u{a722}-\u{a76f}\u{a771}-\u{a787}\u{a78b}-\u{a78e}\u{ab70}-\u{abbf}\u{fb00}-\u{fb06}\u{fb13}-\u{fb17}\u{ff21}-\u{ff3a}\u{ff41}-\u{ff5a}\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+",
    "\\s?[!-/:-~\u{ff01}-\u{ff0f}\u{ff1a}-\u{ff5e}\u{2018}-\u{201f}\u{3000}-\u{3002}]+",
    "\\s+$",
    "[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+",
    "\\p{N}+",
];
const DEEPSEEK_CODER: &[&str] = &[r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", r"[一-龥ࠀ-一가-퟿]+", r"\p{N}"];
const FALCON: &[&str] = &[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"];
const DEFAULT: &[&str] = &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"];

/// Names this build understands, for error messages.
pub const SUPPORTED: &[&str] = &[
    "default", "gpt-2", "mpt", "phi-2", "olmo", "llama-bpe", "llama3", "llama-v3", "falcon3", "qwen2", "stablelm2",
    "deepseek-r1-qwen", "deepseek-llm", "deepseek-coder", "falcon", "starcoder", "refact", "command-r", "smollm",
];

/// How a vocabulary's text is split and merged.
pub struct PreTokenizerSpec {
    pub pre_tokenizer: PreTokenizerWrapper,
    /// A piece that is itself a token is emitted whole, without merging (Llama 3).
    pub ignore_merges: bool,
    /// Whether BOS is added when the metadata does not say (llama.cpp's per-type default).
    pub default_add_bos: bool,
}

fn split(pattern: &str) -> Result<PreTokenizerWrapper, TokenizerError> {
    let split = Split::new(SplitPattern::Regex(pattern.to_string()), SplitDelimiterBehavior::Isolated, false)
        .map_err(|e| TokenizerError::Build(format!("pre-tokenizer regex {pattern:?}: {e}")))?;
    Ok(PreTokenizerWrapper::Split(split))
}

fn chain(patterns: &[&str]) -> Result<PreTokenizerWrapper, TokenizerError> {
    let mut steps = patterns.iter().map(|p| split(p)).collect::<Result<Vec<_>, _>>()?;
    // Bytes to GPT-2's alphabet; no prefix space, no regex of its own.
    steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false)));
    Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
}

pub fn for_name(name: &str) -> Result<PreTokenizerSpec, TokenizerError> {
    let (patterns, ignore_merges, default_add_bos): (&[&str], bool, bool) = match name {
        // An absent pre-tokenizer means llama.cpp's default rules.
        "" | "default" => (DEFAULT, false, false),
        "gpt-2" | "gpt2" | "mpt" | "phi-2" | "olmo" => (&[GPT2], false, false),
        "llama-bpe" | "llama3" | "llama-v3" | "falcon3" => (&[LLAMA3], true, true),
        "qwen2" | "stablelm2" | "deepseek-r1-qwen" => (&[QWEN2], false, false),
        "deepseek-llm" => (DEEPSEEK_LLM, false, false),
        "deepseek-coder" => (DEEPSEEK_CODER, false, false),
        "falcon" => (FALCON, false, false),
        // Every digit is its own piece, then GPT-2's rules.
        "starcoder" | "refact" | "command-r" | "smollm" => (&[r"\p{N}", GPT2], false, false),
        other => {
            return Err(TokenizerError::UnknownPreTokenizer { name: other.to_string(), supported: SUPPORTED.join(", ") })
        }
    };
    Ok(PreTokenizerSpec { pre_tokenizer: chain(patterns)?, ignore_merges, default_add_bos })
}
