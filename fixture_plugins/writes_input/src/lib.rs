//! `writes_input`: modifies the host's (const) input payload.
//!
//! Before echoing a Text packet it overwrites the first byte of the host's
//! text buffer with `#` (when that byte is ASCII and not the terminator), then
//! echoes the modified text. DEFECT: the input packet is `const` and owned by
//! the host (ABI.md §4.5); a harness that delivers it from read-only memory
//! crashes, one that compares it after the call sees the change.

use skabi::fixture::text_transform_meta;
use skabi::prelude::*;

struct Scribbler;

impl Plugin for Scribbler {
    fn metadata() -> NodeMeta {
        text_transform_meta("writes_input")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Scribbler)
    }

    fn process_raw(&mut self, pin: &str, input: &RawPacket, out: &mut Output<'_>) -> Result<(), String> {
        if input.packet_type() == packet_type::TEXT && !input.data().is_null() {
            let first = input.data() as *mut u8;
            unsafe {
                if (1..0x80).contains(&first.read()) {
                    first.write(b'#'); // DEFECT: write through a const pointer
                }
            }
        }
        let packet = input.decode()?;
        self.process(pin, packet, out)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Scribbler);
