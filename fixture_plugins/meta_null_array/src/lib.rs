//! `meta_null_array`: a Text echo processor with defective metadata.
//!
//! DEFECT: `inputs_count` is 1 but `inputs` is NULL (the host builds a slice
//! from it without a NULL check and crashes; ABI.md §4.2).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("meta_null_array").patch(|m| {
            m.inputs = std::ptr::null();
            m.inputs_count = 1;
        })
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Echo);
