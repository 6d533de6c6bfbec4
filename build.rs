//! Builds the C++ core (cuda/) with the `cc` crate and generates Rust bindings for
//! include/worker_core.h with bindgen. Writes only under OUT_DIR.
//!
//! The core is always compiled optimised (-O3), even in debug builds: an unoptimised forward pass
//! is too slow for the test suite. The baseline ISA is x86-64 with AVX2/FMA/F16C; files named
//! `*_avx512.cpp` get AVX-512 flags and are only entered after a run-time CPU check.
//!
//! `WC_SANITIZE=address,undefined` (scripts/sanitize.sh) compiles the core with those sanitizers
//! and links their runtimes into whatever links the library (its tests and binaries).

use std::path::{Path, PathBuf};

fn sources(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn core_build(target_arch: &str) -> cc::Build {
    let mut b = cc::Build::new();
    b.cpp(true)
        .std("c++17")
        .opt_level(3)
        .debug(false)
        .include("include")
        .include("cuda")
        .flag_if_supported("-fno-math-errno")
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(true);
    if target_arch == "x86_64" {
        b.flag("-mavx2").flag("-mfma").flag("-mf16c").flag("-mbmi2");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        b.define("WC_WITH_CUDA", "1");
    }
    if let Some(list) = sanitizers() {
        // Frame pointers and line tables make the reports' stacks readable; UB aborts at the
        // first finding instead of printing and going on, so a test fails on it.
        b.flag(&format!("-fsanitize={list}"))
            .flag("-fno-omit-frame-pointer")
            .flag("-fno-sanitize-recover=undefined")
            .flag("-g1");
    }
    b
}

/// The sanitizers asked for with WC_SANITIZE (e.g. "address,undefined"), if any.
fn sanitizers() -> Option<String> {
    let list = std::env::var("WC_SANITIZE").ok()?;
    let list = list.trim();
    if list.is_empty() {
        return None;
    }
    assert!(
        list.split(',').all(|s| matches!(s, "address" | "undefined" | "leak")),
        "WC_SANITIZE={list}: expected a comma-separated list of address, undefined, leak"
    );
    Some(list.to_string())
}

fn main() {
    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    println!("cargo:rerun-if-changed=include");
    println!("cargo:rerun-if-changed=cuda");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-env-changed=WC_SANITIZE");

    let all_cpp = sources("cuda", ".cpp");
    let (wide, base): (Vec<_>, Vec<_>) =
        all_cpp.into_iter().partition(|p| p.to_string_lossy().ends_with("_avx512.cpp"));

    let mut b = core_build(&target_arch);
    b.files(&base);
    b.compile("worker_core");

    if target_arch == "x86_64" && !wide.is_empty() {
        let mut w = core_build(&target_arch);
        // GCC 12 warns falsely inside its own AVX-512 intrinsic headers.
        w.flag("-Wno-uninitialized").flag("-Wno-maybe-uninitialized");
        w.flag("-mavx512f")
            .flag("-mavx512bw")
            .flag("-mavx512vl")
            .flag("-mavx512dq")
            .flag("-mavx512vnni")
            .files(&wide);
        w.compile("worker_core_avx512");
    }

    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        build_cuda();
    }

    if let Some(list) = sanitizers() {
        // The sanitizers' runtimes (gcc's libasan, libubsan, liblsan). rustc links with
        // -nodefaultlibs, so a -fsanitize handed to the linker driver adds nothing; the runtimes
        // are named here instead, before libstdc++, so that libasan is the first shared library
        // the binary needs, as the ASan runtime checks at start-up (otherwise it refuses to run
        // unless ASAN_OPTIONS=verify_asan_link_order=0).
        let has = |s: &str| list.split(',').any(|x| x == s);
        if has("address") {
            println!("cargo:rustc-link-lib=dylib=asan");
        } else if has("leak") {
            println!("cargo:rustc-link-lib=dylib=lsan");
        }
        if has("undefined") {
            println!("cargo:rustc-link-lib=dylib=ubsan");
        }
    }
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rustc-link-lib=dylib=pthread");

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    bindgen::Builder::default()
        .header("include/worker_core.h")
        .allowlist_function("wc_.*")
        .allowlist_type("wc_.*")
        .allowlist_var("WC_.*")
        .default_enum_style(bindgen::EnumVariation::Rust { non_exhaustive: false })
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed on include/worker_core.h (is libclang installed? scripts/setup.sh)")
        .write_to_file(out.join("worker_core_sys.rs"))
        .expect("writing bindings");
}

/// Compiles cuda/gpu/**/*.cu with nvcc (found through $NVCC or $CUDA_HOME/bin/nvcc).
fn build_cuda() {
    let cu = sources("cuda/gpu", ".cu");
    if cu.is_empty() {
        panic!("the `cuda` feature was asked for, but cuda/gpu/ has no CUDA sources yet (the CUDA backend is issue 4)");
    }
    let cuda_home = std::env::var("CUDA_HOME").expect("the cuda feature needs CUDA_HOME (scripts/install-cuda-toolchain.sh)");
    if std::env::var_os("NVCC").is_none() {
        // cc finds nvcc through $NVCC; setting .compiler() instead would hide that it is nvcc.
        std::env::set_var("NVCC", format!("{cuda_home}/bin/nvcc"));
    }
    let mut b = cc::Build::new();
    b.cuda(true)
        .cudart("static")
        .debug(false)
        .opt_level(3)
        .include("include")
        .include("cuda")
        .define("WC_WITH_CUDA", "1")
        .flag("-std=c++17");
    for arch in ["80", "86", "89", "90"] {
        b.flag(&format!("-gencode=arch=compute_{arch},code=sm_{arch}"));
    }
    b.flag("-gencode=arch=compute_90,code=compute_90");
    b.files(&cu);
    b.compile("worker_core_cuda");
    let lib = Path::new(&cuda_home).join("lib");
    println!("cargo:rustc-link-search=native={}", lib.display());
}
