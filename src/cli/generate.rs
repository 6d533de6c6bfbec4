//! `worker-orcd generate`: greedy generation. The prompt is tokenized with special tokens parsed
//! and BOS only if the model asks for it; generation stops at an end-of-generation token or
//! after --max-tokens. Only the continuation goes to stdout; speeds go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::load::{argmax, load_model, load_tokenizer_with};
use super::sequence::OneSequence;
use super::ModelArgs;
use crate::chat::{ChatMessage, ChatSupport};
use crate::model_vocab::gguf_vocab;
use crate::utf8_stream::Utf8Stream;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt text (special tokens such as <|im_start|> are recognised).
    #[arg(long)]
    pub prompt: String,
    /// Send the prompt as one user message through the model's chat template (as `messages` in
    /// /execute), so the model answers it as an assistant.
    #[arg(long)]
    pub chat: bool,
    /// With --chat: render with this Jinja template instead of the GGUF's own.
    #[arg(long, requires = "chat")]
    pub chat_template_file: Option<PathBuf>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: u32,
    /// Context size (default: prompt + max-tokens, at most the model's training context).
    #[arg(long)]
    pub ctx_size: Option<u32>,
}

pub fn run(args: &GenerateArgs) -> Result<()> {
    let model = load_model(&args.model)?;
    let tokenizer = load_tokenizer_with(&model, args.model.tokenizer.as_deref())?;
    let info = model.info();
    let text = if args.chat {
        let vocab = gguf_vocab(&model).context("reading tokenizer metadata")?;
        let chat = ChatSupport::load(vocab.chat_template.as_deref(), args.chat_template_file.as_deref(), tokenizer.template_tokens())
            .map_err(anyhow::Error::msg)?;
        chat.render(&[ChatMessage { role: "user".into(), content: args.prompt.clone() }]).map_err(anyhow::Error::msg)?
    } else {
        args.prompt.clone()
    };
    let prompt: Vec<i32> = tokenizer.encode(&text, true)?.into_iter().map(|t| t as i32).collect();
    if prompt.is_empty() {
        bail!("the prompt tokenizes to nothing");
    }
    let wanted = prompt.len() as i64 + args.max_tokens as i64;
    let n_ctx = match args.ctx_size {
        Some(n) => n as i64,
        None => wanted.min(info.n_ctx_train as i64),
    };
    if prompt.len() as i64 >= n_ctx {
        bail!("the prompt has {} tokens, which leaves no room in a context of {n_ctx}", prompt.len());
    }
    let mut session = OneSequence::new(&model, n_ctx as i32, args.model.logit_log.clone(), 20)?;

    let t0 = Instant::now();
    let mut logits = session.prefill(&prompt).context("prefill")?;
    let prefill_s = t0.elapsed().as_secs_f64();

    let eog = tokenizer.eog_ids().to_vec();
    let mut out = std::io::stdout().lock();
    let mut text = Utf8Stream::new();
    let t1 = Instant::now();
    let mut generated = 0u32;
    let mut decoded = 0u32;
    while generated < args.max_tokens {
        let next = argmax(&logits) as u32;
        if eog.contains(&next) {
            break;
        }
        generated += 1;
        out.write_all(text.push(&tokenizer.token_bytes(next)).as_bytes())?;
        out.flush()?;
        if generated == args.max_tokens || session.len() as i64 >= n_ctx {
            break;
        }
        session.decode_into(next as i32, &mut logits).context("decode")?;
        decoded += 1;
    }
    out.write_all(text.finish().as_bytes())?;
    writeln!(out)?;
    let decode_s = t1.elapsed().as_secs_f64();
    eprintln!(
        "prefill: {} tokens in {:.1} ms ({:.1} tok/s); decode: {} tokens in {:.1} ms ({:.1} tok/s)",
        prompt.len(),
        prefill_s * 1e3,
        prompt.len() as f64 / prefill_s,
        decoded,
        decode_s * 1e3,
        if decoded > 0 { decoded as f64 / decode_s } else { 0.0 },
    );
    Ok(())
}
