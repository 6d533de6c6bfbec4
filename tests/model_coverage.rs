//! Model coverage against llama.cpp on every test run (.specs/parity.md, "Model coverage"):
//!   - the random-weight models of scripts/make_random_models.py: every architecture in F32 and
//!     every quant type on the llama shape, regenerated here when missing (seeded, sha256-pinned in
//!     parity/reference/random/models.json), compared with the committed llama.cpp dumps in
//!     parity/reference/random/<model>/ (parity/dump_random_references.sh);
//!   - Gemma 3 270M Q4_K_M (scripts/fetch-gemma3.sh): teacher-forced logits, prompt tokens and
//!     greedy text against parity/reference/gemma-3-270m-q4_k_m/.
//! One test per model, so a failure names the model. The bars are the (see the constants).

mod common;

use common::{bin, root};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// F32: our logits equal llama.cpp's up to summation order.
const F32_MAX_MEAN_ABS: &str = "0.01";
/// Quantized: top-1 >= 98 % with misses only at near-ties (reference margin < 0.2, which
/// compare.py always enforces), mean |dlogit| <= 0.1, mean KL <= 0.01.
const QUANT_MIN_TOP1: &str = "0.98";
const QUANT_MAX_MEAN_ABS: &str = "0.1";
const QUANT_MAX_KL: &str = "0.01";
const NEAR_TIE: &str = "0.2";

fn required() -> bool {
    std::env::var_os("WORKER_ORCD_REQUIRE_MODEL").is_some_and(|v| v == "1")
}

/// models/random/, with every pinned random model present (written once per test binary).
/// None (a skip) without the gguf Python package, unless WORKER_ORCD_REQUIRE_MODEL=1.
fn random_models() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let python = root().join("parity/.venv/bin/python");
        let has_gguf = Command::new(&python).args(["-c", "import gguf, numpy"]).output().is_ok_and(|o| o.status.success());
        if !has_gguf {
            let why = format!("{} lacks the gguf package (run parity/setup-reference.sh --gguf-only)", python.display());
            assert!(!required(), "{why} and WORKER_ORCD_REQUIRE_MODEL=1");
            eprintln!("SKIP: {why}");
            return None;
        }
        let dir = root().join("models/random");
        let o = Command::new(&python)
            .arg(root().join("scripts/make_random_models.py"))
            .args(["--ensure", "--out-dir"])
            .arg(&dir)
            .output()
            .expect("python");
        assert!(o.status.success(), "make_random_models.py --ensure failed:\n{}", String::from_utf8_lossy(&o.stderr));
        Some(dir)
    })
    .as_deref()
}

fn gemma_model() -> Option<PathBuf> {
    let p = root().join("models/gemma-3-270m.Q4_K_M.gguf");
    if p.is_file() {
        return Some(p);
    }
    assert!(!required(), "{} is missing (scripts/fetch-gemma3.sh) and WORKER_ORCD_REQUIRE_MODEL=1", p.display());
    eprintln!("SKIP: {} is missing (run scripts/fetch-gemma3.sh)", p.display());
    None
}

struct Dump {
    name: String,
    jsonl: PathBuf,
    meta_path: PathBuf,
    meta: serde_json::Value,
}

/// The committed dumps of one model directory, by prompt name.
fn dumps(dir: &Path) -> Vec<Dump> {
    let mut out: Vec<Dump> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".meta.json"))
        .map(|meta_path| {
            let name = meta_path.file_name().unwrap().to_string_lossy().trim_end_matches(".meta.json").to_string();
            let meta = serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
            Dump { jsonl: dir.join(format!("{name}.jsonl")), name, meta_path, meta }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!out.is_empty(), "no dumps in {}", dir.display());
    out
}

fn ids(v: &serde_json::Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn compare(args: &[&str]) -> (bool, String) {
    let o = Command::new("python3").arg(root().join("parity/compare.py")).args(args).output().expect("python3");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// How the bars apply to a model's prompts.
#[derive(Clone, Copy, PartialEq)]
enum Pooling {
    /// To each prompt alone (Gemma 3 270M: "the same bar on every committed prompt").
    EachPrompt,
    /// To all positions of the model's prompts together (the random models: a 20-position prompt
    /// with one excused near-tie miss would read 95 % on its own); each prompt is still reported.
    AllPrompts,
}

/// Teacher-forced logits of `model` on every dump of `dir` (prompt + llama.cpp's continuation),
/// compared with `bars`; panics with a report naming the model and each failing prompt.
fn check_logits(label: &str, model: &Path, dir: &Path, bars: &[&str], pooling: Pooling) {
    let tmp = tempfile::tempdir().unwrap();
    let mut report = String::new();
    let mut ok_all = true;
    let (mut all_ref, mut all_ours) = (String::new(), String::new());
    for d in dumps(dir) {
        let mut tokens = ids(&d.meta["prompt_tokens"]);
        tokens.extend(ids(&d.meta["continuation"]));
        let list = tokens.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let ours = tmp.path().join(format!("{}.jsonl", d.name));
        let o = Command::new(bin())
            .args(["logits", "--model", model.to_str().unwrap(), "--tokens", &list, "--top-k", "100", "--out", ours.to_str().unwrap()])
            .output()
            .unwrap();
        if !o.status.success() {
            panic!("{label}: worker-orcd logits failed on {}: {}", d.name, String::from_utf8_lossy(&o.stderr).trim());
        }
        let mut args = vec!["logits", d.jsonl.to_str().unwrap(), ours.to_str().unwrap(), "--margin", NEAR_TIE];
        if pooling == Pooling::EachPrompt {
            args.extend_from_slice(bars);
        }
        let (ok, text) = compare(&args);
        ok_all &= ok || pooling == Pooling::AllPrompts;
        report.push_str(&format!("{label} {}: {text}", d.name));
        all_ref.push_str(&std::fs::read_to_string(&d.jsonl).unwrap());
        all_ours.push_str(&std::fs::read_to_string(&ours).unwrap());
    }
    if pooling == Pooling::AllPrompts {
        // compare.py pairs lines in order, so the concatenated files compare position for position.
        let (r, o) = (tmp.path().join("all.ref.jsonl"), tmp.path().join("all.ours.jsonl"));
        std::fs::write(&r, all_ref).unwrap();
        std::fs::write(&o, all_ours).unwrap();
        let mut args = vec!["logits", r.to_str().unwrap(), o.to_str().unwrap(), "--margin", NEAR_TIE];
        args.extend_from_slice(bars);
        let (ok, text) = compare(&args);
        ok_all &= ok;
        report.push_str(&format!("{label} all prompts: {text}"));
    }
    eprintln!("{report}");
    assert!(ok_all, "{label}: logits differ from llama.cpp beyond the bar:\n{report}");
}

fn check_random(name: &str) {
    let Some(models) = random_models() else { return };
    let bars: &[&str] = if name.ends_with("-f32") {
        &["--max-mean-abs", F32_MAX_MEAN_ABS]
    } else {
        &["--min-top1", QUANT_MIN_TOP1, "--max-mean-abs", QUANT_MAX_MEAN_ABS, "--max-kl", QUANT_MAX_KL]
    };
    check_logits(name, &models.join(format!("{name}.gguf")), &root().join("parity/reference/random").join(name), bars, Pooling::AllPrompts);
}

macro_rules! random_model_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_random($name);
            }
        )*

        /// Every pinned model has its test above and its dumps.
        #[test]
        fn every_random_model_has_a_test_and_dumps() {
            let pins: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(root().join("parity/reference/random/models.json")).unwrap()).unwrap();
            let mut pinned: Vec<&str> = pins["sha256"].as_object().unwrap().keys().map(String::as_str).collect();
            let mut tested = vec![$($name),*];
            pinned.sort();
            tested.sort();
            assert_eq!(pinned, tested, "models.json and the tests of tests/model_coverage.rs list different models");
            for name in tested {
                assert!(dumps(&root().join("parity/reference/random").join(name)).len() >= 2, "{name}: fewer than 2 dumps");
            }
        }
    };
}

random_model_tests! {
    random_llama_f32 => "llama-f32",
    random_llama3_f32 => "llama3-f32",
    random_mistral_f32 => "mistral-f32",
    random_qwen2_f32 => "qwen2-f32",
    random_qwen3_f32 => "qwen3-f32",
    random_phi3_f32 => "phi3-f32",
    random_gemma3_f32 => "gemma3-f32",
    random_llama_f16 => "llama-f16",
    random_llama_bf16 => "llama-bf16",
    random_llama_q8_0 => "llama-q8_0",
    random_llama_q4_0 => "llama-q4_0",
    random_llama_q4_1 => "llama-q4_1",
    random_llama_q5_0 => "llama-q5_0",
    random_llama_q5_1 => "llama-q5_1",
    random_llama_q2_k => "llama-q2_k",
    random_llama_q3_k => "llama-q3_k",
    random_llama_q4_k => "llama-q4_k",
    random_llama_q5_k => "llama-q5_k",
    random_llama_q6_k => "llama-q6_k",
}

fn gemma_dir() -> PathBuf {
    root().join("parity/reference/gemma-3-270m-q4_k_m")
}

/// Gemma 3's end-of-generation tokens: <eos> and <end_of_turn>.
const GEMMA_EOG: &str = "1,106";

#[test]
fn gemma3_teacher_forced_logits_match_llama_cpp() {
    let Some(model) = gemma_model() else { return };
    let long = dumps(&gemma_dir()).iter().map(|d| d.meta["n_prompt"].as_u64().unwrap()).max().unwrap();
    assert!(long > 512, "no committed Gemma prompt is longer than its 512-token sliding window");
    let bars = ["--min-top1", QUANT_MIN_TOP1, "--max-mean-abs", QUANT_MAX_MEAN_ABS, "--max-kl", QUANT_MAX_KL];
    check_logits("gemma-3-270m", &model, &gemma_dir(), &bars, Pooling::EachPrompt);
}

/// Our tokenizer gives llama.cpp's prompt tokens (BOS as the metadata says, special tokens parsed).
#[test]
fn gemma3_prompt_tokens_match_llama_cpp() {
    let Some(model) = gemma_model() else { return };
    for d in dumps(&gemma_dir()) {
        let o = Command::new(bin())
            .args(["tokenize", "--model", model.to_str().unwrap(), "--text", d.meta["prompt"].as_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}: {}", d.name, String::from_utf8_lossy(&o.stderr));
        let ours: Vec<i64> = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(ours, ids(&d.meta["prompt_tokens"]), "gemma-3-270m {}: prompt tokens differ from llama.cpp's", d.name);
    }
}

/// Greedy text equal to llama.cpp's up to its first near-tie (or an end-of-generation token).
/// Our decode rows are computed as batch rows (batch invariance), so each of our tokens must be
/// the top-1 of llama.cpp's batch logits; llama.cpp's own decode path (repacked Q4_K, one row)
/// can depart from its batch path beyond a near-tie, and the check ends there (compare.py
/// `greedy --follow-batch`, with the decode margins the dump records).
#[test]
fn gemma3_greedy_continuations_match_llama_cpp() {
    let Some(model) = gemma_model() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut report = String::new();
    let mut ok_all = true;
    for d in dumps(&gemma_dir()) {
        let n_gen = d.meta["continuation"].as_array().unwrap().len();
        let log = tmp.path().join(format!("{}.gen.jsonl", d.name));
        let o = Command::new(bin())
            .args(["generate", "--model", model.to_str().unwrap(), "--prompt", d.meta["prompt"].as_str().unwrap()])
            .args(["--max-tokens", &n_gen.to_string(), "--logit-log", log.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "gemma-3-270m {}: {}", d.name, String::from_utf8_lossy(&o.stderr));
        let (ok, text) = compare(&[
            "greedy",
            d.jsonl.to_str().unwrap(),
            d.meta_path.to_str().unwrap(),
            log.to_str().unwrap(),
            "--margin",
            NEAR_TIE,
            "--eog",
            GEMMA_EOG,
            "--follow-batch",
            "--max-mean-abs",
            QUANT_MAX_MEAN_ABS,
        ]);
        ok_all &= ok;
        report.push_str(&format!("gemma-3-270m {}: {text}", d.name));
    }
    eprintln!("{report}");
    assert!(ok_all, "gemma-3-270m: greedy text differs from llama.cpp's:\n{report}");
}

/// `messages` over /execute on the Gemma 3 base model (no template of its own) with
/// --chat-template-file parity/chat/gemma.jinja (llama.cpp's Gemma template): the rendered
/// conversation has llama.cpp's prompt tokens for the same markup (chat-haiku), greedy decoding
/// gives what the rendered text sent as `prompt` gives, and that is llama.cpp's continuation up
/// to its first near-tie.
#[test]
fn gemma3_messages_with_the_gemma_template_file_match_llama_cpp() {
    use common::worker::{check_event_order, Worker};
    let Some(model) = gemma_model() else { return };
    let d = dumps(&gemma_dir()).into_iter().find(|d| d.name == "chat-haiku").expect("chat-haiku dump");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&d.jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let n_prompt = d.meta["n_prompt"].as_u64().unwrap() as usize;
    let continuation = ids(&d.meta["continuation"]);
    // llama.cpp's tokens up to (not including) the first step whose batch logits are a near-tie
    // or whose top-1 is not what llama.cpp's decode path picked (see the greedy test above).
    let margin = |l: &serde_json::Value| l["top"][0][1].as_f64().unwrap() - l["top"][1][1].as_f64().unwrap();
    let top1 = |l: &serde_json::Value| l["top"][0][0].as_i64().unwrap();
    let shared = (0..continuation.len())
        .take_while(|&k| {
            let l = &lines[n_prompt - 1 + k];
            margin(l) >= 0.2 && top1(l) == continuation[k]
        })
        .count();
    assert!(shared >= 5, "gemma-3-270m chat-haiku: only {shared} tokens to compare");

    // A model the worker cannot load would only show as a health timeout; say why up front.
    let tmp = tempfile::tempdir().unwrap();
    let probe = Command::new(bin())
        .args(["logits", "--model", model.to_str().unwrap(), "--tokens", "2", "--out", tmp.path().join("probe.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(probe.status.success(), "gemma-3-270m: {}", String::from_utf8_lossy(&probe.stderr).trim());
    let template = root().join("parity/chat/gemma.jinja");
    let w = Worker::start(&model, &["--chat-template-file", template.to_str().unwrap()]);
    assert_eq!(w.health()["chat_template"], "file");
    let body = |job: &str, input: serde_json::Value| {
        let mut b = serde_json::json!({"job_id": job, "max_tokens": continuation.len(), "temperature": 0});
        b.as_object_mut().unwrap().extend(input.as_object().unwrap().clone());
        b
    };
    let chat = w.execute(&body("chat", serde_json::json!({"messages": [{"role": "user", "content": "Write a haiku about the sea at night."}]})));
    assert_eq!(chat[0].data["prompt_tokens"], d.meta["n_prompt"], "gemma-3-270m: the rendered conversation differs from llama.cpp's prompt");
    let plain = w.execute(&body("plain", serde_json::json!({"prompt": d.meta["prompt"]})));
    let chat_ids: Vec<i64> = check_event_order(&chat).into_iter().map(|(_, id)| id as i64).collect();
    let plain_ids: Vec<i64> = check_event_order(&plain).into_iter().map(|(_, id)| id as i64).collect();
    assert_eq!(chat_ids, plain_ids, "gemma-3-270m: messages and the rendered prompt generate differently");
    let n = shared.min(chat_ids.len());
    assert_eq!(chat_ids[..n], continuation[..n], "gemma-3-270m: greedy text over /execute differs from llama.cpp's before its first near-tie");
}
