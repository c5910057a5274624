//! `meta_null`, `meta_bad_pointer`, `meta_misaligned`, `meta_huge_count`,
//! `meta_missing_format`, `meta_bad_codec`: a Text echo processor with one
//! metadata defect each (ABI.md §4.2, §5.11, §8.2). One source, six
//! packages: the package name chooses the defect.
//!
//! * `meta_null`: `get_metadata` returns NULL ("Plugin metadata is null").
//! * `meta_bad_pointer`: `description` is 0x10, an unmapped address.
//! * `meta_misaligned`: `categories` points to an odd address (count 1; the
//!   entry there is a valid string pointer, stored unaligned).
//! * `meta_huge_count`: `categories_count` is 1 << 40 (the pointer is valid).
//! * `meta_missing_format`: input `in` also accepts RawAudio (0) with a NULL
//!   `audio_format`.
//! * `meta_bad_codec`: output `encoded` is EncodedAudio with codec "mp3"
//!   (the host knows only opus and aac).
//!
//! Everything else is the reference echo: Text on `in` -> `out` (Passthrough).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;
use skabi::types::{packet_type, CNodeMetadata};
use std::os::raw::c_char;

const KIND: &str = env!("CARGO_PKG_NAME");

/// `meta_misaligned`: a one-entry categories array at an odd address.
fn misaligned_categories(m: &mut CNodeMetadata) {
    const CATEGORY: &[u8] = b"test\0";
    // 8-byte aligned backing store, leaked: the metadata must live forever.
    let backing: &'static mut [u64; 2] = Box::leak(Box::new([0u64; 2]));
    let base = backing.as_mut_ptr() as *mut u8;
    unsafe {
        let odd = base.add(1) as *mut *const c_char;
        odd.write_unaligned(CATEGORY.as_ptr() as *const c_char);
        m.categories = odd as *const *const c_char; // DEFECT: address ≡ 1 (mod 8)
    }
    m.categories_count = 1;
}

fn metadata() -> NodeMeta {
    let base = text_echo_meta(KIND);
    match KIND {
        // DEFECT: an address in the never-mapped first page.
        "meta_bad_pointer" => base.patch(|m| m.description = 0x10 as *const c_char),
        "meta_misaligned" => base.patch(misaligned_categories),
        // DEFECT: a garbage count next to a valid one-entry array.
        "meta_huge_count" => base.patch(|m| m.categories_count = 1 << 40),
        // DEFECT: RawAudio without the audio_format it requires.
        "meta_missing_format" => NodeMeta::new(KIND)
            .description("Text echo processor (conformance fixture)")
            .input("in", &[PinType::Text, PinType::Discriminant(packet_type::RAW_AUDIO)])
            .output("out", PinType::Passthrough)
            .category("test"),
        // DEFECT: a codec name the host does not know.
        "meta_bad_codec" => base.output("encoded", PinType::EncodedAudio(Some("mp3".into()))),
        _ => base,
    }
}

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        metadata()
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

/// `meta_null`: DEFECT: no metadata at all.
extern "C" fn null_get_metadata() -> *const types::CNodeMetadata {
    std::ptr::null()
}

static API: CNativePluginAPI = {
    let mut api = processor_api::<Echo, Guarded>(9);
    if matches!(KIND.as_bytes(), b"meta_null") {
        api.get_metadata = Some(null_get_metadata);
    }
    api
};
skabi::export_api!(&API);
skabi::export_log_setter!(Echo);
