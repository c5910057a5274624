//! `version5` / `version10`: API tables with an unsupported version.
//!
//! DEFECT: the host accepts 6 ≤ version ≤ 9 and must reject these after
//! reading only `version` ("Plugin API version mismatch: plugin has v5,
//! host supports v6–v9"). Every entry is a stub that reports the violation
//! on stderr and aborts, so a host that calls anything in the table is
//! caught. `version10` builds this same file with the `version10` feature.

use skabi::types::*;
use std::io::Write;
use std::os::raw::{c_char, c_void};

const KIND: &str = env!("CARGO_PKG_NAME");
const VERSION: u32 = if cfg!(feature = "version10") { 10 } else { 5 };

fn never(entry: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "{KIND}: host called {entry} on a v{VERSION} table it must reject");
    std::process::abort()
}

extern "C" fn get_metadata() -> *const CNodeMetadata {
    never("get_metadata")
}
extern "C" fn create_instance(_: *const c_char, _: Option<CLogCallback>, _: *mut c_void) -> CPluginHandle {
    never("create_instance")
}
extern "C" fn process_packet(_: CPluginHandle, _: *const c_char, _: *const CPacket, _: *const CNodeCallbacks) -> CResult {
    never("process_packet")
}
extern "C" fn update_params(_: CPluginHandle, _: *const c_char) -> CResult {
    never("update_params")
}
extern "C" fn flush(_: CPluginHandle, _: *const CNodeCallbacks) -> CResult {
    never("flush")
}
extern "C" fn destroy_instance(_: CPluginHandle) {
    never("destroy_instance")
}
extern "C" fn get_source_config(_: CPluginHandle) -> CSourceConfig {
    never("get_source_config")
}
extern "C" fn tick(_: CPluginHandle, _: *const CNodeCallbacks) -> CTickResult {
    never("tick")
}
extern "C" fn get_runtime_param_schema(_: CPluginHandle) -> CSchemaResult {
    never("get_runtime_param_schema")
}
extern "C" fn on_upstream_hint(_: CPluginHandle, _: *const c_char) -> CResult {
    never("on_upstream_hint")
}

static API: CNativePluginAPI = CNativePluginAPI {
    version: VERSION, // DEFECT
    get_metadata: Some(get_metadata),
    create_instance: Some(create_instance),
    process_packet: Some(process_packet),
    update_params: Some(update_params),
    flush: Some(flush),
    destroy_instance: Some(destroy_instance),
    get_source_config: Some(get_source_config),
    tick: Some(tick),
    get_runtime_param_schema: Some(get_runtime_param_schema),
    on_upstream_hint: Some(on_upstream_hint),
};

skabi::export_api!(&API);
