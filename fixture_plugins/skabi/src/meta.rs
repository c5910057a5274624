//! Metadata builder and storage (ABI.md §4.2, §6.4).
//!
//! `NodeMeta` is the Rust-side description a plugin returns from
//! `Plugin::metadata()`. `MetaStorage` owns every C string, array and side
//! struct reachable from the `CNodeMetadata`; array pointers are taken from
//! vectors, so they are non-NULL and aligned even when the count is 0. The SDK
//! builds the storage once, in a process-wide static, and hands out the same
//! pointer forever; `global` does the same (one plugin type per cdylib).

use crate::cstr::{cstring_bytes, cstring_strip};
use crate::types::*;
use std::ffi::CString;
use std::os::raw::c_char;
use std::ptr;
use std::sync::OnceLock;

/// A pin type declaration (`CPacketTypeInfo`).
#[derive(Clone, Debug)]
pub enum PinType {
    RawAudio { sample_rate: u32, channels: u16, sample_format: u32 },
    Opus,
    Text,
    Transcription,
    Custom(String),
    Binary,
    BinaryWithMeta,
    Any,
    /// Declared as discriminant 7 (the SDK would write Any; the host understands 7).
    Passthrough,
    RawVideo { width: u32, height: u32, pixel_format: u32 },
    EncodedVideo(Option<String>),
    EncodedAudio(Option<String>),
    /// A raw discriminant with no side pointers, for malformed-metadata fixtures.
    Discriminant(u32),
}

/// Builder for a plugin's static metadata.
#[derive(Clone, Debug)]
pub struct NodeMeta {
    pub kind: String,
    pub description: Option<Vec<u8>>,
    pub inputs: Vec<(String, Vec<PinType>)>,
    pub outputs: Vec<(String, PinType)>,
    pub param_schema: Option<String>,
    pub categories: Vec<String>,
    /// Raw edit applied to the finished C struct (defective-metadata fixtures).
    pub patch: Option<fn(&mut CNodeMetadata)>,
}

impl NodeMeta {
    pub fn new(kind: &str) -> Self {
        NodeMeta {
            kind: kind.to_string(),
            description: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            param_schema: None,
            categories: Vec::new(),
            patch: None,
        }
    }

    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.as_bytes().to_vec());
        self
    }

    /// Raw description bytes (may be invalid UTF-8 on purpose).
    pub fn description_bytes(mut self, d: &[u8]) -> Self {
        self.description = Some(d.to_vec());
        self
    }

    pub fn input(mut self, name: &str, accepts: &[PinType]) -> Self {
        self.inputs.push((name.to_string(), accepts.to_vec()));
        self
    }

    pub fn output(mut self, name: &str, produces: PinType) -> Self {
        self.outputs.push((name.to_string(), produces));
        self
    }

    pub fn param_schema(mut self, schema: &str) -> Self {
        self.param_schema = Some(schema.to_string());
        self
    }

    pub fn category(mut self, c: &str) -> Self {
        self.categories.push(c.to_string());
        self
    }

    pub fn patch(mut self, f: fn(&mut CNodeMetadata)) -> Self {
        self.patch = Some(f);
        self
    }

    /// Build the C view and everything it points to.
    pub fn build(&self) -> MetaStorage {
        let mut st = MetaStorage {
            c: CNodeMetadata {
                kind: ptr::null(),
                description: ptr::null(),
                inputs: ptr::null(),
                inputs_count: 0,
                outputs: ptr::null(),
                outputs_count: 0,
                param_schema: ptr::null(),
                categories: ptr::null(),
                categories_count: 0,
            },
            kind: self.kind.clone(),
            strings: Vec::new(),
            audio_formats: Vec::new(),
            video_formats: Vec::new(),
            type_infos: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            categories: Vec::new(),
        };
        let kind = st.keep(cstring_strip(&self.kind));
        let description = match &self.description {
            Some(d) => st.keep(cstring_bytes(d)),
            None => ptr::null(),
        };
        let schema = st.keep(cstring_strip(self.param_schema.as_deref().unwrap_or("{}")));
        for (name, accepts) in &self.inputs {
            let name = st.keep(cstring_strip(name));
            let infos: Vec<CPacketTypeInfo> = accepts.iter().map(|t| st.type_info(t)).collect();
            let pin = CInputPin { name, accepts_types: infos.as_ptr(), accepts_types_count: infos.len() };
            st.type_infos.push(infos); // moving the Vec keeps its heap buffer in place
            st.inputs.push(pin);
        }
        for (name, produces) in &self.outputs {
            let name = st.keep(cstring_strip(name));
            let produces_type = st.type_info(produces);
            st.outputs.push(COutputPin { name, produces_type });
        }
        for c in &self.categories {
            let p = st.keep(cstring_strip(c));
            st.categories.push(p);
        }
        st.c = CNodeMetadata {
            kind,
            description,
            inputs: st.inputs.as_ptr(),
            inputs_count: st.inputs.len(),
            outputs: st.outputs.as_ptr(),
            outputs_count: st.outputs.len(),
            param_schema: schema,
            categories: st.categories.as_ptr(),
            categories_count: st.categories.len(),
        };
        if let Some(patch) = self.patch {
            patch(&mut st.c);
        }
        st
    }
}

/// Owner of a built `CNodeMetadata`. Never mutated after `build`.
///
/// The formats are boxed on purpose: pointers to them are handed out while
/// the vectors still grow, so the elements must not move.
#[allow(clippy::vec_box)]
pub struct MetaStorage {
    c: CNodeMetadata,
    kind: String,
    strings: Vec<CString>,
    audio_formats: Vec<Box<CAudioFormat>>,
    video_formats: Vec<Box<CRawVideoFormat>>,
    type_infos: Vec<Vec<CPacketTypeInfo>>,
    inputs: Vec<CInputPin>,
    outputs: Vec<COutputPin>,
    categories: Vec<*const c_char>,
}

// SAFETY: immutable after construction; the raw pointers point into heap
// buffers owned by the same struct.
unsafe impl Send for MetaStorage {}
unsafe impl Sync for MetaStorage {}

impl MetaStorage {
    fn keep(&mut self, s: CString) -> *const c_char {
        let p = s.as_ptr();
        self.strings.push(s);
        p
    }

    fn type_info(&mut self, t: &PinType) -> CPacketTypeInfo {
        let mut info = CPacketTypeInfo {
            type_discriminant: 0,
            audio_format: ptr::null(),
            custom_type_id: ptr::null(),
            raw_video_format: ptr::null(),
        };
        match t {
            PinType::RawAudio { sample_rate, channels, sample_format } => {
                let f = Box::new(CAudioFormat {
                    sample_rate: *sample_rate,
                    channels: *channels,
                    sample_format: *sample_format,
                });
                info.type_discriminant = packet_type::RAW_AUDIO;
                info.audio_format = &*f;
                self.audio_formats.push(f);
            }
            PinType::Opus => info.type_discriminant = packet_type::OPUS_AUDIO,
            PinType::Text => info.type_discriminant = packet_type::TEXT,
            PinType::Transcription => info.type_discriminant = packet_type::TRANSCRIPTION,
            PinType::Custom(id) => {
                info.type_discriminant = packet_type::CUSTOM;
                info.custom_type_id = self.keep(cstring_strip(id));
            }
            PinType::Binary => info.type_discriminant = packet_type::BINARY,
            PinType::BinaryWithMeta => info.type_discriminant = packet_type::BINARY_WITH_META,
            PinType::Any => info.type_discriminant = packet_type::ANY,
            PinType::Passthrough => info.type_discriminant = packet_type::PASSTHROUGH,
            PinType::RawVideo { width, height, pixel_format } => {
                let f = Box::new(CRawVideoFormat { width: *width, height: *height, pixel_format: *pixel_format });
                info.type_discriminant = packet_type::RAW_VIDEO;
                info.raw_video_format = &*f;
                self.video_formats.push(f);
            }
            PinType::EncodedVideo(codec) | PinType::EncodedAudio(codec) => {
                info.type_discriminant = if matches!(t, PinType::EncodedVideo(_)) {
                    packet_type::ENCODED_VIDEO
                } else {
                    packet_type::ENCODED_AUDIO
                };
                if let Some(c) = codec {
                    info.custom_type_id = self.keep(cstring_strip(c));
                }
            }
            PinType::Discriminant(d) => info.type_discriminant = *d,
        }
        info
    }

    /// The C view. Valid as long as `self` is neither moved nor dropped.
    pub fn as_ptr(&self) -> *const CNodeMetadata {
        &self.c
    }

    /// The kind as declared (before any raw patch): the logger target.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Move the storage to the heap and never free it (one fresh copy per call;
    /// used by `meta_unstable`).
    pub fn leak(self) -> &'static MetaStorage {
        Box::leak(Box::new(self))
    }
}

static GLOBAL: OnceLock<MetaStorage> = OnceLock::new();

/// The process-wide metadata of this cdylib, built on first use by `build`.
pub fn global(build: impl FnOnce() -> NodeMeta) -> &'static MetaStorage {
    GLOBAL.get_or_init(|| build().build())
}
