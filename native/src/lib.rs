//! N-API surface of the kernel dataplane. Only the exported items live here;
//! the work is in the modules below.
mod errors;
mod objects;
mod probe;

use napi_derive::napi;

/// Crate version, to check that the `.node` matches the agent.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Result of `probe()`.
#[napi(object)]
pub struct ProbeResult {
    pub ok: bool,
    pub reason: Option<String>,
}

/// Whether this process can load an XDP program; `reason` holds the kernel's refusal.
#[napi]
pub fn probe() -> ProbeResult {
    match probe::load_xdp() {
        Ok(()) => ProbeResult { ok: true, reason: None },
        Err(reason) => ProbeResult { ok: false, reason: Some(reason) },
    }
}
