//! `bad_runtime_schema`: a Text echo processor with an unparsable runtime schema.
//!
//! DEFECT: `get_runtime_param_schema` answers success with the text
//! `{not json`; the host silently drops a runtime schema that does not parse
//! (ABI.md §4.7, §8.8), so the UI never sees the plugin's runtime params.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

const KIND: &str = "bad_runtime_schema";

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

    fn runtime_param_schema(&self) -> Result<Option<String>, String> {
        Ok(Some("{not json".to_string())) // DEFECT
    }
}

skabi::export_processor!(Echo);
