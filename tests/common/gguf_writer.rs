//! A small GGUF writer for tests: metadata of every value type (nested arrays included), tensors
//! with given raw bytes, `general.alignment` honoured, and a deterministic tiny random-weight llama.
//!
//! Layout from the GGUF spec (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): a
//! little-endian header (magic "GGUF", u32 version, u64 tensor count, u64 kv count), the kv pairs,
//! the tensor infos, padding to the alignment, then the tensor data. v2 and v3 share this layout
//! (v3 only added big-endian files), so `version` is just the number written.
//!
//! The writer never validates: tests build malformed files on purpose. `Value::Raw` writes any
//! type id followed by any payload, and `Tensor::offset` pins a tensor's data offset.
//! Also compiled into the ffi unit tests (src/ffi/abi_tests.rs includes it by path).
#![allow(dead_code)]

use std::path::Path;

/// GGUF metadata value type ids.
pub mod vtype {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// ggml tensor type ids (the ones these tests write).
pub mod ttype {
    pub const F32: u32 = 0;
    pub const F16: u32 = 1;
    pub const Q4_0: u32 = 2;
    pub const Q4_1: u32 = 3;
    pub const Q5_0: u32 = 6;
    pub const Q5_1: u32 = 7;
    pub const Q8_0: u32 = 8;
    pub const Q2_K: u32 = 10;
    pub const Q3_K: u32 = 11;
    pub const Q4_K: u32 = 12;
    pub const Q5_K: u32 = 13;
    pub const Q6_K: u32 = 14;
    pub const BF16: u32 = 30;
}

#[derive(Clone, Debug)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    /// Element type id and elements; the elements are written as they are, unchecked.
    Array(u32, Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
    /// A type id followed by arbitrary payload bytes, for crafting malformed values.
    Raw(u32, Vec<u8>),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_string())
    }

    pub fn strings<S: AsRef<str>>(items: &[S]) -> Value {
        Value::Array(vtype::STRING, items.iter().map(|s| Value::str(s.as_ref())).collect())
    }

    pub fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => vtype::U8,
            Value::I8(_) => vtype::I8,
            Value::U16(_) => vtype::U16,
            Value::I16(_) => vtype::I16,
            Value::U32(_) => vtype::U32,
            Value::I32(_) => vtype::I32,
            Value::F32(_) => vtype::F32,
            Value::Bool(_) => vtype::BOOL,
            Value::Str(_) => vtype::STRING,
            Value::Array(..) => vtype::ARRAY,
            Value::U64(_) => vtype::U64,
            Value::I64(_) => vtype::I64,
            Value::F64(_) => vtype::F64,
            Value::Raw(t, _) => *t,
        }
    }

    /// The value without its type id (arrays carry their element type inside the payload).
    fn write_payload(&self, out: &mut Vec<u8>) {
        match self {
            Value::U8(v) => out.push(*v),
            Value::I8(v) => out.push(*v as u8),
            Value::U16(v) => out.extend(v.to_le_bytes()),
            Value::I16(v) => out.extend(v.to_le_bytes()),
            Value::U32(v) => out.extend(v.to_le_bytes()),
            Value::I32(v) => out.extend(v.to_le_bytes()),
            Value::F32(v) => out.extend(v.to_le_bytes()),
            Value::Bool(v) => out.push(*v as u8),
            Value::Str(s) => write_str(out, s),
            Value::Array(elem, items) => {
                out.extend(elem.to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                for item in items {
                    item.write_payload(out);
                }
            }
            Value::U64(v) => out.extend(v.to_le_bytes()),
            Value::I64(v) => out.extend(v.to_le_bytes()),
            Value::F64(v) => out.extend(v.to_le_bytes()),
            Value::Raw(_, bytes) => out.extend(bytes),
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: String,
    /// ne[0] first (the row length), as GGUF stores them.
    pub dims: Vec<u64>,
    pub type_id: u32,
    pub data: Vec<u8>,
    /// None: placed after the previous placed tensor, aligned. Some(o): this offset is written and
    /// no data bytes are (for crafting overlaps, misalignment, offsets past the end).
    pub offset: Option<u64>,
}

impl Tensor {
    pub fn new(name: &str, dims: &[u64], type_id: u32, data: Vec<u8>) -> Tensor {
        Tensor { name: name.to_string(), dims: dims.to_vec(), type_id, data, offset: None }
    }

    /// Quantizes `values` (ne[0]-major) into `type_id`.
    pub fn from_f32(name: &str, dims: &[u64], type_id: u32, values: &[f32]) -> Tensor {
        assert_eq!(values.len() as u64, dims.iter().product::<u64>(), "{name}: value count does not match dims");
        Tensor::new(name, dims, type_id, quantize(type_id, values))
    }
}

/// A GGUF file under construction. Keys and tensors keep their insertion order; duplicates are
/// allowed (a test may want them).
#[derive(Clone, Debug)]
pub struct Gguf {
    pub version: u32,
    pub kv: Vec<(String, Value)>,
    pub tensors: Vec<Tensor>,
}

/// The serialised file plus where its sections start, for tests that cut or patch it.
pub struct Built {
    pub bytes: Vec<u8>,
    /// Offset of each metadata entry, in key order.
    pub kv_at: Vec<usize>,
    /// Offset of each tensor info record, in tensor order.
    pub tensor_info_at: Vec<usize>,
    /// Offset of the first tensor info (= end of the metadata).
    pub infos_start: usize,
    /// End of the tensor infos (before the padding).
    pub infos_end: usize,
    /// Absolute offset of the data section.
    pub data_start: usize,
    /// Data-section-relative offset of each tensor, in tensor order.
    pub tensor_offsets: Vec<u64>,
}

impl Default for Gguf {
    fn default() -> Self {
        Gguf { version: 3, kv: Vec::new(), tensors: Vec::new() }
    }
}

impl Gguf {
    pub fn new() -> Gguf {
        Gguf::default()
    }

    /// Appends a key (even if it already exists).
    pub fn kv(mut self, key: &str, value: Value) -> Gguf {
        self.kv.push((key.to_string(), value));
        self
    }

    pub fn tensor(mut self, t: Tensor) -> Gguf {
        self.tensors.push(t);
        self
    }

    /// Replaces the first value of `key`, or appends it.
    pub fn set(&mut self, key: &str, value: Value) {
        match self.kv.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.kv.push((key.to_string(), value)),
        }
    }

    pub fn kv_index(&self, key: &str) -> usize {
        self.kv.iter().position(|(k, _)| k == key).unwrap_or_else(|| panic!("no key {key}"))
    }

    pub fn tensor_index(&self, name: &str) -> usize {
        self.tensors.iter().position(|t| t.name == name).unwrap_or_else(|| panic!("no tensor {name}"))
    }

    pub fn remove(&mut self, key: &str) {
        let before = self.kv.len();
        self.kv.retain(|(k, _)| k != key);
        assert!(self.kv.len() < before, "no key {key}");
    }

    pub fn tensor_mut(&mut self, name: &str) -> &mut Tensor {
        self.tensors.iter_mut().find(|t| t.name == name).unwrap_or_else(|| panic!("no tensor {name}"))
    }

    pub fn remove_tensor(&mut self, name: &str) {
        let before = self.tensors.len();
        self.tensors.retain(|t| t.name != name);
        assert!(self.tensors.len() < before, "no tensor {name}");
    }

    /// The alignment the layout uses: `general.alignment` when it is a usable power of two, else
    /// the default 32 (so a file declaring a bad alignment is still laid out sensibly).
    pub fn alignment(&self) -> u64 {
        let declared = self.kv.iter().find(|(k, _)| k == "general.alignment").and_then(|(_, v)| match v {
            Value::U32(a) => Some(*a as u64),
            Value::U64(a) => Some(*a),
            Value::I32(a) => u64::try_from(*a).ok(),
            _ => None,
        });
        match declared {
            Some(a) if a.is_power_of_two() => a,
            _ => 32,
        }
    }

    pub fn build(&self) -> Built {
        let align = self.alignment();
        let pad_to = |n: u64| n.div_ceil(align) * align;
        let mut out = Vec::new();
        out.extend(b"GGUF");
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.kv.len() as u64).to_le_bytes());
        let mut kv_at = Vec::with_capacity(self.kv.len());
        for (key, value) in &self.kv {
            kv_at.push(out.len());
            write_str(&mut out, key);
            out.extend(value.type_id().to_le_bytes());
            value.write_payload(&mut out);
        }

        let mut offsets = Vec::with_capacity(self.tensors.len());
        let mut next = 0u64;
        for t in &self.tensors {
            offsets.push(t.offset.unwrap_or_else(|| {
                let at = pad_to(next);
                next = at + t.data.len() as u64;
                at
            }));
        }

        let infos_start = out.len();
        let mut tensor_info_at = Vec::with_capacity(self.tensors.len());
        for (t, offset) in self.tensors.iter().zip(&offsets) {
            tensor_info_at.push(out.len());
            write_str(&mut out, &t.name);
            out.extend((t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(t.type_id.to_le_bytes());
            out.extend(offset.to_le_bytes());
        }
        let infos_end = out.len();

        let data_start = pad_to(out.len() as u64) as usize;
        out.resize(data_start, 0);
        for (t, offset) in self.tensors.iter().zip(&offsets) {
            if t.offset.is_none() {
                out.resize(data_start + *offset as usize, 0);
                out.extend(&t.data);
            }
        }
        if !self.tensors.is_empty() {
            out.resize(pad_to(out.len() as u64) as usize, 0);
        }
        Built { bytes: out, kv_at, tensor_info_at, infos_start, infos_end, data_start, tensor_offsets: offsets }
    }

    pub fn write(&self, path: &Path) -> Built {
        let built = self.build();
        std::fs::write(path, &built.bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        built
    }
}

// ---------------------------------------------------------------------------------------------
// Quantization (reference algorithms of ggml's quantize_row_*_ref, ggml-quants.c)
// ---------------------------------------------------------------------------------------------

/// The value of IEEE binary16 bits (for the K quantizers, which quantize against rounded scales).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let (exp, man) = ((h >> 10) & 0x1f, (h & 0x3ff) as f32);
    sign * match exp {
        0 => man * (2f32).powi(-24),
        31 => if man == 0.0 { f32::INFINITY } else { f32::NAN },
        e => (1.0 + man / 1024.0) * (2f32).powi(e as i32 - 15),
    }
}

/// IEEE binary16 bits of `x`, rounded to nearest even.
pub fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    let (bits, shift) = if e <= 0 {
        if e < -10 {
            return sign;
        }
        // Subnormal: value = m * 2^(e - 14 - 10), with the implicit bit made explicit.
        (man | 0x80_0000, (14 - e) as u32)
    } else {
        (((e as u32) << 23) | man, 13)
    };
    let mut r = bits >> shift;
    let rem = bits & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rem > half || (rem == half && r & 1 == 1) {
        r += 1; // a carry into the exponent is still the right answer
    }
    sign | r as u16
}

pub fn f32_to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// (weights per block, bytes per block) of the types `quantize` writes.
pub fn block_layout(type_id: u32) -> (usize, usize) {
    match type_id {
        ttype::F32 => (1, 4),
        ttype::F16 | ttype::BF16 => (1, 2),
        ttype::Q4_0 => (32, 18),
        ttype::Q4_1 => (32, 20),
        ttype::Q5_0 => (32, 22),
        ttype::Q5_1 => (32, 24),
        ttype::Q8_0 => (32, 34),
        ttype::Q2_K => (256, 84),
        ttype::Q3_K => (256, 110),
        ttype::Q4_K => (256, 144),
        ttype::Q5_K => (256, 176),
        ttype::Q6_K => (256, 210),
        _ => panic!("no block layout for tensor type {type_id}"),
    }
}

/// Stored bytes of `values` as `type_id`: ggml's reference quantizers for the 32-weight types,
/// plain ones for the K-quants (sub-block scales from each sub-block's range, no search).
pub fn quantize(type_id: u32, values: &[f32]) -> Vec<u8> {
    let (block, bytes) = block_layout(type_id);
    assert_eq!(values.len() % block, 0, "{} values do not fill {block}-weight blocks", values.len());
    let mut out = Vec::with_capacity(values.len() / block * bytes);
    match type_id {
        ttype::F32 => values.iter().for_each(|v| out.extend(v.to_le_bytes())),
        ttype::F16 => values.iter().for_each(|v| out.extend(f32_to_f16(*v).to_le_bytes())),
        ttype::BF16 => values.iter().for_each(|v| out.extend(f32_to_bf16(*v).to_le_bytes())),
        ttype::Q8_0 => {
            for x in values.chunks(32) {
                let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend(f32_to_f16(d).to_le_bytes());
                out.extend(x.iter().map(|v| (v * id).round() as i8 as u8));
            }
        }
        ttype::Q4_0 => {
            for x in values.chunks(32) {
                // The value of largest magnitude maps to -8.
                let max = x.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
                let d = max / -8.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let q = |v: f32| ((v * id + 8.5) as i32).clamp(0, 15) as u8;
                out.extend(f32_to_f16(d).to_le_bytes());
                // weight j in the low nibble of byte j, weight j + 16 in its high nibble
                out.extend((0..16).map(|j| q(x[j]) | (q(x[j + 16]) << 4)));
            }
        }
        ttype::Q4_1 => {
            for x in values.chunks(32) {
                let min = x.iter().copied().fold(f32::INFINITY, f32::min);
                let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let d = (max - min) / 15.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let q = |v: f32| (((v - min) * id + 0.5) as i32).clamp(0, 15) as u8;
                out.extend(f32_to_f16(d).to_le_bytes());
                out.extend(f32_to_f16(min).to_le_bytes());
                out.extend((0..16).map(|j| q(x[j]) | (q(x[j + 16]) << 4)));
            }
        }
        ttype::Q5_0 | ttype::Q5_1 => {
            for x in values.chunks(32) {
                // Q5_0: the value of largest magnitude maps to -16, q = x/d + 16; Q5_1: q = (x - min)/d.
                let (d, offset, min) = if type_id == ttype::Q5_0 {
                    let max = x.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
                    (max / -16.0, 16.5, 0.0)
                } else {
                    let min = x.iter().copied().fold(f32::INFINITY, f32::min);
                    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    ((max - min) / 31.0, 0.5, min)
                };
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let q: Vec<u32> = x.iter().map(|&v| (((v - min) * id + offset) as i32).clamp(0, 31) as u32).collect();
                out.extend(f32_to_f16(d).to_le_bytes());
                if type_id == ttype::Q5_1 {
                    out.extend(f32_to_f16(min).to_le_bytes());
                }
                // bit 4 of weight j at bit j of qh; low nibbles as Q4_0's (j low, j + 16 high)
                let qh = (0..32).fold(0u32, |h, j| h | ((q[j] >> 4) & 1) << j);
                out.extend(qh.to_le_bytes());
                out.extend((0..16).map(|j| ((q[j] & 15) | (q[j + 16] & 15) << 4) as u8));
            }
        }
        ttype::Q2_K => values.chunks(256).for_each(|x| quantize_q2_k(x, &mut out)),
        ttype::Q3_K => values.chunks(256).for_each(|x| quantize_q3_k(x, &mut out)),
        ttype::Q4_K => values.chunks(256).for_each(|x| quantize_q4_5_k(x, false, &mut out)),
        ttype::Q5_K => values.chunks(256).for_each(|x| quantize_q4_5_k(x, true, &mut out)),
        ttype::Q6_K => values.chunks(256).for_each(|x| quantize_q6_k(x, &mut out)),
        _ => out.extend((0..values.len() / block * bytes).map(|i| (i * 7 + 3) as u8)),
    }
    out
}

/// Per sub-block of `n` weights: unsigned quants 0..=qmax and integer scales/minimums 0..=smax with
/// w = d·sc·q − dmin·mn (the minimum term only subtracts: mn ≥ 0). Returns (d, dmin, sc, mn, q).
fn k_scales_and_quants(x: &[f32], n: usize, qmax: i32, smax: i32) -> (f32, f32, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (scale, min): (Vec<f32>, Vec<f32>) = x
        .chunks(n)
        .map(|sub| {
            let lo = sub.iter().copied().fold(0f32, f32::min);
            let hi = sub.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            ((hi - lo) / qmax as f32, -lo)
        })
        .unzip();
    let d = f16_to_f32(f32_to_f16(scale.iter().copied().fold(0f32, f32::max) / smax as f32));
    let dmin = f16_to_f32(f32_to_f16(min.iter().copied().fold(0f32, f32::max) / smax as f32));
    let int = |v: f32, by: f32| if by > 0.0 { ((v / by).round() as i32).clamp(0, smax) as u8 } else { 0 };
    let sc: Vec<u8> = scale.iter().map(|&v| int(v, d)).collect();
    let mn: Vec<u8> = min.iter().map(|&v| int(v, dmin)).collect();
    let q = (0..x.len())
        .map(|k| {
            let ds = d * sc[k / n] as f32;
            if ds > 0.0 { (((x[k] + dmin * mn[k / n] as f32) / ds).round() as i32).clamp(0, qmax) as u8 } else { 0 }
        })
        .collect();
    (d, dmin, sc, mn, q)
}

/// One Q2_K super-block: 16 sub-blocks of 16, 4-bit sc and mn, 2-bit q.
fn quantize_q2_k(x: &[f32], out: &mut Vec<u8>) {
    let (d, dmin, sc, mn, q) = k_scales_and_quants(x, 16, 3, 15);
    out.extend((0..16).map(|g| sc[g] | mn[g] << 4));
    // weight 128n + 32j + 16h + l at bits 2j of byte 32n + 16h + l
    let mut qs = [0u8; 64];
    for (e, &v) in q.iter().enumerate() {
        let (n, j, hl) = (e / 128, (e % 128) / 32, e % 32);
        qs[32 * n + hl] |= v << (2 * j);
    }
    out.extend(qs);
    out.extend(f32_to_f16(d).to_le_bytes());
    out.extend(f32_to_f16(dmin).to_le_bytes());
}

/// One Q3_K super-block: 16 sub-blocks of 16, signed 6-bit scales, q − 4 in −4..=3.
fn quantize_q3_k(x: &[f32], out: &mut Vec<u8>) {
    let scale: Vec<f32> = x.chunks(16).map(|sub| sub.iter().fold(0f32, |m, v| m.max(v.abs())) / 4.0).collect();
    let d = f16_to_f32(f32_to_f16(scale.iter().copied().fold(0f32, f32::max) / 31.0));
    let sc: Vec<i32> = scale.iter().map(|&v| if d > 0.0 { ((v / d).round() as i32).clamp(-32, 31) } else { 0 }).collect();
    let (mut hmask, mut qs, mut packed) = ([0u8; 32], [0u8; 64], [0u8; 12]);
    for e in 0..256 {
        let ds = d * sc[e / 16] as f32;
        let u = if ds != 0.0 { ((x[e] / ds).round() as i32).clamp(-4, 3) + 4 } else { 4 } as u8; // 0..7
        let (n, j, hl) = (e / 128, (e % 128) / 32, e % 32);
        qs[32 * n + hl] |= (u & 3) << (2 * j);
        hmask[hl] |= (u >> 2) << (4 * n + j);
    }
    // scale k + 32: low 4 bits in the nibbles of bytes 0..7, high 2 bits in bytes 8..11
    for (k, &v) in sc.iter().enumerate() {
        let u = (v + 32) as u8;
        packed[k % 8] |= (u & 15) << (4 * (k / 8));
        packed[8 + k % 4] |= (u >> 4) << (2 * (k / 4));
    }
    out.extend(hmask);
    out.extend(qs);
    out.extend(packed);
    out.extend(f32_to_f16(d).to_le_bytes());
}

/// One Q4_K (or, with `five`, Q5_K) super-block: w = d·sc·q − dmin·m per 32 weights, 6-bit sc
/// and m, 4-bit (5-bit) q.
fn quantize_q4_5_k(x: &[f32], five: bool, out: &mut Vec<u8>) {
    let (d, dmin, sc, mn, q) = k_scales_and_quants(x, 32, if five { 31 } else { 15 }, 63);
    out.extend(f32_to_f16(d).to_le_bytes());
    out.extend(f32_to_f16(dmin).to_le_bytes());
    // ggml's get_scale_min_k4 packing: sub-blocks 0..3 in bytes 0..7, the high ones split around them.
    let mut packed = [0u8; 12];
    for j in 0..4 {
        packed[j] = sc[j] | (sc[j + 4] >> 4) << 6;
        packed[j + 4] = mn[j] | (mn[j + 4] >> 4) << 6;
        packed[j + 8] = (sc[j + 4] & 15) | (mn[j + 4] & 15) << 4;
    }
    out.extend(packed);
    if five {
        // bit 4 of weight 64c + 32h + l at bit 2c + h of qh[l]
        out.extend((0..32).map(|l| (0..8).fold(0u8, |b, s| b | ((q[32 * s + l] >> 4) & 1) << s)));
    }
    // weights 64c .. 64c+31 in the low nibbles of bytes 32c .., 64c+32 .. in the high ones
    for c in 0..4 {
        out.extend((0..32).map(|l| (q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4));
    }
}

/// One Q6_K super-block: w = d·sc·(q − 32) per 16 weights, 8-bit sc, 6-bit q.
fn quantize_q6_k(x: &[f32], out: &mut Vec<u8>) {
    let scale: Vec<f32> = (0..16).map(|g| x[16 * g..16 * g + 16].iter().fold(0f32, |m, v| m.max(v.abs())) / 31.0).collect();
    let d = f16_to_f32(f32_to_f16(scale.iter().copied().fold(0f32, f32::max) / 127.0));
    let sc: Vec<i8> = scale.iter().map(|&v| if d > 0.0 { ((v / d).round() as i32).clamp(-128, 127) as i8 } else { 0 }).collect();
    let q: Vec<u8> = (0..256)
        .map(|k| {
            let ds = d * sc[k / 16] as f32;
            if ds != 0.0 { ((x[k] / ds).round() as i32 + 32).clamp(0, 63) as u8 } else { 32 }
        })
        .collect();
    let (mut ql, mut qh) = ([0u8; 128], [0u8; 64]);
    for n in 0..2 {
        for l in 0..32 {
            let [a, b, c, e] = [0, 32, 64, 96].map(|o| q[128 * n + o + l]);
            ql[64 * n + l] = (a & 15) | (c & 15) << 4;
            ql[64 * n + 32 + l] = (b & 15) | (e & 15) << 4;
            qh[32 * n + l] = (a >> 4) | (b >> 4) << 2 | (c >> 4) << 4 | (e >> 4) << 6;
        }
    }
    out.extend(ql);
    out.extend(qh);
    out.extend(sc.iter().map(|&v| v as u8));
    out.extend(f32_to_f16(d).to_le_bytes());
}

// ---------------------------------------------------------------------------------------------
// A tiny random-weight llama
// ---------------------------------------------------------------------------------------------

/// splitmix64 (https://prng.di.unimi.it/splitmix64.c): tiny, seedable, good enough for weights.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// GPT-2's byte-to-character map: printable bytes stand for themselves, the rest are shifted
/// to U+0100.. so every byte has a visible character (space becomes 'Ġ', newline 'Ċ').
pub fn gpt2_byte_char(b: u8) -> char {
    let printable = |c: u8| (33..=126).contains(&c) || (161..=172).contains(&c) || c >= 174;
    if printable(b) {
        return b as char;
    }
    let rank = (0..b).filter(|&c| !printable(c)).count() as u32;
    char::from_u32(256 + rank).unwrap()
}

/// BPE merges of the tiny vocabulary, in priority order ("Ġ" is a space).
pub const TINY_MERGES: [&str; 13] = [
    "Ġ t", "h e", "i n", "Ġt he", "e r", "o n", "Ġ a", "r e", "a t", "Ġ s", "e n", "o r", "in g",
];
pub const TINY_SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Dimensions and tensor types of a tiny llama; `build` is deterministic in all of them.
#[derive(Clone, Debug)]
pub struct TinyLlama {
    pub seed: u64,
    pub n_layer: u32,
    pub n_embd: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub n_ff: u32,
    pub n_ctx: u32,
    /// One type for every matrix; None mixes every type the kernels read across the matrices.
    pub matrix_type: Option<u32>,
    /// Write output.weight (otherwise the head is tied to token_embd.weight).
    pub untied_output: bool,
}

impl Default for TinyLlama {
    fn default() -> Self {
        TinyLlama {
            seed: 1,
            n_layer: 2,
            n_embd: 64,
            n_head: 4,
            n_head_kv: 2,
            n_ff: 128,
            n_ctx: 128,
            matrix_type: None,
            untied_output: true,
        }
    }
}

impl TinyLlama {
    /// 256 byte tokens, one per merge, then the specials.
    pub fn n_vocab(&self) -> u32 {
        (256 + TINY_MERGES.len() + TINY_SPECIALS.len()) as u32
    }

    pub fn head_dim(&self) -> u32 {
        self.n_embd / self.n_head
    }

    pub fn tokens(&self) -> Vec<String> {
        let bytes = (0..=255u8).map(|b| gpt2_byte_char(b).to_string());
        let merged = TINY_MERGES.iter().map(|m| m.replace(' ', ""));
        bytes.chain(merged).chain(TINY_SPECIALS.iter().map(|s| s.to_string())).collect()
    }

    fn matrix_type_for(&self, role: &str) -> u32 {
        if let Some(t) = self.matrix_type {
            return t;
        }
        match role {
            "token_embd" => ttype::Q8_0,
            "attn_q" | "ffn_gate" => ttype::Q4_0,
            "attn_k" | "ffn_up" => ttype::Q4_1,
            "attn_v" => ttype::F16,
            "attn_output" => ttype::BF16,
            "ffn_down" => ttype::Q8_0,
            _ => ttype::F32, // output
        }
    }

    pub fn build(&self) -> Gguf {
        let mut rng = Rng::new(self.seed);
        let (e, f, v) = (self.n_embd as u64, self.n_ff as u64, self.n_vocab() as u64);
        let q_dim = (self.n_head * self.head_dim()) as u64;
        let kv_dim = (self.n_head_kv * self.head_dim()) as u64;

        let n_tok = self.n_vocab() as usize;
        let specials = n_tok - TINY_SPECIALS.len();
        let token_types: Vec<Value> = (0..n_tok).map(|i| Value::I32(if i >= specials { 3 } else { 1 })).collect();
        let mut g = Gguf::new()
            .kv("general.architecture", Value::str("llama"))
            .kv("general.name", Value::str("tiny-random-llama"))
            .kv("llama.context_length", Value::U32(self.n_ctx))
            .kv("llama.embedding_length", Value::U32(self.n_embd))
            .kv("llama.block_count", Value::U32(self.n_layer))
            .kv("llama.feed_forward_length", Value::U32(self.n_ff))
            .kv("llama.attention.head_count", Value::U32(self.n_head))
            .kv("llama.attention.head_count_kv", Value::U32(self.n_head_kv))
            .kv("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5))
            .kv("llama.rope.freq_base", Value::F32(10000.0))
            .kv("llama.rope.dimension_count", Value::U32(self.head_dim()))
            .kv("llama.vocab_size", Value::U32(self.n_vocab()))
            .kv("tokenizer.ggml.model", Value::str("gpt2"))
            .kv("tokenizer.ggml.pre", Value::str("gpt2"))
            .kv("tokenizer.ggml.tokens", Value::strings(&self.tokens()))
            .kv("tokenizer.ggml.token_type", Value::Array(vtype::I32, token_types))
            .kv("tokenizer.ggml.merges", Value::strings(&TINY_MERGES))
            .kv("tokenizer.ggml.bos_token_id", Value::U32(specials as u32))
            .kv("tokenizer.ggml.eos_token_id", Value::U32(specials as u32 + 2))
            .kv("tokenizer.ggml.add_bos_token", Value::Bool(false))
            .kv(
                "tokenizer.chat_template",
                Value::str("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"),
            );

        // Matrices get weights of scale 1/sqrt(fan_in) so activations stay O(1); norms sit near 1.
        let mut matrix = |name: String, role: &str, cols: u64, rows: u64| {
            let scale = 1.0 / (cols as f32).sqrt();
            let w: Vec<f32> = (0..cols * rows).map(|_| rng.uniform() * scale).collect();
            Tensor::from_f32(&name, &[cols, rows], self.matrix_type_for(role), &w)
        };
        let norm = |name: String, seed: u64| {
            let mut r = Rng::new(seed);
            let w: Vec<f32> = (0..e).map(|_| 1.0 + 0.1 * r.uniform()).collect();
            Tensor::from_f32(&name, &[e], ttype::F32, &w)
        };

        g = g.tensor(matrix("token_embd.weight".into(), "token_embd", e, v));
        for l in 0..self.n_layer {
            let n = |what: &str| format!("blk.{l}.{what}.weight");
            let s = self.seed ^ ((l as u64 + 1) << 32);
            g = g
                .tensor(norm(n("attn_norm"), s))
                .tensor(matrix(n("attn_q"), "attn_q", e, q_dim))
                .tensor(matrix(n("attn_k"), "attn_k", e, kv_dim))
                .tensor(matrix(n("attn_v"), "attn_v", e, kv_dim))
                .tensor(matrix(n("attn_output"), "attn_output", q_dim, e))
                .tensor(norm(n("ffn_norm"), s + 1))
                .tensor(matrix(n("ffn_gate"), "ffn_gate", e, f))
                .tensor(matrix(n("ffn_up"), "ffn_up", e, f))
                .tensor(matrix(n("ffn_down"), "ffn_down", f, e));
        }
        g = g.tensor(norm("output_norm.weight".into(), self.seed ^ 0xabcd));
        if self.untied_output {
            g = g.tensor(matrix("output.weight".into(), "output", e, v));
        }
        g
    }
}
