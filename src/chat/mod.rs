//! Chat templates: a conversation (`messages`) rendered into the prompt text the model was
//! trained on, with the model's own Jinja template (`tokenizer.chat_template`, or
//! `--chat-template-file`). Rendering follows what HF's `apply_chat_template` and llama.cpp's
//! Jinja engine do: blocks trimmed (`trim_blocks`, `lstrip_blocks`), Python string methods
//! (`strip`, `startswith`, `split`, ...), `raise_exception`, `strftime_now`, and the globals
//! `messages`, `bos_token`, `eos_token`, `add_generation_prompt`. As llama.cpp does, a BOS text
//! the template writes at the start is dropped when the tokenizer adds BOS itself.

mod bounded_output;
pub mod isolated;
mod strftime;

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, Value};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("the chat template does not compile: {0}")]
    Compile(String),
    #[error("the chat template refused the conversation: {0}")]
    Render(String),
}

/// Special-token texts the template may write, and whether the tokenizer adds them itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TemplateTokens {
    pub bos: String,
    pub eos: String,
    pub tokenizer_adds_bos: bool,
    pub tokenizer_adds_eos: bool,
}

pub struct ChatTemplate {
    env: Environment<'static>,
    /// As given, for a helper process to compile again (isolated.rs).
    source: String,
    tokens: TemplateTokens,
}

const NAME: &str = "chat";

/// Instructions one rendering may execute. Every template of the conformance suite renders the
/// largest request (256 messages) within it (tests/chat_templates.rs); an endless loop stops
/// after a fraction of a second (chat::tests, .specs/tokenizer.md).
pub const TEMPLATE_FUEL: u64 = 5_000_000;

/// Deepest macro/include nesting: templates recurse at most as deep as the JSON they print.
pub const TEMPLATE_RECURSION_LIMIT: usize = 100;

/// Largest rendered prompt: four UTF-8 bytes for each of the MAX_PROMPT_CHARS characters of
/// content, plus generous room for the template's markup, rounded up to 1 MiB.
pub const MAX_RENDERED_BYTES: usize = 1 << 20;

/// The refusal when the template engine itself fails (a panic inside minijinja).
pub const ENGINE_PANIC: &str =
    "the template engine failed on this template and conversation (an operation minijinja cannot do, such as a \
     negative-step slice of an empty list)";

/// Jinja's message for a message the error carries, without minijinja's location decorations.
/// The limits that stop a hostile template get sentences of their own.
fn describe(e: &Error) -> String {
    let mut text = match e.kind() {
        ErrorKind::OutOfFuel => format!("rendering took more than {TEMPLATE_FUEL} steps; the template loops without end or too long"),
        ErrorKind::InvalidOperation if e.detail() == Some("recursion limit exceeded") => {
            format!("the template recursed deeper than {TEMPLATE_RECURSION_LIMIT} levels")
        }
        _ => e.detail().map(str::to_string).unwrap_or_else(|| e.to_string()),
    };
    if let Some(line) = e.line() {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

impl ChatTemplate {
    pub fn new(source: &str, tokens: TemplateTokens) -> Result<ChatTemplate, ChatError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_recursion_limit(TEMPLATE_RECURSION_LIMIT);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        // Python prints True/False/None, as the Jinja engines templates are written for do.
        env.set_formatter(|out, state, value| match value.kind() {
            ValueKind::Bool => out.write_str(if value.is_true() { "True" } else { "False" }).map_err(Error::from),
            ValueKind::None => out.write_str("None").map_err(Error::from),
            _ => minijinja::escape_formatter(out, state, value),
        });
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", |format: String| strftime::format_now(&format));
        // Jinja's Undefined has length 0 (`tools|length` where no tools were passed).
        env.add_filter("length", |v: &Value| if v.is_undefined() { Ok(0) } else { minijinja::filters::length(v) });
        env.add_filter("count", |v: &Value| if v.is_undefined() { Ok(0) } else { minijinja::filters::length(v) });
        env.add_template_owned(NAME, without_generation_tags(source)).map_err(|e| ChatError::Compile(describe(&e)))?;
        Ok(ChatTemplate { env, source: source.to_string(), tokens })
    }

    /// Makes `strftime_now` print the time `unix_secs` instead of now (reference comparisons).
    pub fn fix_clock(&mut self, unix_secs: u64) {
        self.env.add_function("strftime_now", move |format: String| strftime::format_unix(&format, unix_secs));
    }

    /// The prompt text for `messages`, ending with the assistant's turn header when
    /// `add_generation_prompt`. `extra` adds globals (templates read e.g. `date_string`).
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        extra: &[(&str, Value)],
    ) -> Result<String, ChatError> {
        let template = self.env.get_template(NAME).expect("added in new()");
        let mut ctx: Vec<(&str, Value)> = vec![
            ("messages", Value::from_serialize(messages)),
            ("bos_token", Value::from(self.tokens.bos.as_str())),
            ("eos_token", Value::from(self.tokens.eos.as_str())),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
        ];
        ctx.extend(extra.iter().cloned());
        let ctx: Value = ctx.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut out = bounded_output::BoundedOutput::new(MAX_RENDERED_BYTES);
        // minijinja 2.24 panics on some inputs (a negative-step slice of an empty or too short
        // value, `messages[::-1]` with no messages; found by fuzzing): contained here so a
        // template can only refuse. Rendering mutates nothing shared, so unwinding out of it
        // leaves the environment as it was.
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| template.render_captured_to(ctx, &mut out)))
            .map_err(|_| ChatError::Render(ENGINE_PANIC.to_string()))?;
        if let Err(e) = rendered {
            if out.overflowed() {
                return Err(ChatError::Render(format!("the rendered prompt is over {MAX_RENDERED_BYTES} bytes")));
            }
            return Err(ChatError::Render(describe(&e)));
        }
        let mut text = out.into_string().map_err(ChatError::Render)?;
        if self.tokens.tokenizer_adds_bos && !self.tokens.bos.is_empty() && text.starts_with(&self.tokens.bos) {
            text.drain(..self.tokens.bos.len());
        }
        if self.tokens.tokenizer_adds_eos && !self.tokens.eos.is_empty() && text.ends_with(&self.tokens.eos) {
            text.truncate(text.len() - self.tokens.eos.len());
        }
        Ok(text)
    }
}

/// The worker's chat template, if it has a usable one.
pub enum ChatSupport {
    /// `isolated` once `isolate` started helper processes (the daemon); renders go there.
    Ready { template: ChatTemplate, origin: TemplateOrigin, isolated: Option<isolated::IsolatedTemplate> },
    /// The model carries no `tokenizer.chat_template` and none was given.
    Missing,
    /// The model's own template does not compile (a template file that does not compile is a
    /// start-up error instead).
    Broken(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateOrigin {
    Gguf,
    File,
}

impl TemplateOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateOrigin::Gguf => "gguf",
            TemplateOrigin::File => "file",
        }
    }
}

impl ChatSupport {
    /// `file` (`--chat-template-file`) wins over the model's template.
    pub fn load(model_template: Option<&str>, file: Option<&std::path::Path>, tokens: TemplateTokens) -> Result<ChatSupport, String> {
        if let Some(path) = file {
            let source = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let template = ChatTemplate::new(&source, tokens).map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(ChatSupport::Ready { template, origin: TemplateOrigin::File, isolated: None });
        }
        Ok(match model_template {
            None => ChatSupport::Missing,
            Some(source) => match ChatTemplate::new(source, tokens) {
                Ok(template) => ChatSupport::Ready { template, origin: TemplateOrigin::Gguf, isolated: None },
                Err(e) => ChatSupport::Broken(e.to_string()),
            },
        })
    }

    /// From now on, render in helper processes of `exe` (this executable): a template's memory
    /// and time are then bounded (isolated.rs). Starts the first helper; an error is a start-up error.
    pub fn isolate(&mut self, exe: std::path::PathBuf) -> Result<(), String> {
        if let ChatSupport::Ready { template, isolated, .. } = self {
            *isolated = Some(isolated::IsolatedTemplate::start(exe, &template.source, &template.tokens)?);
        }
        Ok(())
    }

    /// "gguf", "file", or None when `messages` cannot be served.
    pub fn origin(&self) -> Option<&'static str> {
        match self {
            ChatSupport::Ready { origin, .. } => Some(origin.as_str()),
            _ => None,
        }
    }

    /// The prompt for a conversation, with the assistant's turn opened; the error is a sentence
    /// for the caller.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, String> {
        match self {
            ChatSupport::Ready { isolated: Some(helpers), .. } => helpers.render(messages),
            ChatSupport::Ready { template, isolated: None, .. } => template.render(messages, true, &[]).map_err(|e| e.to_string()),
            ChatSupport::Missing => Err("the model has no chat template (tokenizer.chat_template); send `prompt` instead, \
                                         or start the worker with --chat-template-file"
                .to_string()),
            ChatSupport::Broken(why) => Err(format!("the model's chat template cannot be used ({why}); start the worker with \
                                                     --chat-template-file")),
        }
    }
}

/// HF's `{% generation %}...{% endgeneration %}` (which marks the assistant's text for training
/// masks) renders its body unchanged; it becomes `{% if true %}...{% endif %}`, keeping the tags'
/// whitespace control.
fn without_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("{%") {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        // The close is searched after the open: in `{%}` the `%}` overlapping the `{%` is not one
        // (found by fuzzing: it sliced tag[2..1]). An unclosed tag is left for minijinja to refuse.
        let Some(end) = tag[2..].find("%}").map(|e| e + 2) else {
            rest = tag;
            break;
        };
        let inner = &tag[2..end];
        let (left, body) = inner.strip_prefix(['-', '+']).map_or(("", inner), |b| (&inner[..1], b));
        let (body, right) = body.strip_suffix(['-', '+']).map_or((body, ""), |b| (b, &inner[inner.len() - 1..]));
        match body.trim() {
            "generation" => out.push_str(&format!("{{%{left} if true {right}%}}")),
            "endgeneration" => out.push_str(&format!("{{%{left} endif {right}%}}")),
            _ => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(pairs: &[(&str, &str)]) -> Vec<ChatMessage> {
        pairs.iter().map(|(r, c)| ChatMessage { role: r.to_string(), content: c.to_string() }).collect()
    }

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_chatml_with_the_generation_prompt() {
        let t = ChatTemplate::new(CHATML, TemplateTokens::default()).unwrap();
        let text = t.render(&msgs(&[("system", "Be brief."), ("user", "Hi")]), true, &[]).unwrap();
        assert_eq!(text, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    }

    /// Found by fuzzing (fuzz/regressions/chat_template/): minijinja panics on these slices;
    /// the render refuses instead, and the template still renders a conversation it can handle.
    #[test]
    fn a_panic_inside_the_template_engine_is_a_refusal() {
        let t = ChatTemplate::new("{% for m in messages[::-1] %}{{ m.content }}{% endfor %}", TemplateTokens::default()).unwrap();
        let err = t.render(&[], true, &[]).unwrap_err().to_string();
        assert!(err.contains(ENGINE_PANIC), "{err}");
        assert_eq!(t.render(&msgs(&[("user", "a"), ("assistant", "b")]), true, &[]).unwrap(), "ba");
        let t = ChatTemplate::new("{{ ''[::-1] }}", TemplateTokens::default()).unwrap();
        assert!(t.render(&[], true, &[]).unwrap_err().to_string().contains(ENGINE_PANIC));
    }

    /// Found by fuzzing: a `%}` overlapping the `{%` before it is no tag end.
    #[test]
    fn an_open_tag_whose_percent_is_shared_is_no_tag() {
        for src in ["{%}", "a {%} b", "{%}{% generation %}x{% endgeneration %}"] {
            let _ = ChatTemplate::new(src, TemplateTokens::default());
        }
        assert_eq!(without_generation_tags("a {%} b"), "a {%} b");
    }

    #[test]
    fn python_string_methods_and_raise_exception_work() {
        let src = "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}\
                   {{ messages[0].content.strip().upper() }}|{{ messages[0].content.startswith(' a') }}|{{ 'a,b'.split(',') | length }}";
        let t = ChatTemplate::new(src, TemplateTokens::default()).unwrap();
        assert_eq!(t.render(&msgs(&[("user", " abc ")]), true, &[]).unwrap(), "ABC|True|2");
        let err = t.render(&msgs(&[("system", "x")]), true, &[]).unwrap_err().to_string();
        assert!(err.contains("first must be user"), "{err}");
    }

    #[test]
    fn bos_written_by_the_template_is_dropped_when_the_tokenizer_adds_it() {
        let tokens = TemplateTokens { bos: "<s>".into(), eos: "</s>".into(), tokenizer_adds_bos: true, tokenizer_adds_eos: false };
        let t = ChatTemplate::new("{{ bos_token }}[INST] {{ messages[0].content }} [/INST]", tokens).unwrap();
        assert_eq!(t.render(&msgs(&[("user", "Hi")]), true, &[]).unwrap(), "[INST] Hi [/INST]");
    }

    #[test]
    fn generation_tags_render_their_body() {
        assert_eq!(without_generation_tags("a{%- generation %}b{% endgeneration -%}c{{ x }}"), "a{%- if true %}b{% endif -%}c{{ x }}");
        let t = ChatTemplate::new("[{% generation %}{{ messages[0].content }}{% endgeneration %}]", TemplateTokens::default()).unwrap();
        assert_eq!(t.render(&msgs(&[("user", "x")]), true, &[]).unwrap(), "[x]");
    }

    #[test]
    fn a_broken_template_is_a_compile_error() {
        assert!(matches!(ChatTemplate::new("{% for %}", TemplateTokens::default()), Err(ChatError::Compile(_))));
    }

    fn render_error(src: &str) -> (String, std::time::Duration) {
        let t = ChatTemplate::new(src, TemplateTokens::default()).unwrap();
        let t0 = std::time::Instant::now();
        let e = t.render(&msgs(&[("user", "x")]), true, &[]).unwrap_err().to_string();
        (e, t0.elapsed())
    }

    #[test]
    fn an_endless_loop_runs_out_of_fuel_quickly() {
        let (e, took) = render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
        assert!(e.contains("loops without end"), "{e}");
        // Generous for a debug build on a loaded machine.
        eprintln!("out of fuel after {took:?}");
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn a_macro_calling_itself_hits_the_recursion_limit() {
        let (e, _) = render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        assert!(e.contains("recursed deeper than 100"), "{e}");
    }

    #[test]
    fn output_beyond_the_cap_is_refused_without_being_kept() {
        let (e, _) = render_error("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}");
        assert!(e.contains("over 1048576 bytes"), "{e}");
        let t = ChatTemplate::new("{{ 'y' * 1048576 }}", TemplateTokens::default()).unwrap();
        assert_eq!(t.render(&msgs(&[("user", "x")]), true, &[]).unwrap().len(), MAX_RENDERED_BYTES);
    }
}
