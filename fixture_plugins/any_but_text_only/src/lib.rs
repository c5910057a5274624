//! `any_but_text_only`: declares an input that accepts Any, handles only Text.
//!
//! DEFECT: input `in` is declared Any (6) and output `out` Passthrough, so
//! the host wires every packet type to it, but `process_packet` refuses
//! everything that is not Text with an error ("any_but_text_only: only Text
//! is supported, got <Type>"): every legal Transcription, Custom, Binary,
//! RawAudio, RawVideo or encoded packet fails the node (ABI.md §5, §5.11).
//! Text is echoed.

use skabi::prelude::*;

const KIND: &str = "any_but_text_only";

struct TextOnly;

impl Plugin for TextOnly {
    fn metadata() -> NodeMeta {
        NodeMeta::new(KIND)
            .description("Echo processor for any packet type (conformance fixture)")
            .input("in", &[PinType::Any])
            .output("out", PinType::Passthrough)
            .category("test")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(TextOnly)
    }

    fn process_raw(&mut self, _pin: &str, input: &RawPacket, out: &mut Output<'_>) -> Result<(), String> {
        // DEFECT: the declaration says Any; only Text is implemented.
        if input.packet_type() != packet_type::TEXT {
            let name = packet_type::name(input.packet_type()).unwrap_or("unknown");
            return Err(format!("{KIND}: only Text is supported, got {name}"));
        }
        let packet = input.decode()?;
        out.send("out", &packet)
    }
}

skabi::export_processor!(TextOnly);
