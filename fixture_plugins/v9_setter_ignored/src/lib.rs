//! `v9_setter_ignored`: exports the v9 log-enabled setter (and stores the
//! callback) but never consults it.
//!
//! DEFECT: a TRACE record is sent on every create and process_packet through
//! the unconditional `Logger::log`, so a host answering "Trace disabled"
//! still receives them (no short-circuit, HOST.md §6.11).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo {
    logger: Logger,
    packets: u64,
}

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("v9_setter_ignored")
    }

    fn new(_params: Option<Json>, logger: Logger) -> Result<Self, String> {
        logger.log(Level::Trace, "created"); // DEFECT: no enabled() check
        Ok(Echo { logger, packets: 0 })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        self.packets += 1;
        self.logger.log(Level::Trace, &format!("packet #{}", self.packets)); // DEFECT: no enabled() check
        out.send("out", &packet)
    }

    fn logger_mut(&mut self) -> Option<&mut Logger> {
        Some(&mut self.logger) // the callback is stored ... and then ignored
    }
}

skabi::export_processor!(Echo);
