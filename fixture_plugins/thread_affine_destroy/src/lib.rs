//! `thread_affine_destroy`: a Text echo processor that must be destroyed on
//! the thread that created it.
//!
//! DEFECT: destroy_instance on any other thread (the host may destroy on a
//! tokio worker, the `skp-*` worker or a blocking-pool thread, HOST.md §1.8)
//! writes `thread_affine_destroy: destroyed on a foreign thread` to stderr
//! and aborts the process.

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;
use std::io::Write;
use std::thread::{self, ThreadId};

struct Affine {
    creator: ThreadId,
}

impl Plugin for Affine {
    fn metadata() -> NodeMeta {
        text_echo_meta("thread_affine_destroy")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Affine { creator: thread::current().id() })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }

    fn cleanup(&mut self) {
        if thread::current().id() != self.creator {
            let _ = std::io::stderr().write_all(b"thread_affine_destroy: destroyed on a foreign thread\n");
            std::process::abort();
        }
    }
}

skabi::export_processor!(Affine);
