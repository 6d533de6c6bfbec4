//! Misuse of the raw C ABI (`sys::wc_*`, include/worker_core.h): NULL handles and pointers,
//! context overflow, bad token ids and positions, per-sequence abort, reservations and the KV
//! pool, the prefix cache and forks, vocab-only models, and the CUDA backend on a CPU-only build.
//! Every call must return the documented status and leave the context usable. These tests live in
//! `ffi` because it is the only module allowed `unsafe`.

// The integration tests' GGUF writer, shared rather than duplicated.
#[path = "../../tests/common/gguf_writer.rs"]
mod gguf_writer;

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicI32, Ordering};

use super::sys::{self, wc_status as S};
use gguf_writer::{Gguf, TinyLlama};

const BLOCK: i32 = sys::WC_KV_BLOCK_TOKENS as i32;

fn text(p: *const c_char) -> String {
    assert!(!p.is_null(), "the core returned a NULL string");
    // SAFETY: the core returns NUL-terminated strings that outlive this call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn thread_error() -> String {
    // SAFETY: no preconditions.
    text(unsafe { sys::wc_last_error() })
}

/// A tiny llama written to a temporary file and loaded on the CPU; freed on drop.
struct Fixture {
    _dir: tempfile::TempDir,
    path: CString,
    model: *mut sys::wc_model,
    n_vocab: usize,
}

fn context_params(n_seq_max: i32, n_ctx: i32, kv_cache_tokens: i32) -> sys::wc_context_params {
    // SAFETY: plain-data constructor.
    let mut p = unsafe { sys::wc_context_default_params() };
    p.n_seq_max = n_seq_max;
    p.n_ctx = n_ctx;
    p.kv_cache_tokens = kv_cache_tokens;
    p
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::from_gguf(&TinyLlama::default().build(), false)
    }

    fn from_gguf(g: &Gguf, vocab_only: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tiny.gguf");
        g.write(&file);
        let path = CString::new(file.to_str().unwrap()).unwrap();
        let mut p = default_model_params();
        p.vocab_only = vocab_only;
        let mut model = null_mut();
        // SAFETY: valid path, params and out-pointer.
        let st = unsafe { sys::wc_model_load(path.as_ptr(), &p, &mut model) };
        assert_eq!(st, S::WC_OK, "{}", thread_error());
        assert!(!model.is_null());
        let mut info = zeroed_info();
        // SAFETY: live model, valid out-pointer.
        assert_eq!(unsafe { sys::wc_model_get_info(model, &mut info) }, S::WC_OK);
        Fixture { _dir: dir, path, model, n_vocab: info.n_vocab as usize }
    }

    fn context_with(&self, p: &sys::wc_context_params) -> Ctx {
        let mut c = null_mut();
        // SAFETY: live model and valid params.
        let st = unsafe { sys::wc_context_create(self.model, p, &mut c) };
        assert_eq!(st, S::WC_OK, "{}", self.model_error());
        Ctx { raw: c, n_vocab: self.n_vocab }
    }

    /// A context of `n_seq_max` sequences of `n_ctx` positions over a pool of `kv` positions.
    fn context(&self, n_seq_max: i32, n_ctx: i32, kv: i32) -> Ctx {
        self.context_with(&context_params(n_seq_max, n_ctx, kv))
    }

    fn model_error(&self) -> String {
        // SAFETY: live model.
        text(unsafe { sys::wc_model_last_error(self.model) })
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: we own the handle; each test drops its contexts before its fixture.
        unsafe { sys::wc_model_free(self.model) }
    }
}

struct Ctx {
    raw: *mut sys::wc_context,
    n_vocab: usize,
}

fn row(token: i32, pos: i32, seq: i32, logits: bool) -> sys::wc_batch_row {
    sys::wc_batch_row { token, pos, seq, logits }
}

impl Ctx {
    /// A new sequence reserving `reserve` positions, reusing cached blocks of `prefix`.
    fn add(&self, prefix: &[i32], reserve: i32) -> (S, i32, i32) {
        let (mut seq, mut cached) = (-1, -1);
        // SAFETY: prefix valid for its length; out pointers valid.
        let st = unsafe { sys::wc_context_seq_add(self.raw, prefix.as_ptr(), prefix.len() as i32, reserve, &mut seq, &mut cached) };
        (st, seq, cached)
    }

    fn seq(&self, reserve: i32) -> i32 {
        let (st, seq, _) = self.add(&[], reserve);
        assert_eq!(st, S::WC_OK, "{}", self.error());
        seq
    }

    fn len(&self, seq: i32) -> i32 {
        // SAFETY: live context.
        unsafe { sys::wc_context_seq_len(self.raw, seq) }
    }

    fn remove(&self, seq: i32) -> S {
        // SAFETY: live context.
        unsafe { sys::wc_context_seq_remove(self.raw, seq) }
    }

    /// Evaluates `rows`; returns the status and each row's status.
    fn step(&self, rows: &[sys::wc_batch_row]) -> (S, Vec<S>) {
        let mut status = vec![S::WC_ERR_INTERNAL; rows.len()];
        // SAFETY: rows and status hold rows.len() entries.
        let st = unsafe { sys::wc_context_decode(self.raw, rows.as_ptr(), rows.len() as i32, status.as_mut_ptr()) };
        (st, status)
    }

    /// The logits of `row` of the last step.
    fn logits(&self, row: usize) -> Result<Vec<f32>, String> {
        let mut p = null();
        // SAFETY: valid out-pointer; on OK p holds n_vocab floats until the next step.
        let st = unsafe { sys::wc_context_logits(self.raw, row as i32, &mut p) };
        if st != S::WC_OK {
            return Err(self.error());
        }
        // SAFETY: see above.
        Ok(unsafe { std::slice::from_raw_parts(p, self.n_vocab) }.to_vec())
    }

    /// Evaluates `tokens` on `seq` in steps of `chunk` rows; returns every position's logits.
    fn run(&self, seq: i32, tokens: &[i32], chunk: usize) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        for part in tokens.chunks(chunk) {
            let pos0 = self.len(seq);
            let rows: Vec<_> = part.iter().enumerate().map(|(i, &t)| row(t, pos0 + i as i32, seq, true)).collect();
            let (st, _) = self.step(&rows);
            assert_eq!(st, S::WC_OK, "{}", self.error());
            for i in 0..rows.len() {
                out.push(self.logits(i).unwrap());
            }
        }
        out
    }

    fn stats(&self) -> sys::wc_kv_stats {
        // SAFETY: plain data; the call fills it.
        let mut s: sys::wc_kv_stats = unsafe { std::mem::zeroed() };
        // SAFETY: live context, valid out-pointer.
        assert_eq!(unsafe { sys::wc_context_kv_stats(self.raw, &mut s) }, S::WC_OK);
        s
    }

    fn error(&self) -> String {
        // SAFETY: live context.
        text(unsafe { sys::wc_context_last_error(self.raw) })
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: we own the handle.
        unsafe { sys::wc_context_free(self.raw) }
    }
}

fn default_model_params() -> sys::wc_model_params {
    // SAFETY: plain-data constructor.
    let mut p = unsafe { sys::wc_model_default_params() };
    p.n_threads = 2;
    p
}

fn zeroed_info() -> sys::wc_model_info {
    // SAFETY: a C struct of integers and nullable pointers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn zeroed_tokenizer_info() -> sys::wc_tokenizer_info {
    // SAFETY: as for zeroed_info.
    unsafe { std::mem::zeroed() }
}

#[test]
fn status_names_are_stable() {
    let names = [
        (S::WC_OK, "OK"),
        (S::WC_ERR_INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (S::WC_ERR_IO, "IO"),
        (S::WC_ERR_GGUF_FORMAT, "GGUF_FORMAT"),
        (S::WC_ERR_UNSUPPORTED, "UNSUPPORTED"),
        (S::WC_ERR_OUT_OF_MEMORY, "OUT_OF_MEMORY"),
        (S::WC_ERR_CONTEXT_FULL, "CONTEXT_FULL"),
        (S::WC_ERR_ABORTED, "ABORTED"),
        (S::WC_ERR_BACKEND_UNAVAILABLE, "BACKEND_UNAVAILABLE"),
        (S::WC_ERR_INTERNAL, "INTERNAL"),
        (S::WC_ERR_NO_KV_SPACE, "NO_KV_SPACE"),
    ];
    for (status, name) in names {
        // SAFETY: no preconditions.
        assert_eq!(text(unsafe { sys::wc_status_str(status) }), name);
    }
}

#[test]
fn null_handles_and_pointers_are_invalid_arguments() {
    let fx = Fixture::new();
    let c = fx.context(2, 16, 0);
    let m = fx.model;
    let seq = c.seq(16);
    let rows = [row(1, 0, seq, true), row(2, 1, seq, false)];
    let mut info = zeroed_info();
    let mut tinfo = zeroed_tokenizer_info();
    let (mut txt, mut len) = (null::<c_char>(), 0usize);
    let mut model_out = null_mut();
    let mut ctx_out = null_mut();
    let p = default_model_params();
    let cp = context_params(2, 16, 0);
    let (mut out_i, mut bytes, mut logits) = (0i32, 0u64, null::<f32>());
    let mut stats: sys::wc_kv_stats = unsafe { std::mem::zeroed() };
    let invalid = S::WC_ERR_INVALID_ARGUMENT;

    // SAFETY: every pointer passed is either NULL on purpose or valid; the core must check.
    unsafe {
        // The no-op and zero-returning forms.
        sys::wc_model_free(null_mut());
        sys::wc_context_free(null_mut());
        assert_eq!(text(sys::wc_model_last_error(null())), "");
        assert_eq!(text(sys::wc_context_last_error(null())), "");
        assert_eq!(sys::wc_context_seq_len(null(), 0), -1);
        assert_eq!(sys::wc_context_memory_bytes(null()), 0);

        // Model.
        assert_eq!(sys::wc_model_load(null(), &p, &mut model_out), invalid);
        assert!(model_out.is_null());
        assert!(thread_error().contains("path is NULL"), "{}", thread_error());
        assert_eq!(sys::wc_model_load(fx.path.as_ptr(), &p, null_mut()), invalid);
        assert_eq!(sys::wc_model_get_info(null(), &mut info), invalid);
        assert!(thread_error().contains("model is NULL"), "{}", thread_error());
        assert_eq!(sys::wc_model_get_info(m, null_mut()), invalid);
        assert_eq!(sys::wc_model_tokenizer_info(null(), &mut tinfo), invalid);
        assert_eq!(sys::wc_model_tokenizer_info(m, null_mut()), invalid);
        assert_eq!(sys::wc_model_token(null(), 0, &mut txt, &mut len, null_mut(), null_mut()), invalid);
        assert_eq!(sys::wc_model_token(m, 0, null_mut(), &mut len, null_mut(), null_mut()), invalid);
        assert_eq!(sys::wc_model_token(m, 0, &mut txt, null_mut(), null_mut(), null_mut()), invalid);
        assert_eq!(sys::wc_model_merge(null(), 0, &mut txt, &mut len), invalid);
        assert_eq!(sys::wc_model_merge(m, 0, null_mut(), &mut len), invalid);
        assert_eq!(sys::wc_model_merge(m, 0, &mut txt, null_mut()), invalid);
        assert_eq!(sys::wc_model_context_bytes(null(), &cp, &mut bytes), invalid);
        assert_eq!(sys::wc_model_context_bytes(m, &cp, null_mut()), invalid);
        assert!(text(sys::wc_model_last_error(m)).contains("is NULL"));

        // Context creation.
        assert_eq!(sys::wc_context_create(null_mut(), &cp, &mut ctx_out), invalid);
        assert!(ctx_out.is_null());
        assert_eq!(sys::wc_context_create(m, &cp, null_mut()), invalid);
        assert_eq!(sys::wc_context_create(null_mut(), null(), null_mut()), invalid);

        // Context calls.
        assert_eq!(sys::wc_context_kv_stats(null(), &mut stats), invalid);
        assert_eq!(sys::wc_context_kv_stats(c.raw, null_mut()), invalid);
        assert_eq!(sys::wc_context_seq_add(null_mut(), null(), 0, 0, &mut out_i, null_mut()), invalid);
        assert_eq!(sys::wc_context_seq_add(c.raw, null(), 0, 0, null_mut(), null_mut()), invalid);
        assert_eq!(sys::wc_context_seq_add(c.raw, null(), 3, 0, &mut out_i, null_mut()), invalid);
        assert_eq!(sys::wc_context_seq_fork(null_mut(), seq, 0, 0, &mut out_i, null_mut()), invalid);
        assert_eq!(sys::wc_context_seq_fork(c.raw, seq, 0, 0, null_mut(), null_mut()), invalid);
        assert_eq!(sys::wc_context_seq_remove(null_mut(), seq), invalid);
        assert_eq!(sys::wc_context_seq_set_abort(null_mut(), seq, null()), invalid);
        assert_eq!(sys::wc_context_seq_set_log_tag(null_mut(), seq, c"job".as_ptr()), invalid);
        assert_eq!(sys::wc_context_decode(null_mut(), rows.as_ptr(), 2, null_mut()), invalid);
        assert_eq!(sys::wc_context_decode(c.raw, null(), 2, null_mut()), invalid);
        assert_eq!(sys::wc_context_logits(null(), 0, &mut logits), invalid);
        assert_eq!(sys::wc_context_logits(c.raw, 0, null_mut()), invalid);
        assert_eq!(sys::wc_context_sample(null_mut(), 0, null_mut(), &mut out_i), invalid);
        assert_eq!(sys::wc_context_sample(c.raw, 0, null_mut(), &mut out_i), invalid);
        assert!(thread_error().contains("ctx is NULL"), "{}", thread_error());
        assert_eq!(c.len(seq), 0, "a rejected call evaluated something");
        assert!(c.error().contains("is NULL"), "{}", c.error());

        // Optional pointers really are optional.
        assert_eq!(sys::wc_model_token(m, 0, &mut txt, &mut len, null_mut(), null_mut()), S::WC_OK);
        assert_eq!(sys::wc_context_seq_set_log_tag(c.raw, seq, null()), S::WC_OK);
        assert_eq!(sys::wc_context_seq_set_abort(c.raw, seq, null()), S::WC_OK);
        assert_eq!(sys::wc_context_decode(c.raw, rows.as_ptr(), 2, null_mut()), S::WC_OK);
        assert_eq!(c.len(seq), 2);
        assert_eq!(sys::wc_context_seq_add(c.raw, null(), 0, 0, &mut out_i, null_mut()), S::WC_OK);
        assert_eq!(sys::wc_model_load(fx.path.as_ptr(), null(), &mut model_out), S::WC_OK);
        assert!(!model_out.is_null());
        assert_eq!(sys::wc_context_create(model_out, null(), &mut ctx_out), S::WC_OK);
        assert_eq!(sys::wc_context_kv_stats(ctx_out, &mut stats), S::WC_OK);
        assert_eq!(stats.n_ctx, 128, "default n_ctx is the training context");
        assert_eq!(stats.blocks_total, 4 * 128 / BLOCK, "default pool: n_seq_max (4) full contexts");
        sys::wc_context_free(ctx_out);
        sys::wc_model_free(model_out);
    }
}

#[test]
fn failed_load_sets_last_error_and_clears_out() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let path = CString::new(missing.to_str().unwrap()).unwrap();
    let p = default_model_params();
    let mut out = std::ptr::NonNull::<sys::wc_model>::dangling().as_ptr();
    // SAFETY: valid arguments; `out` must be overwritten, never read.
    let st = unsafe { sys::wc_model_load(path.as_ptr(), &p, &mut out) };
    assert_eq!(st, S::WC_ERR_IO);
    assert!(out.is_null(), "out must be NULL after a failed load");
    let msg = thread_error();
    assert!(msg.contains(missing.to_str().unwrap()) && msg.contains("No such file or directory"), "{msg}");
    // The message is per thread.
    let other = std::thread::spawn(thread_error).join().unwrap();
    assert_eq!(other, "");
}

#[test]
fn context_full_changes_nothing_and_the_sequence_goes_on() {
    let fx = Fixture::new();
    let c = fx.context(1, 8, 8);
    let s = c.seq(8);
    c.run(s, &[1, 2, 3, 4, 5, 6], 6);
    let rows = [row(7, 6, s, true), row(8, 7, s, true), row(9, 8, s, true)];
    assert_eq!(c.step(&rows).0, S::WC_ERR_CONTEXT_FULL);
    assert!(c.error().contains("position 8 is past the context size 8"), "{}", c.error());
    assert!(c.logits(0).is_err(), "logits kept from a refused step");
    assert_eq!(c.len(s), 6);

    // The last two positions still work, and match a sequence that never overflowed.
    let a = c.run(s, &[7, 8], 2);
    assert_eq!(c.len(s), 8);
    let fresh = fx.context(1, 8, 8);
    let f = fresh.seq(8);
    let b = fresh.run(f, &[1, 2, 3, 4, 5, 6, 7, 8], 8);
    assert_eq!(a[1], b[7]);
    assert_eq!(c.step(&[row(9, 8, s, true)]).0, S::WC_ERR_CONTEXT_FULL);
    assert_eq!(c.len(s), 8);
}

#[test]
fn bad_tokens_positions_sequences_and_counts_are_invalid_arguments() {
    let fx = Fixture::new();
    let c = fx.context(2, 16, 0);
    let s = c.seq(16);
    c.run(s, &[3], 1);
    let v = fx.n_vocab as i32;
    for token in [-1, v, i32::MIN, i32::MAX] {
        let (st, _) = c.step(&[row(1, 1, s, true), row(token, 2, s, true)]);
        assert_eq!(st, S::WC_ERR_INVALID_ARGUMENT, "{token}");
        assert!(c.error().contains("is outside the vocabulary"), "{}", c.error());
        assert_eq!(c.len(s), 1);
    }
    // Positions must continue the sequence, rows of a sequence in order.
    for rows in [vec![row(1, 0, s, true)], vec![row(1, 2, s, true)], vec![row(1, 1, s, true), row(1, 1, s, true)]] {
        assert_eq!(c.step(&rows).0, S::WC_ERR_INVALID_ARGUMENT, "{rows:?}");
        assert!(c.error().contains("continues at"), "{}", c.error());
    }
    for seq in [-1, 5, 1] {
        assert_eq!(c.step(&[row(1, 0, seq, true)]).0, S::WC_ERR_INVALID_ARGUMENT);
        assert!(c.error().contains("no sequence"), "{}", c.error());
    }
    let one = [row(1, 1, s, true)];
    for n in [0, -1, i32::MIN, 513] {
        // SAFETY: n <= 0 or > n_batch, so the core must not read `one` past its end.
        let st = unsafe { sys::wc_context_decode(c.raw, one.as_ptr(), n, null_mut()) };
        assert_eq!(st, S::WC_ERR_INVALID_ARGUMENT, "{n}");
        assert!(c.error().contains("a step takes 1-512"), "{}", c.error());
    }
    assert_eq!(c.len(s), 1);
    assert_eq!(c.remove(s), S::WC_OK);
    assert_eq!(c.remove(s), S::WC_ERR_INVALID_ARGUMENT);
    assert_eq!(c.len(s), -1);
    let (st, seq, _) = c.add(&[0, v], 0);
    assert_eq!((st, seq), (S::WC_ERR_INVALID_ARGUMENT, -1));
    // At most n_seq_max sequences.
    c.seq(0);
    c.seq(0);
    assert_eq!(c.add(&[], 0).0, S::WC_ERR_INVALID_ARGUMENT);
    assert!(c.error().contains("at most 2 sequences"), "{}", c.error());
}

#[test]
fn a_row_gives_the_same_logits_alone_in_a_batch_chunked_or_decoded() {
    // Batch invariance at the ABI: prompt in one step, in chunks of 3, one token at a time, and
    // mixed with another sequence's rows (prefill beside decode) all give identical bits.
    let fx = Fixture::new();
    let tokens: Vec<i32> = (0..21).map(|i| (i * 7 % fx.n_vocab) as i32).collect();
    let c = fx.context(3, 64, 0);
    let whole = {
        let s = c.seq(64);
        c.run(s, &tokens, 64)
    };
    for chunk in [1, 3, 5] {
        let s = c.seq(64);
        assert_eq!(c.run(s, &tokens, chunk), whole, "chunks of {chunk}");
        c.remove(s);
    }
    // Mixed: sequence b's prompt in chunks of 4 beside sequence a decoding one token per step.
    let (a, b) = (c.seq(64), c.seq(64));
    let other: Vec<i32> = (0..30).map(|i| (i * 5 % fx.n_vocab) as i32 + 1).collect();
    let mut got_a = Vec::new();
    let mut k = 0;
    while got_a.len() < tokens.len() {
        let mut rows = vec![row(tokens[got_a.len()], got_a.len() as i32, a, true)];
        for _ in 0..4 {
            if k < other.len() {
                rows.push(row(other[k], k as i32, b, k % 2 == 0));
                k += 1;
            }
        }
        let (st, status) = c.step(&rows);
        assert_eq!(st, S::WC_OK, "{}", c.error());
        assert!(status.iter().all(|s| *s == S::WC_OK));
        got_a.push(c.logits(0).unwrap());
        assert!(rows.len() < 3 || c.logits(2).is_err(), "row 2 did not ask for logits");
    }
    assert_eq!(got_a, whole);
}

#[test]
fn an_aborted_sequence_leaves_the_step_and_the_others_are_unchanged() {
    let fx = Fixture::new();
    let c = fx.context(2, 32, 0);
    let (a, b) = (c.seq(32), c.seq(32));
    let flag = AtomicI32::new(0);
    // SAFETY: the flag outlives the sequence (both end with this test).
    assert_eq!(unsafe { sys::wc_context_seq_set_abort(c.raw, a, flag.as_ptr() as *const i32) }, S::WC_OK);
    let want_b = {
        let lone = fx.context(1, 32, 0);
        let s = lone.seq(32);
        lone.run(s, &[9, 8, 7, 6], 4)
    };
    flag.store(1, Ordering::SeqCst);
    let rows = [row(1, 0, a, true), row(2, 1, a, true), row(9, 0, b, true), row(8, 1, b, true)];
    let (st, status) = c.step(&rows);
    assert_eq!(st, S::WC_OK, "{}", c.error());
    assert_eq!(status, [S::WC_ERR_ABORTED, S::WC_ERR_ABORTED, S::WC_OK, S::WC_OK]);
    assert!(c.logits(0).is_err(), "an aborted row has no logits");
    assert_eq!(c.logits(3).unwrap(), want_b[1]);
    assert_eq!((c.len(a), c.len(b)), (0, 2), "the aborted sequence keeps its length");
    // Only aborted rows: the step is ABORTED.
    let (st, status) = c.step(&[row(1, 0, a, true)]);
    assert_eq!(st, S::WC_ERR_ABORTED);
    assert_eq!(status, [S::WC_ERR_ABORTED]);
    assert!(c.error().contains("aborted"), "{}", c.error());
    // Cleared, it resumes; the aborted attempt left nothing behind.
    flag.store(0, Ordering::SeqCst);
    let got_a = c.run(a, &[9, 8, 7, 6], 4);
    assert_eq!(got_a, want_b);
    c.run(b, &[7, 6], 2);
    assert_eq!((c.len(a), c.len(b)), (4, 4));
}

#[test]
fn reservations_admit_what_fits_and_refuse_what_never_can() {
    let fx = Fixture::new();
    // A pool of 4 blocks (64 positions) for sequences of up to 64.
    let c = fx.context(3, 64, 4 * BLOCK);
    let (st, a, _) = c.add(&[], 48);
    assert_eq!(st, S::WC_OK);
    assert_eq!(c.stats().blocks_reserved, 3);
    let (st, b, _) = c.add(&[], 32);
    assert_eq!((st, b), (S::WC_ERR_NO_KV_SPACE, -1));
    assert!(c.error().contains("available now"), "{}", c.error());
    assert_eq!(c.add(&[], 65).0, S::WC_ERR_CONTEXT_FULL, "more than n_ctx");
    let (st, unreserved, _) = c.add(&[], 0);
    assert_eq!(st, S::WC_OK, "no reservation, no promise");
    // The reserved sequence always gets its blocks; the unreserved one may not.
    let tokens: Vec<i32> = (1..=48).collect();
    c.run(a, &tokens, 48);
    let s = c.stats();
    assert_eq!((s.blocks_referenced, s.blocks_reserved, s.blocks_available), (3, 0, 1));
    let rows: Vec<_> = (0..17).map(|i| row(1, i, unreserved, false)).collect();
    assert_eq!(c.step(&rows).0, S::WC_ERR_NO_KV_SPACE, "17 positions need 2 blocks, 1 is free");
    assert_eq!(c.len(unreserved), 0);
    c.run(unreserved, &tokens[..16], 16);
    // Removing a frees its blocks (no prefix cache would keep them: 48 tokens = 3 full blocks stay cached).
    assert_eq!(c.remove(a), S::WC_OK);
    let s = c.stats();
    assert_eq!((s.blocks_referenced, s.blocks_cached, s.blocks_available), (1, 3, 3));
    let (st, _, _) = c.add(&[], 48);
    assert_eq!(st, S::WC_OK, "idle cached blocks count as available: {}", c.error());
}

#[test]
fn the_prefix_cache_reuses_full_blocks_exactly_and_evicts_lru_when_needed() {
    let fx = Fixture::new();
    let prompt: Vec<i32> = (0..40).map(|i| (i * 11 % fx.n_vocab) as i32).collect();
    let c = fx.context(2, 64, 6 * BLOCK);
    let first = {
        let s = c.seq(64);
        let out = c.run(s, &prompt, 40);
        c.remove(s);
        out
    };
    // 40 tokens = 2 full blocks cached; a prefix of 39 reuses them.
    let (st, s, cached) = c.add(&prompt[..39], 64);
    assert_eq!((st, cached), (S::WC_OK, 2 * BLOCK), "{}", c.error());
    assert_eq!(c.len(s), 32);
    let rest = c.run(s, &prompt[32..], 8);
    assert_eq!(rest[..], first[32..], "logits after a cache hit differ from a fresh prefill");
    // A different token inside the first block: no hit.
    let mut other = prompt.clone();
    other[3] += 1;
    let (_, s2, cached) = c.add(&other[..39], 0);
    assert_eq!(cached, 0);
    c.remove(s2);
    // Fork shares whole blocks of a live sequence.
    let mut f = -1;
    let mut shared = -1;
    // SAFETY: live context, valid out pointers.
    assert_eq!(unsafe { sys::wc_context_seq_fork(c.raw, s, 37, 0, &mut f, &mut shared) }, S::WC_OK);
    assert_eq!((shared, c.len(f)), (2 * BLOCK, 32));
    assert_eq!(c.run(f, &prompt[32..35], 3)[..], first[32..35]);
    c.remove(f);
    c.remove(s);
    // Fill the pool with other sequences' blocks: cached blocks are evicted (LRU), never held ones.
    let (x, y) = (c.seq(3 * BLOCK), c.seq(3 * BLOCK));
    let filler: Vec<i32> = (0..6 * BLOCK).map(|i| (i % 50) as i32 + 3).collect();
    c.run(x, &filler[..48], 48);
    c.run(y, &filler[48..], 48);
    assert_eq!(c.stats().blocks_cached, 0);
    c.remove(x);
    c.remove(y);
    let (_, s, cached) = c.add(&prompt[..39], 0);
    assert_eq!(cached, 0, "the evicted prefix is gone");
    c.remove(s);

    // With the cache off nothing is kept.
    let mut p = context_params(2, 64, 6 * BLOCK);
    p.prefix_cache = false;
    let off = fx.context_with(&p);
    let s = off.seq(64);
    off.run(s, &prompt, 40);
    off.remove(s);
    assert_eq!(off.stats().blocks_cached, 0);
    assert_eq!(off.add(&prompt[..39], 0).2, 0);
}

#[test]
fn sampling_in_the_core_is_the_sampler_over_the_rows_logits() {
    let fx = Fixture::new();
    let c = fx.context(1, 16, 0);
    let s = c.seq(16);
    let (st, _) = c.step(&[row(4, 0, s, false), row(5, 1, s, false), row(6, 2, s, true)]);
    assert_eq!(st, S::WC_OK);
    let logits = c.logits(2).unwrap();
    // SAFETY: plain-data constructor, valid arguments, handles freed below.
    unsafe {
        let mut sp = sys::wc_sampler_default_params();
        sp.seed = 7;
        let (mut a, mut b) = (null_mut(), null_mut());
        assert_eq!(sys::wc_sampler_create(&sp, fx.n_vocab as i32, &mut a), S::WC_OK);
        assert_eq!(sys::wc_sampler_create(&sp, fx.n_vocab as i32, &mut b), S::WC_OK);
        for _ in 0..5 {
            let (mut x, mut y) = (-1, -1);
            assert_eq!(sys::wc_context_sample(c.raw, 2, a, &mut x), S::WC_OK);
            assert_eq!(sys::wc_sampler_sample(b, logits.as_ptr(), fx.n_vocab as i32, &mut y), S::WC_OK);
            assert_eq!(x, y);
        }
        let mut t = 0;
        assert_eq!(sys::wc_context_sample(c.raw, 0, a, &mut t), S::WC_ERR_INVALID_ARGUMENT, "row 0 did not ask");
        assert_eq!(sys::wc_context_sample(c.raw, 3, a, &mut t), S::WC_ERR_INVALID_ARGUMENT, "no row 3");
        sys::wc_sampler_free(a);
        sys::wc_sampler_free(b);
    }
}

#[test]
fn sampler_penalties_default_off_and_bias_arrays_are_checked() {
    let invalid = S::WC_ERR_INVALID_ARGUMENT;
    // SAFETY: every pointer passed is either NULL on purpose or valid; the handle is freed below.
    unsafe {
        let mut sp = sys::wc_sampler_default_params();
        assert_eq!((sp.presence_penalty, sp.frequency_penalty), (0.0, 0.0));
        sp.temperature = 0.0;
        let mut s = null_mut();
        assert_eq!(sys::wc_sampler_create(&sp, 4, &mut s), S::WC_OK);
        assert_eq!(sys::wc_sampler_accept_output(null_mut(), 0), invalid);
        assert!(thread_error().contains("sampler is NULL"), "{}", thread_error());
        assert_eq!(sys::wc_sampler_set_logit_bias(null_mut(), null(), null(), 0), invalid);
        let (ids, bias) = ([1i32], [5.0f32]);
        assert_eq!(sys::wc_sampler_set_logit_bias(s, null(), bias.as_ptr(), 1), invalid);
        assert_eq!(sys::wc_sampler_set_logit_bias(s, ids.as_ptr(), null(), 1), invalid);
        assert!(text(sys::wc_sampler_last_error(s)).contains("ids/bias is NULL"));
        assert_eq!(sys::wc_sampler_set_logit_bias(s, ids.as_ptr(), bias.as_ptr(), -1), invalid);
        assert!(text(sys::wc_sampler_last_error(s)).contains("negative"));
        assert_eq!(sys::wc_sampler_set_logit_bias(s, ids.as_ptr(), bias.as_ptr(), 1), S::WC_OK);
        let mut t = -1;
        assert_eq!(sys::wc_sampler_sample(s, [0.0f32; 4].as_ptr(), 4, &mut t), S::WC_OK);
        assert_eq!(t, 1, "bias applied");
        assert_eq!(sys::wc_sampler_set_logit_bias(s, null(), null(), 0), S::WC_OK, "n = 0 clears, NULL allowed");
        assert_eq!(sys::wc_sampler_sample(s, [0.0f32; 4].as_ptr(), 4, &mut t), S::WC_OK);
        assert_eq!(t, 0, "bias cleared");
        sys::wc_sampler_free(s);
    }
}

#[test]
fn rows_across_output_head_chunks_and_full_batches() {
    // 600 positions: more than one 512-row step and many output-head chunks (64 rows).
    let fx = Fixture::new();
    let tokens: Vec<i32> = (0..600).map(|i| (i * 37 % fx.n_vocab) as i32).collect();
    let c = fx.context(1, 700, 0);
    let s = c.seq(700);
    let all = c.run(s, &tokens, 512);
    assert_eq!(c.len(s), 600);
    assert!(all.iter().flatten().all(|x| x.is_finite()));
    let d = fx.context(1, 700, 0);
    let s = d.seq(700);
    assert_eq!(d.run(s, &tokens, 100), all);
}

#[test]
fn vocab_only_model_cannot_create_a_context() {
    // No tensors at all: a vocab-only load must not need them.
    let mut g = TinyLlama::default().build();
    g.tensors.clear();
    let fx = Fixture::from_gguf(&g, true);
    let mut t = zeroed_tokenizer_info();
    // SAFETY: live model, valid out-pointer.
    assert_eq!(unsafe { sys::wc_model_tokenizer_info(fx.model, &mut t) }, S::WC_OK);
    assert_eq!((t.n_tokens, t.n_merges), (fx.n_vocab as i32, 13));
    let mut out = null_mut();
    // SAFETY: valid arguments.
    let st = unsafe { sys::wc_context_create(fx.model, null(), &mut out) };
    assert_eq!(st, S::WC_ERR_INVALID_ARGUMENT);
    assert!(out.is_null());
    assert!(fx.model_error().contains("loaded vocab-only"), "{}", fx.model_error());
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_backend_is_unavailable_without_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.gguf");
    TinyLlama::default().build().write(&file);
    let path = CString::new(file.to_str().unwrap()).unwrap();
    let mut p = default_model_params();
    p.backend = sys::wc_backend_kind::WC_BACKEND_CUDA;
    let mut out = null_mut();
    // SAFETY: valid arguments.
    let st = unsafe { sys::wc_model_load(path.as_ptr(), &p, &mut out) };
    assert_eq!(st, S::WC_ERR_BACKEND_UNAVAILABLE);
    assert!(out.is_null());
    assert!(thread_error().contains("built without CUDA support"), "{}", thread_error());
}

unsafe extern "C" fn record_progress(progress: f32, user: *mut c_void) -> bool {
    // SAFETY: the tests pass a live (Vec<f32>, Option<f32>) as user data.
    let (seen, stop_after) = unsafe { &mut *(user as *mut (Vec<f32>, Option<f32>)) };
    seen.push(progress);
    stop_after.is_none_or(|limit| progress < limit)
}

#[test]
fn progress_rises_to_one_and_returning_false_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.gguf");
    TinyLlama::default().build().write(&file);
    let path = CString::new(file.to_str().unwrap()).unwrap();
    for stop_after in [None, Some(0.5f32)] {
        let mut state: (Vec<f32>, Option<f32>) = (Vec::new(), stop_after);
        let mut p = default_model_params();
        p.progress = Some(record_progress);
        p.progress_user_data = &mut state as *mut _ as *mut c_void;
        let mut out = null_mut();
        // SAFETY: valid arguments; `state` outlives the call.
        let st = unsafe { sys::wc_model_load(path.as_ptr(), &p, &mut out) };
        let seen = &state.0;
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress went backwards: {seen:?}");
        assert!(seen.iter().all(|v| (0.0..=1.0).contains(v)), "{seen:?}");
        match stop_after {
            None => {
                assert_eq!(st, S::WC_OK);
                assert_eq!((seen.first(), seen.last()), (Some(&0.0), Some(&1.0)));
                // SAFETY: we own the loaded model.
                unsafe { sys::wc_model_free(out) };
            }
            Some(limit) => {
                assert_eq!(st, S::WC_ERR_ABORTED);
                assert!(out.is_null());
                assert!(*seen.last().unwrap() >= limit && *seen.last().unwrap() < 1.0);
                assert!(thread_error().contains("cancelled"), "{}", thread_error());
            }
        }
    }
}

#[test]
fn token_and_merge_lookups_check_their_index() {
    let fx = Fixture::new();
    let (mut txt, mut len, mut ty, mut score) = (null::<c_char>(), 0usize, 0i32, 1f32);
    let n = fx.n_vocab as i32;
    // SAFETY: valid out-pointers; on OK txt[..len] lives as long as the model.
    unsafe {
        for id in [-1, n, i32::MIN] {
            assert_eq!(sys::wc_model_token(fx.model, id, &mut txt, &mut len, &mut ty, &mut score), S::WC_ERR_INVALID_ARGUMENT);
            assert!(fx.model_error().contains("outside the vocabulary"), "{}", fx.model_error());
        }
        for index in [-1, 13] {
            assert_eq!(sys::wc_model_merge(fx.model, index, &mut txt, &mut len), S::WC_ERR_INVALID_ARGUMENT);
        }
        assert_eq!(sys::wc_model_token(fx.model, n - 1, &mut txt, &mut len, &mut ty, &mut score), S::WC_OK);
        assert_eq!(std::slice::from_raw_parts(txt as *const u8, len), b"<|im_end|>");
        assert_eq!((ty, score), (3, 0.0));
        assert_eq!(sys::wc_model_merge(fx.model, 12, &mut txt, &mut len), S::WC_OK);
        assert_eq!(std::slice::from_raw_parts(txt as *const u8, len), b"in g");
    }
}

#[test]
fn context_parameters_are_checked() {
    let fx = Fixture::new();
    assert_eq!(fx.context(1, 0, 0).stats().n_ctx, 128);
    assert_eq!(fx.context(1, -5, 0).stats().n_ctx, 128);
    assert_eq!(fx.context(1, 5, 0).stats().n_ctx, 5);
    assert_eq!(fx.context(3, 20, 0).stats().blocks_total, 3 * 2, "3 sequences of 20 positions: 2 blocks each");
    assert_eq!(fx.context(3, 20, 17).stats().blocks_total, 2, "17 positions round up to 2 blocks");
    let cases: [(sys::wc_context_params, S, &str); 5] = [
        (context_params(1, i32::MAX, 0), S::WC_ERR_INVALID_ARGUMENT, "context size 2147483647 is out of range"),
        (context_params(0, 8, 0), S::WC_ERR_INVALID_ARGUMENT, "n_seq_max 0 is out of range"),
        ({ let mut p = context_params(1, 8, 0); p.n_batch = 0; p }, S::WC_ERR_INVALID_ARGUMENT, "n_batch 0 is out of range"),
        (context_params(4096, 1 << 22, 0), S::WC_ERR_INVALID_ARGUMENT, "is too large"),
        ({ let mut p = context_params(1, 8, 0); p.logit_log_path = c"/nonexistent-dir/log.jsonl".as_ptr(); p }, S::WC_ERR_IO, "/nonexistent-dir/log.jsonl"),
    ];
    for (p, status, message) in cases {
        let mut out = null_mut();
        // SAFETY: valid arguments.
        assert_eq!(unsafe { sys::wc_context_create(fx.model, &p, &mut out) }, status, "{message}");
        assert!(out.is_null());
        assert!(fx.model_error().contains(message), "{}", fx.model_error());
    }
}

#[test]
fn context_bytes_is_exactly_what_a_context_allocates() {
    let tiny = TinyLlama::default();
    let f = Fixture::from_gguf(&tiny.build(), false);
    let bytes = |p: &sys::wc_context_params| {
        let mut out = 0u64;
        // SAFETY: live model, valid out-pointer.
        let st = unsafe { sys::wc_model_context_bytes(f.model, p, &mut out) };
        assert_eq!(st, S::WC_OK, "{}", f.model_error());
        out
    };
    let (small, large) = (bytes(&context_params(1, 64, 16)), bytes(&context_params(1, 64, 48)));
    // The pool grows by f16 K and V per layer and position; nothing else depends on its size.
    let kv_per_position = 2 * 2 * tiny.n_layer as u64 * tiny.n_head_kv as u64 * tiny.head_dim() as u64;
    assert_eq!(large - small, 32 * kv_per_position);
    let mut info = zeroed_info();
    // SAFETY: live model, valid out-pointer.
    assert_eq!(unsafe { sys::wc_model_get_info(f.model, &mut info) }, S::WC_OK);
    assert_eq!(info.kv_bytes_per_token, kv_per_position);
    // Neither n_seq_max nor n_ctx sizes anything once the pool is given.
    assert_eq!(bytes(&context_params(4, 128, 48)), large);
    // A context holds that backend memory plus host-side logits that grow with the rows asked.
    for (p, expected) in [(context_params(1, 64, 16), small), (context_params(1, 64, 48), large)] {
        let c = f.context_with(&p);
        // SAFETY: live context.
        assert_eq!(unsafe { sys::wc_context_memory_bytes(c.raw) }, expected, "before any step");
    }
    let mut out = 0u64;
    for bad in [context_params(0, 16, 0), context_params(1, 1 << 23, 0)] {
        // SAFETY: live model, valid out-pointer.
        assert_eq!(unsafe { sys::wc_model_context_bytes(f.model, &bad, &mut out) }, S::WC_ERR_INVALID_ARGUMENT);
    }
}

#[test]
fn op_check_runs_every_op_and_the_cpu_backend_agrees_with_itself() {
    let report: serde_json::Value = serde_json::from_str(&super::backend_op_check(super::Backend::Cpu).unwrap()).unwrap();
    let ops = report["ops"].as_array().unwrap();
    let names: std::collections::BTreeSet<&str> = ops.iter().map(|o| o["op"].as_str().unwrap()).collect();
    for op in ["matmul_Q4_0", "matmul_Q4_1", "matmul_Q8_0", "matmul_F16", "matmul_BF16", "matmul_F32", "matmul_bias_strided_Q4_0",
        "embed_Q4_1", "rms_norm", "rope_norm", "rope_neox", "swiglu", "add", "gather_rows", "attention_prefill", "attention_mixed",
        "attention_decode", "invariance_matmul_Q4_1", "invariance_attention"] {
        assert!(names.contains(op), "{op} missing from {names:?}");
    }
    for o in ops {
        // One thread against two: the CPU backend's results do not depend on how work is split.
        assert_eq!(o["finite"], true, "{o}");
        assert_eq!(o["max_abs"].as_f64(), Some(0.0), "{o}");
        assert!(o["ref_max_abs"].as_f64().unwrap() > 0.0, "the op produced nothing: {o}");
        // Invariance entries compare a backend with itself: 0 there too.
    }
    let mut p = default_model_params();
    p.backend = sys::wc_backend_kind::WC_BACKEND_CUDA;
    p.gpu_device = 99;
    let mut json = null();
    // SAFETY: valid params and out pointer.
    let st = unsafe { sys::wc_backend_op_check(&p, &mut json) };
    assert_eq!(st, S::WC_ERR_BACKEND_UNAVAILABLE, "{}", thread_error());
    assert!(json.is_null());
}
