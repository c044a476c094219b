//! The BPF objects build.rs compiled, embedded so the `.node` needs no files beside it.

/// XDP program that passes everything: rights probe and benchmark baseline.
pub static XDP_EMPTY: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp_empty.o"));
