//! `fuzz_crasher`: an echo processor with a crash that only some packets reach.
//!
//! Accepts Text on `in` and echoes it on `out` (declared Passthrough, so the
//! harness expects output == input). DEFECT: a "short message" table has a
//! slot per text length up to 16 bytes, and the slot for 13 was never filled
//! in: a Text of exactly 13 UTF-8 bytes reads through a NULL pointer and the
//! process dies of SIGSEGV inside `process_packet` (no panic guard can catch
//! that). None of the battery's texts is 13 bytes long, so only a fuzzer
//! (`fuzz/plugin_intake.py`) finds it; its minimised input is kept in
//! `fuzz/regressions/plugin_intake/`.

use skabi::prelude::*;
use std::ptr;

const KIND: &str = "fuzz_crasher";

/// One greeting byte per text length; slot 13 is the forgotten NULL.
fn short_message_table() -> [*const u8; 17] {
    static MARK: u8 = b'>';
    let mut table = [&MARK as *const u8; 17];
    table[13] = ptr::null(); // DEFECT: never initialised
    table
}

struct Crasher {
    seen: u64,
}

impl Plugin for Crasher {
    fn metadata() -> NodeMeta {
        NodeMeta::new(KIND)
            .description("Text echo with a crash on 13-byte texts (conformance fixture for the fuzzers)")
            .input("in", &[PinType::Text])
            .output("out", PinType::Passthrough)
            .category("test")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Crasher { seen: 0 })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        let Packet::Text(text) = packet else {
            return Err(format!("{KIND}: expected a Text packet"));
        };
        if text.len() < 17 {
            let slot = short_message_table()[text.len()];
            // DEFECT: the slot is trusted; for 13-byte texts it is NULL.
            self.seen += u64::from(unsafe { ptr::read_volatile(slot) });
        }
        out.send("out", &Packet::Text(text))
    }
}

skabi::export_processor!(Crasher);
