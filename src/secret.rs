//! Types that hold secret material: Key Vault values and access tokens.
//!
//! Their `Debug` and `Display` never show the contents, and their memory is
//! overwritten on drop. The only way to the bytes is an explicit `expose`.

use std::fmt;

/// A secret string. Printing it shows `<redacted>`.
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself. Call sites are the places a secret leaves kvinit:
    /// an HTTP header, the child's environment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0).into_bytes();
        wipe(bytes);
    }
}

/// Overwrites a buffer that held secret material before freeing it.
pub fn wipe(mut bytes: Vec<u8>) {
    // SAFETY: the pointer and length are those of `bytes`, which we own.
    unsafe { zero(bytes.as_mut_ptr(), bytes.len()) };
}

/// Volatile zeroing, a word at a time where aligned, so that the compiler
/// cannot drop the stores as dead before a free.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes.
unsafe fn zero(ptr: *mut u8, len: usize) {
    let mut i = 0;
    while i < len && (ptr as usize + i) % std::mem::align_of::<usize>() != 0 {
        // SAFETY: i < len, so within the caller's range.
        unsafe { std::ptr::write_volatile(ptr.add(i), 0) };
        i += 1;
    }
    while i + std::mem::size_of::<usize>() <= len {
        // SAFETY: within the range and aligned for usize by the loop above.
        unsafe { std::ptr::write_volatile(ptr.add(i).cast::<usize>(), 0) };
        i += std::mem::size_of::<usize>();
    }
    while i < len {
        // SAFETY: i < len.
        unsafe { std::ptr::write_volatile(ptr.add(i), 0) };
        i += 1;
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// The system allocator, but every block is zeroed before it is freed, and
/// a block that moves on `realloc` is zeroed where it was. Tokens, headers
/// and values pass through buffers kvinit does not own (ureq's, rustls',
/// serde_json's); this way none outlives its use in freed memory, which an
/// app in `--init` mode could otherwise find in a core dump or `/proc/<pid>/mem`.
pub struct WipingAllocator;

// SAFETY: every method hands the request to `System` unchanged; `dealloc`
// and `realloc` only add writes inside the block being given up.
unsafe impl std::alloc::GlobalAlloc for WipingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the block is ours until freed, and `layout.size()` long.
        unsafe {
            zero(ptr, layout.size());
            std::alloc::System.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` makes a valid layout with
        // this alignment; the copy covers the smaller of the two blocks.
        unsafe {
            let new_layout = std::alloc::Layout::from_size_align_unchecked(new_size, layout.align());
            let new = std::alloc::System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Overwrites, in kvinit's own environment block, the values of `names`
/// (read into kvinit's configuration already), so that
/// `/proc/<kvinit>/environ` and its memory no longer hold them.
///
/// # Safety
///
/// No other thread may exist: another could read or change the environment
/// block while it is written here, and std's own lock only guards std's
/// calls. Nothing may hold a pointer into the block's values either.
#[cfg(unix)]
pub unsafe fn wipe_from_environ(names: &[&str]) {
    extern "C" {
        static mut environ: *const *mut std::ffi::c_char;
    }
    // SAFETY: the caller promises no other thread exists, and nothing holds
    // a reference into the block: std reads the environment through
    // `environ` each time. Each entry is a NUL-ended string that we only
    // overwrite, never lengthen.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let bytes = std::ffi::CStr::from_ptr(*entry).to_bytes();
            if let Some(eq) = bytes.iter().position(|b| *b == b'=') {
                if names.iter().any(|n| n.as_bytes() == &bytes[..eq]) {
                    zero((*entry).cast::<u8>().add(eq + 1), bytes.len() - eq - 1);
                }
            }
            entry = entry.add(1);
        }
    }
}

/// Windows keeps the environment block out of other processes' reach.
///
/// # Safety
///
/// None needed; `unsafe` to match the Unix function.
#[cfg(not(unix))]
pub unsafe fn wipe_from_environ(_names: &[&str]) {}

/// Makes kvinit non-dumpable: no core dump, and `/proc/<kvinit>/mem`,
/// `environ` and `maps` are closed to processes of the same user without
/// `CAP_SYS_PTRACE`, such as the app in `--init` mode. `exec` resets it,
/// so the app itself is unaffected.
pub fn harden_process() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        log::warn!("could not make kvinit non-dumpable: {e}");
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secret bytes that need not be text: a decoded value, a file's contents.
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    pub fn truncate(&mut self, len: usize) {
        self.0[len..].fill(0);
        self.0.truncate(len);
    }

    /// Appends; a buffer outgrown is wiped by the allocator when freed.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.0));
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &SecretBytes) -> bool {
        self.0 == other.0
    }
}

/// A bearer token for one resource (e.g. `https://vault.azure.net`).
#[derive(Debug)]
pub struct AccessToken {
    pub token: Secret,
    /// Seconds since the Unix epoch, when the source said.
    pub expires_on: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-very-secret".to_string());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:#?}"), "Secret(<redacted>)");
        let t = AccessToken { token: Secret::new("eyJ0eXAi.token".into()), expires_on: Some(5) };
        let shown = format!("{t:?}");
        assert!(!shown.contains("eyJ0eXAi"), "{shown}");
        assert!(shown.contains("expires_on: Some(5)"), "{shown}");
    }

    #[test]
    fn expose_returns_the_value() {
        assert_eq!(Secret::new("abc".into()).expose(), "abc");
    }
}
