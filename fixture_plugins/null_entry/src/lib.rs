//! `null_entry`: a v9 Text echo processor whose API table has `flush` = NULL.
//!
//! DEFECT: the six mandatory entries must be non-NULL; the host calls
//! `flush` without a check and would crash at end of stream (ABI.md §3.3,
//! §8.1).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("null_entry")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

static API: CNativePluginAPI = {
    let mut api = processor_api::<Echo, Guarded>(9);
    api.flush = None; // DEFECT
    api
};
skabi::export_api!(&API);
skabi::export_log_setter!(Echo);
