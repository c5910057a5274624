//! `ctor_abort`: a library whose ELF constructor aborts the process.
//!
//! DEFECT: merely `dlopen`ing it kills the loader — the constructor (an
//! `.init_array` entry) writes `ctor_abort: aborting in library constructor`
//! to stderr and calls abort(). Otherwise it is a valid v9 Text echo
//! processor, so the constructor is its only defect.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;
use std::io::Write;

extern "C" fn abort_on_load() {
    let _ = std::io::stderr().write_all(b"ctor_abort: aborting in library constructor\n");
    std::process::abort();
}

/// DEFECT: runs at dlopen time, before the host can call anything.
#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = abort_on_load;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("ctor_abort")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Echo);
