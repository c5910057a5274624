//! `v8_strict_len`: a v8 binary echo that insists on the 32-byte v7/v8
//! `CBinaryPacket`.
//!
//! DEFECT: the current host sends BinaryWithMeta to v7/v8 plugins in its
//! 48-byte struct (ABI.md §2.2); this plugin rejects anything but
//! `CPacket.len == 32` (`v8_strict_len: BinaryWithMeta len must be 32, got
//! 48`). Plain Binary (5) works. It never reads buffer_handle/free_fn and
//! exports no log setter (v8).

use skabi::prelude::*;
use skabi::types::BINARY_PACKET_V8_SIZE;

struct V8Echo;

impl Plugin for V8Echo {
    fn metadata() -> NodeMeta {
        NodeMeta::new("v8_strict_len")
            .description("v8 binary echo (conformance fixture)")
            .input("in", &[PinType::Binary])
            .output("out", PinType::Binary)
            .category("test")
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(V8Echo)
    }

    fn process_raw(&mut self, _pin: &str, input: &RawPacket, out: &mut Output<'_>) -> Result<(), String> {
        match input.packet_type() {
            packet_type::BINARY => match input.decode()? {
                Packet::Binary(b) => out.send_binary("out", &b.data),
                _ => unreachable!("Binary decodes to Packet::Binary"),
            },
            packet_type::BINARY_WITH_META => {
                // DEFECT: should accept len >= 32.
                if input.len() != BINARY_PACKET_V8_SIZE {
                    return Err(format!("v8_strict_len: BinaryWithMeta len must be 32, got {}", input.len()));
                }
                match input.decode()? {
                    Packet::Binary(b) => out.send_binary_with_meta_v8("out", &b),
                    _ => unreachable!("BinaryWithMeta decodes to Packet::Binary"),
                }
            }
            t => Err(format!("Invalid packet: unsupported type {t}")),
        }
    }
}

static API: CNativePluginAPI = processor_api::<V8Echo, Guarded>(8);
skabi::export_api!(&API);
