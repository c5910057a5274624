//! `pool_leak`: allocates a pool buffer and never returns it.
//!
//! On each process_packet it allocates `alloc_audio(960)` (when available)
//! and neither sends nor frees it. DEFECT: every handle from `alloc_*` must
//! come back exactly once (ABI.md §4.14, §8.6). It always echoes the text.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct PoolLeak;

impl Plugin for PoolLeak {
    fn metadata() -> NodeMeta {
        text_echo_meta("pool_leak")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(PoolLeak)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        if let Some(buf) = out.alloc_audio(960) {
            std::mem::forget(buf); // DEFECT: neither sent nor freed
        }
        out.send("out", &packet)
    }
}

skabi::export_processor!(PoolLeak);
