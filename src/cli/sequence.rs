//! One sequence on a context of its own: what the CLI subcommands evaluate with. A prompt goes in
//! steps of at most the context's batch size; generation then adds one token per step.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::ffi::{BatchRow, Context, ContextParams, Model};

pub struct OneSequence<'m> {
    ctx: Context<'m>,
    seq: i32,
    n_ctx: i32,
    n_batch: usize,
}

impl<'m> OneSequence<'m> {
    /// A context for one sequence of up to `n_ctx` positions (its pool holds exactly that).
    pub fn new(model: &'m Model, n_ctx: i32, logit_log: Option<PathBuf>, logit_log_top_k: i32) -> Result<OneSequence<'m>> {
        let params = ContextParams {
            n_seq_max: 1,
            n_ctx,
            kv_cache_tokens: n_ctx,
            prefix_cache: false,
            logit_log,
            logit_log_top_k,
            ..Default::default()
        };
        let n_batch = params.n_batch as usize;
        let mut ctx = Context::new(model, &params).context("creating the context")?;
        let (seq, _) = ctx.add_sequence(&[], n_ctx)?;
        Ok(OneSequence { ctx, seq, n_ctx, n_batch })
    }

    /// Positions evaluated so far.
    pub fn len(&self) -> i32 {
        self.ctx.seq_len(self.seq).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn n_ctx(&self) -> i32 {
        self.n_ctx
    }

    /// Forgets every position.
    pub fn reset(&mut self) -> Result<()> {
        self.ctx.remove_sequence(self.seq)?;
        self.seq = self.ctx.add_sequence(&[], self.n_ctx)?.0;
        Ok(())
    }

    /// Evaluates `tokens` at the next positions; returns the prediction after the last one.
    pub fn prefill(&mut self, tokens: &[i32]) -> Result<Vec<f32>> {
        anyhow::ensure!(!tokens.is_empty(), "nothing to evaluate");
        let mut rows = Vec::with_capacity(self.n_batch);
        for (c, chunk) in tokens.chunks(self.n_batch).enumerate() {
            let last_chunk = (c + 1) * self.n_batch >= tokens.len();
            let pos0 = self.len();
            rows.clear();
            rows.extend(chunk.iter().enumerate().map(|(i, &token)| BatchRow {
                token,
                pos: pos0 + i as i32,
                seq: self.seq,
                logits: last_chunk && i + 1 == chunk.len(),
            }));
            self.ctx.decode(&rows)?;
        }
        Ok(self.ctx.logits(rows.len() - 1)?.to_vec())
    }

    /// Evaluates one token into `logits` (n_vocab floats).
    pub fn decode_into(&mut self, token: i32, logits: &mut [f32]) -> Result<()> {
        let row = BatchRow { token, pos: self.len(), seq: self.seq, logits: true };
        self.ctx.decode(&[row])?;
        logits.copy_from_slice(self.ctx.logits(0)?);
        Ok(())
    }
}
