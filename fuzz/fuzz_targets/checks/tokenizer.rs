//! The checks every tokenizer target makes on one input: encoding never fails or panics, every
//! id is inside the vocabulary, decoding arbitrary ids never panics, and decode(encode(s)) gives
//! `s` back where the tokenizer promises it (plain text: no special-token parsing, no BOS/EOS,
//! and every byte of it has a token of its own in the vocabulary).

use super::vocabularies::Vocab;

pub enum RoundTrip {
    /// Byte-level BPE represents every byte that has a token: such text comes back.
    Always,
    /// SentencePiece writes spaces as U+2581, so a U+2581 in the text comes back as a space.
    SentencePiece,
}

pub fn check(v: &Vocab, data: &[u8], round_trip: RoundTrip) {
    let t = &v.tokenizer;
    let text = String::from_utf8_lossy(data);
    let n = t.vocab_size();

    let plain = t.encode_with(&text, false, false).expect("encoding plain text never fails");
    assert!(plain.iter().all(|&id| (id as usize) < n), "an id outside the vocabulary");
    let representable = text.bytes().all(|b| v.byte_tokens[b as usize]);
    let promised = representable
        && match round_trip {
            RoundTrip::Always => true,
            RoundTrip::SentencePiece => !text.contains('\u{2581}'),
        };
    if promised {
        assert_eq!(t.decode(&plain), text, "decode(encode(s)) != s");
    }

    // As the server encodes a raw prompt: control tokens written in the text parsed, BOS added.
    let special = t.encode(&text, true).expect("encoding with special tokens never fails");
    assert!(special.iter().all(|&id| (id as usize) < n), "an id outside the vocabulary");
    let _ = t.decode(&special);

    // Any ids at all, in range or not (a client's logit_bias, a bad cache): decode never panics.
    let ids: Vec<u32> = data.chunks(4).map(|c| c.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)) % (n as u32 + 16)).collect();
    let _ = t.decode(&ids);
    for &id in &ids {
        let _ = t.token_bytes(id);
    }
}
