//! The CPU attention op through `wc_cpu_attention_check`: the AVX-512 build returns the AVX2
//! build's bits for every output (where the CPU has AVX-512 and WC_ISA does not narrow), and the
//! AVX2 build is f64 attention up to the f16 roundings llama.cpp's path makes (q and the
//! probabilities rounded to f16, K and V stored as f16).

use serde_json::Value;

/// |ours - f64| over every output, values ~ N(0, 1). q rounded to f16 moves a score by about
/// 2^-11 of its size, and each probability is rounded to f16 too (2^-11 relative): measured worst
/// over seeds 1..3 is 1.3e-3. A wrong key, lane or mask is off by 0.1 or more.
const MAX_ABS_ERR: f64 = 1e-2;

#[test]
fn attention_builds_give_the_same_bits_and_match_f64_attention() {
    let wide = std::env::var("WC_ISA").is_err() && super::type_kernel_tests::cpu_has_avx512_vnni();
    for seed in 1..=3 {
        let r: Value = serde_json::from_str(&super::cpu_attention_check(seed).unwrap()).unwrap();
        let isas: Vec<&str> = r["isas"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(isas.contains(&"avx512"), wide, "the AVX-512 leg runs exactly where the CPU has it: {r}");
        assert!(r["outputs"].as_u64().unwrap() > 10_000, "{r}");
        assert_eq!(r["isa_mismatches"], 0, "seed {seed}: an ISA build differs from the AVX2 one: {r}");
        let err = r["max_abs_err"].as_f64().unwrap();
        assert!(err <= MAX_ABS_ERR, "seed {seed}: {err} > {MAX_ABS_ERR}: {r}");
        eprintln!("seed {seed}: {r}");
    }
}
