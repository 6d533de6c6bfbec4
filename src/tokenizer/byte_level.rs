//! GPT-2's byte-level alphabet: every byte has a printable stand-in character, so byte-level BPE
//! vocabularies store tokens as ordinary strings ("Ġthe" is " the"). Printable Latin-1 bytes
//! stand for themselves; the other 68 bytes map, in order, to U+0100 and up.

use std::sync::OnceLock;

fn is_self_mapped(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
}

struct Tables {
    byte_to_char: [char; 256],
    char_to_byte: std::collections::HashMap<char, u8>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut byte_to_char = ['\0'; 256];
        let mut next = 256u32;
        for b in 0..=255u8 {
            byte_to_char[b as usize] = if is_self_mapped(b) {
                b as char
            } else {
                let c = char::from_u32(next).expect("U+0100.. are valid chars");
                next += 1;
                c
            };
        }
        let char_to_byte = byte_to_char.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        Tables { byte_to_char, char_to_byte }
    })
}

/// The stand-in character of byte `b`.
pub fn byte_char(b: u8) -> char {
    tables().byte_to_char[b as usize]
}

/// The raw bytes a byte-level token string stands for. Characters outside the alphabet (never
/// produced by a well-formed vocabulary) are kept as their UTF-8.
pub fn token_to_bytes(token: &str) -> Vec<u8> {
    let map = &tables().char_to_byte;
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        match map.get(&c) {
            Some(&b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_is_a_bijection_with_the_known_stand_ins() {
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        assert_eq!(byte_char(b'a'), 'a');
        let all: String = (0..=255u8).map(byte_char).collect();
        assert_eq!(token_to_bytes(&all), (0..=255u8).collect::<Vec<_>>());
    }
}
