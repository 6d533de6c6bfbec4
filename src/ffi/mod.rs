//! The safe wrapper over the core's C ABI: the only place in the crate with `unsafe`.
//!
//! `Model`, `Context` and `Sampler` own their handles (`NonNull` + `Drop`); a `Context` borrows its
//! `Model` so it cannot outlive it. Every status becomes a `CoreError` carrying the core's message.

pub mod address_space;
mod context;
mod heap;
mod sampler;
mod sys;
#[cfg(test)]
mod abi_tests;
#[cfg(test)]
mod attention_tests;
#[cfg(test)]
mod type_kernel_tests;

pub use context::{BatchRow, Context, ContextParams, KvStats, RowOutcome, KV_BLOCK_TOKENS};
pub use heap::release_free_heap;
pub use sampler::{Sampler, SamplerParams};

use std::ffi::{c_void, CStr, CString};
use std::path::Path;
use std::ptr::NonNull;

/// The core's status codes (`wc_status`), minus OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    Io,
    GgufFormat,
    Unsupported,
    OutOfMemory,
    ContextFull,
    Aborted,
    BackendUnavailable,
    Internal,
    NoKvSpace,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CoreError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, CoreError>;

fn kind_of(status: sys::wc_status) -> Option<ErrorKind> {
    use sys::wc_status as S;
    Some(match status {
        S::WC_OK => return None,
        S::WC_ERR_INVALID_ARGUMENT => ErrorKind::InvalidArgument,
        S::WC_ERR_IO => ErrorKind::Io,
        S::WC_ERR_GGUF_FORMAT => ErrorKind::GgufFormat,
        S::WC_ERR_UNSUPPORTED => ErrorKind::Unsupported,
        S::WC_ERR_OUT_OF_MEMORY => ErrorKind::OutOfMemory,
        S::WC_ERR_CONTEXT_FULL => ErrorKind::ContextFull,
        S::WC_ERR_ABORTED => ErrorKind::Aborted,
        S::WC_ERR_BACKEND_UNAVAILABLE => ErrorKind::BackendUnavailable,
        S::WC_ERR_INTERNAL => ErrorKind::Internal,
        S::WC_ERR_NO_KV_SPACE => ErrorKind::NoKvSpace,
    })
}

/// Copies a core-owned C string; null becomes "".
fn owned(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the core returns NUL-terminated strings that live at least as long as the handle
    // they came from; we copy before returning.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

fn check(status: sys::wc_status, message: impl FnOnce() -> String) -> Result<()> {
    match kind_of(status) {
        None => Ok(()),
        Some(kind) => Err(CoreError { kind, message: message() }),
    }
}

fn last_thread_error() -> String {
    // SAFETY: wc_last_error never returns null and has no preconditions.
    owned(unsafe { sys::wc_last_error() })
}

/// The name the core gives a status ("GGUF_FORMAT", ...), for logs and exit messages.
pub fn status_name(kind: ErrorKind) -> String {
    use sys::wc_status as S;
    let s = match kind {
        ErrorKind::InvalidArgument => S::WC_ERR_INVALID_ARGUMENT,
        ErrorKind::Io => S::WC_ERR_IO,
        ErrorKind::GgufFormat => S::WC_ERR_GGUF_FORMAT,
        ErrorKind::Unsupported => S::WC_ERR_UNSUPPORTED,
        ErrorKind::OutOfMemory => S::WC_ERR_OUT_OF_MEMORY,
        ErrorKind::ContextFull => S::WC_ERR_CONTEXT_FULL,
        ErrorKind::Aborted => S::WC_ERR_ABORTED,
        ErrorKind::BackendUnavailable => S::WC_ERR_BACKEND_UNAVAILABLE,
        ErrorKind::Internal => S::WC_ERR_INTERNAL,
        ErrorKind::NoKvSpace => S::WC_ERR_NO_KV_SPACE,
    };
    // SAFETY: wc_status_str returns a static string for every status.
    owned(unsafe { sys::wc_status_str(s) })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    Cuda { device: i32 },
}

/// Checks that `backend` can start on this host without loading a model (for CUDA: the build,
/// the driver, the device index, the compute capability).
pub fn probe_backend(backend: Backend) -> Result<()> {
    let (kind, device) = match backend {
        Backend::Cpu => (sys::wc_backend_kind::WC_BACKEND_CPU, 0),
        Backend::Cuda { device } => (sys::wc_backend_kind::WC_BACKEND_CUDA, device),
    };
    // SAFETY: plain values in, status out; the message is thread-local.
    let status = unsafe { sys::wc_backend_probe(kind, device) };
    check(status, last_thread_error)
}

/// Runs every backend op on random inputs through the CPU backend and through `backend`, and
/// returns the core's JSON report of the largest differences (`wc_backend_op_check`).
pub fn backend_op_check(backend: Backend) -> Result<String> {
    // SAFETY: plain-data default constructor.
    let mut p = unsafe { sys::wc_model_default_params() };
    match backend {
        Backend::Cpu => p.n_threads = 2,
        Backend::Cuda { device } => {
            p.backend = sys::wc_backend_kind::WC_BACKEND_CUDA;
            p.gpu_device = device;
        }
    }
    let mut json: *const std::os::raw::c_char = std::ptr::null();
    // SAFETY: p and json are valid for the call; the report stays valid until the next call on
    // this thread, and it is copied before this function returns.
    let status = unsafe { sys::wc_backend_op_check(&p, &mut json) };
    check(status, last_thread_error)?;
    Ok(owned(json))
}

/// Measures the CPU kernels of one weight type (a GGUF type id) on random blocks from `seed`:
/// the core's JSON report (`wc_cpu_kernel_check`).
pub fn cpu_kernel_check(type_id: u32, seed: u64) -> Result<String> {
    let mut json: *const std::os::raw::c_char = std::ptr::null();
    // SAFETY: json is valid for the call; the report stays valid until the next call on this
    // thread, and it is copied before this function returns.
    let status = unsafe { sys::wc_cpu_kernel_check(type_id, seed, &mut json) };
    check(status, last_thread_error)?;
    Ok(owned(json))
}

/// Runs the CPU attention op's ISA builds on random inputs from `seed`: the core's JSON report
/// (`wc_cpu_attention_check`).
pub fn cpu_attention_check(seed: u64) -> Result<String> {
    let mut json: *const std::os::raw::c_char = std::ptr::null();
    // SAFETY: json is valid for the call; the report stays valid until the next call on this
    // thread, and it is copied before this function returns.
    let status = unsafe { sys::wc_cpu_attention_check(seed, &mut json) };
    check(status, last_thread_error)?;
    Ok(owned(json))
}

pub struct ModelParams<'a> {
    pub backend: Backend,
    /// CPU threads; 0 = one per online core.
    pub n_threads: i32,
    pub vocab_only: bool,
    /// Called with progress in [0, 1]; return false to cancel the load.
    pub progress: Option<&'a mut dyn FnMut(f32) -> bool>,
    /// Fail the load before copying weights unless they and a session of this context fit
    /// (CUDA); 0 = no check, negative = the training context.
    pub reserve_ctx: i32,
    /// CUDA: replay the decode step as a CUDA graph.
    pub cuda_graphs: bool,
}

impl Default for ModelParams<'_> {
    fn default() -> Self {
        ModelParams { backend: Backend::Cpu, n_threads: 0, vocab_only: false, progress: None, reserve_ctx: 0, cuda_graphs: true }
    }
}

#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub architecture: String,
    pub name: String,
    pub quant_kind: String,
    pub backend: Backend,
    pub n_vocab: i32,
    pub n_ctx_train: i32,
    pub n_embd: i32,
    pub n_layer: i32,
    pub n_head: i32,
    pub n_head_kv: i32,
    pub n_ff: i32,
    pub n_threads: i32,
    pub n_params: u64,
    pub weight_bytes: u64,
    pub gguf_version: u32,
    /// KV-pool bytes one cached position takes.
    pub kv_bytes_per_token: u64,
}

/// `wc_device_info`: where the model runs.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    /// CUDA device index; -1 on the CPU.
    pub index: i32,
    pub compute_capability: (i32, i32),
    pub runtime_version: i32,
    pub driver_version: i32,
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub weight_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct TokenizerInfo {
    pub model: String,
    pub pre: String,
    pub chat_template: Option<String>,
    pub n_tokens: i32,
    pub n_merges: i32,
    pub has_scores: bool,
    pub has_token_types: bool,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub eot_id: Option<u32>,
    pub eom_id: Option<u32>,
    pub unk_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub sep_id: Option<u32>,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
    /// `general.name`, "" when absent.
    pub model_name: String,
}

/// A token of the vocabulary as the GGUF stores it.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub text: Vec<u8>,
    pub token_type: i32,
    pub score: f32,
}

/// A loaded model (`wc_model`).
pub struct Model {
    raw: NonNull<sys::wc_model>,
    n_tokens: i32,
    n_merges: i32,
}

// SAFETY: the core allows a model handle to be used from any one thread at a time; moving it
// between threads is fine, and &Model methods only read immutable data after loading.
unsafe impl Send for Model {}
// SAFETY: every &self method calls read-only ABI functions on immutable post-load data, and
// checks its arguments first so the core never writes the model's last-error slot through a
// shared reference (contexts have their own slot; context creation and context_bytes, which may
// write it, run on the one inference thread).
unsafe impl Sync for Model {}

extern "C" fn progress_trampoline(progress: f32, user: *mut c_void) -> bool {
    // SAFETY: `user` is the `&mut &mut dyn FnMut` passed by Model::load, alive for the whole call.
    let f = unsafe { &mut *(user as *mut &mut dyn FnMut(f32) -> bool) };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(progress))).unwrap_or(false)
}

impl Model {
    pub fn load(path: &Path, params: ModelParams<'_>) -> Result<Model> {
        let cpath = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| CoreError {
            kind: ErrorKind::InvalidArgument,
            message: format!("{}: path contains a NUL byte", path.display()),
        })?;
        // SAFETY: plain-data default constructor.
        let mut p = unsafe { sys::wc_model_default_params() };
        match params.backend {
            Backend::Cpu => p.backend = sys::wc_backend_kind::WC_BACKEND_CPU,
            Backend::Cuda { device } => {
                p.backend = sys::wc_backend_kind::WC_BACKEND_CUDA;
                p.gpu_device = device;
            }
        }
        p.n_threads = params.n_threads;
        p.vocab_only = params.vocab_only;
        p.reserve_ctx = params.reserve_ctx;
        p.cuda_graphs = params.cuda_graphs;
        let mut callback = params.progress;
        let mut cb_ref: Option<&mut &mut dyn FnMut(f32) -> bool> = callback.as_mut();
        if let Some(cb) = cb_ref.as_mut() {
            p.progress = Some(progress_trampoline);
            p.progress_user_data = *cb as *mut &mut dyn FnMut(f32) -> bool as *mut c_void;
        }
        let mut out: *mut sys::wc_model = std::ptr::null_mut();
        // SAFETY: cpath and p are valid for the call; the callback target outlives it.
        let status = unsafe { sys::wc_model_load(cpath.as_ptr(), &p, &mut out) };
        check(status, last_thread_error)?;
        let raw = NonNull::new(out).ok_or_else(|| CoreError {
            kind: ErrorKind::Internal,
            message: "wc_model_load returned OK but no handle".into(),
        })?;
        let mut model = Model { raw, n_tokens: 0, n_merges: 0 };
        let t = model.tokenizer_info();
        model.n_tokens = t.n_tokens;
        model.n_merges = t.n_merges;
        Ok(model)
    }

    fn last_error(&self) -> String {
        // SAFETY: raw is a live handle.
        owned(unsafe { sys::wc_model_last_error(self.raw.as_ptr()) })
    }

    pub fn info(&self) -> ModelInfo {
        // SAFETY: raw is live; info is plain data whose strings live as long as the model.
        let mut i: sys::wc_model_info = unsafe { std::mem::zeroed() };
        let status = unsafe { sys::wc_model_get_info(self.raw.as_ptr(), &mut i) };
        debug_assert_eq!(status, sys::wc_status::WC_OK);
        ModelInfo {
            architecture: owned(i.architecture),
            name: owned(i.name),
            quant_kind: owned(i.quant_kind),
            backend: match i.backend {
                sys::wc_backend_kind::WC_BACKEND_CUDA => Backend::Cuda { device: 0 },
                _ => Backend::Cpu,
            },
            n_vocab: i.n_vocab,
            n_ctx_train: i.n_ctx_train,
            n_embd: i.n_embd,
            n_layer: i.n_layer,
            n_head: i.n_head,
            n_head_kv: i.n_head_kv,
            n_ff: i.n_ff,
            n_threads: i.n_threads,
            n_params: i.n_params,
            weight_bytes: i.weight_bytes,
            gguf_version: i.gguf_version,
            kv_bytes_per_token: i.kv_bytes_per_token,
        }
    }

    /// Where the model runs, with the device's memory read now.
    pub fn device_info(&self) -> Result<DeviceInfo> {
        let mut d = std::mem::MaybeUninit::<sys::wc_device_info>::zeroed();
        // SAFETY: raw is live; d is a valid out pointer; name lives as long as the model.
        let status = unsafe { sys::wc_model_device_info(self.raw.as_ptr(), d.as_mut_ptr()) };
        check(status, || self.last_error())?;
        // SAFETY: the call succeeded and filled every field.
        let d = unsafe { d.assume_init() };
        Ok(DeviceInfo {
            name: owned(d.name),
            index: d.index,
            compute_capability: (d.cc_major, d.cc_minor),
            runtime_version: d.runtime_version,
            driver_version: d.driver_version,
            total_bytes: d.total_bytes,
            free_bytes: d.free_bytes,
            weight_bytes: d.weight_bytes,
        })
    }

    /// Checks that every weight is still where the backend put it (CUDA: device-only memory).
    pub fn check_residency(&self) -> Result<()> {
        // SAFETY: raw is live; the core allows this from any thread.
        let status = unsafe { sys::wc_model_check_residency(self.raw.as_ptr()) };
        check(status, || self.last_error())
    }

    pub fn tokenizer_info(&self) -> TokenizerInfo {
        // SAFETY: as for info().
        let mut t: sys::wc_tokenizer_info = unsafe { std::mem::zeroed() };
        let status = unsafe { sys::wc_model_tokenizer_info(self.raw.as_ptr(), &mut t) };
        debug_assert_eq!(status, sys::wc_status::WC_OK);
        let id = |v: i32| u32::try_from(v).ok();
        let flag = |v: i8| if v < 0 { None } else { Some(v != 0) };
        TokenizerInfo {
            model: owned(t.model),
            pre: owned(t.pre),
            chat_template: (!t.chat_template.is_null()).then(|| owned(t.chat_template)),
            n_tokens: t.n_tokens,
            n_merges: t.n_merges,
            has_scores: t.has_scores,
            has_token_types: t.has_token_types,
            bos_id: id(t.bos_id),
            eos_id: id(t.eos_id),
            eot_id: id(t.eot_id),
            eom_id: id(t.eom_id),
            unk_id: id(t.unk_id),
            pad_id: id(t.pad_id),
            sep_id: id(t.sep_id),
            add_bos: flag(t.add_bos),
            add_eos: flag(t.add_eos),
            add_space_prefix: flag(t.add_space_prefix),
            model_name: owned(t.model_name),
        }
    }

    fn check_index(&self, index: i32, count: i32, what: &str) -> Result<()> {
        if index < 0 || index >= count {
            return Err(CoreError {
                kind: ErrorKind::InvalidArgument,
                message: format!("{what} {index} is outside [0, {count})"),
            });
        }
        Ok(())
    }

    pub fn token(&self, id: i32) -> Result<TokenEntry> {
        self.check_index(id, self.n_tokens, "token id")?;
        let mut text: *const std::os::raw::c_char = std::ptr::null();
        let mut len: usize = 0;
        let mut ty: i32 = 0;
        let mut score: f32 = 0.0;
        // SAFETY: out-pointers are valid; on OK, text[0..len) lives as long as the model.
        let status = unsafe { sys::wc_model_token(self.raw.as_ptr(), id, &mut text, &mut len, &mut ty, &mut score) };
        check(status, || self.last_error())?;
        let bytes = if len == 0 { Vec::new() } else {
            // SAFETY: see above.
            unsafe { std::slice::from_raw_parts(text as *const u8, len) }.to_vec()
        };
        Ok(TokenEntry { text: bytes, token_type: ty, score })
    }

    pub fn merge(&self, index: i32) -> Result<Vec<u8>> {
        self.check_index(index, self.n_merges, "merge index")?;
        let mut text: *const std::os::raw::c_char = std::ptr::null();
        let mut len: usize = 0;
        // SAFETY: as for token().
        let status = unsafe { sys::wc_model_merge(self.raw.as_ptr(), index, &mut text, &mut len) };
        check(status, || self.last_error())?;
        if len == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: as for token().
        Ok(unsafe { std::slice::from_raw_parts(text as *const u8, len) }.to_vec())
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: we own the handle; sessions borrow the model, so none is alive here.
        unsafe { sys::wc_model_free(self.raw.as_ptr()) }
    }
}
