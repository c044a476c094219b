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
