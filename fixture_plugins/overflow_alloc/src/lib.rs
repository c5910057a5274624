//! `overflow_alloc`: writes past the end of a pool buffer.
//!
//! On each process_packet of a Text packet it allocates `alloc_audio(960)`
//! (when available), writes 961 floats into it, then frees it. DEFECT: a
//! heap overflow into host memory (the host pool returns exactly the
//! requested size, ABI.md §4.14). Without a pool it just echoes. It always
//! echoes the text on `out`.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

const REQUESTED: usize = 960;

struct Overflow;

impl Plugin for Overflow {
    fn metadata() -> NodeMeta {
        text_echo_meta("overflow_alloc")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Overflow)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        if matches!(packet, Packet::Text(_)) {
            if let Some(buf) = out.alloc_audio(REQUESTED) {
                let raw = buf.into_raw();
                for i in 0..=REQUESTED {
                    // DEFECT: index REQUESTED is one past the end.
                    unsafe { raw.data.add(i).write_volatile(0.25) };
                }
                if let Some(free) = raw.free_fn {
                    free(raw.handle);
                }
            }
        }
        out.send("out", &packet)
    }
}

skabi::export_processor!(Overflow);
