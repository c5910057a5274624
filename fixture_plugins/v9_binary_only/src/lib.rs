//! `v9_binary_only`: the `v6_binary_only` plugin declaring API v9.
//!
//! DEFECT: a v9 host upgrades every Binary to BinaryWithMeta (10) (ABI.md
//! §2.2), which this plugin rejects with `Invalid packet: unsupported type
//! 10` — "v9 wire change not handled" (HOST.md §6.11). It exports the log
//! setter so that the wire change is its only defect.

use skabi::prelude::*;

pub struct BinaryOnly;

impl Plugin for BinaryOnly {
    fn metadata() -> NodeMeta {
        NodeMeta::new(env!("CARGO_PKG_NAME"))
            .description("Binary-only echo declaring v9 (conformance fixture)")
            .input("in", &[PinType::Binary])
            .output("out", PinType::Binary)
            .category("test")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(BinaryOnly)
    }

    fn process_raw(&mut self, _pin: &str, input: &RawPacket, out: &mut Output<'_>) -> Result<(), String> {
        match input.packet_type() {
            packet_type::BINARY => match input.decode()? {
                Packet::Binary(b) => out.send_binary("out", &b.data),
                _ => unreachable!("Binary decodes to Packet::Binary"),
            },
            // DEFECT: BinaryWithMeta (10) is what a v9 host actually sends.
            // Unknown to this plugin: not even looked at.
            t => Err(format!("Invalid packet: unsupported type {t}")),
        }
    }
}

skabi::export_processor!(BinaryOnly);
