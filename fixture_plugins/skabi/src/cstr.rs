//! C-string helpers and the per-thread error-string slot (ABI.md §6.2).

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;

thread_local! {
    static ERROR_SLOT: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Store `msg` in this thread's single error slot and return a pointer to it.
///
/// Like the SDK's `error_to_c`: interior NUL bytes become spaces, and the
/// pointer stays valid only until the next call on the same OS thread (the
/// previous string is freed then). The host must copy it immediately.
pub fn error_to_c(msg: &str) -> *const c_char {
    let c = CString::new(msg.replace('\0', " ")).expect("NULs were replaced");
    ERROR_SLOT.with(|slot| {
        let mut slot = slot.borrow_mut();
        *slot = Some(c);
        slot.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
    })
}

/// Why a C string could not be read as UTF-8.
#[derive(Debug)]
pub enum CStrError {
    Null,
    Utf8(std::str::Utf8Error),
}

/// Borrow a NUL-terminated C string as `&str`.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for `'a`.
pub unsafe fn cstr<'a>(p: *const c_char) -> Result<&'a str, CStrError> {
    if p.is_null() {
        return Err(CStrError::Null);
    }
    CStr::from_ptr(p).to_str().map_err(CStrError::Utf8)
}

/// Read an optional parameter-like string: NULL and "" both mean "none".
///
/// # Safety
/// As for [`cstr`].
pub unsafe fn opt_cstr<'a>(p: *const c_char) -> Result<Option<&'a str>, std::str::Utf8Error> {
    match cstr(p) {
        Err(CStrError::Null) => Ok(None),
        Err(CStrError::Utf8(e)) => Err(e),
        Ok("") => Ok(None),
        Ok(s) => Ok(Some(s)),
    }
}

/// Build a CString for metadata: the SDK removes interior NULs.
pub fn cstring_strip(s: &str) -> CString {
    CString::new(s.replace('\0', "")).expect("NULs were removed")
}

/// Build a CString from raw bytes, dropping NULs (allows invalid UTF-8 on purpose).
pub fn cstring_bytes(b: &[u8]) -> CString {
    CString::new(b.iter().copied().filter(|&c| c != 0).collect::<Vec<u8>>()).expect("NULs were removed")
}
