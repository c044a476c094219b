//! Loading, attaching, pinning and filling the dataplane maps of one instance.
//! Everything lives under one bpffs directory (`/sys/fs/bpf/openc2/<instance>`):
//! maps pinned by name by the loader, links pinned as `link_xdp_<if>` and
//! `link_tc_<if>`. Pins keep enforcement in force when the agent exits or
//! crashes (fail-static, DESIGN.md section 4); the next open() takes them over.
use std::{
    collections::HashSet,
    fs, io,
    os::fd::{AsFd, BorrowedFd},
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{
        Array, ArrayOfMaps, HashMap, LpmTrie, Map, MapData, MapError, PerCpuArray,
        lpm_trie::Key,
    },
    programs::{
        ProgramError, SchedClassifier, TcAttachType, TestRun, TestRunOptions,
        Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        tc::{self, SchedClassifierLink},
        xdp::XdpLink,
    },
    util::KernelVersion,
};
use thiserror::Error;

use crate::{
    abi::{self, Counter, HostVal, LpmVal, MAX_ENTRIES, MAX_SHAPES, MAX_SLOTS, ShapeSet, Verdict, names},
    filter, objects,
    records::{self, Record, RecordError},
    sys,
};

/// bpffs magic (include/uapi/linux/magic.h BPF_FS_MAGIC).
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

#[derive(Debug, Error)]
pub enum KernelError {
    #[error("cannot mount or create the bpffs directory {path}: {source}")]
    PinDir { path: String, source: io::Error },
    #[error("cannot load BPF object {object}: {source}")]
    Load { object: &'static str, source: EbpfError },
    #[error("BPF program {program}: {op} failed: {source}")]
    Program { program: &'static str, op: &'static str, interface: Option<String>, source: ProgramError },
    #[error("map {map} missing from the BPF object")]
    MissingMap { map: String },
    #[error("map {map}: {op} failed: {source}")]
    Map { map: String, op: &'static str, source: MapError },
    #[error("interface {interface}: {op} failed: {source}")]
    Link { interface: String, op: &'static str, source: io::Error },
    #[error(transparent)]
    Records(#[from] RecordError),
    #[error("counter slot {0} out of range (max {MAX_SLOTS})")]
    Slot(u32),
    #[error("interface name {0:?} is not valid")]
    InterfaceName(String),
    #[error("dataplane instance {path} is in use by another process (two agents on one instance would overwrite each other's rules); stop it or give this one another instance")]
    InUse { path: String },
}

impl KernelError {
    /// Stable code for JS (agent/dataplane/kernel.ts branches on it).
    pub fn code(&self) -> &'static str {
        match self {
            Self::PinDir { .. } => "ERR_PIN_DIR",
            Self::Load { .. } => "ERR_BPF_LOAD",
            Self::Program { .. } => "ERR_BPF_PROGRAM",
            Self::MissingMap { .. } => "ERR_BPF_MAP_MISSING",
            Self::Map { .. } => "ERR_BPF_MAP",
            Self::Link { .. } => "ERR_BPF_LINK",
            Self::Records(_) => "ERR_BAD_RECORDS",
            Self::Slot(_) => "ERR_BAD_SLOT",
            Self::InterfaceName(_) => "ERR_BAD_INTERFACE",
            Self::InUse { .. } => "ERR_INSTANCE_IN_USE",
        }
    }
    pub fn interface(&self) -> Option<&str> {
        match self {
            Self::Program { interface, .. } => interface.as_deref(),
            Self::Link { interface, .. } => Some(interface),
            Self::InterfaceName(i) => Some(i),
            _ => None,
        }
    }
    pub fn map(&self) -> Option<&str> {
        match self {
            Self::MissingMap { map } | Self::Map { map, .. } => Some(map),
            _ => None,
        }
    }
    /// The verifier's log when the kernel refused a program.
    pub fn verifier_log(&self) -> Option<String> {
        let load = |e: &ProgramError| match e {
            ProgramError::LoadError { verifier_log, .. } => Some(verifier_log.to_string()),
            _ => None,
        };
        match self {
            Self::Program { source, .. } => load(source),
            Self::Load { source: EbpfError::ProgramError(p), .. } => load(p),
            _ => None,
        }
    }
}

fn map_err(map: impl Into<String>, op: &'static str) -> impl FnOnce(MapError) -> KernelError {
    let map = map.into();
    move |source| KernelError::Map { map, op, source }
}

/// How an interface got attached.
pub struct Attachment {
    /// `driver` (native XDP), `generic` (skb mode) or `pinned` (kept from an earlier run).
    pub xdp_mode: String,
    /// `tcx`, `clsact` (netlink, kernels before 6.6) or `pinned`.
    pub egress: String,
}

/// One kind of rule map: its outer (per-generation) map and the layout of
/// the inner maps, which must match the template in pf_match.h.
struct Kind {
    outer: &'static str,
    map_type: u32,
    key_size: usize,
    value_size: usize,
}

// include/uapi/linux/bpf.h: BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC.
const MAP_HASH: u32 = 1;
const MAP_LPM: u32 = 11;
const NO_PREALLOC: u32 = 1;

/// Index in KINDS: LPM l4, l6, tuples t4, t6, hosts h4, h6.
const KINDS: [Kind; 6] = [
    Kind { outer: "pf_l4", map_type: MAP_LPM, key_size: 8, value_size: size_of::<LpmVal>() },
    Kind { outer: "pf_l6", map_type: MAP_LPM, key_size: 20, value_size: size_of::<LpmVal>() },
    Kind { outer: "pf_t4", map_type: MAP_HASH, key_size: 16, value_size: size_of::<Verdict>() },
    Kind { outer: "pf_t6", map_type: MAP_HASH, key_size: 40, value_size: size_of::<Verdict>() },
    Kind { outer: "pf_host4", map_type: MAP_HASH, key_size: 4, value_size: size_of::<HostVal>() },
    Kind { outer: "pf_host6", map_type: MAP_HASH, key_size: 16, value_size: size_of::<HostVal>() },
];

const fn lpm_kind(v6: bool) -> usize {
    v6 as usize
}
const fn tuple_kind(v6: bool) -> usize {
    2 + v6 as usize
}
const fn host_kind(v6: bool) -> usize {
    4 + v6 as usize
}

/// The full-length LPM entry of a record (a host entry), as (v6, address).
fn host_of(r: &Record) -> Option<(bool, &[u8; 16])> {
    match r {
        Record::Lpm { v6, prefix_len, addr, .. } if *prefix_len == if *v6 { 128 } else { 32 } => Some((*v6, addr)),
        _ => None,
    }
}

/// Agents before pins kept host entries in `pf_h4`/`pf_h6`, with `pf_lpm_val`
/// values. Taking over from one, the new program reads `pf_host4`/`pf_host6`
/// the moment it is swapped into the links, before the agent's first replace:
/// each generation's hosts are copied over (no pins) so they stay enforced,
/// then the old pins go.
fn carry_legacy_hosts(dir: &Path, gens: &[Vec<MapData>; 2]) -> Result<(), KernelError> {
    for (legacy, v6) in [("pf_h4", false), ("pf_h6", true)] {
        let path = dir.join(legacy);
        if !path.exists() {
            continue;
        }
        let err = |op| map_err(legacy, op);
        let outer = Map::from_map_data(MapData::from_pin(&path).map_err(err("open pin"))?).map_err(err("open"))?;
        let outer: ArrayOfMaps<MapData, MapData> = ArrayOfMaps::try_from(outer).map_err(err("open"))?;
        let kind = &KINDS[host_kind(v6)];
        for (g, inner) in gens.iter().enumerate() {
            let Ok(old) = outer.get(&(g as u32), 0) else { continue };
            let (keys, lpm_values) = sys::read_all(old.fd().as_fd(), kind.key_size, size_of::<LpmVal>(), MAX_ENTRIES)
                .map_err(|e| err("read")(MapError::IoError(e)))?;
            let mut values = Vec::with_capacity(keys.len() / kind.key_size * kind.value_size);
            for v in lpm_values.chunks_exact(size_of::<LpmVal>()) {
                values.extend_from_slice(v);
                values.resize(values.len() + kind.value_size - v.len(), 0);
            }
            sys::update_all(inner[host_kind(v6)].fd().as_fd(), &keys, kind.key_size, &values, kind.value_size)
                .map_err(|e| map_err(kind.outer, "carry over")(MapError::IoError(e)))?;
        }
        fs::remove_file(&path).map_err(|e| err("unpin")(MapError::IoError(e)))?;
    }
    Ok(())
}

/// Zeroes counter slots in one batch (100k single updates took a large share
/// of a 100k-rule replace). Per-CPU values: one Counter per possible CPU, back
/// to back (a Counter is already 8-byte aligned).
fn zero_counters(counters: BorrowedFd<'_>, slots: &[u32], cpus: usize) -> io::Result<()> {
    let keys: Vec<u8> = slots.iter().flat_map(|s| s.to_ne_bytes()).collect();
    let value_size = cpus * size_of::<Counter>();
    sys::update_all(counters, &keys, 4, &vec![0u8; slots.len() * value_size], value_size)
}

/// A fresh, empty inner map of a kind.
fn create_inner(kind: &Kind) -> Result<MapData, KernelError> {
    let def = aya_obj::Map::new_from_params(kind.map_type, kind.key_size as u32, kind.value_size as u32, MAX_ENTRIES, NO_PREALLOC);
    MapData::create(def, kind.outer, None).map_err(map_err(kind.outer, "create"))
}

fn put_verdict(out: &mut Vec<u8>, v: &Verdict) {
    out.extend_from_slice(&v.rank.to_ne_bytes());
    out.extend_from_slice(&v.slot.to_ne_bytes());
    out.extend_from_slice(&[v.action, v.drop, v.flags, 0]);
}

/// Key and value bytes of a rule record as the kernel map wants them, with
/// the map kind; None for shape records (they go to arrays).
fn entry_bytes(r: &Record, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Option<(usize, bool)> {
    match r {
        Record::Lpm { v6, prefix_len, addr, value: v, pins } => {
            let host = host_of(r).is_some();
            if !host {
                key.extend_from_slice(&prefix_len.to_ne_bytes());
            }
            key.extend_from_slice(&addr[..if *v6 { 16 } else { 4 }]);
            if let Some(v) = v {
                for side in &v.v {
                    for hook in side {
                        put_verdict(value, hook);
                    }
                }
                for side in &v.shapes {
                    for bits in side {
                        value.extend_from_slice(&bits.to_ne_bytes());
                    }
                }
                if host {
                    for p in pins {
                        value.extend_from_slice(&[p.shape1, p.side, p.proto, 0]);
                        value.extend_from_slice(&p.sport.to_ne_bytes());
                        value.extend_from_slice(&p.dport.to_ne_bytes());
                        put_verdict(value, &p.v);
                    }
                }
            }
            Some((if host { host_kind(*v6) } else { lpm_kind(*v6) }, v.is_some()))
        }
        Record::Tuple { v6, key: k, value: v } => {
            key.extend_from_slice(&k[..KINDS[tuple_kind(*v6)].key_size]);
            if let Some(v) = v {
                put_verdict(value, v);
            }
            Some((tuple_kind(*v6), v.is_some()))
        }
        Record::Shape { .. } | Record::ShapeCount { .. } => None,
    }
}

/// One opened instance: both programs loaded, the pinned maps in hand.
pub struct Kernel {
    dir: PathBuf,
    xdp: Ebpf,
    tc: Ebpf,
    active: Array<MapData, u32>,
    /// Outer maps, by KINDS index.
    outer: Vec<ArrayOfMaps<MapData, MapData>>,
    /// Inner maps per generation, by KINDS index.
    gens: [Vec<MapData>; 2],
    shapes: Array<MapData, abi::Shape>,
    shape_sets: Array<MapData, ShapeSet>,
    filters: Array<MapData, u32>,
    /// A second handle on pf_filter for writing a generation's words in one batch.
    filters_raw: MapData,
    /// What pf_filter holds for each generation this process built, so an
    /// in-place add reads no word from the kernel. None where that is not
    /// known: a generation built by an earlier process (open() cleared its
    /// valid word) or one whose filter write failed; set_filter() then reads
    /// and writes the kernel's words.
    filter_shadow: [Option<filter::Bitmap>; 2],
    /// What pf_gen holds: only replace() switches it, and the instance lock
    /// keeps every other process from writing it.
    generation: u32,
    /// The lock on the pin directory (lock_instance()), held while this value
    /// lives; the kernel drops it when the process exits, however it exits.
    _instance_lock: fs::File,
    conf: Array<MapData, u32>,
    counters: PerCpuArray<MapData, Counter>,
    /// A second handle on pf_cnt for batched resets (aya's PerCpuArray keeps its fd private).
    counters_raw: MapData,
    mgmt4: LpmTrie<MapData, [u8; 4], u8>,
    mgmt6: LpmTrie<MapData, [u8; 16], u8>,
    mgmt_port: HashMap<MapData, u16, u8>,
}

/// Swaps `$prog`, the program this process loaded, into the link pinned at
/// `$path`, atomically (bpf_link_update): after an upgrade the attached
/// program must be the one that knows the maps this agent writes. aya's XDP
/// and TC program types share no trait for this, hence a macro.
macro_rules! take_over_pinned {
    ($prog:expr, $link:ty, $name:literal, $path:expr, $iface:expr) => {{
        let link = <$link>::try_from(pinned_link($path, $iface)?).map_err(|e| KernelError::Link {
            interface: $iface.into(),
            op: "open pinned link",
            source: io::Error::other(e),
        })?;
        let id = $prog.attach_to_link(link).map_err(|source| KernelError::Program {
            program: $name,
            op: "replace in pinned link",
            interface: Some($iface.into()),
            source,
        })?;
        // The pin keeps the link attached; this process needs no handle on it.
        drop($prog.take_link(id));
    }};
}

fn take<T>(ebpf: &mut Ebpf, name: &str) -> Result<T, KernelError>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = ebpf.take_map(name).ok_or_else(|| KernelError::MissingMap { map: name.into() })?;
    T::try_from(map).map_err(map_err(name, "open"))
}

/// Mounts bpffs on /sys/fs/bpf when nothing is mounted there (many boots do not)
/// and creates `dir` below it.
fn ensure_pin_dir(dir: &Path) -> Result<(), KernelError> {
    let err = |source| KernelError::PinDir { path: dir.display().to_string(), source };
    let root = Path::new("/sys/fs/bpf");
    if dir.starts_with(root) && !is_bpffs(root) {
        let ok = nix_mount_bpffs(root);
        if !ok {
            return Err(err(io::Error::last_os_error()));
        }
    }
    fs::create_dir_all(dir).map_err(err)
}

/// An exclusive, non-blocking lock (flock) on the instance's pin directory.
fn lock_instance(dir: &Path) -> Result<fs::File, KernelError> {
    let path = dir.display().to_string();
    let file = fs::File::open(dir).map_err(|source| KernelError::PinDir { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(KernelError::InUse { path }),
        Err(fs::TryLockError::Error(source)) => Err(KernelError::PinDir { path, source }),
    }
}

fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else { return false };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and st a properly sized out-buffer.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

fn nix_mount_bpffs(root: &Path) -> bool {
    let Ok(target) = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: all pointers are valid NUL-terminated strings; data is null.
    let rc = unsafe {
        libc::mount(c"bpf".as_ptr(), target.as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null())
    };
    rc == 0
}

fn load_object(bytes: &[u8], object: &'static str, dir: &Path) -> Result<Ebpf, KernelError> {
    EbpfLoader::new()
        .default_map_pin_directory(dir)
        .load(bytes)
        .map_err(|source| KernelError::Load { object, source })
}

fn check_interface(iface: &str) -> Result<(), KernelError> {
    // IFNAMSIZ is 16 with the NUL; no '/' since the name becomes a pin file name.
    if iface.is_empty() || iface.len() > 15 || iface.contains(['/', '\0']) || iface.starts_with('.') {
        return Err(KernelError::InterfaceName(iface.into()));
    }
    Ok(())
}

impl Kernel {
    /// Loads both programs with their maps pinned under `dir`, reusing pins that
    /// exist (takeover after a restart or crash).
    pub fn open(dir: &Path) -> Result<Self, KernelError> {
        ensure_pin_dir(dir)?;
        // Before anything is loaded or written: a second agent must not touch
        // the maps of the one enforcing.
        let instance_lock = lock_instance(dir)?;
        let mut xdp = load_object(objects::XDP_INGRESS, "xdp_ingress", dir)?;
        let mut tc = load_object(objects::TC_EGRESS, "tc_egress", dir)?;
        let p: &mut Xdp = program(&mut xdp, "xdp_ingress")?;
        p.load().map_err(|source| KernelError::Program { program: "xdp_ingress", op: "load", interface: None, source })?;
        let p: &mut SchedClassifier = program(&mut tc, "tc_egress")?;
        p.load().map_err(|source| KernelError::Program { program: "tc_egress", op: "load", interface: None, source })?;

        // Each outer slot holds a map from the start (empty on a fresh instance;
        // a restarted agent takes over what the pins hold).
        let mut outer = Vec::with_capacity(KINDS.len());
        let mut gens: [Vec<MapData>; 2] = [Vec::new(), Vec::new()];
        for kind in &KINDS {
            let mut o: ArrayOfMaps<MapData, MapData> = take(&mut xdp, kind.outer)?;
            for (g, inner) in gens.iter_mut().enumerate() {
                let m = match o.get(&(g as u32), 0) {
                    Ok(m) => m,
                    Err(_) => {
                        let m = create_inner(kind)?;
                        o.set(g as u32, &m, 0).map_err(map_err(kind.outer, "fill slot"))?;
                        m
                    }
                };
                inner.push(m);
            }
            outer.push(o);
        }
        carry_legacy_hosts(dir, &gens)?;
        // Filters this process has not written are not trusted (pf_abi.h
        // PF_FILTER_VALID): the pins may hold generations an older agent built.
        let mut filters: Array<MapData, u32> = take(&mut xdp, names::FILTER)?;
        for g in 0..2 {
            filters.set(filter::valid_index(g), 0, 0).map_err(map_err(names::FILTER, "clear valid"))?;
        }
        let active: Array<MapData, u32> = take(&mut xdp, names::GEN)?;
        Ok(Self {
            generation: active.get(&0, 0).map_err(map_err(names::GEN, "read"))?,
            active,
            outer,
            gens,
            shapes: take(&mut xdp, names::SHAPES)?,
            shape_sets: take(&mut xdp, names::SHAPE_SET)?,
            filters,
            filters_raw: MapData::from_pin(dir.join(names::FILTER)).map_err(map_err(names::FILTER, "open pin"))?,
            filter_shadow: [None, None],
            _instance_lock: instance_lock,
            conf: take(&mut xdp, names::CONF)?,
            counters: take(&mut xdp, names::COUNTERS)?,
            counters_raw: MapData::from_pin(dir.join(names::COUNTERS)).map_err(map_err(names::COUNTERS, "open pin"))?,
            mgmt4: take(&mut xdp, names::MGMT4)?,
            mgmt6: take(&mut xdp, names::MGMT6)?,
            mgmt_port: take(&mut xdp, names::MGMT_PORT)?,
            dir: dir.to_path_buf(),
            xdp,
            tc,
        })
    }

    fn link_path(&self, kind: &str, iface: &str) -> PathBuf {
        self.dir.join(format!("link_{kind}_{iface}"))
    }

    /// Attaches XDP ingress (native mode, else generic) and TC egress (tcx on
    /// 6.6+, else clsact via netlink), pinning the links. An interface whose
    /// links are already pinned keeps them.
    pub fn attach(&mut self, iface: &str) -> Result<Attachment, KernelError> {
        check_interface(iface)?;
        let link_err = |op, source| KernelError::Link { interface: iface.into(), op, source };
        let xdp_path = self.link_path("xdp", iface);
        let xdp_mode = if xdp_path.exists() {
            let prog: &mut Xdp = program(&mut self.xdp, "xdp_ingress")?;
            take_over_pinned!(prog, XdpLink, "xdp_ingress", &xdp_path, iface);
            "pinned".to_string()
        } else {
            let prog: &mut Xdp = program(&mut self.xdp, "xdp_ingress")?;
            let prog_err = |source| KernelError::Program {
                program: "xdp_ingress",
                op: "attach",
                interface: Some(iface.into()),
                source,
            };
            // Native mode where the driver has it (veth, most NICs), generic otherwise.
            let (id, mode) = match prog.attach(iface, XdpMode::Driver) {
                Ok(id) => (id, "driver"),
                Err(_) => (prog.attach(iface, XdpMode::Skb).map_err(prog_err)?, "generic"),
            };
            let link = prog.take_link(id).map_err(prog_err)?;
            // bpf_link (kernel 5.9+) can be pinned; a netlink attachment stays in
            // the kernel by itself once its wrapper is converted away from Drop.
            if let Ok(fd) = FdLink::try_from(link) {
                fd.pin(&xdp_path).map_err(|e| link_err("pin xdp link", io::Error::other(e)))?;
            }
            mode.to_string()
        };

        let tc_path = self.link_path("tc", iface);
        let egress = if tc_path.exists() {
            let prog: &mut SchedClassifier = program(&mut self.tc, "tc_egress")?;
            take_over_pinned!(prog, SchedClassifierLink, "tc_egress", &tc_path, iface);
            "pinned".to_string()
        } else {
            let tcx = KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0));
            if !tcx {
                // An existing clsact qdisc is fine (EEXIST), as bpfman does.
                let _ = tc::qdisc_add_clsact(iface);
            }
            let prog: &mut SchedClassifier = program(&mut self.tc, "tc_egress")?;
            let prog_err = |source| KernelError::Program {
                program: "tc_egress",
                op: "attach",
                interface: Some(iface.into()),
                source,
            };
            let id = prog.attach(iface, TcAttachType::Egress).map_err(prog_err)?;
            let link = prog.take_link(id).map_err(prog_err)?;
            if let Ok(fd) = FdLink::try_from(link) {
                fd.pin(&tc_path).map_err(|e| link_err("pin tc link", io::Error::other(e)))?;
            }
            if tcx { "tcx" } else { "clsact" }.to_string()
        };
        Ok(Attachment { xdp_mode, egress })
    }

    /// Removes the interface's pinned links, which detaches both programs.
    pub fn detach(&mut self, iface: &str) -> Result<(), KernelError> {
        check_interface(iface)?;
        for kind in ["xdp", "tc"] {
            unpin_link(&self.link_path(kind, iface), iface)?;
        }
        Ok(())
    }

    /// Interfaces with pinned links in this instance.
    pub fn attached(&self) -> Vec<String> {
        let mut out: Vec<String> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_prefix("link_xdp_").map(str::to_string))
            .collect();
        out.sort();
        out
    }

    /// Builds the inactive generation from `buf` and switches to it with one
    /// update of pf_gen. Returns the new active generation. The rule maps are
    /// created fresh and written in batches; the ones they replace are freed by
    /// the kernel once no outer slot refers to them. `fresh_slots`, the counter
    /// slots the new generation hands to other rules than before, start from
    /// zero when it switches.
    pub fn replace(&mut self, buf: &[u8], fresh_slots: &[u32]) -> Result<u32, KernelError> {
        let recs = records::decode(buf)?;
        let cpus = self.counter_cpus(fresh_slots)?;
        let next = 1 - self.generation;
        let fresh = KINDS.iter().map(create_inner).collect::<Result<Vec<_>, _>>()?;
        let mut keys: [Vec<u8>; KINDS.len()] = Default::default();
        let mut values: [Vec<u8>; KINDS.len()] = Default::default();
        let mut shape_recs = Vec::new();
        // The next generation's filters, written whole.
        let mut filters = filter::Bitmap::new();
        // One key and one value buffer for all records: an allocation per record was a fifth of a load.
        let (mut k, mut v) = (Vec::with_capacity(48), Vec::with_capacity(128));
        for r in &recs {
            k.clear();
            v.clear();
            match entry_bytes(r, &mut k, &mut v) {
                // A delete in an empty map has nothing to do.
                Some((kind, true)) => {
                    if let Record::Lpm { v6, prefix_len, addr, .. } = r {
                        filters.add(*v6, *prefix_len, addr, |_, _| {});
                    }
                    keys[kind].extend_from_slice(&k);
                    values[kind].extend_from_slice(&v);
                }
                Some((_, false)) => {}
                None => shape_recs.push(r),
            }
        }
        // The six maps are independent: filled side by side, the kernel's
        // inserts (most of a load) use every CPU instead of one.
        let counters = self.counters_raw.fd().as_fd();
        std::thread::scope(|scope| {
            let reset = scope.spawn(move || zero_counters(counters, fresh_slots, cpus));
            let fills: Vec<_> = KINDS
                .iter()
                .enumerate()
                .filter(|(i, _)| !keys[*i].is_empty())
                .map(|(i, kind)| {
                    let (fd, keys, values) = (fresh[i].fd().as_fd(), &keys[i], &values[i]);
                    (kind, scope.spawn(move || sys::update_all(fd, keys, kind.key_size, values, kind.value_size)))
                })
                .collect();
            // Every thread is joined before an error is returned.
            let done: Vec<_> = fills.into_iter().map(|(kind, f)| (kind.outer, "update", f.join())).collect();
            let reset = (names::COUNTERS, "reset", reset.join());
            done.into_iter().chain([reset]).try_for_each(|(map, op, r)| {
                let r = r.unwrap_or_else(|_| Err(io::Error::other("the thread panicked")));
                r.map_err(|e| map_err(map, op)(MapError::IoError(e)))
            })
        })?;
        let (indexes, words) = filters.entries(next);
        // Until the whole write lands, the words of `next` are not known.
        self.filter_shadow[next as usize] = None;
        sys::update_all(self.filters_raw.fd().as_fd(), &indexes, 4, &words, 4)
            .map_err(|e| map_err(names::FILTER, "update")(MapError::IoError(e)))?;
        self.filter_shadow[next as usize] = Some(filters);
        for hook in 0..2u32 {
            for fam in 0..2u32 {
                let set = (next * 2 + hook) * 2 + fam;
                self.shape_sets.set(set, ShapeSet::default(), 0).map_err(map_err(names::SHAPE_SET, "clear"))?;
            }
        }
        for r in shape_recs {
            self.apply_shape(next, r)?;
        }
        for (i, kind) in KINDS.iter().enumerate() {
            self.outer[i].set(next, &fresh[i], 0).map_err(map_err(kind.outer, "fill slot"))?;
        }
        self.gens[next as usize] = fresh;
        self.active.set(0, next, 0).map_err(map_err(names::GEN, "switch"))?;
        self.generation = next;
        Ok(next)
    }

    /// Applies records in place to the active generation, in buffer order.
    pub fn update(&mut self, buf: &[u8]) -> Result<(), KernelError> {
        let recs = records::decode(buf)?;
        let g = self.generation;
        for r in &recs {
            let (mut k, mut v) = (Vec::new(), Vec::new());
            match entry_bytes(r, &mut k, &mut v) {
                Some((kind, upsert)) => {
                    let fd = self.gens[g as usize][kind].fd().as_fd();
                    let name = KINDS[kind].outer;
                    if upsert {
                        sys::update(fd, &k, &v).map_err(|e| map_err(name, "update")(MapError::IoError(e)))?;
                        // After the entry: a packet that sees the bit finds the entry.
                        if let Record::Lpm { v6, prefix_len, addr, .. } = r {
                            self.set_filter(g, *v6, *prefix_len, addr)?;
                        }
                    } else {
                        sys::delete(fd, &k).map_err(|e| map_err(name, "delete")(MapError::IoError(e)))?;
                    }
                }
                None => self.apply_shape(g, r)?,
            }
        }
        Ok(())
    }

    fn set_filter(&mut self, g: u32, v6: bool, prefix_len: u32, addr: &[u8; 16]) -> Result<(), KernelError> {
        let Some(shadow) = &mut self.filter_shadow[g as usize] else {
            return self.set_filter_in_kernel(g, v6, prefix_len, addr);
        };
        let base = filter::generation_start(g);
        let mut written = Ok(());
        shadow.add(v6, prefix_len, addr, |i, word| {
            if written.is_ok() {
                written = self.filters.set(base + i, word, 0);
            }
        });
        if let Err(e) = written {
            // The shadow now holds bits the kernel may lack: from here on the
            // kernel's own words are read.
            self.filter_shadow[g as usize] = None;
            return Err(map_err(names::FILTER, "update")(e));
        }
        Ok(())
    }

    /// set_filter() without a shadow: each word read, and written if it gains a bit.
    fn set_filter_in_kernel(&mut self, g: u32, v6: bool, prefix_len: u32, addr: &[u8; 16]) -> Result<(), KernelError> {
        let base = filter::generation_start(g);
        for (i, mask) in filter::masks(v6, prefix_len, addr) {
            let old = self.filters.get(&(base + i), 0).map_err(map_err(names::FILTER, "read"))?;
            if old & mask != mask {
                self.filters.set(base + i, old | mask, 0).map_err(map_err(names::FILTER, "update"))?;
            }
        }
        Ok(())
    }

    fn apply_shape(&mut self, g: u32, r: &Record) -> Result<(), KernelError> {
        match r {
            Record::Shape { index, shape } => {
                let at = g * 4 * MAX_SHAPES + index;
                self.shapes.set(at, shape, 0).map_err(map_err(names::SHAPES, "update"))
            }
            Record::ShapeCount { hook, v6, set } => {
                let at = (g * 2 + u32::from(*hook)) * 2 + u32::from(*v6);
                self.shape_sets.set(at, set, 0).map_err(map_err(names::SHAPE_SET, "update"))
            }
            _ => Ok(()),
        }
    }

    /// Packets and bytes of a counter slot, summed over CPUs.
    pub fn counters(&self, slot: u32) -> Result<Counter, KernelError> {
        if slot >= MAX_SLOTS {
            return Err(KernelError::Slot(slot));
        }
        let per_cpu = self.counters.get(&slot, 0).map_err(map_err(names::COUNTERS, "read"))?;
        Ok(per_cpu.iter().fold(Counter::default(), |a, c| Counter {
            packets: a.packets + c.packets,
            bytes: a.bytes + c.bytes,
        }))
    }

    /// Zeroes slots before they are given to new rules.
    pub fn reset_counters(&mut self, slots: &[u32]) -> Result<(), KernelError> {
        let cpus = self.counter_cpus(slots)?;
        zero_counters(self.counters_raw.fd().as_fd(), slots, cpus).map_err(|e| map_err(names::COUNTERS, "reset")(MapError::IoError(e)))
    }

    /// The possible CPUs (per-CPU values have one Counter each), once the slots are checked.
    fn counter_cpus(&self, slots: &[u32]) -> Result<usize, KernelError> {
        if let Some(&bad) = slots.iter().find(|&&s| s >= MAX_SLOTS) {
            return Err(KernelError::Slot(bad));
        }
        aya::util::nr_cpus().map_err(|(_, e)| KernelError::Map { map: names::COUNTERS.into(), op: "count CPUs", source: MapError::IoError(e) })
    }

    /// Makes the anti-lockout maps hold exactly these prefixes and ports: new
    /// entries are added before stale ones go, so management never loses access.
    pub fn set_management(&mut self, buf: &[u8], ports: &[u16]) -> Result<(), KernelError> {
        let mut want4 = HashSet::new();
        let mut want6 = HashSet::new();
        for r in records::decode(buf)? {
            if let Record::Lpm { v6, prefix_len, addr, .. } = r {
                if v6 {
                    want6.insert((prefix_len, addr));
                } else {
                    want4.insert((prefix_len, [addr[0], addr[1], addr[2], addr[3]]));
                }
            }
        }
        for (len, a) in &want4 {
            self.mgmt4.insert(&Key::new(*len, *a), 1, 0).map_err(map_err(names::MGMT4, "update"))?;
        }
        for (len, a) in &want6 {
            self.mgmt6.insert(&Key::new(*len, *a), 1, 0).map_err(map_err(names::MGMT6, "update"))?;
        }
        let want_ports: HashSet<u16> = ports.iter().map(|p| p.to_be()).collect();
        for p in &want_ports {
            self.mgmt_port.insert(p, 1, 0).map_err(map_err(names::MGMT_PORT, "update"))?;
        }
        // The program skips an anti-lockout map whose bit is clear: widen the
        // bits before stale entries go, narrow them after.
        let want = u32::from(!want4.is_empty()) * abi::MGMT_V4
            | u32::from(!want6.is_empty()) * abi::MGMT_V6
            | u32::from(!want_ports.is_empty()) * abi::MGMT_PORTS;
        let had = self.conf.get(&0, 0).map_err(map_err(names::CONF, "read"))?;
        self.conf.set(0, had | want, 0).map_err(map_err(names::CONF, "update"))?;
        let stale4: Vec<_> = self.mgmt4.keys().filter_map(Result::ok).filter(|k| !want4.contains(&(k.prefix_len(), k.data()))).collect();
        for k in stale4 {
            ignore_missing(self.mgmt4.remove(&k)).map_err(map_err(names::MGMT4, "delete"))?;
        }
        let stale6: Vec<_> = self.mgmt6.keys().filter_map(Result::ok).filter(|k| !want6.contains(&(k.prefix_len(), k.data()))).collect();
        for k in stale6 {
            ignore_missing(self.mgmt6.remove(&k)).map_err(map_err(names::MGMT6, "delete"))?;
        }
        let stale_ports: Vec<_> = self.mgmt_port.keys().filter_map(Result::ok).filter(|p| !want_ports.contains(p)).collect();
        for p in stale_ports {
            ignore_missing(self.mgmt_port.remove(&p)).map_err(map_err(names::MGMT_PORT, "delete"))?;
        }
        self.conf.set(0, want, 0).map_err(map_err(names::CONF, "update"))?;
        Ok(())
    }

    /// Runs one hook's program on a frame with BPF_PROG_TEST_RUN: (program
    /// return value, mean ns per run).
    pub fn test_run(&self, hook: u8, frame: &[u8], repeat: u32) -> Result<(u32, u64), KernelError> {
        let opts = TestRunOptions { data_in: Some(frame), repeat: repeat.max(1), ..TestRunOptions::default() };
        let (name, result) = if hook == abi::HOOK_EGRESS {
            let p: &SchedClassifier = program_ref(&self.tc, "tc_egress")?;
            ("tc_egress", p.test_run(opts))
        } else {
            let p: &Xdp = program_ref(&self.xdp, "xdp_ingress")?;
            ("xdp_ingress", p.test_run(opts))
        };
        let r = result.map_err(|source| KernelError::Program { program: name, op: "test run", interface: None, source })?;
        Ok((r.return_value, r.duration.as_nanos() as u64))
    }
}

fn ignore_missing(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, KernelError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let p = ebpf.program_mut(name).ok_or(KernelError::Program {
        program: name,
        op: "find",
        interface: None,
        source: ProgramError::NotLoaded,
    })?;
    p.try_into().map_err(|source| KernelError::Program { program: name, op: "find", interface: None, source })
}

fn program_ref<'a, T>(ebpf: &'a Ebpf, name: &'static str) -> Result<&'a T, KernelError>
where
    &'a T: TryFrom<&'a aya::programs::Program, Error = ProgramError>,
{
    let p = ebpf.program(name).ok_or(KernelError::Program {
        program: name,
        op: "find",
        interface: None,
        source: ProgramError::NotLoaded,
    })?;
    p.try_into().map_err(|source| KernelError::Program { program: name, op: "find", interface: None, source })
}

/// Drops a pinned link: removing the last reference detaches the program.
/// A link pinned by an earlier run of this instance.
fn pinned_link(path: &Path, iface: &str) -> Result<FdLink, KernelError> {
    let pinned = PinnedLink::from_pin(path)
        .map_err(|e| KernelError::Link { interface: iface.into(), op: "open pinned link", source: io::Error::other(e) })?;
    Ok(FdLink::from(pinned))
}

fn unpin_link(path: &Path, iface: &str) -> Result<(), KernelError> {
    if !path.exists() {
        return Ok(());
    }
    let err = |source| KernelError::Link { interface: iface.into(), op: "unpin", source };
    let link = PinnedLink::from_pin(path).map_err(|e| err(io::Error::other(e)))?;
    link.unpin().map_err(err)?;
    Ok(())
}

/// Removes every link and map pin of an instance directory, then the directory.
/// Works without loading anything, so `openc2-agent dataplane detach` can run
/// after a crash or from another agent version.
pub fn detach_all(dir: &Path) -> Result<(), KernelError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(KernelError::PinDir { path: dir.display().to_string(), source }),
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    // Links first: programs stop before their maps disappear.
    files.sort_by_key(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("link_")));
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(iface) = name.strip_prefix("link_xdp_").or_else(|| name.strip_prefix("link_tc_")) {
            unpin_link(&path, iface)?;
        } else {
            fs::remove_file(&path).map_err(|source| KernelError::PinDir { path: path.display().to_string(), source })?;
        }
    }
    fs::remove_dir(dir).map_err(|source| KernelError::PinDir { path: dir.display().to_string(), source })
}
