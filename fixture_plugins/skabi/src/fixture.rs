//! Small helpers shared by the defective fixtures, which are mostly a Text
//! echo processor with one deliberate deviation.

use crate::meta::{NodeMeta, PinType};
use crate::packet::Packet;

/// Metadata of a Text echo processor: input `in` accepts Text, output `out`
/// is Passthrough (the harness then checks output == input).
pub fn text_echo_meta(kind: &str) -> NodeMeta {
    NodeMeta::new(kind)
        .description("Text echo processor (conformance fixture)")
        .input("in", &[PinType::Text])
        .output("out", PinType::Passthrough)
        .category("test")
}

/// Metadata of a Text processor whose output is *not* a plain echo
/// (declared Text, so the harness does not expect output == input).
pub fn text_transform_meta(kind: &str) -> NodeMeta {
    NodeMeta::new(kind)
        .description("Text processor (conformance fixture)")
        .input("in", &[PinType::Text])
        .output("out", PinType::Text)
        .category("test")
}

/// Metadata of a source-mode variant: no inputs, output `out` Text.
pub fn text_source_meta(kind: &str) -> NodeMeta {
    NodeMeta::new(kind).description("Text source (conformance fixture)").output("out", PinType::Text).category("test")
}

/// The text of a Text packet, or an error naming the fixture.
pub fn expect_text(kind: &str, packet: Packet) -> Result<String, String> {
    match packet {
        Packet::Text(t) => Ok(t),
        _ => Err(format!("{kind}: expected a Text packet")),
    }
}
