//! Turning Rust error chains into the text and errno JS sees.
use std::{error::Error, io};

/// Symbolic name of the errno values the kernel gives BPF and netlink callers.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => "errno",
    }
}

/// The first `io::Error` with an errno in the chain, if any.
pub fn find_errno(e: &(dyn Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(code) = err.downcast_ref::<io::Error>().and_then(io::Error::raw_os_error) {
            return Some(code);
        }
        cur = err.source();
    }
    None
}

/// `outer: inner (ENAME)`, so the kernel's reason is never lost; aya's empty
/// "Verifier output:" suffix is dropped (the log travels separately).
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    if let Some(cut) = text.find(". Verifier output:") {
        text.truncate(cut);
    }
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        cur = s.source();
    }
    if let Some(code) = find_errno(e) {
        text.push_str(&format!(" ({})", errno_name(code)));
    }
    text
}

/// A kernel-side failure as a JS Error whose message is a JSON object
/// `{code, message, errno?, errnoName?, interface?, map?, verifierLog?}`;
/// agent/dataplane/kernel.ts turns it into a typed `KernelError`.
pub fn to_js(e: &crate::kernel::KernelError) -> napi::Error {
    let mut json = format!("{{\"code\":{},\"message\":{}", quote(e.code()), quote(&chain(e)));
    if let Some(errno) = find_errno(e) {
        json.push_str(&format!(",\"errno\":{errno},\"errnoName\":{}", quote(errno_name(errno))));
    }
    if let Some(i) = e.interface() {
        json.push_str(&format!(",\"interface\":{}", quote(i)));
    }
    if let Some(m) = e.map() {
        json.push_str(&format!(",\"map\":{}", quote(m)));
    }
    if let Some(log) = e.verifier_log() {
        json.push_str(&format!(",\"verifierLog\":{}", quote(&log)));
    }
    json.push('}');
    napi::Error::new(napi::Status::GenericFailure, json)
}

/// JSON string literal (RFC 8259 section 7).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
