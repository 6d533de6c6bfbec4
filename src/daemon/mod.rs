//! `worker-orcd --worker-id … --model … --port …`: the daemon. The HTTP server listens as soon
//! as the arguments are valid; the model loads on the inference thread meanwhile (/health says
//! `loading` with progress), and that thread then runs jobs until shutdown.

pub mod args;
mod fingerprint;
mod logging;
mod memory;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineConfig, LoadedModel};
use crate::ffi::{self, Backend, Model, ModelParams};
use crate::model_vocab::gguf_vocab;
use crate::server::listener::ConnectionLimits;
use crate::server::{self, AppState, Phase};
use crate::chat::ChatSupport;
use crate::tokenizer::Tokenizer;
use args::{DaemonArgs, DaemonConfig, Device};

/// Runs the daemon to completion; returns the process exit code.
pub fn run(args: DaemonArgs) -> i32 {
    let cfg = match args.validate() {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return 1;
        }
    };
    // The device is part of the arguments: check it before listening (driver, index, capability).
    if let Device::Gpu(device) = cfg.device {
        if let Err(e) = ffi::probe_backend(Backend::Cuda { device }) {
            crate::backend_report::print_if_unavailable(&e, Some(device));
            eprintln!("error: --gpu-device {device}: {}", crate::backend_report::sentence(&e));
            return 1;
        }
    }
    logging::init(cfg.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return 1;
        }
    };
    rt.block_on(serve(cfg))
}

async fn serve(cfg: DaemonConfig) -> i32 {
    let listener = match server::listener::bind(std::net::SocketAddr::new(cfg.host, cfg.port)) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}:{}: {e}", cfg.host, cfg.port);
            return 1;
        }
    };
    let backend = match cfg.device {
        Device::Cpu => "cpu",
        Device::Gpu(_) => "cuda",
    };
    let mut state = AppState::new(cfg.worker_id.clone(), cfg.model.clone(), backend, cfg.max_tokens_out, cfg.api_key.clone());
    state.served_model_name = cfg.served_model_name.clone();
    state.body_timeout = cfg.body_timeout;
    let state = Arc::new(state);
    tracing::info!(worker_id = %cfg.worker_id, model = %cfg.model.display(), backend, "listening on {}:{}", cfg.host, cfg.port);

    let cfg = Arc::new(cfg);
    let inference = {
        let (state, cfg) = (state.clone(), cfg.clone());
        std::thread::Builder::new().name("inference".into()).spawn(move || {
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inference_thread(&state, &cfg)));
            if ran.is_err() {
                // Nothing runs jobs any more: exit (3) so the orchestrator restarts the worker,
                // rather than leaving clients on a queue nobody serves.
                tracing::error!("the inference thread stopped on a panic; exiting");
                state.set_phase(Phase::Unhealthy);
                std::process::exit(3);
            }
        })
    };
    let inference = match inference {
        Ok(handle) => handle,
        Err(e) => {
            tracing::error!("cannot start the inference thread: {e}");
            return 1;
        }
    };

    // Deadlines are enforced from here, so a long prefill can be stopped mid-way.
    let watchdog_state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if let Some(engine) = watchdog_state.engine.get() {
                engine.enforce_deadline();
            }
        }
    });

    // Weights must stay in device memory: a failed check marks the worker unhealthy.
    let residency_state = state.clone();
    let every = cfg.residency_check;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(engine) = residency_state.engine.get().cloned() else { continue };
            let result = tokio::task::spawn_blocking(move || engine.loaded.model.check_residency()).await;
            if let Ok(Err(e)) = result {
                tracing::error!("residency check failed: {e}");
                residency_state.set_phase(Phase::Unhealthy);
            }
        }
    });

    let drained = drain_on_signal(state.clone(), cfg.shutdown_timeout);
    let app = server::router(state.clone());
    let limits = ConnectionLimits { max_connections: cfg.max_connections, header_timeout: cfg.header_timeout };
    server::listener::serve(listener, app, limits, drained).await;
    // The queue is closed, so the inference thread ends and drops its share of the model.
    let _ = tokio::task::spawn_blocking(move || inference.join()).await;
    drop(state);
    tracing::info!("shut down");
    0
}

/// Resolves once a SIGTERM/SIGINT has been handled: new work refused (503), queued jobs
/// cancelled, the running job given `timeout` to finish and then cancelled.
async fn drain_on_signal(state: Arc<AppState>, timeout: Duration) {
    wait_for_signal().await;
    tracing::info!("shutdown requested; refusing new jobs");
    state.begin_shutdown();
    let Some(engine) = state.engine.get().cloned() else {
        tracing::info!("shut down during model load");
        std::process::exit(0);
    };
    engine.close();
    let deadline = Instant::now() + timeout;
    while engine.busy() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if engine.busy() {
        tracing::warn!("the running job did not finish within {} s; cancelling it", timeout.as_secs());
        engine.abort_running();
        while engine.busy() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Loads the model and creates the context (exiting the process on failure, after logging why),
/// then runs jobs.
fn inference_thread(state: &Arc<AppState>, cfg: &DaemonConfig) {
    let fail = |message: String| -> ! {
        tracing::error!(model = %cfg.model.display(), "model load failed: {message}");
        state.set_phase(Phase::Unhealthy);
        std::process::exit(2);
    };
    let engine = match load(state, cfg) {
        Ok(engine) => Arc::new(engine),
        Err(message) => fail(message),
    };
    let ctx = match engine.new_context() {
        Ok(ctx) => ctx,
        Err(e) => fail(format!("creating the context ({}): {}", ffi::status_name(e.kind), e.message)),
    };
    let _ = state.engine.set(engine.clone());
    let _ = state.loaded_at.set(std::time::SystemTime::now().duration_since(std::time::SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    fingerprint::compute_in_background(state.clone());
    // The tokenizer's construction freed its copies of the vocabulary; give those pages back.
    ffi::release_free_heap();
    state.set_load_progress(1.0);
    state.set_phase(Phase::Healthy);
    engine.run(ctx);
}

fn load(state: &Arc<AppState>, cfg: &DaemonConfig) -> Result<Engine, String> {
    let t0 = Instant::now();
    let backend = match cfg.device {
        Device::Cpu => Backend::Cpu,
        Device::Gpu(device) => Backend::Cuda { device },
    };
    let mut progress = |p: f32| {
        state.set_load_progress(p);
        true
    };
    let params = ModelParams {
        backend,
        n_threads: cfg.threads.unwrap_or(0) as i32,
        progress: Some(&mut progress),
        // The core refuses before copying any weight when they and one full context do not fit.
        reserve_ctx: cfg.ctx_size.map_or(-1, |c| c.min(i32::MAX as u32) as i32),
        cuda_graphs: cfg.cuda_graphs,
        ..Default::default()
    };
    let model = Model::load(&cfg.model, params).map_err(|e| format!("({}) {}", ffi::status_name(e.kind), e.message))?;
    let info = model.info();
    let vocab = gguf_vocab(&model).map_err(|e| format!("reading tokenizer metadata: {e}"))?;
    let tokenizer = match &cfg.tokenizer {
        None => Tokenizer::from_gguf_vocab(&vocab).map_err(|e| format!("building the tokenizer: {e}"))?,
        Some(path) => Tokenizer::from_hf_json(path, Some(&vocab)).map_err(|e| format!("--tokenizer: {e}"))?,
    };
    if tokenizer.vocab_size() > info.n_vocab as usize {
        return Err(format!(
            "the tokenizer has {} tokens but the model's vocabulary has {}; they do not belong together",
            tokenizer.vocab_size(),
            info.n_vocab
        ));
    }
    let mut chat = ChatSupport::load(vocab.chat_template.as_deref(), cfg.chat_template_file.as_deref(), tokenizer.template_tokens())
        .map_err(|e| format!("--chat-template-file: {e}"))?;
    if let ChatSupport::Broken(why) = &chat {
        tracing::warn!("the model's chat template cannot be used, so requests with `messages` will be refused: {why}");
    }
    // Clients choose the messages a template runs on: rendering happens where its memory and time are capped.
    // /proc/self/exe is this very binary even after an upgrade replaced or deleted the file.
    chat.isolate(std::path::PathBuf::from("/proc/self/exe"))?;
    let n_ctx = cfg.ctx_size.unwrap_or(info.n_ctx_train.max(1) as u32);
    if n_ctx > info.n_ctx_train as u32 {
        tracing::warn!("--ctx-size {n_ctx} is larger than the model's training context {}", info.n_ctx_train);
    }
    let (budget, device) = match cfg.device {
        // Leave a tenth of what is available to the rest of the process and the system.
        Device::Cpu => (memory::available_bytes().map(|b| b / 10 * 9), "cpu".to_string()),
        Device::Gpu(i) => {
            let d = model.device_info().map_err(|e| format!("reading the device's memory: {e}"))?;
            (Some(d.free_bytes.saturating_sub(memory::CUDA_MARGIN_BYTES)), format!("cuda:{i} ({})", d.name))
        }
    };
    let mut config = EngineConfig {
        n_ctx,
        parallel: cfg.parallel as usize,
        batch_tokens: cfg.batch_tokens as usize,
        kv_cache_tokens: 0,
        kv_cache_tokens_wanted: 0,
        prefix_cache: cfg.prefix_cache,
        inference_timeout: cfg.inference_timeout,
        logit_log: cfg.logit_log.clone(),
        log_prompts: cfg.log_prompts,
    };
    let name = cfg.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let params = crate::ffi::ContextParams { n_seq_max: cfg.parallel as i32, n_ctx: n_ctx as i32, n_batch: cfg.batch_tokens as i32, ..Default::default() };
    let plan = memory::plan_kv_pool(&model, &params, cfg.kv_cache_tokens, budget, &device, &cfg.model.display().to_string())?;
    config.kv_cache_tokens = plan.tokens;
    config.kv_cache_tokens_wanted = plan.reduced_from.unwrap_or(plan.tokens as u64);
    if let Some(wanted) = plan.reduced_from {
        tracing::warn!(
            kv_cache_tokens = plan.tokens, wanted, context_bytes = plan.bytes,
            "the KV pool was reduced to what {device} memory allows: {} tokens, room for {} full contexts of {n_ctx} \
             (asked: {wanted} = --parallel {} x --ctx-size)",
            plan.tokens, plan.tokens / n_ctx.max(1), cfg.parallel
        );
    }
    model.check_residency().map_err(|e| format!("residency check after load: {e}"))?;
    tracing::info!(
        model = %name, architecture = %info.architecture, quant = %info.quant_kind, n_ctx, threads = info.n_threads,
        parallel = cfg.parallel, batch_tokens = cfg.batch_tokens, kv_cache_tokens = plan.tokens, prefix_cache = cfg.prefix_cache,
        context_bytes = plan.bytes, load_ms = t0.elapsed().as_millis() as u64, "model ready"
    );
    let loaded = Arc::new(LoadedModel { model, tokenizer, chat, info, name });
    Ok(Engine::new(loaded, config, cfg.queue_depth, state.metrics.clone()))
}
