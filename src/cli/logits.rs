//! `worker-orcd logits`: evaluates a whole sequence teacher-forced and writes one JSON line per
//! position through the core's logit log (the same writer every backend and the daemon use).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::load::{load_model, load_tokenizer_with};
use super::sequence::OneSequence;
use super::ModelArgs;

#[derive(Args, Debug)]
pub struct LogitsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt text to tokenize (special tokens recognised).
    #[arg(long, conflicts_with = "tokens", required_unless_present = "tokens")]
    pub prompt: Option<String>,
    /// Comma-separated token ids, e.g. 1,2,3.
    #[arg(long, value_delimiter = ',')]
    pub tokens: Option<Vec<i32>>,
    /// (id, logit) pairs per line.
    #[arg(long, default_value_t = 20)]
    pub top_k: u32,
    /// Output JSON Lines file (replaced if it exists).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &LogitsArgs) -> Result<()> {
    let model = load_model(&args.model)?;
    let tokens: Vec<i32> = match (&args.tokens, &args.prompt) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => load_tokenizer_with(&model, args.model.tokenizer.as_deref())?.encode(p, true)?.into_iter().map(|t| t as i32).collect(),
        (None, None) => unreachable!("clap requires one of --prompt/--tokens"),
    };
    if tokens.is_empty() {
        bail!("no tokens to evaluate");
    }
    std::fs::write(&args.out, b"").with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut session = OneSequence::new(&model, tokens.len() as i32, Some(args.out.clone()), args.top_k as i32)?;
    session.prefill(&tokens).context("evaluating the sequence")?;
    eprintln!("wrote {} positions to {}", tokens.len(), args.out.display());
    Ok(())
}
