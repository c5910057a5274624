//! `meta_null_kind`: a Text echo processor with defective metadata.
//!
//! DEFECT: `CNodeMetadata.kind` is NULL (the host reads it as "" and registers
//! `plugin::native::`; ABI.md §4.2).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("meta_null_kind").patch(|m| m.kind = std::ptr::null())
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Echo);
