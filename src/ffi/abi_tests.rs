//! Misuse of the raw C ABI (`sys::wc_*`, include/worker_core.h): NULL handles and pointers,
//! context overflow, bad token ids, the abort flag, reset, vocab-only models, and the CUDA backend
//! on a CPU-only build. Every call must return the documented status and leave the session usable.
//! These tests live in `ffi` because it is the only module allowed `unsafe`.

// The integration tests' GGUF writer, shared rather than duplicated.
#[path = "../../tests/common/gguf_writer.rs"]
mod gguf_writer;

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicI32, Ordering};

use super::sys::{self, wc_status as S};
use gguf_writer::{Gguf, TinyLlama};

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

    fn session(&self, n_ctx: i32, abort: Option<&AtomicI32>) -> Session {
        // SAFETY: plain-data constructor.
        let mut p = unsafe { sys::wc_session_default_params() };
        p.n_ctx = n_ctx;
        if let Some(flag) = abort {
            p.abort_flag = flag.as_ptr() as *const i32;
        }
        let mut s = null_mut();
        // SAFETY: live model; the abort flag outlives the session in every test below.
        let st = unsafe { sys::wc_session_create(self.model, &p, &mut s) };
        assert_eq!(st, S::WC_OK, "{}", self.model_error());
        Session { raw: s, n_vocab: self.n_vocab }
    }

    fn model_error(&self) -> String {
        // SAFETY: live model.
        text(unsafe { sys::wc_model_last_error(self.model) })
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: we own the handle; each test drops its sessions before its fixture.
        unsafe { sys::wc_model_free(self.model) }
    }
}

struct Session {
    raw: *mut sys::wc_session,
    n_vocab: usize,
}

impl Session {
    fn prefill(&self, tokens: &[i32]) -> (S, Vec<f32>) {
        let mut logits = vec![f32::NAN; self.n_vocab];
        // SAFETY: tokens and logits are valid for their lengths.
        let st = unsafe { sys::wc_session_prefill(self.raw, tokens.as_ptr(), tokens.len() as i32, logits.as_mut_ptr()) };
        (st, logits)
    }

    fn prefill_all(&self, tokens: &[i32]) -> (S, Vec<f32>) {
        let mut logits = vec![f32::NAN; self.n_vocab * tokens.len()];
        // SAFETY: logits holds n * n_vocab floats.
        let st = unsafe { sys::wc_session_prefill_all(self.raw, tokens.as_ptr(), tokens.len() as i32, logits.as_mut_ptr()) };
        (st, logits)
    }

    fn decode(&self, token: i32) -> (S, Vec<f32>) {
        let mut logits = vec![f32::NAN; self.n_vocab];
        // SAFETY: logits holds n_vocab floats.
        let st = unsafe { sys::wc_session_decode(self.raw, token, logits.as_mut_ptr()) };
        (st, logits)
    }

    fn n_past(&self) -> i32 {
        // SAFETY: live session.
        unsafe { sys::wc_session_n_past(self.raw) }
    }

    fn n_ctx(&self) -> i32 {
        // SAFETY: live session.
        unsafe { sys::wc_session_n_ctx(self.raw) }
    }

    fn error(&self) -> String {
        // SAFETY: live session.
        text(unsafe { sys::wc_session_last_error(self.raw) })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: we own the handle.
        unsafe { sys::wc_session_free(self.raw) }
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

fn assert_finite(v: &[f32]) {
    assert!(v.iter().all(|x| x.is_finite()), "non-finite logits");
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
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
    ];
    for (status, name) in names {
        // SAFETY: no preconditions.
        assert_eq!(text(unsafe { sys::wc_status_str(status) }), name);
    }
}

#[test]
fn null_handles_and_pointers_are_invalid_arguments() {
    let fx = Fixture::new();
    let s = fx.session(16, None);
    let m = fx.model;
    let tok = [1i32, 2];
    let mut logits = vec![0f32; fx.n_vocab * 2];
    let mut info = zeroed_info();
    let mut tinfo = zeroed_tokenizer_info();
    let (mut txt, mut len) = (null::<c_char>(), 0usize);
    let mut model_out = null_mut();
    let mut session_out = null_mut();
    let p = default_model_params();
    // SAFETY: plain-data constructor.
    let sp = unsafe { sys::wc_session_default_params() };
    let lp = logits.as_mut_ptr();
    let invalid = S::WC_ERR_INVALID_ARGUMENT;

    // SAFETY: every pointer passed is either NULL on purpose or valid; the core must check.
    unsafe {
        // The no-op and zero-returning forms.
        sys::wc_model_free(null_mut());
        sys::wc_session_free(null_mut());
        assert_eq!(text(sys::wc_model_last_error(null())), "");
        assert_eq!(text(sys::wc_session_last_error(null())), "");
        assert_eq!(sys::wc_session_n_past(null()), 0);
        assert_eq!(sys::wc_session_n_ctx(null()), 0);
        assert_eq!(sys::wc_session_memory_bytes(null()), 0);

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
        assert!(text(sys::wc_model_last_error(m)).contains("is NULL"));

        // Session creation.
        assert_eq!(sys::wc_session_create(null_mut(), &sp, &mut session_out), invalid);
        assert!(session_out.is_null());
        assert_eq!(sys::wc_session_create(m, &sp, null_mut()), invalid);
        assert_eq!(sys::wc_session_create(null_mut(), null(), null_mut()), invalid);

        // Session calls.
        assert_eq!(sys::wc_session_set_log_tag(null_mut(), c"job".as_ptr()), invalid);
        assert_eq!(sys::wc_session_prefill(null_mut(), tok.as_ptr(), 2, lp), invalid);
        assert_eq!(sys::wc_session_prefill(s.raw, null(), 2, lp), invalid);
        assert_eq!(sys::wc_session_prefill_all(null_mut(), tok.as_ptr(), 2, lp), invalid);
        assert_eq!(sys::wc_session_prefill_all(s.raw, null(), 2, lp), invalid);
        assert_eq!(sys::wc_session_prefill_all(s.raw, tok.as_ptr(), 2, null_mut()), invalid);
        assert_eq!(sys::wc_session_decode(null_mut(), 1, lp), invalid);
        assert_eq!(sys::wc_session_decode(s.raw, 1, null_mut()), invalid);
        assert_eq!(sys::wc_session_reset(null_mut()), invalid);
        assert!(thread_error().contains("session is NULL"), "{}", thread_error());
        assert_eq!(s.n_past(), 0, "a rejected call evaluated something");
        assert!(s.error().contains("is NULL"), "{}", s.error());

        // Optional pointers really are optional.
        assert_eq!(sys::wc_model_token(m, 0, &mut txt, &mut len, null_mut(), null_mut()), S::WC_OK);
        assert_eq!(sys::wc_session_set_log_tag(s.raw, null()), S::WC_OK);
        assert_eq!(sys::wc_session_prefill(s.raw, tok.as_ptr(), 2, null_mut()), S::WC_OK);
        assert_eq!(s.n_past(), 2);
        assert_eq!(sys::wc_model_load(fx.path.as_ptr(), null(), &mut model_out), S::WC_OK);
        assert!(!model_out.is_null());
        assert_eq!(sys::wc_session_create(model_out, null(), &mut session_out), S::WC_OK);
        assert_eq!(sys::wc_session_n_ctx(session_out), 128, "default n_ctx is the training context");
        sys::wc_session_free(session_out);
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
fn context_full_changes_nothing_and_the_session_goes_on() {
    let fx = Fixture::new();
    let s = fx.session(8, None);
    assert_eq!(s.prefill(&[1, 2, 3, 4, 5, 6]).0, S::WC_OK);
    let (st, logits) = s.prefill(&[7, 8, 9]);
    assert_eq!(st, S::WC_ERR_CONTEXT_FULL);
    assert!(logits.iter().all(|v| v.is_nan()), "logits written on CONTEXT_FULL");
    assert_eq!(s.n_past(), 6);
    assert!(s.error().contains("6 cached + 3 new tokens exceed the context size 8"), "{}", s.error());
    let (st, logits) = s.prefill_all(&[7, 8, 9]);
    assert_eq!(st, S::WC_ERR_CONTEXT_FULL);
    assert!(logits.iter().all(|v| v.is_nan()));

    // The last two positions still work, and match a session that never overflowed.
    let (st, a) = s.prefill(&[7, 8]);
    assert_eq!(st, S::WC_OK, "{}", s.error());
    assert_eq!(s.n_past(), 8);
    let fresh = fx.session(8, None);
    let (_, b) = fresh.prefill(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    assert_eq!(s.decode(9).0, S::WC_ERR_CONTEXT_FULL);
    assert_eq!(s.n_past(), 8);
}

#[test]
fn bad_token_ids_and_counts_are_invalid_arguments() {
    let fx = Fixture::new();
    let s = fx.session(16, None);
    assert_eq!(s.prefill(&[3]).0, S::WC_OK);
    let v = fx.n_vocab as i32;
    for tokens in [vec![-1], vec![v], vec![0, v, 1], vec![i32::MIN], vec![i32::MAX]] {
        let (st, logits) = s.prefill(&tokens);
        assert_eq!(st, S::WC_ERR_INVALID_ARGUMENT, "{tokens:?}");
        assert!(s.error().contains("is outside the vocabulary"), "{}", s.error());
        assert!(logits.iter().all(|x| x.is_nan()));
        assert_eq!(s.decode(tokens[tokens.len() / 2]).0, S::WC_ERR_INVALID_ARGUMENT);
        assert_eq!(s.n_past(), 1);
    }
    let tok = [1i32];
    let mut logits = vec![0f32; fx.n_vocab];
    for n in [0, -1, i32::MIN] {
        // SAFETY: n <= 0, so the core must not read `tok` past its end.
        let st = unsafe { sys::wc_session_prefill(s.raw, tok.as_ptr(), n, logits.as_mut_ptr()) };
        assert_eq!(st, S::WC_ERR_INVALID_ARGUMENT);
        assert!(s.error().contains("must be positive"), "{}", s.error());
    }
    assert_eq!(s.n_past(), 1);
    assert_eq!(s.decode(v - 1).0, S::WC_OK);
}

#[test]
fn abort_flag_aborts_without_evaluating_and_clearing_it_resumes() {
    let fx = Fixture::new();
    let flag = AtomicI32::new(0);
    let s = fx.session(16, Some(&flag));
    assert_eq!(s.prefill(&[1, 2]).0, S::WC_OK);
    flag.store(1, Ordering::SeqCst);
    for (st, logits) in [s.prefill(&[3, 4]), s.prefill_all(&[3, 4]), s.decode(3)] {
        assert_eq!(st, S::WC_ERR_ABORTED);
        assert!(logits.iter().all(|x| x.is_nan()), "logits written on ABORTED");
        assert_eq!(s.n_past(), 2);
    }
    assert!(s.error().contains("aborted"), "{}", s.error());
    flag.store(0, Ordering::SeqCst);
    let (st, a) = s.prefill(&[3, 4]);
    assert_eq!(st, S::WC_OK, "{}", s.error());
    assert_eq!(s.n_past(), 4);
    let (_, b) = fx.session(16, None).prefill(&[1, 2, 3, 4]);
    assert_eq!(max_abs_diff(&a, &b), 0.0, "an aborted call left state behind");
}

#[test]
fn reset_forgets_every_position() {
    let fx = Fixture::new();
    let s = fx.session(16, None);
    let (_, first) = s.prefill(&[5, 6, 7]);
    let (_, other) = s.prefill(&[8]);
    assert_ne!(first, other);
    // SAFETY: live session.
    assert_eq!(unsafe { sys::wc_session_reset(s.raw) }, S::WC_OK);
    assert_eq!(s.n_past(), 0);
    let (st, again) = s.prefill(&[5, 6, 7]);
    assert_eq!(st, S::WC_OK);
    assert_eq!(first, again);
    assert_finite(&again);
}

#[test]
fn prefill_all_rows_match_prefill_and_decode() {
    let fx = Fixture::new();
    let tokens = [10, 20, 30, 40, 50];
    let (st, all) = fx.session(16, None).prefill_all(&tokens);
    assert_eq!(st, S::WC_OK);
    assert_eq!(all.len(), tokens.len() * fx.n_vocab);
    assert_finite(&all);
    let (_, last) = fx.session(16, None).prefill(&tokens);
    assert_eq!(&all[4 * fx.n_vocab..], &last[..], "last row of prefill_all differs from prefill");

    // Row i is the prediction after tokens[..=i], whatever the batching.
    let s = fx.session(16, None);
    for (i, &t) in tokens.iter().enumerate() {
        let (st, row) = s.decode(t);
        assert_eq!(st, S::WC_OK);
        let diff = max_abs_diff(&row, &all[i * fx.n_vocab..(i + 1) * fx.n_vocab]);
        // Batched and one-at-a-time matmuls may sum in a different order.
        assert!(diff < 1e-4, "row {i}: decode differs from prefill_all by {diff}");
    }
}

#[test]
fn prefill_all_across_micro_batches_and_logit_chunks() {
    // 600 tokens: more than one forward() micro-batch (512) and many output-head chunks (64).
    let fx = Fixture::new();
    let tokens: Vec<i32> = (0..600).map(|i| (i * 37 % fx.n_vocab) as i32).collect();
    let s = fx.session(700, None);
    let (st, all) = s.prefill_all(&tokens);
    assert_eq!(st, S::WC_OK, "{}", s.error());
    assert_finite(&all);
    assert_eq!(s.n_past(), 600);
    for n in [1usize, 64, 65, 512, 513, 600] {
        let (_, want) = fx.session(700, None).prefill(&tokens[..n]);
        let got = &all[(n - 1) * fx.n_vocab..n * fx.n_vocab];
        let diff = max_abs_diff(got, &want);
        assert!(diff < 1e-4, "row {}: {diff}", n - 1);
    }
}

#[test]
fn vocab_only_model_cannot_create_a_session() {
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
    let st = unsafe { sys::wc_session_create(fx.model, null(), &mut out) };
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
fn session_parameters_are_checked() {
    let fx = Fixture::new();
    assert_eq!(fx.session(0, None).n_ctx(), 128);
    assert_eq!(fx.session(-5, None).n_ctx(), 128);
    assert_eq!(fx.session(5, None).n_ctx(), 5);
    // SAFETY: plain-data constructor; the rest are valid arguments.
    unsafe {
        let mut p = sys::wc_session_default_params();
        let mut out = null_mut();
        p.n_ctx = i32::MAX;
        assert_eq!(sys::wc_session_create(fx.model, &p, &mut out), S::WC_ERR_INVALID_ARGUMENT);
        assert!(out.is_null());
        assert!(fx.model_error().contains("context size 2147483647 is out of range"), "{}", fx.model_error());
        p.n_ctx = 8;
        p.logit_log_path = c"/nonexistent-dir/log.jsonl".as_ptr();
        assert_eq!(sys::wc_session_create(fx.model, &p, &mut out), S::WC_ERR_IO);
        assert!(out.is_null());
        assert!(fx.model_error().contains("/nonexistent-dir/log.jsonl"), "{}", fx.model_error());
    }
}

#[test]
fn session_bytes_is_exactly_what_a_session_allocates() {
    let tiny = TinyLlama::default();
    let f = Fixture::from_gguf(&tiny.build(), false);
    let bytes = |n_ctx: i32| {
        let mut out = 0u64;
        // SAFETY: live model, valid out-pointer.
        let st = unsafe { sys::wc_model_session_bytes(f.model, n_ctx, &mut out) };
        assert_eq!(st, S::WC_OK, "{}", f.model_error());
        out
    };
    let (small, large) = (bytes(16), bytes(48));
    // The KV cache grows by f16 K and V per layer and position; nothing else depends on n_ctx.
    let kv_per_position = 2 * 2 * tiny.n_layer as u64 * tiny.n_head_kv as u64 * tiny.head_dim() as u64;
    assert_eq!(large - small, 32 * kv_per_position);
    // A session holds that backend memory plus one fixed host-side logits buffer.
    let host_logits = |n_ctx: i32, expected: u64| {
        let s = f.session(n_ctx, None);
        // SAFETY: live session.
        let held = unsafe { sys::wc_session_memory_bytes(s.raw) };
        held - expected
    };
    assert_eq!(host_logits(16, small), host_logits(48, large));
    let mut out = 0u64;
    for bad in [0, -1, 1 << 23] {
        // SAFETY: live model, valid out-pointer.
        assert_eq!(unsafe { sys::wc_model_session_bytes(f.model, bad, &mut out) }, S::WC_ERR_INVALID_ARGUMENT, "n_ctx {bad}");
    }
    // SAFETY: NULL model and out pointers are reported, not dereferenced.
    unsafe {
        assert_eq!(sys::wc_model_session_bytes(null(), 16, &mut out), S::WC_ERR_INVALID_ARGUMENT);
        assert_eq!(sys::wc_model_session_bytes(f.model, 16, null_mut()), S::WC_ERR_INVALID_ARGUMENT);
    }
}

#[test]
fn op_check_runs_every_op_and_the_cpu_backend_agrees_with_itself() {
    let report: serde_json::Value = serde_json::from_str(&super::backend_op_check(super::Backend::Cpu).unwrap()).unwrap();
    let ops = report["ops"].as_array().unwrap();
    let names: std::collections::BTreeSet<&str> = ops.iter().map(|o| o["op"].as_str().unwrap()).collect();
    for op in ["matmul_Q4_0", "matmul_Q4_1", "matmul_Q8_0", "matmul_F16", "matmul_BF16", "matmul_F32", "embed_Q4_1", "rms_norm",
        "rope_norm", "rope_neox", "swiglu", "add", "attention_prefill", "attention_decode"] {
        assert!(names.contains(op), "{op} missing from {names:?}");
    }
    for o in ops {
        // One thread against two: the CPU backend's results do not depend on how work is split.
        assert_eq!(o["finite"], true, "{o}");
        assert_eq!(o["max_abs"].as_f64(), Some(0.0), "{o}");
        assert!(o["ref_max_abs"].as_f64().unwrap() > 0.0, "the op produced nothing: {o}");
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
