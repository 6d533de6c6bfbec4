//! The tokenizer metadata a GGUF file carries (`tokenizer.ggml.*`), as plain Rust data.
//! Filled from the core through the safe FFI wrapper (`GgufVocab::from_model`); tokenizers are
//! built from this struct only, so they can be unit-tested on small hand-made vocabularies.

/// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
pub mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
    pub const UNUSED: i32 = 5;
    pub const BYTE: i32 = 6;
}

#[derive(Debug, Clone, Default)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece), ...
    pub model: String,
    /// `tokenizer.ggml.pre`: pre-tokenizer name such as "smollm"; empty when absent.
    pub pre: String,
    /// Token texts as stored (byte-level BPE tokens use the GPT-2 byte-to-unicode mapping).
    pub tokens: Vec<Vec<u8>>,
    /// One of `token_type::*` per token (NORMAL when the file has no types).
    pub token_types: Vec<i32>,
    /// SentencePiece scores per token (empty when the file has none).
    pub scores: Vec<f32>,
    /// BPE merges, each "left right", in priority order (empty for SentencePiece).
    pub merges: Vec<String>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub eot_id: Option<u32>,
    pub eom_id: Option<u32>,
    pub unk_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub sep_id: Option<u32>,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
    pub chat_template: Option<String>,
    /// `general.name` ("" when absent): llama.cpp strips spaces after Phi-3's special tokens by it.
    pub model_name: String,
}
