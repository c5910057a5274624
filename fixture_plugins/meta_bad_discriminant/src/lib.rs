//! `meta_bad_discriminant`: a Text echo processor with defective metadata.
//!
//! DEFECT: input `in` declares an accepted type with discriminant 42
//! (outside 0..=11: undefined behaviour in a Rust host; ABI.md §3.1, §8.2).

use skabi::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        NodeMeta::new("meta_bad_discriminant")
            .description("Text echo processor (conformance fixture)")
            .input("in", &[PinType::Text, PinType::Discriminant(42)])
            .output("out", PinType::Passthrough)
            .category("test")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

skabi::export_processor!(Echo);
