//! Loading a model and its tokenizer for a CLI subcommand, with errors worded for a terminal.

use std::path::Path;

use anyhow::{Context, Result};

use super::ModelArgs;
use crate::ffi::{self, Backend, Model, ModelParams};
use crate::model_vocab::gguf_vocab;
use crate::tokenizer::Tokenizer;

pub fn load_model(args: &ModelArgs) -> Result<Model> {
    let backend = match args.gpu_device {
        Some(device) => Backend::Cuda { device },
        None => Backend::Cpu,
    };
    let params = ModelParams {
        backend,
        n_threads: args.threads.unwrap_or(0) as i32,
        cuda_graphs: !args.no_cuda_graph,
        ..Default::default()
    };
    Model::load(&args.model, params).map_err(|e| {
        crate::backend_report::print_if_unavailable(&e, args.gpu_device);
        anyhow::anyhow!("cannot load model ({}): {}", ffi::status_name(e.kind), e.message)
    })
}

pub fn load_tokenizer(model: &Model) -> Result<Tokenizer> {
    load_tokenizer_with(model, None)
}

/// The GGUF's own tokenizer, or the tokenizer.json at `json`.
pub fn load_tokenizer_with(model: &Model, json: Option<&Path>) -> Result<Tokenizer> {
    let vocab = gguf_vocab(model).context("reading tokenizer metadata")?;
    match json {
        None => Tokenizer::from_gguf_vocab(&vocab).context("building the tokenizer from the GGUF vocabulary"),
        Some(path) => Tokenizer::from_hf_json(path, Some(&vocab)).context("loading --tokenizer"),
    }
}

/// Index of the largest logit; ties go to the lowest id.
pub fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}
