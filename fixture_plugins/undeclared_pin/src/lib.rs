//! `undeclared_pin`: echoes on an output pin it never declared.
//!
//! Metadata declares output `out`; the echo is sent on `bogus`. DEFECT: the
//! host does not check pin names in the callback, the router drops the
//! packets later (ABI.md §4.12, §8.6).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Misrouted;

impl Plugin for Misrouted {
    fn metadata() -> NodeMeta {
        text_echo_meta("undeclared_pin")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Misrouted)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("bogus", &packet) // DEFECT: should be "out"
    }
}

skabi::export_processor!(Misrouted);
