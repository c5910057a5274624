//! `leaky`: a Text echo processor that leaks 64 KiB of heap per instance.
//!
//! DEFECT: `new` leaks a 64 KiB block (written, so it is resident) that
//! destroy never frees; RSS grows linearly with create/destroy cycles.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

const LEAK_BYTES: usize = 64 * 1024;

struct Leaky;

impl Plugin for Leaky {
    fn metadata() -> NodeMeta {
        text_echo_meta("leaky")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        let block: &'static mut [u8] = Box::leak(vec![0xA5u8; LEAK_BYTES].into_boxed_slice()); // DEFECT
        std::hint::black_box(block);
        Ok(Leaky)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Leaky);
