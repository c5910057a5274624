//! `double_free`: returns a pool buffer to the host twice.
//!
//! On each process_packet it allocates `alloc_audio(960)` (when the bundle
//! offers it and the host returns a buffer) and calls `free_fn(handle)`
//! twice. DEFECT: pool ownership is linear — exactly one send or one free
//! (ABI.md §4.14). Without a pool it does nothing special. It always echoes
//! the text on `out`.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct DoubleFree;

impl Plugin for DoubleFree {
    fn metadata() -> NodeMeta {
        text_echo_meta("double_free")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(DoubleFree)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        if let Some(buf) = out.alloc_audio(960) {
            let raw = buf.into_raw();
            let free = raw.free_fn.expect("checked by alloc_audio");
            free(raw.handle);
            free(raw.handle); // DEFECT: second release of the same handle
        }
        out.send("out", &packet)
    }
}

skabi::export_processor!(DoubleFree);
