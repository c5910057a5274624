//! Plugin-side logger (ABI.md §6.3): target = plugin kind, optional
//! log-enabled callback honoured by the level macros.

use crate::types::{CLogCallback, CLogEnabledCallback};
use std::ffi::CString;
use std::os::raw::c_void;

/// `CLogLevel` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

/// Logger handed to a plugin in `new`.
///
/// `log` always calls the host (unless the target/message contain a NUL, in
/// which case the record is silently dropped, like the SDK). `enabled` asks
/// the host's enabled callback once one has been installed through the
/// exported setter; without one every level is enabled. The `log_*!` macros
/// consult `enabled` first and only then format the message.
#[derive(Clone)]
pub struct Logger {
    cb: Option<CLogCallback>,
    user_data: *mut c_void,
    enabled_cb: Option<CLogEnabledCallback>,
    enabled_user_data: *mut c_void,
    target: Option<CString>,
}

// SAFETY: the host's callbacks are thread-safe (ABI.md §7) and the host passes
// NULL user data; this mirrors the SDK's (documented-unsound) Send + Sync.
unsafe impl Send for Logger {}
unsafe impl Sync for Logger {}

impl Logger {
    pub fn new(cb: Option<CLogCallback>, user_data: *mut c_void, target: &str) -> Self {
        Logger { cb, user_data, enabled_cb: None, enabled_user_data: std::ptr::null_mut(), target: CString::new(target).ok() }
    }

    /// A logger that never calls anything.
    pub fn silent() -> Self {
        Logger::new(None, std::ptr::null_mut(), "")
    }

    /// Install the host's enabled callback (what the exported setter does).
    pub fn set_enabled_callback(&mut self, cb: Option<CLogEnabledCallback>, user_data: *mut c_void) {
        self.enabled_cb = cb;
        self.enabled_user_data = user_data;
    }

    pub fn has_enabled_callback(&self) -> bool {
        self.enabled_cb.is_some()
    }

    /// Would a record at `level` be kept by the host?
    pub fn enabled(&self, level: Level) -> bool {
        match (self.enabled_cb, &self.target) {
            (Some(cb), Some(target)) => cb(level as u32, target.as_ptr(), self.enabled_user_data),
            _ => true,
        }
    }

    /// Send one record to the host without consulting `enabled`.
    pub fn log(&self, level: Level, message: &str) {
        let (Some(cb), Some(target)) = (self.cb, &self.target) else { return };
        let Ok(msg) = CString::new(message) else { return };
        cb(level as u32, target.as_ptr(), msg.as_ptr(), self.user_data);
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_at {
    ($level:expr, $logger:expr, $($arg:tt)+) => {{
        let logger: &$crate::Logger = &$logger;
        if logger.enabled($level) {
            logger.log($level, &::std::format!($($arg)+));
        }
    }};
}

/// `log_trace!(logger, "fmt", args…)`: checks `enabled(Trace)` first.
#[macro_export]
macro_rules! log_trace { ($logger:expr, $($arg:tt)+) => { $crate::__log_at!($crate::Level::Trace, $logger, $($arg)+) }; }
#[macro_export]
macro_rules! log_debug { ($logger:expr, $($arg:tt)+) => { $crate::__log_at!($crate::Level::Debug, $logger, $($arg)+) }; }
#[macro_export]
macro_rules! log_info { ($logger:expr, $($arg:tt)+) => { $crate::__log_at!($crate::Level::Info, $logger, $($arg)+) }; }
#[macro_export]
macro_rules! log_warn { ($logger:expr, $($arg:tt)+) => { $crate::__log_at!($crate::Level::Warn, $logger, $($arg)+) }; }
#[macro_export]
macro_rules! log_error { ($logger:expr, $($arg:tt)+) => { $crate::__log_at!($crate::Level::Error, $logger, $($arg)+) }; }
