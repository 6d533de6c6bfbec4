//! Safe wrapper over `wc_context`: many sequences over one paged KV pool, evaluated a step of
//! rows at a time (.specs/batching.md). A `Context` borrows its `Model`; each sequence's abort
//! flag is kept alive here for as long as the core may read it.

use std::collections::HashMap;
use std::ffi::CString;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::atomic::AtomicI32;
use std::sync::Arc;

use super::{check, kind_of, owned, sys, CoreError, ErrorKind, Model, Result, Sampler};

/// Positions per KV block (`WC_KV_BLOCK_TOKENS`).
pub const KV_BLOCK_TOKENS: u32 = sys::WC_KV_BLOCK_TOKENS;

#[derive(Debug, Clone)]
pub struct ContextParams {
    /// Sequences held at once.
    pub n_seq_max: i32,
    /// Positions one sequence may reach; 0 = the model's training context.
    pub n_ctx: i32,
    /// Pool size in positions; 0 = n_seq_max * n_ctx.
    pub kv_cache_tokens: i32,
    /// Most rows per step.
    pub n_batch: i32,
    pub prefix_cache: bool,
    pub logit_log: Option<PathBuf>,
    pub logit_log_top_k: i32,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams { n_seq_max: 4, n_ctx: 0, kv_cache_tokens: 0, n_batch: 512, prefix_cache: true, logit_log: None, logit_log_top_k: 20 }
    }
}

/// Builds the C params; the returned CString backs `logit_log_path` and must outlive their use.
fn raw_params(p: &ContextParams) -> Result<(sys::wc_context_params, Option<CString>)> {
    // SAFETY: plain-data default constructor.
    let mut raw = unsafe { sys::wc_context_default_params() };
    raw.n_seq_max = p.n_seq_max;
    raw.n_ctx = p.n_ctx;
    raw.kv_cache_tokens = p.kv_cache_tokens;
    raw.n_batch = p.n_batch;
    raw.prefix_cache = p.prefix_cache;
    raw.logit_log_top_k = p.logit_log_top_k;
    let path = match &p.logit_log {
        Some(path) => Some(CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| CoreError {
            kind: ErrorKind::InvalidArgument,
            message: "logit log path contains a NUL byte".into(),
        })?),
        None => None,
    };
    if let Some(c) = &path {
        raw.logit_log_path = c.as_ptr();
    }
    Ok((raw, path))
}

impl Model {
    /// Backend bytes (host on the CPU, VRAM on CUDA) a context with these params allocates.
    pub fn context_bytes(&self, params: &ContextParams) -> Result<u64> {
        let (raw, _path) = raw_params(params)?;
        let mut out = 0u64;
        // SAFETY: the model is live; raw and out are valid for the call.
        let status = unsafe { sys::wc_model_context_bytes(self.raw.as_ptr(), &raw, &mut out) };
        check(status, || self.last_error())?;
        Ok(out)
    }
}

/// One row of a step: a token of sequence `seq` at position `pos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRow {
    pub token: i32,
    pub pos: i32,
    pub seq: i32,
    /// Keep this row's prediction (for `logits` / `sample`).
    pub logits: bool,
}

/// What became of a row of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOutcome {
    Evaluated,
    /// Its sequence's abort flag stopped it; the sequence kept its length.
    Aborted,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvStats {
    pub block_tokens: i32,
    pub blocks_total: i32,
    pub blocks_referenced: i32,
    pub blocks_cached: i32,
    pub blocks_reserved: i32,
    pub blocks_available: i32,
    pub n_seq: i32,
    pub n_ctx: i32,
}

/// A context (`wc_context`) borrowing its model.
pub struct Context<'m> {
    raw: NonNull<sys::wc_context>,
    n_vocab: usize,
    abort_flags: HashMap<i32, Arc<AtomicI32>>,
    rows: Vec<sys::wc_batch_row>,
    statuses: Vec<sys::wc_status>,
    _model: PhantomData<&'m Model>,
}

// SAFETY: a context may move between threads; every call goes through &mut self or reads, so one
// thread uses it at a time. The abort flags are atomics shared through Arc.
unsafe impl Send for Context<'_> {}

impl<'m> Context<'m> {
    pub fn new(model: &'m Model, params: &ContextParams) -> Result<Context<'m>> {
        let (raw_p, _path) = raw_params(params)?;
        let mut out: *mut sys::wc_context = std::ptr::null_mut();
        // SAFETY: model is live for 'm; raw_p's pointers are valid for the call (the core copies
        // the path).
        let status = unsafe { sys::wc_context_create(model.raw.as_ptr(), &raw_p, &mut out) };
        check(status, || model.last_error())?;
        let raw = NonNull::new(out)
            .ok_or_else(|| CoreError { kind: ErrorKind::Internal, message: "wc_context_create returned OK but no handle".into() })?;
        Ok(Context {
            raw,
            n_vocab: model.info().n_vocab as usize,
            abort_flags: HashMap::new(),
            rows: Vec::new(),
            statuses: Vec::new(),
            _model: PhantomData,
        })
    }

    fn last_error(&self) -> String {
        // SAFETY: raw is live.
        owned(unsafe { sys::wc_context_last_error(self.raw.as_ptr()) })
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// Adds a sequence, reusing cached blocks that match `prefix` (tokens whose logits are not
    /// needed) and reserving room for `reserve` positions (0: none). Returns (id, cached positions).
    pub fn add_sequence(&mut self, prefix: &[i32], reserve: i32) -> Result<(i32, i32)> {
        let n = len_i32(prefix.len())?;
        let (mut seq, mut cached) = (0i32, 0i32);
        // SAFETY: prefix holds n tokens; the out pointers are valid.
        let status = unsafe { sys::wc_context_seq_add(self.raw.as_ptr(), prefix.as_ptr(), n, reserve, &mut seq, &mut cached) };
        check(status, || self.last_error())?;
        Ok((seq, cached))
    }

    /// Adds a sequence sharing the first `n_positions` of `src` (whole blocks). Returns (id, shared).
    pub fn fork_sequence(&mut self, src: i32, n_positions: i32, reserve: i32) -> Result<(i32, i32)> {
        let (mut seq, mut shared) = (0i32, 0i32);
        // SAFETY: out pointers are valid.
        let status = unsafe { sys::wc_context_seq_fork(self.raw.as_ptr(), src, n_positions, reserve, &mut seq, &mut shared) };
        check(status, || self.last_error())?;
        Ok((seq, shared))
    }

    pub fn remove_sequence(&mut self, seq: i32) -> Result<()> {
        // SAFETY: raw is live.
        let status = unsafe { sys::wc_context_seq_remove(self.raw.as_ptr(), seq) };
        check(status, || self.last_error())?;
        // The core no longer reads the flag.
        self.abort_flags.remove(&seq);
        Ok(())
    }

    /// Positions the sequence holds; None for an unknown id.
    pub fn seq_len(&self, seq: i32) -> Option<i32> {
        // SAFETY: raw is live.
        let n = unsafe { sys::wc_context_seq_len(self.raw.as_ptr(), seq) };
        (n >= 0).then_some(n)
    }

    /// A non-zero `flag` (set from any thread) drops the sequence's rows at the next layer boundary.
    pub fn set_abort(&mut self, seq: i32, flag: Arc<AtomicI32>) -> Result<()> {
        // SAFETY: AtomicI32 has the layout of i32 and the core only reads it; the Arc kept in
        // abort_flags keeps it alive until the sequence is removed or the flag replaced.
        let status = unsafe { sys::wc_context_seq_set_abort(self.raw.as_ptr(), seq, flag.as_ptr() as *const i32) };
        check(status, || self.last_error())?;
        self.abort_flags.insert(seq, flag);
        Ok(())
    }

    pub fn set_log_tag(&mut self, seq: i32, job_id: &str) -> Result<()> {
        let c = CString::new(job_id).map_err(|_| CoreError { kind: ErrorKind::InvalidArgument, message: "job id contains a NUL byte".into() })?;
        // SAFETY: c is valid for the call; the core copies it.
        let status = unsafe { sys::wc_context_seq_set_log_tag(self.raw.as_ptr(), seq, c.as_ptr()) };
        check(status, || self.last_error())
    }

    /// Evaluates one step. Every row aborted is `Ok` with every outcome `Aborted`.
    pub fn decode(&mut self, rows: &[BatchRow]) -> Result<Vec<RowOutcome>> {
        let n = len_i32(rows.len())?;
        self.rows.clear();
        self.rows.extend(rows.iter().map(|r| sys::wc_batch_row { token: r.token, pos: r.pos, seq: r.seq, logits: r.logits }));
        self.statuses.clear();
        self.statuses.resize(rows.len(), sys::wc_status::WC_OK);
        // SAFETY: rows and statuses hold n entries each.
        let status = unsafe { sys::wc_context_decode(self.raw.as_ptr(), self.rows.as_ptr(), n, self.statuses.as_mut_ptr()) };
        if status != sys::wc_status::WC_ERR_ABORTED {
            check(status, || self.last_error())?;
        }
        Ok(self
            .statuses
            .iter()
            .map(|s| if kind_of(*s) == Some(ErrorKind::Aborted) { RowOutcome::Aborted } else { RowOutcome::Evaluated })
            .collect())
    }

    /// The logits of row `row` of the last step (which asked for them and was evaluated).
    pub fn logits(&self, row: usize) -> Result<&[f32]> {
        let mut p: *const f32 = std::ptr::null();
        // SAFETY: out pointer valid; on OK p points at n_vocab floats owned by the context, valid
        // until the next decode, which needs &mut self while this borrow of &self lives.
        let status = unsafe { sys::wc_context_logits(self.raw.as_ptr(), len_i32(row)?, &mut p) };
        check(status, || self.last_error())?;
        // SAFETY: see above.
        Ok(unsafe { std::slice::from_raw_parts(p, self.n_vocab) })
    }

    /// Samples the next token of row `row` in the core (the sampler does not accept it).
    pub fn sample(&mut self, row: usize, sampler: &mut Sampler) -> Result<i32> {
        let mut token = 0i32;
        // SAFETY: both handles are live; token is a valid out pointer.
        let status = unsafe { sys::wc_context_sample(self.raw.as_ptr(), len_i32(row)?, sampler.raw_ptr(), &mut token) };
        check(status, || self.last_error())?;
        Ok(token)
    }

    pub fn kv_stats(&self) -> KvStats {
        let mut s = std::mem::MaybeUninit::<sys::wc_kv_stats>::zeroed();
        // SAFETY: raw is live; s is a valid out pointer, fully written on OK (zeroed otherwise).
        let status = unsafe { sys::wc_context_kv_stats(self.raw.as_ptr(), s.as_mut_ptr()) };
        debug_assert_eq!(status, sys::wc_status::WC_OK);
        // SAFETY: zero-initialised plain data at worst.
        let s = unsafe { s.assume_init() };
        KvStats {
            block_tokens: s.block_tokens,
            blocks_total: s.blocks_total,
            blocks_referenced: s.blocks_referenced,
            blocks_cached: s.blocks_cached,
            blocks_reserved: s.blocks_reserved,
            blocks_available: s.blocks_available,
            n_seq: s.n_seq,
            n_ctx: s.n_ctx,
        }
    }

    /// Backend bytes held (KV pool, scratch) plus host-side buffers.
    pub fn memory_bytes(&self) -> u64 {
        // SAFETY: raw is live.
        unsafe { sys::wc_context_memory_bytes(self.raw.as_ptr()) }
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the handle; the abort flags are dropped after it.
        unsafe { sys::wc_context_free(self.raw.as_ptr()) }
    }
}

fn len_i32(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| CoreError { kind: ErrorKind::InvalidArgument, message: format!("{n} is too large") })
}
