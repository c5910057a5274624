//! `v6_binary_only`: a v6 binary echo that knows only plain Binary (5).
//!
//! Conforming *for a v6 plugin*: the host downgrades BinaryWithMeta to Binary
//! for v6 (ABI.md §2.2), so discriminant 10 never reaches it from a correct
//! host; anything but 5 is rejected with `Invalid packet: unsupported type N`.

use skabi::prelude::*;

pub struct BinaryOnly;

impl Plugin for BinaryOnly {
    fn metadata() -> NodeMeta {
        NodeMeta::new(env!("CARGO_PKG_NAME"))
            .description("Binary-only echo (conformance fixture)")
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
            // Pin-type tags are never packets (ABI.md 5.0 C3): the SDK's own wording.
            1 => Err("Invalid packet: Unsupported packet type: OpusAudio".to_string()),
            6 => Err("Invalid packet: Unsupported packet type: Any".to_string()),
            7 => Err("Invalid packet: Unsupported packet type: Passthrough".to_string()),
            // Unknown to this plugin: not even looked at.
            t => Err(format!("Invalid packet: unsupported type {t}")),
        }
    }
}

static API: CNativePluginAPI = processor_api::<BinaryOnly, Guarded>(6);
skabi::export_api!(&API);
