//! The SDK-like plugin layer: traits, panic guards, trampolines, API tables.
//!
//! A fixture implements `Plugin` (and `SourcePlugin` for sources); the
//! generic `extern "C"` trampolines below turn it into the C entry points
//! with the SDK's argument checks and messages (ABI.md §6.1). The guard type
//! parameter `G` decides what happens to a panic: `Guarded` catches it like
//! the SDK, `Unguarded` lets it reach the `extern "C"` boundary (where Rust
//! aborts the process: "panic in a function that cannot unwind").

// The trampolines are `extern "C"` entry points: dereferencing the host's
// pointers is their contract (NULLs are checked like the SDK does).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::cstr::{cstr, error_to_c, opt_cstr, CStrError};
use crate::json::{self, Json};
use crate::log::Logger;
use crate::meta::{self, NodeMeta};
use crate::output::Output;
use crate::packet::{Packet, RawPacket};
use crate::types::*;
use std::any::Any;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::OnceLock;

/// A processor plugin (every method except `metadata`/`new` has the SDK's default).
pub trait Plugin: Sized + Send + 'static {
    /// Static metadata; built once per process.
    fn metadata() -> NodeMeta;

    /// Construct an instance. `params` is None for NULL/"" params.
    fn new(params: Option<Json>, logger: Logger) -> Result<Self, String>;

    /// Handle one decoded packet.
    fn process(&mut self, _pin: &str, _packet: Packet, _out: &mut Output<'_>) -> Result<(), String> {
        Ok(())
    }

    /// Raw hook: the SDK decodes the packet (errors prefixed `Invalid packet: `)
    /// and calls `process`. Fixtures override it to see the wire form.
    fn process_raw(&mut self, pin: &str, input: &RawPacket, out: &mut Output<'_>) -> Result<(), String> {
        let packet = input.decode()?;
        self.process(pin, packet, out)
    }

    fn update_params(&mut self, _params: Option<Json>) -> Result<(), String> {
        Ok(())
    }

    fn flush(&mut self, _out: &mut Output<'_>) -> Result<(), String> {
        Ok(())
    }

    /// Runs in `destroy_instance` before the instance is dropped.
    fn cleanup(&mut self) {}

    /// Runtime parameter schema fragment (JSON text), if any.
    fn runtime_param_schema(&self) -> Result<Option<String>, String> {
        Ok(None)
    }

    /// Exposing the logger lets the exported setter install the enabled callback.
    fn logger_mut(&mut self) -> Option<&mut Logger> {
        None
    }
}

/// Source-node configuration (`CSourceConfig`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceConfig {
    pub tick_interval_us: u64,
    pub max_ticks: u64,
}

/// A source plugin. `process_packet`/`flush` of the source table are the SDK
/// stubs, so `Plugin::process`/`flush` are never called for it.
pub trait SourcePlugin: Plugin {
    fn source_config(&self) -> SourceConfig;

    /// Emit outputs; return `true` when done.
    fn tick(&mut self, out: &mut Output<'_>) -> Result<bool, String>;

    /// `hint` is the parsed hint JSON (any JSON value).
    fn on_upstream_hint(&mut self, _hint: &Json) -> Result<(), String> {
        Ok(())
    }
}

/// What an entry point does with a panic.
pub trait Guard {
    fn call<R>(f: impl FnOnce() -> R) -> Result<R, String>;
}

/// SDK behaviour: catch the panic and report `plugin panicked: <msg>`.
pub struct Guarded;

/// No guard: a panic unwinds into the `extern "C"` frame and aborts.
pub struct Unguarded;

/// The SDK's panic payload text.
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(e) = p.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        e.to_string()
    } else {
        "unknown panic".to_string()
    }
}

impl Guard for Guarded {
    fn call<R>(f: impl FnOnce() -> R) -> Result<R, String> {
        catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
    }
}

impl Guard for Unguarded {
    fn call<R>(f: impl FnOnce() -> R) -> Result<R, String> {
        Ok(f())
    }
}

fn ok() -> CResult {
    CResult { success: true, error_message: ptr::null() }
}

fn err(msg: &str) -> CResult {
    CResult { success: false, error_message: error_to_c(msg) }
}

fn to_c(r: Result<(), String>) -> CResult {
    match r {
        Ok(()) => ok(),
        Err(e) => err(&e),
    }
}

fn panicked(msg: String) -> CResult {
    err(&format!("plugin panicked: {msg}"))
}

/// What a handle points to: the plugin first (so `h as *mut T` is valid), then a byte
/// that keeps the allocation non-empty, so every instance gets its own handle even
/// when the plugin type is zero-sized (a ZST box would hand out one dangling pointer).
#[repr(C)]
struct Slot<T> {
    plugin: T,
    _distinct: u8,
}

/// The instance behind a handle.
///
/// # Safety
/// `h` must be a live handle returned by `create_instance::<T, _>`.
unsafe fn inst<'a, T>(h: CPluginHandle) -> &'a mut T {
    &mut *(h as *mut T)
}

/// Parse a params string the way the SDK does: NULL/"" → None; invalid UTF-8
/// → "Invalid params string: Invalid UTF-8: …"; bad JSON → "Invalid params JSON: …";
/// JSON that is neither an object nor null → "Invalid params: expected a JSON object"
/// (an SDK plugin deserialises params into a struct, which refuses other shapes).
///
/// # Safety
/// `p` must be NULL or a valid C string.
pub unsafe fn parse_params(p: *const c_char) -> Result<Option<Json>, String> {
    match opt_cstr(p) {
        Err(e) => Err(format!("Invalid params string: Invalid UTF-8: {e}")),
        Ok(None) => Ok(None),
        Ok(Some(s)) => match json::parse(s) {
            Err(e) => Err(format!("Invalid params JSON: {e}")),
            Ok(Json::Null) => Ok(None),
            Ok(value @ Json::Object(_)) => Ok(Some(value)),
            Ok(_) => Err("Invalid params: expected a JSON object".to_string()),
        },
    }
}

/// The plugin's process-wide metadata storage.
pub fn metadata_of<T: Plugin>() -> &'static meta::MetaStorage {
    meta::global(T::metadata)
}

// ---------------------------------------------------------------- trampolines

pub extern "C" fn get_metadata<T: Plugin, G: Guard>() -> *const CNodeMetadata {
    G::call(|| metadata_of::<T>().as_ptr()).unwrap_or(ptr::null())
}

pub extern "C" fn create_instance<T: Plugin, G: Guard>(
    params: *const c_char,
    log_cb: Option<CLogCallback>,
    log_user_data: *mut c_void,
) -> CPluginHandle {
    G::call(|| {
        let Ok(params) = (unsafe { parse_params(params) }) else { return ptr::null_mut() };
        let logger = Logger::new(log_cb, log_user_data, metadata_of::<T>().kind());
        match T::new(params, logger) {
            Ok(t) => Box::into_raw(Box::new(Slot { plugin: t, _distinct: 0 })) as CPluginHandle,
            Err(_) => ptr::null_mut(),
        }
    })
    .unwrap_or(ptr::null_mut())
}

pub extern "C" fn process_packet<T: Plugin, G: Guard>(
    h: CPluginHandle,
    pin: *const c_char,
    packet: *const CPacket,
    callbacks: *const CNodeCallbacks,
) -> CResult {
    if h.is_null() || pin.is_null() || packet.is_null() || callbacks.is_null() {
        return CResult { success: false, error_message: ptr::null() };
    }
    G::call(|| {
        let pin = match unsafe { cstr(pin) } {
            Ok(p) => p,
            Err(CStrError::Utf8(e)) => return err(&format!("Invalid pin name: Invalid UTF-8: {e}")),
            Err(CStrError::Null) => unreachable!(),
        };
        let input = unsafe { RawPacket::new(packet) };
        let mut out = unsafe { Output::new(callbacks) };
        to_c(unsafe { inst::<T>(h) }.process_raw(pin, &input, &mut out))
    })
    .unwrap_or_else(panicked)
}

pub extern "C" fn update_params<T: Plugin, G: Guard>(h: CPluginHandle, params: *const c_char) -> CResult {
    if h.is_null() {
        return err("Invalid handle (null)");
    }
    G::call(|| match unsafe { parse_params(params) } {
        Err(e) => err(&e),
        Ok(p) => to_c(unsafe { inst::<T>(h) }.update_params(p)),
    })
    .unwrap_or_else(panicked)
}

pub extern "C" fn flush<T: Plugin, G: Guard>(h: CPluginHandle, callbacks: *const CNodeCallbacks) -> CResult {
    if h.is_null() || callbacks.is_null() {
        return err("Invalid handle or callbacks (null)");
    }
    G::call(|| {
        let mut out = unsafe { Output::new(callbacks) };
        to_c(unsafe { inst::<T>(h) }.flush(&mut out))
    })
    .unwrap_or_else(panicked)
}

pub extern "C" fn destroy_instance<T: Plugin, G: Guard>(h: CPluginHandle) {
    if h.is_null() {
        return;
    }
    let _ = G::call(|| {
        let b = unsafe { Box::from_raw(h as *mut Slot<T>) };
        let mut b = b;
        // cleanup() in its own guard, then drop (a panic in Drop is caught by the outer guard).
        let _ = G::call(|| b.plugin.cleanup());
        drop(b);
    });
}

pub extern "C" fn get_runtime_param_schema<T: Plugin, G: Guard>(h: CPluginHandle) -> CSchemaResult {
    let none = CSchemaResult { success: true, error_message: ptr::null(), json_schema: ptr::null() };
    if h.is_null() {
        return none;
    }
    G::call(|| match unsafe { inst::<T>(h) }.runtime_param_schema() {
        Ok(None) => none,
        Ok(Some(s)) => CSchemaResult { success: true, error_message: ptr::null(), json_schema: error_to_c(&s) },
        Err(e) => CSchemaResult { success: false, error_message: error_to_c(&e), json_schema: ptr::null() },
    })
    .unwrap_or_else(|m| CSchemaResult {
        success: false,
        error_message: error_to_c(&format!("plugin panicked: {m}")),
        json_schema: ptr::null(),
    })
}

/// Body of the exported `streamkit_native_plugin_set_log_enabled_callback`.
pub extern "C" fn set_log_enabled_callback<T: Plugin, G: Guard>(
    h: CPluginHandle,
    cb: Option<CLogEnabledCallback>,
    user_data: *mut c_void,
) {
    if h.is_null() {
        return;
    }
    let _ = G::call(|| {
        if let Some(logger) = unsafe { inst::<T>(h) }.logger_mut() {
            logger.set_enabled_callback(cb, user_data);
        }
    });
}

// Source-table entries.

const SOURCE_PROCESS_ERROR: &str = "process_packet called on source plugin (not supported)";

pub extern "C" fn source_process_packet<T: SourcePlugin, G: Guard>(
    h: CPluginHandle,
    pin: *const c_char,
    packet: *const CPacket,
    callbacks: *const CNodeCallbacks,
) -> CResult {
    if h.is_null() || pin.is_null() || packet.is_null() || callbacks.is_null() {
        return CResult { success: false, error_message: ptr::null() };
    }
    G::call(|| err(SOURCE_PROCESS_ERROR)).unwrap_or_else(panicked)
}

pub extern "C" fn source_flush<T: SourcePlugin, G: Guard>(h: CPluginHandle, callbacks: *const CNodeCallbacks) -> CResult {
    if h.is_null() || callbacks.is_null() {
        return err("Invalid handle or callbacks (null)");
    }
    G::call(ok).unwrap_or_else(panicked)
}

pub extern "C" fn get_source_config<T: SourcePlugin, G: Guard>(h: CPluginHandle) -> CSourceConfig {
    if h.is_null() {
        return CSourceConfig::default();
    }
    G::call(|| {
        let c = unsafe { inst::<T>(h) }.source_config();
        CSourceConfig { is_source: true, tick_interval_us: c.tick_interval_us, max_ticks: c.max_ticks }
    })
    .unwrap_or_default()
}

pub extern "C" fn tick<T: SourcePlugin, G: Guard>(h: CPluginHandle, callbacks: *const CNodeCallbacks) -> CTickResult {
    if h.is_null() || callbacks.is_null() {
        return CTickResult { result: err("Invalid handle or callbacks (null)"), done: false };
    }
    G::call(|| {
        let mut out = unsafe { Output::new(callbacks) };
        match unsafe { inst::<T>(h) }.tick(&mut out) {
            Ok(done) => CTickResult { result: ok(), done },
            Err(e) => CTickResult { result: err(&e), done: false },
        }
    })
    .unwrap_or_else(|m| CTickResult { result: panicked(m), done: false })
}

pub extern "C" fn on_upstream_hint<T: SourcePlugin, G: Guard>(h: CPluginHandle, hint: *const c_char) -> CResult {
    if h.is_null() {
        return err("Invalid handle (null)");
    }
    G::call(|| {
        // NULL is read as "" (which then fails to parse).
        let text = match unsafe { cstr(hint) } {
            Ok(s) => s,
            Err(CStrError::Null) => "",
            Err(CStrError::Utf8(e)) => return err(&format!("Invalid hint JSON: Invalid UTF-8: {e}")),
        };
        match json::parse(text) {
            Err(e) => err(&format!("Failed to parse hint: {e}")),
            Ok(v) => to_c(unsafe { inst::<T>(h) }.on_upstream_hint(&v)),
        }
    })
    .unwrap_or_else(panicked)
}

// ---------------------------------------------------------------- API tables

/// The SDK processor table: source entries NULL, runtime schema set.
pub const fn processor_api<T: Plugin, G: Guard>(version: u32) -> CNativePluginAPI {
    CNativePluginAPI {
        version,
        get_metadata: Some(get_metadata::<T, G>),
        create_instance: Some(create_instance::<T, G>),
        process_packet: Some(process_packet::<T, G>),
        update_params: Some(update_params::<T, G>),
        flush: Some(flush::<T, G>),
        destroy_instance: Some(destroy_instance::<T, G>),
        get_source_config: None,
        tick: None,
        get_runtime_param_schema: Some(get_runtime_param_schema::<T, G>),
        on_upstream_hint: None,
    }
}

/// The SDK source table: every entry set; process/flush are the stubs.
pub const fn source_api<T: SourcePlugin, G: Guard>(version: u32) -> CNativePluginAPI {
    CNativePluginAPI {
        version,
        get_metadata: Some(get_metadata::<T, G>),
        create_instance: Some(create_instance::<T, G>),
        process_packet: Some(source_process_packet::<T, G>),
        update_params: Some(update_params::<T, G>),
        flush: Some(source_flush::<T, G>),
        destroy_instance: Some(destroy_instance::<T, G>),
        get_source_config: Some(get_source_config::<T, G>),
        tick: Some(tick::<T, G>),
        get_runtime_param_schema: Some(get_runtime_param_schema::<T, G>),
        on_upstream_hint: Some(on_upstream_hint::<T, G>),
    }
}

// ---------------------------------------------------------------- variants

static ENV_MODE: OnceLock<Option<String>> = OnceLock::new();

/// The load-time variant: `SKFIX_MODE`, read once (first call wins).
pub fn env_mode() -> Option<&'static str> {
    ENV_MODE
        .get_or_init(|| std::env::var("SKFIX_MODE").ok().filter(|s| !s.is_empty()))
        .as_deref()
}

/// The per-instance variant: `{"mode": "<variant>"}` in the create params.
pub fn param_mode(params: Option<&Json>) -> Option<&str> {
    params?.get("mode")?.as_str()
}

/// A parsed upstream hint (ABI.md §4.11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    PreferredSize { width: u32, height: u32 },
    /// A hint type this plugin does not know (should be ignored gracefully).
    Unknown(String),
}

/// Interpret hint JSON: `{"type":"preferred_size","width":W,"height":H}`.
pub fn parse_hint(v: &Json) -> Result<Hint, String> {
    if v.as_object().is_none() {
        return Err(format!("Failed to parse hint: invalid type: {}, expected internally tagged enum UpstreamHint", v.type_name()));
    }
    let ty = match v.get("type") {
        None => return Err("Failed to parse hint: missing field `type`".into()),
        Some(Json::String(s)) => s.as_str(),
        Some(other) => return Err(format!("Failed to parse hint: invalid type: {}, expected a string", other.type_name())),
    };
    if ty != "preferred_size" {
        return Ok(Hint::Unknown(ty.to_string()));
    }
    let dim = |key: &str| -> Result<u32, String> {
        match v.get(key) {
            None => Err(format!("Invalid preferred_size hint: missing field `{key}`")),
            Some(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("Invalid preferred_size hint: `{key}` must be an integer in 0..=4294967295, got {n}")),
        }
    };
    Ok(Hint::PreferredSize { width: dim("width")?, height: dim("height")? })
}
