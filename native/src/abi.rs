//! Rust mirrors of `bpf/include/pf_abi.h`. Sizes are checked at compile time
//! so the two sides cannot drift.
use aya::Pod;

pub const HOOK_EGRESS: u8 = 1;
pub const MAX_SHAPES: u32 = 32;
pub const MAX_SLOTS: u32 = 131_072;
pub const MAX_ENTRIES: u32 = 262_144;
pub const FILTER_WORDS: u32 = 2048;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Verdict {
    pub rank: u32,
    pub slot: u32,
    pub action: u8,
    pub drop: u8,
    pub flags: u8,
    pub pad: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LpmVal {
    /// [side][hook]: best address-only rule whose prefix on that side contains the entry.
    pub v: [[Verdict; 2]; 2],
    /// [side][hook]: bit i = tuple shape i has a key whose prefix on that side contains the entry.
    pub shapes: [[u32; 2]; 2],
}

/// A host's pinned tuple key (pf_abi.h struct pf_pin); all zero: no pin.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Pin {
    /// Shape index + 1; 0: no pin.
    pub shape1: u8,
    pub side: u8,
    pub proto: u8,
    pub pad: u8,
    /// Network order, as in the tuple key.
    pub sport: u16,
    pub dport: u16,
    pub v: Verdict,
}

/// Host map value (pf_abi.h struct pf_host_val).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HostVal {
    pub lpm: LpmVal,
    /// [hook]
    pub pin: [Pin; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ShapeSet {
    pub count: u32,
    pub wild_src: u32,
    pub wild_dst: u32,
    pub pad: u32,
}

pub const MGMT_V4: u32 = 1 << 0;
pub const MGMT_V6: u32 = 1 << 1;
pub const MGMT_PORTS: u32 = 1 << 2;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tup4Key {
    pub bytes: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Tup6Key {
    pub bytes: [u8; 40],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Shape {
    pub best: u32,
    pub proto_mask: u8,
    pub needs_ports: u8,
    pub sport_mask: u16,
    pub dport_mask: u16,
    pub pad: [u8; 2],
    pub src_mask: [u8; 16],
    pub dst_mask: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

// SAFETY: plain repr(C) structs of integers without padding holes the kernel
// could leak into (every byte is a named field), as aya::Pod requires.
unsafe impl Pod for Verdict {}
unsafe impl Pod for LpmVal {}
unsafe impl Pod for Pin {}
unsafe impl Pod for HostVal {}
unsafe impl Pod for ShapeSet {}
unsafe impl Pod for Tup4Key {}
unsafe impl Pod for Tup6Key {}
unsafe impl Pod for Shape {}
unsafe impl Pod for Counter {}

const _: () = assert!(size_of::<Verdict>() == 12);
const _: () = assert!(size_of::<LpmVal>() == 64);
const _: () = assert!(size_of::<Pin>() == 20);
const _: () = assert!(size_of::<HostVal>() == 104);
const _: () = assert!(size_of::<ShapeSet>() == 16);
const _: () = assert!(size_of::<Tup4Key>() == 16);
const _: () = assert!(size_of::<Tup6Key>() == 40);
const _: () = assert!(size_of::<Shape>() == 44);
const _: () = assert!(size_of::<Counter>() == 16);

/// Map names (ELF symbols, pin file names), at most 15 bytes each.
pub mod names {
    pub const GEN: &str = "pf_gen";
    pub const SHAPES: &str = "pf_shapes";
    pub const SHAPE_SET: &str = "pf_sset";
    pub const FILTER: &str = "pf_filter";
    pub const CONF: &str = "pf_conf";
    pub const COUNTERS: &str = "pf_cnt";
    pub const MGMT4: &str = "pf_m4";
    pub const MGMT6: &str = "pf_m6";
    pub const MGMT_PORT: &str = "pf_mport";
    // Rule maps (pf_l4, pf_l6, pf_t4, pf_t6, pf_host4, pf_host6): native/src/kernel.rs KINDS.
}
