//! Can this process load BPF? Answered by really loading a program, because
//! capabilities, LSMs, `kernel.unprivileged_bpf_disabled` and memlock limits
//! all have a say and only the kernel knows the sum.
use aya::{Ebpf, programs::Xdp};

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
