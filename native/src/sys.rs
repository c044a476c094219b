//! The few bpf(2) map commands aya 0.14 does not expose on raw bytes:
//! element update/delete with keys and values as the ABI lays them out,
//! BPF_MAP_UPDATE_BATCH (kernel 5.6+; one syscall for thousands of entries),
//! and reading a whole map back.
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

// include/uapi/linux/bpf.h enum bpf_cmd.
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;
/// Kernel-internal ENOTSUPP, returned by commands a map type lacks.
const ENOTSUPP: i32 = 524;
/// Entries per batch call: bounds the kernel's time in one syscall.
const BATCH: usize = 16_384;

/// The `elem` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// An `elem` attr for map `fd`; key and value are addresses (0: none).
fn elem(fd: BorrowedFd<'_>, key: u64, value: u64) -> ElemAttr {
    ElemAttr { map_fd: fd.as_raw_fd() as u32, key, value, ..ElemAttr::default() }
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<()> {
    // SAFETY: attr is a live repr(C) prefix of union bpf_attr with its exact size
    // passed; every pointer inside it points into slices the caller keeps alive.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size_of::<T>() as u32) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Inserts or replaces one entry (BPF_ANY).
pub fn update(fd: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    bpf(BPF_MAP_UPDATE_ELEM, &mut elem(fd, key.as_ptr() as u64, value.as_ptr() as u64))
}

/// Deletes one entry; a missing key is not an error.
pub fn delete(fd: BorrowedFd<'_>, key: &[u8]) -> io::Result<()> {
    match bpf(BPF_MAP_DELETE_ELEM, &mut elem(fd, key.as_ptr() as u64, 0)) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

/// Writes `keys.len() / key_size` entries; batched where the map type has
/// BPF_MAP_UPDATE_BATCH, one syscall per entry otherwise (LPM tries before
/// the kernel gave them batch ops, kernels before 5.6).
pub fn update_all(fd: BorrowedFd<'_>, keys: &[u8], key_size: usize, values: &[u8], value_size: usize) -> io::Result<()> {
    let n = keys.len() / key_size;
    let mut done = 0;
    while done < n {
        let count = (n - done).min(BATCH);
        let mut a = BatchAttr {
            keys: keys[done * key_size..].as_ptr() as u64,
            values: values[done * value_size..].as_ptr() as u64,
            count: count as u32,
            map_fd: fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        match bpf(BPF_MAP_UPDATE_BATCH, &mut a) {
            Ok(()) => done += count,
            Err(e) if done == 0 && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP)) => break,
            Err(e) => return Err(e),
        }
    }
    for i in done..n {
        update(fd, &keys[i * key_size..(i + 1) * key_size], &values[i * value_size..(i + 1) * value_size])?;
    }
    Ok(())
}

/// Every entry of a map (at most `max_entries`), keys and values each in one
/// buffer as the ABI lays them out. For maps no one writes meanwhile (an
/// entry deleted during the walk is skipped).
pub fn read_all(fd: BorrowedFd<'_>, key_size: usize, value_size: usize, max_entries: u32) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    let (mut key, mut value) = (vec![0u8; key_size], vec![0u8; value_size]);
    let mut next = vec![0u8; key_size];
    for i in 0..max_entries {
        // GET_NEXT_KEY: `value` is the next_key pointer; no key gives the first.
        let first = if i == 0 { 0 } else { key.as_ptr() as u64 };
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut elem(fd, first, next.as_mut_ptr() as u64)) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            other => other?,
        }
        key.copy_from_slice(&next);
        match bpf(BPF_MAP_LOOKUP_ELEM, &mut elem(fd, key.as_ptr() as u64, value.as_mut_ptr() as u64)) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            other => other?,
        }
        keys.extend_from_slice(&key);
        values.extend_from_slice(&value);
    }
    Ok((keys, values))
}
