//! Can this process load BPF? Answered by really loading a program, because
//! capabilities, LSMs, `kernel.unprivileged_bpf_disabled` and memlock limits
//! all have a say and only the kernel knows the sum.
use aya::{
    Ebpf,
    programs::{TestRun, TestRunOptions, Xdp},
};

use crate::{errors::chain, objects};

/// Outcome of a probe: `Err` carries the kernel's refusal as text.
pub fn load_xdp() -> Result<(), String> {
    let mut ebpf = Ebpf::load(objects::XDP_EMPTY).map_err(|e| chain(&e))?;
    let prog: &mut Xdp = ebpf
        .program_mut("xdp_empty")
        .ok_or("xdp_empty missing from the embedded object")?
        .try_into()
        .map_err(|e| chain(&e))?;
    prog.load().map_err(|e| chain(&e))
}

/// Mean ns per run of the empty XDP program on a frame: the benchmark's baseline.
pub fn empty_test_run(frame: &[u8], repeat: u32) -> Result<u64, String> {
    let mut ebpf = Ebpf::load(objects::XDP_EMPTY).map_err(|e| chain(&e))?;
    let prog: &mut Xdp = ebpf
        .program_mut("xdp_empty")
        .ok_or("xdp_empty missing from the embedded object")?
        .try_into()
        .map_err(|e| chain(&e))?;
    prog.load().map_err(|e| chain(&e))?;
    let opts = TestRunOptions { data_in: Some(frame), repeat: repeat.max(1), ..TestRunOptions::default() };
    let r = prog.test_run(opts).map_err(|e| chain(&e))?;
    Ok(r.duration.as_nanos() as u64)
}
