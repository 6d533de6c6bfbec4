//! Chat templates rendered as llama.cpp renders them: every template of llama.cpp's
//! models/templates/ (extracted from the pinned sdist by scripts/fetch-llama-test-data.sh) with
//! the conversations of parity/reference/chat-templates.json must give exactly the text
//! llama.cpp's Jinja engine gave (parity/dump_chat_templates.py), or refuse where it refused.

mod common;

use std::path::PathBuf;

use common::root;
use sha2::{Digest, Sha256};
use worker_orcd::chat::{ChatMessage, ChatTemplate, TemplateTokens};

/// Templates whose rendering we do not claim yet, with the reason (checked: they still differ).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "fireworks-ai-llama-3-firefunction-v2.jinja",
    "adds undefined variables (`functions`, `datetime`) to strings: llama.cpp renders them as empty, \
     Jinja2 (and HF's apply_chat_template) and we refuse",
)];

fn templates_dir() -> Option<PathBuf> {
    let dir = root().join(".cache/llama-templates");
    if dir.is_dir() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(false) {
        return Some(dir);
    }
    if std::env::var_os("WORKER_ORCD_REQUIRE_MODEL").is_some_and(|v| v == "1") {
        panic!("{} is missing: run scripts/fetch-llama-test-data.sh", dir.display());
    }
    eprintln!("SKIP: {} is missing (run scripts/fetch-llama-test-data.sh)", dir.display());
    None
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_llama_cpp_template_renders_as_llama_cpp_renders_it() {
    let Some(dir) = templates_dir() else { return };
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("parity/reference/chat-templates.json")).unwrap()).unwrap();
    let tokens = TemplateTokens {
        bos: reference["bos_token"].as_str().unwrap().into(),
        eos: reference["eos_token"].as_str().unwrap().into(),
        ..Default::default()
    };
    // noon UTC of the day the reference was rendered, for templates that print today's date
    let day = reference["rendered_on"].as_str().unwrap();
    let days = worker_orcd::civil_date::days_from_civil(day[..4].parse().unwrap(), day[5..7].parse().unwrap(), day[8..10].parse().unwrap());
    let noon = (days * 86_400 + 43_200) as u64;
    let conversations = &reference["conversations"];

    let mut failures = Vec::new();
    let (mut matched, mut refused, mut known) = (0, 0, 0);
    for case in reference["cases"].as_array().unwrap() {
        let name = case["template"].as_str().unwrap();
        let conv = case["conversation"].as_str().unwrap();
        let source = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex(&Sha256::digest(&source)), case["template_sha256"].as_str().unwrap(), "{name} changed since the dump");
        let messages: Vec<ChatMessage> = conversations[conv]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| ChatMessage { role: m["role"].as_str().unwrap().into(), content: m["content"].as_str().unwrap().into() })
            .collect();
        let ours = ChatTemplate::new(&String::from_utf8(source).unwrap(), tokens.clone()).and_then(|mut t| {
            t.fix_clock(noon);
            t.render(&messages, true, &[])
        });
        let outcome = match (&ours, case.get("rendered").and_then(|r| r.as_str())) {
            (Ok(text), Some(want)) if text == want => Ok(()),
            (Err(_), None) => Ok(()),
            (Ok(text), Some(want)) => {
                let at = text.bytes().zip(want.bytes()).position(|(a, b)| a != b).unwrap_or(text.len().min(want.len()));
                let from = text[..at].char_indices().rev().nth(30).map(|(i, _)| i).unwrap_or(0);
                Err(format!("differs at byte {at}:\n    ours      {:?}\n    llama.cpp {:?}", &text[from..], &want[from.min(want.len())..]))
            }
            (Ok(_), None) => Err(format!("llama.cpp refused ({}) but we rendered", case["error"].as_str().unwrap_or("").lines().last().unwrap_or(""))),
            (Err(e), Some(_)) => Err(format!("we refused: {e}")),
        };
        match outcome {
            Ok(()) if KNOWN_DIFFERENCES.iter().any(|(n, _)| *n == name) => {
                failures.push(format!("{name} / {conv}: listed as a known difference but matches; remove it from the list"))
            }
            Ok(()) => {
                if ours.is_ok() {
                    matched += 1
                } else {
                    refused += 1
                }
            }
            Err(_) if KNOWN_DIFFERENCES.iter().any(|(n, _)| *n == name) => known += 1,
            Err(why) => failures.push(format!("{name} / {conv}: {why}")),
        }
    }
    eprintln!("{matched} renders identical, {refused} refused by both, {known} known differences");
    assert!(failures.is_empty(), "{} renders differ from llama.cpp:\n{}", failures.len(), failures.join("\n"));
}

/// The largest legitimate request (256 messages, all 32,768 content characters) renders with
/// every template within the fuel and output limits of src/chat/mod.rs; a template may still refuse
/// the conversation for its own reasons (e.g. roles it does not accept).
#[test]
fn the_largest_request_fits_every_templates_limits() {
    let Some(dir) = templates_dir() else { return };
    let messages: Vec<ChatMessage> = (0..256)
        .map(|i| ChatMessage { role: if i % 2 == 0 { "user" } else { "assistant" }.into(), content: "é".repeat(128) })
        .collect();
    let mut hit = Vec::new();
    let mut rendered = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "jinja") {
            continue;
        }
        let Ok(t) = ChatTemplate::new(&std::fs::read_to_string(&path).unwrap(), TemplateTokens::default()) else { continue };
        let t0 = std::time::Instant::now();
        match t.render(&messages, true, &[]) {
            Ok(_) => rendered += 1,
            Err(e) if e.to_string().contains("steps") || e.to_string().contains("bytes") || e.to_string().contains("recursed") => {
                hit.push(format!("{}: {e}", path.display()))
            }
            Err(_) => {}
        }
        assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{}: {:?}", path.display(), t0.elapsed());
    }
    eprintln!("{rendered} templates rendered the 256-message conversation");
    assert!(rendered >= 50, "only {rendered} templates rendered");
    assert!(hit.is_empty(), "limits refused a legitimate request:\n{}", hit.join("\n"));
}
