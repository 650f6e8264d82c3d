//! Free space on the disk a transfer is written to, so an offer that
//! cannot fit is declined before a byte is written.

use std::path::Path;

/// Bytes an unprivileged writer can still use under `dir`; `None` where
/// it cannot be told (the transfer then goes ahead and fails on a full
/// disk with the file system's own error).
#[cfg(unix)]
// The fields are u64 here, u32 on some platforms.
#[allow(clippy::useless_conversion)]
pub fn available(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct it is given from a NUL-terminated path.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    u64::try_from(stats.f_bavail)
        .ok()?
        .checked_mul(u64::try_from(stats.f_frsize).ok()?)
}

/// Bytes an unprivileged writer can still use under `dir`: not told here.
#[cfg(not(unix))]
pub fn available(_dir: &Path) -> Option<u64> {
    None
}
