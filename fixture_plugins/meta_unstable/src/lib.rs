//! `meta_unstable`: a Text echo processor with defective metadata.
//!
//! DEFECT: `get_metadata` builds and leaks a fresh copy on every call: a
//! different pointer each time, same content (the SDK returns one static;
//! ABI.md §4.2, §8.2).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("meta_unstable")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

/// DEFECT: a new allocation per call instead of one process-wide static.
extern "C" fn unstable_get_metadata() -> *const types::CNodeMetadata {
    <Echo as Plugin>::metadata().build().leak().as_ptr()
}

static API: CNativePluginAPI = {
    let mut api = processor_api::<Echo, Guarded>(9);
    api.get_metadata = Some(unstable_get_metadata);
    api
};
skabi::export_api!(&API);
skabi::export_log_setter!(Echo);
