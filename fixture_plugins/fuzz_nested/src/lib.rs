//! `fuzz_nested`: an echo processor with a crash behind three nested header tests.
//!
//! Accepts Text on `in` and echoes it on `out` (Passthrough). DEFECT: a
//! "command header" parser checks the first twelve bytes as three 4-byte
//! words, one nested branch each, and on `SK!Z` `FUZZ` `DEEP` follows a
//! handler slot that was never filled in (NULL): SIGSEGV inside
//! `process_packet`.
//!
//! A fuzzer that sees only the harness's Python coverage must guess twelve
//! bytes at once; with the plugin built with SanitizerCoverage
//! (`plugin_intake --native-coverage`) each branch taken is new coverage and
//! each comparison is traced, so libFuzzer learns the words one at a time.

use skabi::prelude::*;
use std::hint::black_box;
use std::ptr;

const KIND: &str = "fuzz_nested";
const HEADER: [u32; 3] = [
    u32::from_le_bytes(*b"SK!Z"),
    u32::from_le_bytes(*b"FUZZ"),
    u32::from_le_bytes(*b"DEEP"),
];

fn word(bytes: &[u8], index: usize) -> Option<u32> {
    let start = index * 4;
    let chunk: [u8; 4] = bytes.get(start..start + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(chunk))
}

struct Nested {
    depth_seen: [u64; 3],
}

impl Nested {
    /// How many header words match, checked one nested branch per word.
    fn header_depth(&mut self, bytes: &[u8]) -> usize {
        if word(bytes, 0) == Some(HEADER[0]) {
            self.depth_seen[0] = black_box(self.depth_seen[0] + 1);
            if word(bytes, 1) == Some(HEADER[1]) {
                self.depth_seen[1] = black_box(self.depth_seen[1] + 1);
                if word(bytes, 2) == Some(HEADER[2]) {
                    self.depth_seen[2] = black_box(self.depth_seen[2] + 1);
                    return 3;
                }
                return 2;
            }
            return 1;
        }
        0
    }
}

impl Plugin for Nested {
    fn metadata() -> NodeMeta {
        NodeMeta::new(KIND)
            .description("Text echo with a crash behind three nested header tests (fixture for native coverage)")
            .input("in", &[PinType::Text])
            .output("out", PinType::Passthrough)
            .category("test")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Nested { depth_seen: [0; 3] })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        let Packet::Text(text) = packet else {
            return Err(format!("{KIND}: expected a Text packet"));
        };
        if self.header_depth(text.as_bytes()) == 3 {
            // DEFECT: the handler table has no entry for this command.
            let handler: *const u8 = black_box(ptr::null());
            black_box(unsafe { ptr::read_volatile(handler) });
        }
        out.send("out", &Packet::Text(text))
    }
}

skabi::export_processor!(Nested);
