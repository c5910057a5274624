//! `meta_bad_utf8`: a Text echo processor with defective metadata.
//!
//! DEFECT: the description is the bytes `\xff\xfe` (invalid UTF-8: the host fails the
//! load with "Failed to read plugin description: …"; ABI.md §4.2).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("meta_bad_utf8").description_bytes(b"\xff\xfe")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Echo);
