//! The BPF objects build.rs compiled, embedded so the `.node` needs no files beside it.

/// XDP program that passes everything: rights probe and benchmark baseline.
pub static XDP_EMPTY: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp_empty.o"));

/// Ingress enforcement (bpf/xdp_ingress.c).
pub static XDP_INGRESS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp_ingress.o"));

/// Egress enforcement (bpf/tc_egress.c).
pub static TC_EGRESS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tc_egress.o"));
