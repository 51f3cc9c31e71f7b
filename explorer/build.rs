//! Builds the in-browser verifier (`explorer/wasm`: `taglog-proofs` for
//! `wasm32-unknown-unknown`, profile `wasm`) so that the explorer embeds it: no bindings
//! generator, no JavaScript toolchain, only `rustup target add wasm32-unknown-unknown`.

use std::env;
use std::path::PathBuf;
use std::process::{exit, Command};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    for path in [
        "wasm/src",
        "wasm/Cargo.toml",
        "../proofs/src",
        "../proofs/Cargo.toml",
        "../Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = out.join("wasm-target");
    let status = Command::new(cargo)
        .current_dir(&manifest)
        .args([
            "build",
            "--package",
            "taglog-explorer-wasm",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm",
            "--target-dir",
        ])
        .arg(&target_dir)
        // This build is not the outer one: no lint driver, no host flags, its own target dir.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("building the WebAssembly verifier failed ({s})")),
        Err(e) => fail(&format!(
            "cannot run cargo to build the WebAssembly verifier: {e}"
        )),
    }
    let built = target_dir.join("wasm32-unknown-unknown/wasm/taglog_explorer_wasm.wasm");
    if let Err(e) = std::fs::copy(&built, out.join("verify.wasm")) {
        fail(&format!("{}: {e}", built.display()));
    }
}

fn fail(why: &str) -> ! {
    eprintln!(
        "error: {why}. The explorer embeds its verifier built for wasm32-unknown-unknown: \
         run `rustup target add wasm32-unknown-unknown`."
    );
    exit(1)
}
