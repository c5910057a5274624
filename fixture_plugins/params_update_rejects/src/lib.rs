//! `params_update_rejects`: a Text echo processor whose params cannot be updated.
//!
//! DEFECT: `update_params` fails for every params text, also for valid
//! ones ("params_update_rejects: parameter updates are not supported"). The
//! host forwards params updates at any time and expects valid ones to apply
//! (ABI.md §4.6; HOST.md 1.7). Create accepts NULL, "" and objects.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

const KIND: &str = "params_update_rejects";

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

    fn update_params(&mut self, _params: Option<Json>) -> Result<(), String> {
        Err(format!("{KIND}: parameter updates are not supported")) // DEFECT
    }
}

skabi::export_processor!(Echo);
