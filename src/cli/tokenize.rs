//! `worker-orcd tokenize --model PATH [--tokenizer tokenizer.json] (--text TEXT | --decode 1,2,3)
//! [--no-parse-special]`:
//! ids as a JSON array, or the text of ids. Loads only the vocabulary (vocab-only GGUF files,
//! which is what llama.cpp's tokenizer test files are, work too).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::ffi::{self, Model, ModelParams};
use super::load::load_tokenizer_with;

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// GGUF file with a tokenizer (tensors are not needed).
    #[arg(long)]
    pub model: PathBuf,
    /// Use this tokenizer.json instead of the GGUF's vocabulary.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Text to tokenize (BOS/EOS added as the metadata says).
    #[arg(long, conflicts_with_all = ["decode", "text_file"])]
    pub text: Option<String>,
    /// Tokenize the contents of this file instead of --text.
    #[arg(long, conflicts_with = "decode")]
    pub text_file: Option<PathBuf>,
    /// Print to stderr how long tokenizing took (best of 10 runs).
    #[arg(long)]
    pub timing: bool,
    /// Comma-separated ids to turn back into text.
    #[arg(long)]
    pub decode: Option<String>,
    /// Treat special-token text such as <|im_start|> literally instead of as one token.
    #[arg(long)]
    pub no_parse_special: bool,
}

pub fn run(args: &TokenizeArgs) -> Result<()> {
    let model = Model::load(&args.model, ModelParams { vocab_only: true, ..Default::default() })
        .map_err(|e| anyhow::anyhow!("cannot load {} ({}): {}", args.model.display(), ffi::status_name(e.kind), e.message))?;
    let tokenizer = load_tokenizer_with(&model, args.tokenizer.as_deref())?;
    let text = match &args.text_file {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => args.text.clone(),
    };
    match (&text, &args.decode) {
        (Some(text), None) => {
            let ids = tokenizer.encode(text, !args.no_parse_special)?;
            if args.timing {
                let best = (0..10)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        let _ = tokenizer.encode(text, !args.no_parse_special);
                        t.elapsed()
                    })
                    .min()
                    .unwrap_or_default();
                eprintln!("tokenized {} bytes into {} tokens in {:.3} ms (best of 10)", text.len(), ids.len(), best.as_secs_f64() * 1e3);
            }
            println!("{}", serde_json::to_string(&ids)?);
        }
        (None, Some(list)) => {
            let mut ids = Vec::new();
            for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let id: u32 = part.parse().with_context(|| format!("--decode: '{part}' is not a token id"))?;
                if id as usize >= tokenizer.vocab_size() {
                    bail!("--decode: token id {id} is outside the vocabulary (size {})", tokenizer.vocab_size());
                }
                ids.push(id);
            }
            print!("{}", tokenizer.decode(&ids));
        }
        _ => bail!("give --text TEXT, --text-file PATH or --decode IDS"),
    }
    Ok(())
}
