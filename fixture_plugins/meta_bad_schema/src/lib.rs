//! `meta_bad_schema`: a Text echo processor with defective metadata.
//!
//! DEFECT: `param_schema` is `{"type": object` (not JSON: the host fails the load
//! with "Failed to parse param schema JSON"; ABI.md §4.2).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("meta_bad_schema").param_schema(r#"{"type": object"#)
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Echo);
