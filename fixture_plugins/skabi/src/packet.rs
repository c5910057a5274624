//! Runtime packets: owned Rust values and the receiver rules of ABI.md §5
//! (host → plugin). Error texts are the §5 ones; the trampoline prefixes them
//! with `Invalid packet: `.

use crate::json::{self, Json};
use crate::types::*;
use std::ffi::CStr;
use std::os::raw::c_void;

/// Packet metadata after the receiver's normalisation: a value is present
/// only if its `has_*` flag was true; keyframe is never carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub timestamp_us: Option<u64>,
    pub duration_us: Option<u64>,
    pub sequence: Option<u64>,
}

impl Metadata {
    /// Read a nullable `CPacketMetadata *`. The flags are read as raw bytes
    /// (a flag byte other than 0/1 from a sloppy sender is taken as "true"
    /// instead of being UB).
    ///
    /// # Safety
    /// `p` must be NULL or point to a readable `CPacketMetadata`.
    pub unsafe fn from_c(p: *const CPacketMetadata) -> Option<Metadata> {
        if p.is_null() {
            return None;
        }
        use std::ptr::addr_of;
        // No reference to the struct is formed: a bool byte of 2 stays a byte.
        let flag = |f: *const bool| std::ptr::read(f as *const u8) != 0;
        Some(Metadata {
            timestamp_us: flag(addr_of!((*p).has_timestamp_us)).then(|| addr_of!((*p).timestamp_us).read()),
            duration_us: flag(addr_of!((*p).has_duration_us)).then(|| addr_of!((*p).duration_us).read()),
            sequence: flag(addr_of!((*p).has_sequence)).then(|| addr_of!((*p).sequence).read()),
        })
    }

    /// Encoder side: absent values are written as 0 with the flag false.
    pub fn to_c(&self) -> CPacketMetadata {
        CPacketMetadata {
            timestamp_us: self.timestamp_us.unwrap_or(0),
            has_timestamp_us: self.timestamp_us.is_some(),
            duration_us: self.duration_us.unwrap_or(0),
            has_duration_us: self.duration_us.is_some(),
            sequence: self.sequence.unwrap_or(0),
            has_sequence: self.sequence.is_some(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AudioFrame {
    pub sample_rate: u32,
    pub channels: u16,
    /// Interleaved f32 samples (all channels).
    pub samples: Vec<f32>,
    pub metadata: Option<Metadata>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    pub pixel_format: u32,
    /// Exactly `packed_size(width, height, pixel_format)` bytes.
    pub data: Vec<u8>,
    pub metadata: Option<Metadata>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CustomPacket {
    pub type_id: String,
    pub data: Json,
    pub metadata: Option<Metadata>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BinaryPacket {
    pub data: Vec<u8>,
    pub content_type: Option<String>,
    pub metadata: Option<Metadata>,
}

/// An owned runtime packet.
#[derive(Clone, Debug, PartialEq)]
pub enum Packet {
    RawAudio(AudioFrame),
    Text(String),
    /// Canonical transcription JSON (every key present, nulls explicit).
    Transcription(Json),
    Custom(CustomPacket),
    /// Binary (5), BinaryWithMeta (10), and EncodedVideo/EncodedAudio at runtime.
    Binary(BinaryPacket),
    RawVideo(VideoFrame),
}

/// Packed byte size of a W×H frame (ABI.md §5.6 table). None = invalid format.
pub fn packed_size(width: u32, height: u32, pixel_format: u32) -> Option<usize> {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 {
        return Some(0);
    }
    let chroma = 2 * w.div_ceil(2) * h.div_ceil(2);
    match pixel_format {
        pixel_format::RGBA8 => Some(w * 4 * h),
        pixel_format::I420 | pixel_format::NV12 => Some(w * h + chroma),
        _ => None,
    }
}

/// Borrowed view of the packet the host passed to `process_packet`.
pub struct RawPacket {
    ptr: *const CPacket,
}

impl RawPacket {
    /// # Safety
    /// `ptr` must be a valid, non-NULL `CPacket *` for the current call.
    pub unsafe fn new(ptr: *const CPacket) -> Self {
        RawPacket { ptr }
    }

    pub fn as_ptr(&self) -> *const CPacket {
        self.ptr
    }

    pub fn packet_type(&self) -> u32 {
        unsafe { (*self.ptr).packet_type }
    }

    pub fn len(&self) -> usize {
        unsafe { (*self.ptr).len }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn data(&self) -> *const c_void {
        unsafe { (*self.ptr).data }
    }

    /// Decode per ABI.md §5; errors already carry the `Invalid packet: ` prefix.
    pub fn decode(&self) -> Result<Packet, String> {
        unsafe { decode(self.ptr) }.map_err(|e| format!("Invalid packet: {e}"))
    }
}

/// Release a v9 binary handle the way the receiver does (ABI.md §5.5 steps 2–3):
/// call `free_fn` once and write NULL into the sender's `buffer_handle`.
///
/// # Safety
/// `bp` must point to a writable 48-byte `CBinaryPacket`.
pub unsafe fn release_binary_handle(bp: *const CBinaryPacket) {
    let bp = bp as *mut CBinaryPacket;
    let handle = (*bp).buffer_handle;
    if handle.is_null() {
        return;
    }
    if let Some(free) = (*bp).free_fn {
        free(handle);
    }
    (*bp).buffer_handle = std::ptr::null_mut();
}

fn utf8_detail(e: std::str::Utf8Error) -> String {
    e.to_string()
}

/// Decode a host-delivered packet (ABI.md §5, receiver side).
///
/// Zero-copy rule of §4.16: the struct is never kept; an empty or data-less
/// BinaryWithMeta with a handle gets its handle released (free_fn once, field
/// nulled); any other handle is left alone and the bytes are copied.
///
/// # Safety
/// `p` must be NULL or a valid `CPacket *` whose payload follows §5.
pub unsafe fn decode(p: *const CPacket) -> Result<Packet, String> {
    if p.is_null() {
        return Err("Null packet pointer".into());
    }
    let pkt = &*p;
    if pkt.data.is_null() {
        return Err("Null packet data pointer".into());
    }
    match pkt.packet_type {
        packet_type::TEXT => {
            let s = CStr::from_ptr(pkt.data as *const _)
                .to_str()
                .map_err(|e| format!("Invalid UTF-8 in text packet: {}", utf8_detail(e)))?;
            Ok(Packet::Text(s.to_string()))
        }
        packet_type::TRANSCRIPTION => {
            let bytes = std::slice::from_raw_parts(pkt.data as *const u8, pkt.len);
            let v = json::parse_bytes(bytes)
                .and_then(|v| normalize_transcription(&v))
                .map_err(|e| format!("Invalid transcription data: {e}"))?;
            Ok(Packet::Transcription(v))
        }
        packet_type::CUSTOM => {
            let c = &*(pkt.data as *const CCustomPacket);
            if c.type_id.is_null() {
                return Err("Custom packet missing type_id".into());
            }
            if c.data_json.is_null() {
                return Err("Custom packet missing data_json".into());
            }
            let type_id = CStr::from_ptr(c.type_id)
                .to_str()
                .map_err(|e| format!("Invalid UTF-8: {}", utf8_detail(e)))?
                .to_string();
            let bytes = std::slice::from_raw_parts(c.data_json, c.data_len);
            let data = json::parse_bytes(bytes).map_err(|e| format!("Invalid custom JSON: {e}"))?;
            Ok(Packet::Custom(CustomPacket { type_id, data, metadata: Metadata::from_c(c.metadata) }))
        }
        packet_type::BINARY | packet_type::ENCODED_VIDEO | packet_type::ENCODED_AUDIO => {
            let data = std::slice::from_raw_parts(pkt.data as *const u8, pkt.len).to_vec();
            Ok(Packet::Binary(BinaryPacket { data, content_type: None, metadata: None }))
        }
        packet_type::BINARY_WITH_META => {
            let bp = pkt.data as *const CBinaryPacket;
            // Only the first four fields exist in a v7/v8 (32-byte) struct.
            let v8 = &*(pkt.data as *const CBinaryPacketV8);
            let has_v9_fields = pkt.len >= BINARY_PACKET_V9_SIZE;
            let handle = if has_v9_fields { (*bp).buffer_handle } else { std::ptr::null_mut() };
            let data = if v8.data.is_null() && v8.data_len > 0 {
                if !handle.is_null() {
                    release_binary_handle(bp);
                }
                return Err("BinaryWithMeta packet has null data pointer".into());
            } else if v8.data_len == 0 {
                if !handle.is_null() {
                    release_binary_handle(bp);
                }
                Vec::new()
            } else {
                // A handle with data: never taken over (that needs the host's
                // Rust `Bytes` layout); copy, the host releases the handle.
                std::slice::from_raw_parts(v8.data, v8.data_len).to_vec()
            };
            let content_type = if v8.content_type.is_null() {
                None
            } else {
                Some(
                    CStr::from_ptr(v8.content_type)
                        .to_str()
                        .map_err(|e| format!("Invalid UTF-8: {}", utf8_detail(e)))?
                        .to_string(),
                )
            };
            Ok(Packet::Binary(BinaryPacket { data, content_type, metadata: Metadata::from_c(v8.metadata) }))
        }
        packet_type::RAW_AUDIO => {
            let f = &*(pkt.data as *const CAudioFrame);
            if f.samples.is_null() {
                return Err("Null samples pointer in audio frame".into());
            }
            let samples = std::slice::from_raw_parts(f.samples, f.sample_count).to_vec();
            Ok(Packet::RawAudio(AudioFrame {
                sample_rate: f.sample_rate,
                channels: f.channels,
                samples,
                metadata: Metadata::from_c(f.metadata),
            }))
        }
        packet_type::RAW_VIDEO => {
            let f = &*(pkt.data as *const CVideoFrame);
            if f.data.is_null() {
                return Err("Null data pointer in video frame".into());
            }
            let need = packed_size(f.width, f.height, f.pixel_format)
                .ok_or_else(|| format!("Invalid video frame: unknown pixel format {}", f.pixel_format))?;
            if f.data_len < need {
                return Err(format!(
                    "Invalid video frame: VideoFrame data buffer too small: need {need} bytes, have {}",
                    f.data_len
                ));
            }
            let data = std::slice::from_raw_parts(f.data, need).to_vec();
            Ok(Packet::RawVideo(VideoFrame {
                width: f.width,
                height: f.height,
                pixel_format: f.pixel_format,
                data,
                metadata: Metadata::from_c(f.metadata),
            }))
        }
        t => match packet_type::name(t) {
            Some(name) => Err(format!("Unsupported packet type: {name}")),
            None => Err(format!("Unknown packet type: {t}")),
        },
    }
}

fn field<'a>(obj: &'a Json, key: &str) -> Option<&'a Json> {
    obj.get(key)
}

fn req<'a>(obj: &'a Json, key: &'static str) -> Result<&'a Json, String> {
    field(obj, key).ok_or_else(|| format!("missing field `{key}`"))
}

fn invalid(v: &Json, expected: &str) -> String {
    format!("invalid type: {}, expected {expected}", v.type_name())
}

fn opt_u64(obj: &Json, key: &str) -> Result<Json, String> {
    match field(obj, key) {
        None | Some(Json::Null) => Ok(Json::Null),
        Some(v) => v.as_u64().map(|n| Json::Number(n.to_string())).ok_or_else(|| invalid(v, "u64")),
    }
}

/// Validate a transcription per ABI.md §5.2 and rebuild it the way the SDK's
/// encoder writes it: every key present, nulls explicit, fixed key order.
pub fn normalize_transcription(v: &Json) -> Result<Json, String> {
    if v.as_object().is_none() {
        return Err(invalid(v, "struct TranscriptionData"));
    }
    let text = req(v, "text")?;
    let text = text.as_str().ok_or_else(|| invalid(text, "a string"))?.to_string();
    let segs = req(v, "segments")?;
    let segs = segs.as_array().ok_or_else(|| invalid(segs, "a sequence"))?;
    let mut out_segs = Vec::new();
    for s in segs {
        if s.as_object().is_none() {
            return Err(invalid(s, "struct TranscriptionSegment"));
        }
        let st = req(s, "text")?;
        let st = st.as_str().ok_or_else(|| invalid(st, "a string"))?.to_string();
        let start = req(s, "start_time_ms")?;
        let start = start.as_u64().ok_or_else(|| invalid(start, "u64"))?;
        let end = req(s, "end_time_ms")?;
        let end = end.as_u64().ok_or_else(|| invalid(end, "u64"))?;
        let conf = match field(s, "confidence") {
            None | Some(Json::Null) => Json::Null,
            Some(c @ Json::Number(_)) => c.clone(),
            Some(c) => return Err(invalid(c, "f32")),
        };
        out_segs.push(Json::Object(vec![
            ("text".into(), Json::String(st)),
            ("start_time_ms".into(), Json::Number(start.to_string())),
            ("end_time_ms".into(), Json::Number(end.to_string())),
            ("confidence".into(), conf),
        ]));
    }
    let language = match field(v, "language") {
        None | Some(Json::Null) => Json::Null,
        Some(Json::String(s)) => Json::String(s.clone()),
        Some(l) => return Err(invalid(l, "a string")),
    };
    let metadata = match field(v, "metadata") {
        None | Some(Json::Null) => Json::Null,
        Some(m @ Json::Object(_)) => {
            let keyframe = match field(m, "keyframe") {
                None | Some(Json::Null) => Json::Null,
                Some(Json::Bool(b)) => Json::Bool(*b),
                Some(k) => return Err(invalid(k, "a boolean")),
            };
            Json::Object(vec![
                ("timestamp_us".into(), opt_u64(m, "timestamp_us")?),
                ("duration_us".into(), opt_u64(m, "duration_us")?),
                ("sequence".into(), opt_u64(m, "sequence")?),
                ("keyframe".into(), keyframe),
            ])
        }
        Some(m) => return Err(invalid(m, "struct PacketMetadata")),
    };
    Ok(Json::Object(vec![
        ("text".into(), Json::String(text)),
        ("segments".into(), Json::Array(out_segs)),
        ("language".into(), language),
        ("metadata".into(), metadata),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(packed_size(640, 480, pixel_format::RGBA8), Some(1_228_800));
        assert_eq!(packed_size(640, 480, pixel_format::I420), Some(460_800));
        assert_eq!(packed_size(3, 3, pixel_format::NV12), Some(17));
        assert_eq!(packed_size(3, 3, pixel_format::RGBA8), Some(36));
        assert_eq!(packed_size(0, 3, pixel_format::RGBA8), Some(0));
    }

    #[test]
    fn transcription() {
        let v = json::parse(r#"{"text":"hi","segments":[{"text":"hi","start_time_ms":0,"end_time_ms":5}]}"#).unwrap();
        assert_eq!(
            normalize_transcription(&v).unwrap().to_compact(),
            r#"{"text":"hi","segments":[{"text":"hi","start_time_ms":0,"end_time_ms":5,"confidence":null}],"language":null,"metadata":null}"#
        );
        let bad = json::parse(r#"{"text":"hi"}"#).unwrap();
        assert_eq!(normalize_transcription(&bad).unwrap_err(), "missing field `segments`");
    }
}
