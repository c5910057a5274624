//! `lying_send_counter`: a Text processor that numbers its outputs
//! (`<n>:<text>`) from a process-wide, non-atomic `static mut` counter shared
//! by every instance, while claiming instances are independent.
//!
//! DEFECT: with N instances driven concurrently the numbering interleaves
//! (and updates can be lost: the read-modify-write yields in the middle), so
//! each instance's output differs from the same inputs run serially on a
//! fresh instance in a fresh process (which starts at 1). The counter is
//! never reset.

use skabi::fixture::{expect_text, text_transform_meta};
use skabi::prelude::*;

const KIND: &str = "lying_send_counter";

/// DEFECT: shared mutable state without synchronisation.
static mut COUNTER: u64 = 0;

fn next_number() -> u64 {
    // SAFETY: none, that is the point; volatile keeps the race observable.
    unsafe {
        let p = &raw mut COUNTER;
        let n = p.read_volatile() + 1;
        std::thread::yield_now();
        p.write_volatile(n);
        n
    }
}

struct Numbered;

impl Plugin for Numbered {
    fn metadata() -> NodeMeta {
        text_transform_meta(KIND)
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Numbered)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        let text = expect_text(KIND, packet)?;
        out.send_text("out", &format!("{}:{text}", next_number()))
    }
}

skabi::export_processor!(Numbered);
