//! Loading, attaching, pinning and filling the dataplane maps of one instance.
//! Everything lives under one bpffs directory (`/sys/fs/bpf/openc2/<instance>`):
//! maps pinned by name by the loader, links pinned as `link_xdp_<if>` and
//! `link_tc_<if>`. Pins keep enforcement in force when the agent exits or
//! crashes (fail-static, DESIGN.md section 4); the next open() takes them over.
use std::{
    collections::HashSet,
    fs, io,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{
        Array, HashMap, LpmTrie, Map, MapData, MapError, PerCpuArray, PerCpuValues,
        lpm_trie::Key,
    },
    programs::{
        ProgramError, SchedClassifier, TcAttachType, TestRun, TestRunOptions,
        Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        tc,
    },
    util::KernelVersion,
};
use thiserror::Error;

use crate::{
    abi::{self, Counter, LpmVal, MAX_SHAPES, MAX_SLOTS, Shape, ShapeSet, Tup4Key, Tup6Key, Verdict, names},
    objects,
    records::{self, Record, RecordError},
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

type Lpm4 = LpmTrie<MapData, [u8; 4], LpmVal>;
type Lpm6 = LpmTrie<MapData, [u8; 16], LpmVal>;

/// The rule maps of one generation.
struct Generation {
    /// [src, dst]
    lpm4: [Lpm4; 2],
    lpm6: [Lpm6; 2],
    tup4: HashMap<MapData, Tup4Key, Verdict>,
    tup6: HashMap<MapData, Tup6Key, Verdict>,
}

/// One opened instance: both programs loaded, the pinned maps in hand.
pub struct Kernel {
    dir: PathBuf,
    xdp: Ebpf,
    tc: Ebpf,
    active: Array<MapData, u32>,
    gens: [Generation; 2],
    shapes: Array<MapData, Shape>,
    shape_sets: Array<MapData, ShapeSet>,
    conf: Array<MapData, u32>,
    counters: PerCpuArray<MapData, Counter>,
    mgmt4: LpmTrie<MapData, [u8; 4], u8>,
    mgmt6: LpmTrie<MapData, [u8; 16], u8>,
    mgmt_port: HashMap<MapData, u16, u8>,
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
        let mut xdp = load_object(objects::XDP_INGRESS, "xdp_ingress", dir)?;
        let mut tc = load_object(objects::TC_EGRESS, "tc_egress", dir)?;
        let p: &mut Xdp = program(&mut xdp, "xdp_ingress")?;
        p.load().map_err(|source| KernelError::Program { program: "xdp_ingress", op: "load", interface: None, source })?;
        let p: &mut SchedClassifier = program(&mut tc, "tc_egress")?;
        p.load().map_err(|source| KernelError::Program { program: "tc_egress", op: "load", interface: None, source })?;

        let mut generation = |g: u32| -> Result<Generation, KernelError> {
            Ok(Generation {
                lpm4: [take(&mut xdp, &names::lpm(false, false, g))?, take(&mut xdp, &names::lpm(false, true, g))?],
                lpm6: [take(&mut xdp, &names::lpm(true, false, g))?, take(&mut xdp, &names::lpm(true, true, g))?],
                tup4: take(&mut xdp, &names::tuples(false, g))?,
                tup6: take(&mut xdp, &names::tuples(true, g))?,
            })
        };
        let gens = [generation(0)?, generation(1)?];
        Ok(Self {
            active: take(&mut xdp, names::GEN)?,
            gens,
            shapes: take(&mut xdp, names::SHAPES)?,
            shape_sets: take(&mut xdp, names::SHAPE_SET)?,
            conf: take(&mut xdp, names::CONF)?,
            counters: take(&mut xdp, names::COUNTERS)?,
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

    pub fn active_generation(&self) -> Result<u32, KernelError> {
        self.active.get(&0, 0).map_err(map_err(names::GEN, "read"))
    }

    /// Builds the inactive generation from `buf` and switches to it with one
    /// update of pf_gen. Returns the new active generation.
    pub fn replace(&mut self, buf: &[u8]) -> Result<u32, KernelError> {
        let recs = records::decode(buf)?;
        let next = 1 - self.active_generation()?;
        self.clear_generation(next)?;
        self.apply(next, &recs)?;
        self.active.set(0, next, 0).map_err(map_err(names::GEN, "switch"))?;
        Ok(next)
    }

    /// Applies records in place to the active generation, in buffer order.
    pub fn update(&mut self, buf: &[u8]) -> Result<(), KernelError> {
        let recs = records::decode(buf)?;
        let g = self.active_generation()?;
        self.apply(g, &recs)
    }

    fn clear_generation(&mut self, g: u32) -> Result<(), KernelError> {
        for hook in 0..2u32 {
            for fam in 0..2u32 {
                let set = (g * 2 + hook) * 2 + fam;
                self.shape_sets.set(set, ShapeSet::default(), 0).map_err(map_err(names::SHAPE_SET, "clear"))?;
            }
        }
        let maps = &mut self.gens[g as usize];
        for (side, dst) in [(0, false), (1, true)] {
            let name = names::lpm(false, dst, g);
            let keys: Vec<Key<[u8; 4]>> = maps.lpm4[side].keys().collect::<Result<_, _>>().map_err(map_err(&name, "list"))?;
            for k in keys {
                maps.lpm4[side].remove(&k).map_err(map_err(&name, "delete"))?;
            }
            let name = names::lpm(true, dst, g);
            let keys: Vec<Key<[u8; 16]>> = maps.lpm6[side].keys().collect::<Result<_, _>>().map_err(map_err(&name, "list"))?;
            for k in keys {
                maps.lpm6[side].remove(&k).map_err(map_err(&name, "delete"))?;
            }
        }
        let name = names::tuples(false, g);
        let keys: Vec<Tup4Key> = maps.tup4.keys().collect::<Result<_, _>>().map_err(map_err(&name, "list"))?;
        for k in keys {
            maps.tup4.remove(&k).map_err(map_err(&name, "delete"))?;
        }
        let name = names::tuples(true, g);
        let keys: Vec<Tup6Key> = maps.tup6.keys().collect::<Result<_, _>>().map_err(map_err(&name, "list"))?;
        for k in keys {
            maps.tup6.remove(&k).map_err(map_err(&name, "delete"))?;
        }
        Ok(())
    }

    fn apply(&mut self, g: u32, recs: &[Record]) -> Result<(), KernelError> {
        let maps = &mut self.gens[g as usize];
        for r in recs {
            match r {
                Record::Lpm { v6: false, dst, prefix_len, addr, value } => {
                    let map = &mut maps.lpm4[*dst as usize];
                    let key = Key::new(*prefix_len, [addr[0], addr[1], addr[2], addr[3]]);
                    let name = || names::lpm(false, *dst, g);
                    match value {
                        Some(v) => map.insert(&key, v, 0).map_err(map_err(name(), "update"))?,
                        None => ignore_missing(map.remove(&key)).map_err(map_err(name(), "delete"))?,
                    }
                }
                Record::Lpm { v6: true, dst, prefix_len, addr, value } => {
                    let map = &mut maps.lpm6[*dst as usize];
                    let key = Key::new(*prefix_len, *addr);
                    let name = || names::lpm(true, *dst, g);
                    match value {
                        Some(v) => map.insert(&key, v, 0).map_err(map_err(name(), "update"))?,
                        None => ignore_missing(map.remove(&key)).map_err(map_err(name(), "delete"))?,
                    }
                }
                Record::Tuple { v6: false, key, value } => {
                    let mut k = Tup4Key::default();
                    k.bytes.copy_from_slice(&key[..16]);
                    let name = || names::tuples(false, g);
                    match value {
                        Some(v) => maps.tup4.insert(k, v, 0).map_err(map_err(name(), "update"))?,
                        None => ignore_missing(maps.tup4.remove(&k)).map_err(map_err(name(), "delete"))?,
                    }
                }
                Record::Tuple { v6: true, key, value } => {
                    let k = Tup6Key { bytes: *key };
                    let name = || names::tuples(true, g);
                    match value {
                        Some(v) => maps.tup6.insert(k, v, 0).map_err(map_err(name(), "update"))?,
                        None => ignore_missing(maps.tup6.remove(&k)).map_err(map_err(name(), "delete"))?,
                    }
                }
                Record::Shape { index, shape } => {
                    let at = g * 4 * MAX_SHAPES + index;
                    self.shapes.set(at, shape, 0).map_err(map_err(names::SHAPES, "update"))?;
                }
                Record::ShapeCount { hook, v6, set } => {
                    let at = (g * 2 + u32::from(*hook)) * 2 + u32::from(*v6);
                    self.shape_sets.set(at, set, 0).map_err(map_err(names::SHAPE_SET, "update"))?;
                }
            }
        }
        Ok(())
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
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| KernelError::Map {
            map: names::COUNTERS.into(),
            op: "count CPUs",
            source: MapError::IoError(e),
        })?;
        for &slot in slots {
            if slot >= MAX_SLOTS {
                return Err(KernelError::Slot(slot));
            }
            let zero = PerCpuValues::try_from(vec![Counter::default(); cpus])
                .map_err(|e| map_err(names::COUNTERS, "reset")(MapError::IoError(e)))?;
            self.counters.set(slot, zero, 0).map_err(map_err(names::COUNTERS, "reset"))?;
        }
        Ok(())
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
