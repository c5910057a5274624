//! `create_fails_null`: a Text echo processor that cannot be created without params.
//!
//! DEFECT: `create_instance` returns NULL when the params are NULL or ""
//! (also the JSON text `null`), although ABI.md §4.3 says NULL means "no
//! params" and the host passes NULL for a node without settings. `{}` works.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("create_fails_null")
    }

    fn new(params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        // DEFECT: "no params" is treated as an error instead of the defaults.
        if params.is_none() {
            return Err("create_fails_null: params are required".into());
        }
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Echo);
