//! Crafted GGUF files, each loaded through the library (`ffi::Model::load`) and through the real
//! binary (`worker-orcd logits`). A bad file must fail with the right status and a message naming
//! the file and the key or tensor at fault; the binary must exit 1, never die on a signal. A few
//! positive cases check that the tiny random llama (and v2 files) load and give finite logits.
//! Tests on the real model skip with a printed reason when it is absent.

mod common;

use common::{bin, test_model};

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::gguf_writer::{ttype, vtype, Gguf, Tensor, TinyLlama, Value};
use tempfile::TempDir;
use worker_orcd::cli::sequence::OneSequence;
use worker_orcd::ffi::{self, ErrorKind, Model, ModelParams};

use ErrorKind::{GgufFormat, Io, Unsupported};

fn tiny() -> Gguf {
    TinyLlama::default().build()
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn write_gguf(dir: &TempDir, name: &str, g: &Gguf) -> PathBuf {
    write(dir, name, &g.build().bytes)
}

fn load(path: &Path) -> ffi::Result<Model> {
    Model::load(path, ModelParams { n_threads: 1, ..Default::default() })
}

/// Runs `worker-orcd logits` on `path`; returns (exit code, stderr, output file).
fn run_logits(path: &Path, tokens: &str) -> (i32, String, PathBuf, TempDir) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("logits.jsonl");
    let o = Command::new(bin())
        .args(["logits", "--threads", "1", "--tokens", tokens, "--model"])
        .arg(path)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("spawn worker-orcd");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let code = o.status.code().unwrap_or_else(|| panic!("worker-orcd died on signal {:?}: {stderr}", o.status.signal()));
    (code, stderr, out, out_dir)
}

/// Both the library and the binary refuse `path` with `kind`, naming the file and every needle.
fn assert_rejected(path: &Path, kind: ErrorKind, needles: &[&str]) {
    let shown = path.display().to_string();
    let err = match load(path) {
        Ok(_) => panic!("{shown}: loaded, expected {kind:?} containing {needles:?}"),
        Err(e) => e,
    };
    eprintln!("{kind:?}: {}", err.message);
    assert_eq!(err.kind, kind, "wrong kind; message: {}", err.message);
    assert!(err.message.contains(&shown), "message does not name the file: {}", err.message);
    for n in needles {
        assert!(err.message.contains(n), "message lacks {n:?}: {}", err.message);
    }

    let (code, stderr, _, _dir) = run_logits(path, "1,2");
    assert_eq!(code, 1, "exit code; stderr: {stderr}");
    let status = format!("({})", ffi::status_name(kind));
    assert!(stderr.contains(&status), "stderr lacks {status}: {stderr}");
    assert!(stderr.contains(&shown), "stderr does not name the file: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
}

/// Logits of `tokens` evaluated in one prefill.
fn logits_of(model: &Model, tokens: &[i32]) -> Vec<f32> {
    let mut s = OneSequence::new(model, 16, None, 0).unwrap();
    s.prefill(tokens).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// An F32 tensor named "extra"; with an explicit offset no data is written (dims may be absurd).
fn extra(dims: &[u64], offset: Option<u64>) -> Tensor {
    let data = match offset {
        Some(_) => Vec::new(),
        None => vec![0; dims.iter().product::<u64>() as usize * 4],
    };
    Tensor { offset, ..Tensor::new("extra", dims, ttype::F32, data) }
}

// ---------------------------------------------------------------------------------------------
// Positive cases
// ---------------------------------------------------------------------------------------------

#[test]
fn tiny_random_llama_loads_and_gives_finite_logits() {
    let d = tempfile::tempdir().unwrap();
    let cfg = TinyLlama::default();
    let p = write_gguf(&d, "tiny.gguf", &cfg.build());
    let model = load(&p).unwrap_or_else(|e| panic!("{e}"));
    let i = model.info();
    assert_eq!(
        (i.architecture.as_str(), i.name.as_str(), i.gguf_version),
        ("llama", "tiny-random-llama", 3)
    );
    assert_eq!(
        (i.n_vocab, i.n_ctx_train, i.n_embd, i.n_layer, i.n_head, i.n_head_kv, i.n_ff),
        (cfg.n_vocab() as i32, 128, 64, 2, 4, 2, 128)
    );
    let t = model.tokenizer_info();
    assert_eq!((t.model.as_str(), t.n_tokens, t.n_merges), ("gpt2", cfg.n_vocab() as i32, 13));
    assert_eq!((t.bos_id, t.eos_id, t.add_bos), (Some(269), Some(271), Some(false)));
    assert_eq!(model.token(32).unwrap().text, "Ġ".as_bytes());
    assert_eq!(model.token(271).unwrap().token_type, 3);
    assert_eq!(model.merge(3).unwrap(), b"\xc4\xa0t he");

    let logits = logits_of(&model, &[1, 2, 3, 4]);
    assert_eq!(logits.len(), cfg.n_vocab() as usize);
    assert!(logits.iter().all(|v| v.is_finite()), "non-finite logits");
    let spread = logits.iter().fold(f32::MIN, |m, v| m.max(*v)) - logits.iter().fold(f32::MAX, |m, v| m.min(*v));
    assert!(spread > 1e-3, "logits are flat: spread {spread}");

    let (code, stderr, out, _dir) = run_logits(&p, "1,2,3,4");
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert_eq!(l["n_vocab"], cfg.n_vocab());
        assert!(l["logsumexp"].as_f64().unwrap().is_finite());
        for pair in l["top"].as_array().unwrap() {
            assert!(pair[1].as_f64().unwrap().is_finite(), "{l}");
        }
    }
    // The binary's last line is the library's prediction (same core, same weights).
    let top = &lines[3]["top"][0];
    let best = logits.iter().enumerate().fold(0, |b, (k, v)| if *v > logits[b] { k } else { b });
    assert_eq!(top[0], best as u64);
}

#[test]
fn v2_file_loads_and_matches_v3() {
    let d = tempfile::tempdir().unwrap();
    let mut g = tiny();
    let p3 = write_gguf(&d, "v3.gguf", &g);
    g.version = 2;
    let p2 = write_gguf(&d, "v2.gguf", &g);
    let (m2, m3) = (load(&p2).unwrap(), load(&p3).unwrap());
    assert_eq!(m2.info().gguf_version, 2);
    assert_eq!(logits_of(&m2, &[5, 6, 7]), logits_of(&m3, &[5, 6, 7]));
}

#[test]
fn metadata_of_every_value_type_and_a_larger_alignment_load() {
    let d = tempfile::tempdir().unwrap();
    let base = tiny();
    let mut g = base.clone();
    let nested = Value::Array(
        vtype::ARRAY,
        vec![
            Value::Array(vtype::I16, vec![Value::I16(-1), Value::I16(2)]),
            Value::Array(vtype::STRING, vec![Value::str("a"), Value::str("")]),
            Value::Array(vtype::F64, vec![]),
            Value::Array(vtype::ARRAY, vec![Value::Array(vtype::BOOL, vec![Value::Bool(true)])]),
        ],
    );
    for (k, v) in [
        ("test.u8", Value::U8(255)),
        ("test.i8", Value::I8(-128)),
        ("test.u16", Value::U16(65535)),
        ("test.i16", Value::I16(-32768)),
        ("test.u32", Value::U32(u32::MAX)),
        ("test.i32", Value::I32(i32::MIN)),
        ("test.f32", Value::F32(f32::NAN)),
        ("test.bool", Value::Bool(true)),
        ("test.string", Value::str("héllo\0world")),
        ("test.empty_string", Value::str("")),
        ("test.u64", Value::U64(u64::MAX)),
        ("test.i64", Value::I64(i64::MIN)),
        ("test.f64", Value::F64(-0.0)),
        ("test.array_u8", Value::Array(vtype::U8, vec![Value::U8(1), Value::U8(2)])),
        ("test.array_f32", Value::Array(vtype::F32, vec![Value::F32(0.5)])),
        ("test.array_bool", Value::Array(vtype::BOOL, vec![Value::Bool(false), Value::Bool(true)])),
        ("test.nested", nested),
        ("general.alignment", Value::U32(256)),
    ] {
        g.set(k, v);
    }
    let p = write_gguf(&d, "every-type.gguf", &g);
    let built = g.build();
    assert!(built.tensor_offsets.iter().all(|o| o.is_multiple_of(256)) && built.data_start.is_multiple_of(256));
    let model = load(&p).unwrap_or_else(|e| panic!("{e}"));
    let reference = load(&write_gguf(&d, "plain.gguf", &base)).unwrap();
    assert_eq!(logits_of(&model, &[9, 8, 7]), logits_of(&reference, &[9, 8, 7]));
}

#[test]
fn every_computable_matrix_type_gives_logits_close_to_f32() {
    // Differences are weight rounding only. Bounds are about twice what seed 1 gives (f16 0.0014,
    // bf16 0.0084, q8_0 0.025, q4_0 0.31, q4_1 0.28); a wrong kernel (nibble order, scale, row
    // layout) scrambles the logits, which span several units here.
    const TOLERANCE: [(u32, f32); 5] =
        [(ttype::F16, 0.005), (ttype::BF16, 0.02), (ttype::Q8_0, 0.05), (ttype::Q4_0, 0.6), (ttype::Q4_1, 0.6)];
    let d = tempfile::tempdir().unwrap();
    let with = |t: u32| TinyLlama { matrix_type: Some(t), ..Default::default() }.build();
    let f32_model = load(&write_gguf(&d, "f32.gguf", &with(ttype::F32))).unwrap();
    let reference = logits_of(&f32_model, &[10, 20, 30, 40]);
    let spread = reference.iter().fold(f32::MIN, |m, v| m.max(*v)) - reference.iter().fold(f32::MAX, |m, v| m.min(*v));
    assert!(spread > 2.0, "logit spread {spread} too small for the bounds below to mean anything");
    for (t, tol) in TOLERANCE {
        let model = load(&write_gguf(&d, &format!("t{t}.gguf"), &with(t))).unwrap_or_else(|e| panic!("type {t}: {e}"));
        let logits = logits_of(&model, &[10, 20, 30, 40]);
        let diff = max_abs_diff(&logits, &reference);
        eprintln!("type {t}: max |logit - f32 logit| = {diff}");
        assert!(diff <= tol, "type {t}: max |logit - f32 logit| = {diff} > {tol}");
    }
}

// ---------------------------------------------------------------------------------------------
// Preflight: not a usable file
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_file() {
    let d = tempfile::tempdir().unwrap();
    assert_rejected(&write(&d, "empty.gguf", b""), Io, &["file is empty"]);
}

#[test]
fn directory_instead_of_a_file() {
    let d = tempfile::tempdir().unwrap();
    assert_rejected(d.path(), Io, &["not a regular file"]);
}

#[test]
fn nonexistent_path() {
    let d = tempfile::tempdir().unwrap();
    assert_rejected(&d.path().join("nope.gguf"), Io, &["cannot stat model file", "No such file or directory"]);
}

#[test]
fn file_still_being_written() {
    let d = tempfile::tempdir().unwrap();
    let p = write_gguf(&d, "growing.gguf", &tiny());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.write_all(&[0; 64]).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let err = load(&p).err().expect("a growing file must be refused");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(err.kind, Io, "{}", err.message);
    assert!(err.message.contains("is it still being copied?"), "{}", err.message);
}

// ---------------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_magic() {
    let d = tempfile::tempdir().unwrap();
    let mut b = tiny().build().bytes;
    b[..4].copy_from_slice(b"GGML");
    assert_rejected(&write(&d, "magic.gguf", &b), GgufFormat, &["bad magic 0x4c4d4747 at byte offset 0"]);
}

#[test]
fn unsupported_versions() {
    let d = tempfile::tempdir().unwrap();
    for v in [1, 4] {
        let mut g = tiny();
        g.version = v;
        let p = write_gguf(&d, &format!("v{v}.gguf"), &g);
        assert_rejected(&p, GgufFormat, &[&format!("unsupported GGUF version {v}"), "supported: 2, 3"]);
    }
}

#[test]
fn absurd_tensor_and_kv_counts() {
    let d = tempfile::tempdir().unwrap();
    let b = tiny().build().bytes;
    for (at, what) in [(8, "tensor count"), (16, "metadata count")] {
        for n in [1u64 << 40, u64::MAX] {
            let mut c = b.clone();
            c[at..at + 8].copy_from_slice(&n.to_le_bytes());
            let p = write(&d, &format!("count{at}-{n}.gguf"), &c);
            assert_rejected(&p, GgufFormat, &[&format!("{what} {n} cannot fit"), "truncated or corrupt file"]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------------------------

#[test]
fn truncated_inside_the_header() {
    let d = tempfile::tempdir().unwrap();
    let b = tiny().build().bytes;
    for (cut, needle) in [
        (3, "file too small to be GGUF"),
        (6, "file truncated: version needs 4 bytes but only 2 remain"),
        (12, "file truncated: tensor count needs 8 bytes but only 4 remain"),
        (20, "file truncated: metadata count needs 8 bytes but only 4 remain"),
    ] {
        assert_rejected(&write(&d, &format!("cut{cut}.gguf"), &b[..cut]), GgufFormat, &[needle]);
    }
}

#[test]
fn truncated_inside_the_metadata() {
    let d = tempfile::tempdir().unwrap();
    let g = tiny();
    let built = g.build();
    let k = g.kv_index("tokenizer.ggml.tokens");
    let (tokens, tokens_end) = (built.kv_at[k], built.kv_at[k + 1]);
    let merges = built.kv_at[g.kv_index("tokenizer.ggml.merges")];
    for (cut, needle) in [
        // inside the last token string (earlier, the array's length check fires first)
        (tokens_end - 5, "key 'tokenizer.ggml.tokens': file truncated: string value needs 10 bytes but only 5 remain"),
        (tokens + 1200, "key 'tokenizer.ggml.tokens': array of 272 string elements cannot fit"),
        // early on, the counts in the header already cannot fit in what remains
        (tokens + 40, "tensor count 21 cannot fit: each tensor info takes at least 32 bytes"),
        // inside an array header (after the element type)
        (merges + 8 + "tokenizer.ggml.merges".len() + 4 + 6, "key 'tokenizer.ggml.merges': file truncated: array length"),
        // inside a key's own bytes: the entry is named by its index
        (merges + 12, &format!("metadata entry {}: file truncated: metadata key", g.kv_index("tokenizer.ggml.merges"))),
        // between the key and its type
        (merges + 8 + "tokenizer.ggml.merges".len() + 2, "key 'tokenizer.ggml.merges': file truncated: metadata value type"),
    ] {
        assert_rejected(&write(&d, &format!("cut{cut}.gguf"), &built.bytes[..cut]), GgufFormat, &[needle]);
    }
}

#[test]
fn truncated_inside_the_tensor_infos() {
    let d = tempfile::tempdir().unwrap();
    let g = tiny();
    let built = g.build();
    let k = g.tensor_index("blk.0.attn_k.weight");
    let at = built.tensor_info_at[k];
    for (cut, needle) in [
        (at + 3, format!("tensor info {k}: file truncated: tensor name needs 8 bytes")),
        (at + 8 + 5, format!("tensor info {k}: file truncated: tensor name needs 19 bytes")),
        (at + 8 + 19 + 4 + 8 + 3, "tensor 'blk.0.attn_k.weight': file truncated: tensor dimension".into()),
        (built.tensor_info_at[k + 1] - 3, "tensor 'blk.0.attn_k.weight': file truncated: tensor data offset".into()),
    ] {
        assert_rejected(&write(&d, &format!("cut{cut}.gguf"), &built.bytes[..cut]), GgufFormat, &[&needle]);
    }
}

#[test]
fn truncated_inside_the_data() {
    let d = tempfile::tempdir().unwrap();
    let g = tiny();
    let built = g.build();
    // Cut before the data section (when padding leaves room for one) and inside several tensors.
    if built.infos_end < built.data_start {
        let p = write(&d, "cut-pad.gguf", &built.bytes[..built.infos_end + 1]);
        assert_rejected(&p, GgufFormat, &["file truncated before the tensor data section"]);
    }
    for name in ["token_embd.weight", "blk.1.ffn_gate.weight", "output.weight"] {
        let k = g.tensor_index(name);
        let cut = built.data_start + built.tensor_offsets[k] as usize + 10;
        let p = write(&d, &format!("cut-{name}.gguf"), &built.bytes[..cut]);
        assert_rejected(&p, GgufFormat, &[&format!("tensor '{name}'"), "extends past the end of the file"]);
    }
    // One byte short of complete.
    let p = write(&d, "short1.gguf", &built.bytes[..built.bytes.len() - 1]);
    assert_rejected(&p, GgufFormat, &["tensor 'output.weight'", "extends past the end of the file"]);
}

#[test]
fn truncated_copy_of_the_test_model() {
    let Some(model) = test_model() else { return };
    let d = tempfile::tempdir().unwrap();
    let mut head = vec![0u8; 50 << 20];
    std::io::Read::read_exact(&mut std::fs::File::open(&model).unwrap(), &mut head).unwrap();
    let p = write(&d, "half.gguf", &head);
    assert_rejected(&p, GgufFormat, &["tensor '", "extends past the end of the file", "data section is"]);
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

#[test]
fn absurd_array_lengths() {
    let d = tempfile::tempdir().unwrap();
    let raw_array = |elem: u32, n: u64| {
        let mut b = elem.to_le_bytes().to_vec();
        b.extend(n.to_le_bytes());
        Value::Raw(vtype::ARRAY, b)
    };
    for (elem, n, name) in
        [(vtype::U8, 1u64 << 62, "u8"), (vtype::STRING, 1 << 40, "string"), (vtype::ARRAY, u64::MAX, "array"), (vtype::U64, 1 << 61, "u64")]
    {
        let p = write_gguf(&d, &format!("arr-{name}.gguf"), &tiny().kv("test.array", raw_array(elem, n)));
        assert_rejected(&p, GgufFormat, &[&format!("key 'test.array': array of {n} {name} elements cannot fit")]);
    }
    // A nested array whose inner length is absurd names the outer key.
    let inner = raw_array(vtype::I32, 1 << 50);
    let outer = Value::Raw(vtype::ARRAY, {
        let mut b = vtype::ARRAY.to_le_bytes().to_vec();
        b.extend(1u64.to_le_bytes());
        if let Value::Raw(_, payload) = inner {
            b.extend(payload);
        }
        b
    });
    let p = write_gguf(&d, "nested.gguf", &tiny().kv("test.nested", outer));
    assert_rejected(&p, GgufFormat, &["key 'test.nested': array of 1125899906842624 i32 elements cannot fit"]);
}

#[test]
fn absurd_string_lengths() {
    let d = tempfile::tempdir().unwrap();
    let s = |n: u64| Value::Raw(vtype::STRING, n.to_le_bytes().to_vec());
    let p = write_gguf(&d, "huge.gguf", &tiny().kv("test.s", s(1 << 40)));
    assert_rejected(&p, GgufFormat, &["key 'test.s': string value length 1099511627776 is absurd"]);
    // Under the 1 GiB cap but past the end of the file.
    let p = write_gguf(&d, "long.gguf", &tiny().kv("test.s", s(1 << 29)));
    assert_rejected(&p, GgufFormat, &["key 'test.s': file truncated: string value needs 536870912 bytes"]);
    // A key whose own length is absurd.
    let mut b = tiny().build().bytes;
    b[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let p = write(&d, "key.gguf", &b);
    assert_rejected(&p, GgufFormat, &["metadata entry 0: metadata key length 1099511627776 is absurd"]);
}

#[test]
fn malformed_values() {
    let d = tempfile::tempdir().unwrap();
    let mut deep = Value::Array(vtype::U8, vec![]);
    for _ in 0..9 {
        deep = Value::Array(vtype::ARRAY, vec![deep]);
    }
    let cases: [(&str, Value, &str); 5] = [
        ("unknown-type", Value::Raw(13, vec![0; 8]), "key 'test.x': unknown value type 13"),
        ("unknown-elem", Value::Raw(vtype::ARRAY, [99u32.to_le_bytes().as_slice(), &[0; 8]].concat()), "key 'test.x': unknown array element type 99"),
        ("bool", Value::Raw(vtype::BOOL, vec![2]), "key 'test.x': bool has value 2"),
        ("bool-array", Value::Array(vtype::BOOL, vec![Value::Bool(true), Value::U8(7)]), "key 'test.x': bool array element 1 has value 7"),
        ("deep", deep, "key 'test.x': arrays nested deeper than 8"),
    ];
    for (name, value, needle) in cases {
        let p = write_gguf(&d, &format!("{name}.gguf"), &tiny().kv("test.x", value));
        assert_rejected(&p, GgufFormat, &[needle]);
    }
    let g = tiny().kv("", Value::U8(1));
    let n = g.kv.len() - 1;
    let p = write_gguf(&d, "empty-key.gguf", &g);
    assert_rejected(&p, GgufFormat, &[&format!("metadata entry {n}: the key is empty")]);
}

#[test]
fn duplicate_key() {
    let d = tempfile::tempdir().unwrap();
    let p = write_gguf(&d, "dup.gguf", &tiny().kv("general.name", Value::str("again")));
    assert_rejected(&p, GgufFormat, &["duplicate metadata key 'general.name'"]);
}

#[test]
fn bad_general_alignment() {
    let d = tempfile::tempdir().unwrap();
    for (v, shown) in [(Value::U32(0), "0"), (Value::U32(3), "3"), (Value::U32(4), "4"), (Value::I32(-32), "-32"), (Value::U64(1 << 21), "2097152")] {
        let mut g = tiny();
        g.set("general.alignment", v);
        let p = write_gguf(&d, &format!("align{shown}.gguf"), &g);
        assert_rejected(&p, GgufFormat, &[&format!("key 'general.alignment' = {shown} is not a power of two")]);
    }
    let mut g = tiny();
    g.set("general.alignment", Value::str("32"));
    let p = write_gguf(&d, "align-str.gguf", &g);
    assert_rejected(&p, GgufFormat, &["key 'general.alignment' has type string"]);
    // The smallest alignment the spec allows (a multiple of 8) loads.
    g.set("general.alignment", Value::U64(8));
    load(&write_gguf(&d, "align8.gguf", &g)).unwrap_or_else(|e| panic!("{e}"));
}

// ---------------------------------------------------------------------------------------------
// Tensor infos and data layout
// ---------------------------------------------------------------------------------------------

#[test]
fn tensor_past_the_end_of_the_file() {
    let d = tempfile::tempdir().unwrap();
    let p = write_gguf(&d, "past.gguf", &tiny().tensor(extra(&[8], Some(1 << 20))));
    assert_rejected(&p, GgufFormat, &["tensor 'extra' (F32, [8]) data [", "extends past the end of the file"]);
    // An offset so large that offset + size would wrap around.
    let p = write_gguf(&d, "wrap.gguf", &tiny().tensor(extra(&[8], Some(u64::MAX - 31))));
    assert_rejected(&p, GgufFormat, &["tensor 'extra'", "extends past the end of the file"]);
}

#[test]
fn unknown_tensor_type_id() {
    let d = tempfile::tempdir().unwrap();
    for id in [4u32, 99, u32::MAX] {
        let p = write_gguf(&d, &format!("type{id}.gguf"), &tiny().tensor(Tensor::new("weird", &[8], id, vec![0; 32])));
        assert_rejected(&p, GgufFormat, &[&format!("tensor 'weird': unknown tensor type id {id}")]);
    }
}

#[test]
fn row_length_not_a_multiple_of_the_block() {
    let d = tempfile::tempdir().unwrap();
    let p = write_gguf(&d, "row.gguf", &tiny().tensor(Tensor::new("extra", &[48, 2], ttype::Q8_0, vec![0; 102])));
    assert_rejected(&p, GgufFormat, &["tensor 'extra': row length 48 is not a multiple of the Q8_0 block size 32"]);
}

#[test]
fn duplicate_tensor_name() {
    let d = tempfile::tempdir().unwrap();
    let g = tiny();
    let dup = g.tensors[g.tensor_index("output_norm.weight")].clone();
    let p = write_gguf(&d, "dup.gguf", &g.tensor(dup));
    assert_rejected(&p, GgufFormat, &["duplicate tensor name 'output_norm.weight'"]);
}

#[test]
fn empty_tensor_name() {
    let d = tempfile::tempdir().unwrap();
    let g = tiny();
    let n = g.tensors.len();
    let p = write_gguf(&d, "noname.gguf", &g.tensor(Tensor::new("", &[8], ttype::F32, vec![0; 32])));
    assert_rejected(&p, GgufFormat, &[&format!("tensor info {n}: the tensor name is empty")]);
}

#[test]
fn misaligned_tensor_offset() {
    let d = tempfile::tempdir().unwrap();
    let p = write_gguf(&d, "mis.gguf", &tiny().tensor(extra(&[8], Some(4))));
    assert_rejected(&p, GgufFormat, &["tensor 'extra': data offset 4 is not a multiple of the alignment 32"]);
    // general.alignment is honoured: 32 is fine by default but not under 64.
    let mut g = tiny().tensor(extra(&[8], Some(1 << 16 | 32)));
    g.set("general.alignment", Value::U32(64));
    let p = write_gguf(&d, "mis64.gguf", &g);
    assert_rejected(&p, GgufFormat, &["tensor 'extra': data offset 65568 is not a multiple of the alignment 64"]);
}

#[test]
fn overlapping_tensors() {
    let d = tempfile::tempdir().unwrap();
    let p = write_gguf(&d, "overlap.gguf", &tiny().tensor(extra(&[8], Some(32))));
    assert_rejected(&p, GgufFormat, &["tensors 'token_embd.weight' and 'extra' overlap"]);
}

#[test]
fn bad_ranks_and_dims() {
    let d = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u64], &str); 6] = [
        ("zero-dim", &[8, 0], "tensor 'extra': dimension 1 is 0"),
        ("zero-first", &[0], "tensor 'extra': dimension 0 is 0"),
        ("rank0", &[], "tensor 'extra': rank 0 (expected 1..4)"),
        ("rank5", &[1, 1, 1, 1, 8], "tensor 'extra': rank 5 (expected 1..4)"),
        ("huge-dim", &[1 << 63], "tensor 'extra': dimension 0 is 9223372036854775808"),
        ("overflow", &[1 << 32, 1 << 32, 1 << 32], "tensor 'extra': element count overflows"),
    ];
    for (name, dims, needle) in cases {
        let p = write_gguf(&d, &format!("{name}.gguf"), &tiny().tensor(extra(dims, Some(0))));
        assert_rejected(&p, GgufFormat, &[needle]);
    }
    // The element count fits in 63 bits but the byte size does not.
    let p = write_gguf(&d, "bytes.gguf", &tiny().tensor(extra(&[1 << 62], Some(0))));
    assert_rejected(&p, GgufFormat, &["tensor 'extra': byte size overflows"]);
}

// ---------------------------------------------------------------------------------------------
// Model level: keys, tensors, architecture, types
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_required_key() {
    let d = tempfile::tempdir().unwrap();
    for key in ["llama.block_count", "llama.embedding_length", "general.architecture"] {
        let mut g = tiny();
        g.remove(key);
        let p = write_gguf(&d, &format!("{key}.gguf"), &g);
        assert_rejected(&p, GgufFormat, &[&format!("required key '{key}' is missing")]);
    }
}

#[test]
fn ill_typed_or_out_of_range_keys() {
    let d = tempfile::tempdir().unwrap();
    let cases = [
        ("llama.block_count", Value::str("2"), "key 'llama.block_count' has type string, expected an integer"),
        ("llama.block_count", Value::U32(0), "key 'llama.block_count' = 0 is out of range"),
        ("llama.attention.head_count_kv", Value::U32(3), "attention.head_count 4 is not a multiple of head_count_kv 3"),
        ("general.architecture", Value::U32(7), "key 'general.architecture' has type u32, expected string"),
        ("tokenizer.ggml.bos_token_id", Value::U32(100000), "key 'tokenizer.ggml.bos_token_id' = 100000 is not a token id"),
        ("tokenizer.ggml.tokens", Value::Array(vtype::I32, vec![Value::I32(1)]), "key 'tokenizer.ggml.tokens' must be an array of string"),
        (
            "tokenizer.ggml.token_type",
            Value::Array(vtype::I32, vec![Value::I32(1); 3]),
            "key 'tokenizer.ggml.token_type' has 3 entries but there are 272 tokens",
        ),
    ];
    for (i, (key, value, needle)) in cases.into_iter().enumerate() {
        let mut g = tiny();
        g.set(key, value);
        let p = write_gguf(&d, &format!("case{i}.gguf"), &g);
        assert_rejected(&p, GgufFormat, &[needle]);
    }
}

#[test]
fn vocabulary_and_embedding_disagree() {
    let d = tempfile::tempdir().unwrap();
    let cfg = TinyLlama::default();
    let mut g = cfg.build();
    let mut tokens = cfg.tokens();
    tokens.pop();
    g.set("tokenizer.ggml.tokens", Value::strings(&tokens));
    g.remove("tokenizer.ggml.token_type");
    g.set("tokenizer.ggml.eos_token_id", Value::U32(270));
    let p = write_gguf(&d, "vocab.gguf", &g);
    assert_rejected(&p, GgufFormat, &["the vocabulary has 271 tokens but the model has 272 rows of embeddings"]);
}

#[test]
fn missing_required_tensor() {
    let d = tempfile::tempdir().unwrap();
    for name in ["blk.0.attn_q.weight", "blk.1.ffn_down.weight", "output_norm.weight", "token_embd.weight"] {
        let mut g = tiny();
        g.remove_tensor(name);
        let p = write_gguf(&d, &format!("{name}.gguf"), &g);
        assert_rejected(&p, GgufFormat, &[&format!("required tensor '{name}' is missing")]);
    }
}

#[test]
fn wrong_tensor_shape() {
    let d = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u64], &str); 3] = [
        ("blk.0.attn_q.weight", &[64, 32], "has shape [64, 32], expected [64, 64]"),
        ("blk.1.ffn_down.weight", &[64, 128], "has shape [64, 128], expected [128, 64]"),
        ("blk.0.attn_norm.weight", &[32, 2], "has shape [32, 2], expected [64]"),
    ];
    for (name, dims, needle) in cases {
        let mut g = tiny();
        let t = g.tensor_mut(name);
        let n = dims.iter().product::<u64>() as usize;
        *t = Tensor::from_f32(name, dims, ttype::F32, &vec![0.0; n]);
        let p = write_gguf(&d, &format!("{name}.gguf"), &g);
        assert_rejected(&p, GgufFormat, &[&format!("tensor '{name}' {needle}")]);
    }
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let d = tempfile::tempdir().unwrap();
    let mut g = tiny();
    g.set("general.architecture", Value::str("gpt9"));
    let p = write_gguf(&d, "arch.gguf", &g);
    assert_rejected(&p, Unsupported, &["architecture 'gpt9' is not supported (supported: llama, qwen2, qwen3, phi3, gemma3)"]);
}

#[test]
fn tensor_type_the_kernels_cannot_read() {
    // IQ4_XS needs rows of 256 weights, so this model is 256 wide; 136 bytes per 256 weights.
    let d = tempfile::tempdir().unwrap();
    let cfg = TinyLlama { n_embd: 256, n_ff: 256, ..Default::default() };
    let mut g = cfg.build();
    *g.tensor_mut("blk.0.attn_q.weight") = Tensor::new("blk.0.attn_q.weight", &[256, 256], 23, vec![0; 256 * 136]);
    let p = write_gguf(&d, "iq4xs.gguf", &g);
    let needles = ["tensor 'blk.0.attn_q.weight' has type IQ4_XS",
        "supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K"];
    assert_rejected(&p, Unsupported, &needles);

    // IQ4_NL: 32-weight blocks of 18 bytes.
    let mut g = tiny();
    *g.tensor_mut("blk.1.ffn_up.weight") = Tensor::new("blk.1.ffn_up.weight", &[64, 128], 20, vec![0; 8192 / 32 * 18]);
    let p = write_gguf(&d, "iq4nl.gguf", &g);
    assert_rejected(&p, Unsupported, &["tensor 'blk.1.ffn_up.weight' has type IQ4_NL"]);

    // A norm vector of a type no kernel converts.
    let mut g = tiny();
    *g.tensor_mut("blk.0.ffn_norm.weight") = Tensor::new("blk.0.ffn_norm.weight", &[64], 28, vec![0; 64 * 8]);
    let p = write_gguf(&d, "f64-norm.gguf", &g);
    assert_rejected(&p, Unsupported, &["tensor 'blk.0.ffn_norm.weight' has type F64", "cannot compute with"]);
}
