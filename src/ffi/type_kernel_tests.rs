//! The CPU kernels of every computable weight type, through `wc_cpu_kernel_check` (random blocks):
//! (a) the dot equals the f64 dot of the dequantized operands within `MAX_REL_ERR`, (b) every
//! instruction-set variant returns the reference variant's bits, (c) the tile form returns the
//! one-row dot's bits for tiles of 1..4 rows, and so does the grid form (weight rows times one or
//! two tiles: Q4_0 and Q4_K on both ISAs, the float and the other 32-weight block types on
//! AVX-512), (d) the row dequantizer equals a plain reading of
//! the block layout, written here from ggml's `dequantize_row_*` independently of the C++ code.

use serde_json::Value;

/// GGUF type ids.
const F32: u32 = 0;
const F16: u32 = 1;
const Q4_0: u32 = 2;
const Q4_1: u32 = 3;
const Q5_0: u32 = 6;
const Q5_1: u32 = 7;
const Q8_0: u32 = 8;
const Q2_K: u32 = 10;
const Q3_K: u32 = 11;
const Q4_K: u32 = 12;
const Q5_K: u32 = 13;
const Q6_K: u32 = 14;
const BF16: u32 = 30;
const EVERY_TYPE: [u32; 13] = [F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K];

/// |dot - f64 dot of the dequantized operands| / sum |w x|. The integer parts are exact, so what
/// is left is f32 rounding: of d_w d_x, of an integer sum converted to f32, and of the adds over
/// 24 blocks (or 3 super-blocks and their minimum terms). Measured worst over seeds 1..4 is
/// 1.5e-7 (BF16); a kernel that reads a wrong bit or scale is off by 1e-2 or more.
const MAX_REL_ERR: f64 = 1e-6;
/// Q4_1/Q5_1 take their minimum term from Q8_1's s = d * sum(q) stored as f16 (as llama.cpp
/// does), which is off the f64 sum by up to half an f16 ulp (2^-12 relative): measured 2e-4.
const MAX_REL_ERR_Q8_1: f64 = 1e-3;

fn check(type_id: u32, seed: u64) -> Value {
    serde_json::from_str(&super::cpu_kernel_check(type_id, seed).unwrap_or_else(|e| panic!("type {type_id}: {e}"))).unwrap()
}

#[test]
fn every_type_dot_is_the_f64_dot_of_its_dequantized_operands_and_every_variant_has_the_same_bits() {
    let wide = std::env::var("WC_ISA").is_err() && cpu_has_avx512_vnni();
    for t in EVERY_TYPE {
        for seed in 1..=4 {
            let r = check(t, seed);
            let isas: Vec<&str> = r["isas"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            assert!(isas.contains(&"scalar") && isas.contains(&"avx2"), "{r}");
            assert_eq!(isas.contains(&"avx512"), wide, "the AVX-512 leg runs exactly where the CPU has it: {isas:?}");
            assert_eq!(r["quantize_mismatches"], 0, "{} seed {seed}: activation quantizers differ", r["type"]);
            assert_eq!(r["dot_mismatches"], 0, "{} seed {seed}: a variant's dot differs from the reference", r["type"]);
            assert_eq!(r["tile_mismatches"], 0, "{} seed {seed}: a tile row differs from its one-row dot", r["type"]);
            assert_eq!(r["grid_mismatches"], 0, "{} seed {seed}: a grid output differs from its one-row dot", r["type"]);
            // The float types, the 32-weight types, Q4_K and Q6_K have grids on both ISAs.
            let gridded = [F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K].contains(&t);
            assert_eq!(r["grid_checks"].as_u64().unwrap() > 0, gridded, "{} seed {seed}: grid kernels ran: {r}", r["type"]);
            let err = r["max_rel_err"].as_f64().unwrap();
            let bound = if t == Q4_1 || t == Q5_1 { MAX_REL_ERR_Q8_1 } else { MAX_REL_ERR };
            assert!(err <= bound, "{} seed {seed}: relative error {err} > {bound}", r["type"]);
        }
    }
}

#[test]
fn every_type_dequantizes_as_a_plain_reading_of_its_layout() {
    for t in EVERY_TYPE {
        for seed in [7, 8] {
            let r = check(t, seed);
            let hex = r["row_hex"].as_str().unwrap();
            let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            let got: Vec<f32> = r["row_values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let want = plain_reading(t, &bytes);
            assert_eq!(want.len(), got.len(), "{}", r["type"]);
            for (k, (a, b)) in want.iter().zip(&got).enumerate() {
                assert!(a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0), "{} seed {seed} weight {k}: plain {a}, core {b}", r["type"]);
            }
            assert!(want.iter().any(|v| *v != 0.0), "{}: all zero", r["type"]);
        }
    }
}

#[test]
fn a_type_without_kernels_is_refused_with_the_supported_list() {
    let e = super::cpu_kernel_check(23, 1).unwrap_err().to_string();
    assert!(e.contains("IQ4_XS is not computable") && e.contains("Q4_K") && e.contains("Q6_K"), "{e}");
}

pub(super) fn cpu_has_avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq") && has!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn f16(b: &[u8], at: usize) -> f32 {
    let h = u16::from_le_bytes([b[at], b[at + 1]]) as u32;
    let (sign, exp, man) = ((h >> 15) << 31, (h >> 10) & 0x1f, h & 0x3ff);
    let v = match exp {
        0 => (man as f32) * (1.0 / 16_777_216.0),
        31 => f32::from_bits(0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(((exp + 112) << 23) | (man << 13)),
    };
    if sign != 0 { -v } else { v }
}

/// ggml's dequantize_row_* for one row of blocks, read straight from the bytes.
fn plain_reading(t: u32, b: &[u8]) -> Vec<f32> {
    let mut y = Vec::new();
    match t {
        F32 => b.chunks(4).for_each(|c| y.push(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        F16 => b.chunks(2).for_each(|c| y.push(f16(c, 0))),
        BF16 => b.chunks(2).for_each(|c| y.push(f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))),
        Q8_0 => b.chunks(34).for_each(|c| (0..32).for_each(|j| y.push(c[2 + j] as i8 as f32 * f16(c, 0)))),
        Q4_0 | Q4_1 => {
            let size = if t == Q4_0 { 18 } else { 20 };
            for c in b.chunks(size) {
                let (d, qs) = (f16(c, 0), &c[size - 16..]);
                let m = if t == Q4_1 { f16(c, 2) } else { 0.0 };
                let v = |q: u8| if t == Q4_0 { (q as i32 - 8) as f32 * d } else { q as f32 * d + m };
                let mut out = [0f32; 32];
                for j in 0..16 {
                    out[j] = v(qs[j] & 0xf);
                    out[j + 16] = v(qs[j] >> 4);
                }
                y.extend(out);
            }
        }
        Q5_0 | Q5_1 => {
            let size = if t == Q5_0 { 22 } else { 24 };
            for c in b.chunks(size) {
                let d = f16(c, 0);
                let m = if t == Q5_1 { f16(c, 2) } else { 0.0 };
                let qh = u32::from_le_bytes(c[size - 20..size - 16].try_into().unwrap());
                let qs = &c[size - 16..];
                let mut out = [0f32; 32];
                for j in 0..16 {
                    let h0 = ((qh >> j) << 4) & 0x10;
                    let h1 = (qh >> (j + 12)) & 0x10;
                    let (x0, x1) = ((qs[j] & 0xf) as u32 | h0, (qs[j] >> 4) as u32 | h1);
                    if t == Q5_0 {
                        out[j] = (x0 as i32 - 16) as f32 * d;
                        out[j + 16] = (x1 as i32 - 16) as f32 * d;
                    } else {
                        out[j] = x0 as f32 * d + m;
                        out[j + 16] = x1 as f32 * d + m;
                    }
                }
                y.extend(out);
            }
        }
        Q2_K => {
            for c in b.chunks(84) {
                let (scales, qs, d, dmin) = (&c[0..16], &c[16..80], f16(c, 80), f16(c, 82));
                let mut is = 0;
                for n in 0..2 {
                    let q = &qs[32 * n..];
                    for shift in [0, 2, 4, 6] {
                        for half in 0..2 {
                            let sc = scales[is];
                            is += 1;
                            let (dl, ml) = (d * (sc & 0xf) as f32, dmin * (sc >> 4) as f32);
                            (0..16).for_each(|l| y.push(dl * ((q[l + 16 * half] >> shift) & 3) as f32 - ml));
                        }
                    }
                }
            }
        }
        Q3_K => {
            for c in b.chunks(110) {
                let (hm, qs, packed, d) = (&c[0..32], &c[32..96], &c[96..108], f16(c, 108));
                // ggml's unpacking: four u32 words, the high 2 bits of every scale in word 2.
                let w = |i: usize| u32::from_le_bytes(packed[4 * i..4 * i + 4].try_into().unwrap());
                let (a0, a1, tmp) = (w(0), w(1), w(2));
                let (k1, k2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
                let words = [
                    (a0 & k2) | ((tmp & k1) << 4),
                    (a1 & k2) | (((tmp >> 2) & k1) << 4),
                    ((a0 >> 4) & k2) | (((tmp >> 4) & k1) << 4),
                    ((a1 >> 4) & k2) | (((tmp >> 6) & k1) << 4),
                ];
                let scales: Vec<i8> = words.iter().flat_map(|v| v.to_le_bytes()).map(|x| x as i8).collect();
                let (mut is, mut m) = (0, 1u8);
                for n in 0..2 {
                    let q = &qs[32 * n..];
                    for shift in [0, 2, 4, 6] {
                        for half in 0..2 {
                            let dl = d * (scales[is] as i32 - 32) as f32;
                            is += 1;
                            for l in 16 * half..16 * half + 16 {
                                let v = ((q[l] >> shift) & 3) as i32 - if hm[l] & m != 0 { 0 } else { 4 };
                                y.push(dl * v as f32);
                            }
                        }
                        m <<= 1;
                    }
                }
            }
        }
        Q4_K | Q5_K => {
            let size = if t == Q4_K { 144 } else { 176 };
            for c in b.chunks(size) {
                let (d, dmin, sc) = (f16(c, 0), f16(c, 2), &c[4..16]);
                let (qh, qs) = if t == Q4_K { (&c[0..0], &c[16..144]) } else { (&c[16..48], &c[48..176]) };
                let scale_min = |j: usize| {
                    if j < 4 {
                        (sc[j] & 63, sc[j + 4] & 63)
                    } else {
                        ((sc[j + 4] & 0xf) | ((sc[j - 4] >> 6) << 4), (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4))
                    }
                };
                let (mut u1, mut u2) = (1u8, 2u8);
                for j in 0..4 {
                    let q = &qs[32 * j..];
                    let (s1, m1) = scale_min(2 * j);
                    let (s2, m2) = scale_min(2 * j + 1);
                    let (d1, mm1, d2, mm2) = (d * s1 as f32, dmin * m1 as f32, d * s2 as f32, dmin * m2 as f32);
                    let high = |l: usize, u: u8| if t == Q5_K && qh[l] & u != 0 { 16 } else { 0 };
                    (0..32).for_each(|l| y.push(d1 * ((q[l] & 0xf) + high(l, u1)) as f32 - mm1));
                    (0..32).for_each(|l| y.push(d2 * ((q[l] >> 4) + high(l, u2)) as f32 - mm2));
                    u1 <<= 2;
                    u2 <<= 2;
                }
            }
        }
        Q6_K => {
            for c in b.chunks(210) {
                let (ql, qh, sc, d) = (&c[0..128], &c[128..192], &c[192..208], f16(c, 208));
                for n in 0..2 {
                    let (ql, qh, sc) = (&ql[64 * n..], &qh[32 * n..], &sc[8 * n..]);
                    let mut out = [0f32; 128];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) as i32 - 32;
                        let q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                        let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                        let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                        out[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                        out[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                        out[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                        out[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                    }
                    y.extend(out);
                }
            }
        }
        _ => panic!("no plain reading for type {t}"),
    }
    y
}
