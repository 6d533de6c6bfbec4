//! Reads a loaded model's tokenizer metadata through the FFI into a `GgufVocab`, the plain-data
//! input every tokenizer is built from.

use crate::ffi::{self, Model};
use crate::tokenizer::vocab::GgufVocab;

pub fn gguf_vocab(model: &Model) -> ffi::Result<GgufVocab> {
    let info = model.tokenizer_info();
    let n = info.n_tokens.max(0);
    let mut tokens = Vec::with_capacity(n as usize);
    let mut token_types = Vec::with_capacity(n as usize);
    let mut scores = Vec::with_capacity(if info.has_scores { n as usize } else { 0 });
    for id in 0..n {
        let t = model.token(id)?;
        tokens.push(t.text);
        token_types.push(t.token_type);
        if info.has_scores {
            scores.push(t.score);
        }
    }
    let merges = (0..info.n_merges.max(0))
        .map(|i| model.merge(i).map(|m| String::from_utf8_lossy(&m).into_owned()))
        .collect::<ffi::Result<Vec<_>>>()?;
    Ok(GgufVocab {
        model: info.model,
        pre: info.pre,
        tokens,
        token_types,
        scores,
        merges,
        bos_id: info.bos_id,
        eos_id: info.eos_id,
        eot_id: info.eot_id,
        eom_id: info.eom_id,
        unk_id: info.unk_id,
        pad_id: info.pad_id,
        sep_id: info.sep_id,
        add_bos: info.add_bos,
        add_eos: info.add_eos,
        add_space_prefix: info.add_space_prefix,
        chat_template: info.chat_template,
        model_name: info.model_name,
    })
}
