//! Chat template rendering with an arbitrary template and arbitrary messages: compiling and
//! rendering answer Ok or Err, never panic. Input layout (lossy UTF-8), so that a template file
//! is a valid seed as it is: the template source, then per message a NUL, the role, a NUL and
//! the content. An odd input length asks for the generation prompt.
//!
//! minijinja itself panics on some templates (negative-step slices of short values); ChatTemplate
//! contains those panics and refuses (src/chat/mod.rs), which is what is checked here: libFuzzer's
//! panic hook aborts on any panic, so a hook that lets panics raised inside minijinja's own
//! sources unwind is put in front of it. A panic anywhere else still aborts.
//!
//! minijinja has no step budget here yet, so a short template can still ask for a long render
//! (nested loops); scripts/fuzz.sh passes a per-input -timeout that such inputs trip.

use worker_orcd::chat::{ChatMessage, ChatTemplate, TemplateTokens};

fn let_minijinja_panics_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let outer = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let inside_minijinja = info.location().is_some_and(|l| l.file().contains("/minijinja-"));
            if !inside_minijinja {
                outer(info);
            }
        }));
    });
}

pub fn check(data: &[u8]) {
    let_minijinja_panics_unwind();
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let source = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let messages: Vec<ChatMessage> = rest
        .chunks(2)
        .map(|c| ChatMessage { role: c[0].to_string(), content: c.get(1).copied().unwrap_or_default().to_string() })
        .collect();
    let tokens =
        TemplateTokens { bos: "<s>".into(), eos: "</s>".into(), tokenizer_adds_bos: true, tokenizer_adds_eos: false };
    let Ok(mut template) = ChatTemplate::new(source, tokens) else { return };
    // A fixed clock: the same input renders the same text on every run.
    template.fix_clock(1_764_590_400);
    let _ = template.render(&messages, data.len() % 2 == 1, &[]);
}
