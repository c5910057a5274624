//! `params_unwrap`: a Text echo processor that trusts its params.
//!
//! DEFECT: `create_instance` and `update_params` read the params with
//! `expect` (unwrap) at every step, with no panic guard: params that are not
//! UTF-8, not JSON, or JSON but not an object panic, and the panic aborts the
//! host ("panic in a function that cannot unwind"), where ABI.md §4.3/§4.6
//! require a NULL handle or an error. NULL, "", `null` and objects work.

use skabi::fixture::text_echo_meta;
use skabi::json::{self, Json};
use skabi::plugin::{create_instance as sdk_create, update_params as sdk_update};
use skabi::prelude::*;
use skabi::types::{CLogCallback, CPluginHandle, CResult};
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};

const KIND: &str = "params_unwrap";

/// DEFECT: every step unwraps; a bad params text panics across the C boundary.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string.
unsafe fn params_unwrapped(p: *const c_char) -> Option<Json> {
    if p.is_null() {
        return None;
    }
    let text = CStr::from_ptr(p).to_str().expect("params_unwrap: params are UTF-8");
    if text.is_empty() {
        return None;
    }
    let value = json::parse(text).expect("params_unwrap: params are valid JSON");
    if value.is_null() {
        return None;
    }
    value.as_object().expect("params_unwrap: params are a JSON object");
    Some(value)
}

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta(KIND)
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

extern "C" fn create_instance(params: *const c_char, log_cb: Option<CLogCallback>, user_data: *mut c_void) -> CPluginHandle {
    let _ = unsafe { params_unwrapped(params) };
    sdk_create::<Echo, Unguarded>(params, log_cb, user_data)
}

extern "C" fn update_params(handle: CPluginHandle, params: *const c_char) -> CResult {
    let _ = unsafe { params_unwrapped(params) };
    sdk_update::<Echo, Unguarded>(handle, params)
}

static API: CNativePluginAPI = {
    let mut api = processor_api::<Echo, Unguarded>(9);
    api.create_instance = Some(create_instance);
    api.update_params = Some(update_params);
    api
};
skabi::export_api!(&API);
skabi::export_log_setter!(Echo, Unguarded);
