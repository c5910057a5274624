//! `accepts_anything`: a sink that never says no.
//!
//! DEFECT: input `in` is declared Any and output `out` Text; `process_packet`
//! returns success for every packet without reading it (NULL data, invalid
//! UTF-8, malformed JSON, unsupported types like Opus/Any/Passthrough, a
//! BinaryWithMeta with NULL data) and emits nothing, and `update_params`
//! returns success for any text (invalid JSON, invalid UTF-8). Malformed
//! input must be refused with an error (ABI.md §4.6, §5.0, §8.5); here it is
//! silently swallowed.

use skabi::prelude::*;
use skabi::types::{CPluginHandle, CResult};
use std::os::raw::c_char;

const KIND: &str = "accepts_anything";

struct Sink;

impl Plugin for Sink {
    fn metadata() -> NodeMeta {
        NodeMeta::new(KIND)
            .description("Sink for any packet type (conformance fixture)")
            .input("in", &[PinType::Any])
            .output("out", PinType::Text)
            .category("test")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Sink)
    }

    /// DEFECT: success without looking at the packet.
    fn process_raw(&mut self, _pin: &str, _input: &RawPacket, _out: &mut Output<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// DEFECT: every params text is "applied", whatever it is.
extern "C" fn update_params(handle: CPluginHandle, _params: *const c_char) -> CResult {
    if handle.is_null() {
        return CResult { success: false, error_message: skabi::cstr::error_to_c("Invalid handle (null)") };
    }
    CResult { success: true, error_message: std::ptr::null() }
}

static API: CNativePluginAPI = {
    let mut api = processor_api::<Sink, Guarded>(9);
    api.update_params = Some(update_params);
    api
};
skabi::export_api!(&API);
skabi::export_log_setter!(Sink);
