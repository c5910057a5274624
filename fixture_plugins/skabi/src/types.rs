//! `#[repr(C)]` types of the StreamKit native plugin ABI v9 (x86_64 Linux, LP64).
//!
//! Enums are plain `u32` typedefs with constants instead of Rust enums: a Rust
//! enum holding an out-of-range value is undefined behaviour, and the fixtures
//! must be able to *send* such values on purpose (`meta_bad_discriminant`).
//! Function pointers that may be NULL are `Option<extern "C" fn ...>`, which
//! has the same layout as a nullable C function pointer.

use std::os::raw::{c_char, c_void};

pub type CPluginHandle = *mut c_void;
pub type CLogLevel = u32;
pub type CSampleFormat = u32;
pub type CPacketType = u32;
pub type CPixelFormat = u32;
pub type CCustomEncoding = u32;

/// `CPacketType` discriminants.
pub mod packet_type {
    pub const RAW_AUDIO: u32 = 0;
    pub const OPUS_AUDIO: u32 = 1;
    pub const TEXT: u32 = 2;
    pub const TRANSCRIPTION: u32 = 3;
    pub const CUSTOM: u32 = 4;
    pub const BINARY: u32 = 5;
    pub const ANY: u32 = 6;
    pub const PASSTHROUGH: u32 = 7;
    pub const RAW_VIDEO: u32 = 8;
    pub const ENCODED_VIDEO: u32 = 9;
    pub const BINARY_WITH_META: u32 = 10;
    pub const ENCODED_AUDIO: u32 = 11;

    /// Rust enum variant name, as used in "Unsupported packet type: <Name>".
    pub fn name(t: u32) -> Option<&'static str> {
        Some(match t {
            RAW_AUDIO => "RawAudio",
            OPUS_AUDIO => "OpusAudio",
            TEXT => "Text",
            TRANSCRIPTION => "Transcription",
            CUSTOM => "Custom",
            BINARY => "Binary",
            ANY => "Any",
            PASSTHROUGH => "Passthrough",
            RAW_VIDEO => "RawVideo",
            ENCODED_VIDEO => "EncodedVideo",
            BINARY_WITH_META => "BinaryWithMeta",
            ENCODED_AUDIO => "EncodedAudio",
            _ => return None,
        })
    }
}

/// `CPixelFormat` values.
pub mod pixel_format {
    pub const RGBA8: u32 = 0;
    pub const I420: u32 = 1;
    pub const NV12: u32 = 2;
}

/// `CSampleFormat` values.
pub mod sample_format {
    pub const F32: u32 = 0;
    pub const S16LE: u32 = 1;
}

/// Lowest and highest table version the current host loads.
pub const MIN_SUPPORTED_API_VERSION: u32 = 6;
pub const NATIVE_PLUGIN_API_VERSION: u32 = 9;

/// `sizeof(CNodeCallbacks)` end offsets used for the SDK presence checks.
pub const CALLBACKS_TELEMETRY_END: usize = 32;
pub const CALLBACKS_ALLOC_VIDEO_END: usize = 48;
pub const CALLBACKS_ALLOC_AUDIO_END: usize = 56;

/// `CPacket.len` of a v9 `CBinaryPacket` and of the v7/v8 one.
pub const BINARY_PACKET_V9_SIZE: usize = 48;
pub const BINARY_PACKET_V8_SIZE: usize = 32;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CResult {
    pub success: bool,
    pub error_message: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CSchemaResult {
    pub success: bool,
    pub error_message: *const c_char,
    pub json_schema: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CAudioFormat {
    pub sample_rate: u32,
    pub channels: u16,
    pub sample_format: CSampleFormat,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CRawVideoFormat {
    pub width: u32,
    pub height: u32,
    pub pixel_format: CPixelFormat,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CPacketMetadata {
    pub timestamp_us: u64,
    pub has_timestamp_us: bool,
    pub duration_us: u64,
    pub has_duration_us: bool,
    pub sequence: u64,
    pub has_sequence: bool,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CVideoFrame {
    pub width: u32,
    pub height: u32,
    pub pixel_format: CPixelFormat,
    pub data: *const u8,
    pub data_len: usize,
    pub buffer_handle: *mut c_void,
    pub metadata: *const CPacketMetadata,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CAudioFrame {
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: *const f32,
    pub sample_count: usize,
    pub buffer_handle: *mut c_void,
    pub metadata: *const CPacketMetadata,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CCustomPacket {
    pub type_id: *const c_char,
    pub encoding: CCustomEncoding,
    pub data_json: *const u8,
    pub data_len: usize,
    pub metadata: *const CPacketMetadata,
}

pub type CFreeFn = extern "C" fn(handle: *mut c_void);

/// v9 binary packet (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CBinaryPacket {
    pub data: *const u8,
    pub data_len: usize,
    pub content_type: *const c_char,
    pub metadata: *const CPacketMetadata,
    pub buffer_handle: *mut c_void,
    pub free_fn: Option<CFreeFn>,
}

/// v7/v8 binary packet (32 bytes): the first four fields of the v9 one.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CBinaryPacketV8 {
    pub data: *const u8,
    pub data_len: usize,
    pub content_type: *const c_char,
    pub metadata: *const CPacketMetadata,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CPacket {
    pub packet_type: CPacketType,
    pub data: *const c_void,
    pub len: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CPacketTypeInfo {
    pub type_discriminant: CPacketType,
    pub audio_format: *const CAudioFormat,
    pub custom_type_id: *const c_char,
    pub raw_video_format: *const CRawVideoFormat,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CInputPin {
    pub name: *const c_char,
    pub accepts_types: *const CPacketTypeInfo,
    pub accepts_types_count: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct COutputPin {
    pub name: *const c_char,
    pub produces_type: CPacketTypeInfo,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CNodeMetadata {
    pub kind: *const c_char,
    pub description: *const c_char,
    pub inputs: *const CInputPin,
    pub inputs_count: usize,
    pub outputs: *const COutputPin,
    pub outputs_count: usize,
    pub param_schema: *const c_char,
    pub categories: *const *const c_char,
    pub categories_count: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CSourceConfig {
    pub is_source: bool,
    pub tick_interval_us: u64,
    pub max_ticks: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CTickResult {
    pub result: CResult,
    pub done: bool,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CAllocVideoResult {
    pub data: *mut u8,
    pub len: usize,
    pub handle: *mut c_void,
    pub free_fn: Option<CFreeFn>,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CAllocAudioResult {
    pub data: *mut f32,
    pub sample_count: usize,
    pub handle: *mut c_void,
    pub free_fn: Option<CFreeFn>,
}

pub type CLogCallback =
    extern "C" fn(level: CLogLevel, target: *const c_char, message: *const c_char, user_data: *mut c_void);
pub type CLogEnabledCallback =
    extern "C" fn(level: CLogLevel, target: *const c_char, user_data: *mut c_void) -> bool;
pub type CSetLogEnabledCallback =
    extern "C" fn(handle: CPluginHandle, cb: Option<CLogEnabledCallback>, user_data: *mut c_void);
pub type COutputCallback =
    extern "C" fn(pin_name: *const c_char, packet: *const CPacket, user_data: *mut c_void) -> CResult;
pub type CTelemetryCallback = extern "C" fn(
    event_type: *const c_char,
    data_json: *const u8,
    data_len: usize,
    metadata: *const CPacketMetadata,
    user_data: *mut c_void,
) -> CResult;
pub type CAllocVideoFn = extern "C" fn(min_bytes: usize, user_data: *mut c_void) -> CAllocVideoResult;
pub type CAllocAudioFn = extern "C" fn(min_samples: usize, user_data: *mut c_void) -> CAllocAudioResult;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CNodeCallbacks {
    pub struct_size: usize,
    pub output_callback: Option<COutputCallback>,
    pub output_user_data: *mut c_void,
    pub telemetry_callback: Option<CTelemetryCallback>,
    pub telemetry_user_data: *mut c_void,
    pub alloc_video: Option<CAllocVideoFn>,
    pub alloc_audio: Option<CAllocAudioFn>,
    pub alloc_user_data: *mut c_void,
}

pub type GetMetadataFn = extern "C" fn() -> *const CNodeMetadata;
pub type CreateInstanceFn =
    extern "C" fn(params: *const c_char, log_cb: Option<CLogCallback>, log_user_data: *mut c_void) -> CPluginHandle;
pub type ProcessPacketFn = extern "C" fn(
    handle: CPluginHandle,
    input_pin: *const c_char,
    packet: *const CPacket,
    callbacks: *const CNodeCallbacks,
) -> CResult;
pub type UpdateParamsFn = extern "C" fn(handle: CPluginHandle, params_json: *const c_char) -> CResult;
pub type FlushFn = extern "C" fn(handle: CPluginHandle, callbacks: *const CNodeCallbacks) -> CResult;
pub type DestroyInstanceFn = extern "C" fn(handle: CPluginHandle);
pub type GetSourceConfigFn = extern "C" fn(handle: CPluginHandle) -> CSourceConfig;
pub type TickFn = extern "C" fn(handle: CPluginHandle, callbacks: *const CNodeCallbacks) -> CTickResult;
pub type GetRuntimeParamSchemaFn = extern "C" fn(handle: CPluginHandle) -> CSchemaResult;
pub type OnUpstreamHintFn = extern "C" fn(handle: CPluginHandle, hint_json: *const c_char) -> CResult;

/// The 88-byte API table (v5 … v9). Every entry is an `Option` so that a
/// fixture can publish a NULL entry on purpose (`null_entry`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CNativePluginAPI {
    pub version: u32,
    pub get_metadata: Option<GetMetadataFn>,
    pub create_instance: Option<CreateInstanceFn>,
    pub process_packet: Option<ProcessPacketFn>,
    pub update_params: Option<UpdateParamsFn>,
    pub flush: Option<FlushFn>,
    pub destroy_instance: Option<DestroyInstanceFn>,
    pub get_source_config: Option<GetSourceConfigFn>,
    pub tick: Option<TickFn>,
    pub get_runtime_param_schema: Option<GetRuntimeParamSchemaFn>,
    pub on_upstream_hint: Option<OnUpstreamHintFn>,
}

// SAFETY: the table holds only function pointers and an integer.
unsafe impl Sync for CNativePluginAPI {}

// Layout pins (ABI.md §3.3). A mismatch here fails the build, not a test.
macro_rules! layout {
    ($t:ty, $size:expr, [$($f:ident = $off:expr),* $(,)?]) => {
        const _: () = assert!(std::mem::size_of::<$t>() == $size);
        $(const _: () = assert!(std::mem::offset_of!($t, $f) == $off);)*
    };
}
layout!(CResult, 16, [success = 0, error_message = 8]);
layout!(CSchemaResult, 24, [success = 0, error_message = 8, json_schema = 16]);
layout!(CAudioFormat, 12, [sample_rate = 0, channels = 4, sample_format = 8]);
layout!(CRawVideoFormat, 12, [width = 0, height = 4, pixel_format = 8]);
layout!(CPacketMetadata, 48, [timestamp_us = 0, has_timestamp_us = 8, duration_us = 16,
    has_duration_us = 24, sequence = 32, has_sequence = 40]);
layout!(CVideoFrame, 48, [width = 0, height = 4, pixel_format = 8, data = 16, data_len = 24,
    buffer_handle = 32, metadata = 40]);
layout!(CAudioFrame, 40, [sample_rate = 0, channels = 4, samples = 8, sample_count = 16,
    buffer_handle = 24, metadata = 32]);
layout!(CCustomPacket, 40, [type_id = 0, encoding = 8, data_json = 16, data_len = 24, metadata = 32]);
layout!(CBinaryPacket, 48, [data = 0, data_len = 8, content_type = 16, metadata = 24,
    buffer_handle = 32, free_fn = 40]);
layout!(CBinaryPacketV8, 32, [data = 0, data_len = 8, content_type = 16, metadata = 24]);
layout!(CPacket, 24, [packet_type = 0, data = 8, len = 16]);
layout!(CPacketTypeInfo, 32, [type_discriminant = 0, audio_format = 8, custom_type_id = 16,
    raw_video_format = 24]);
layout!(CInputPin, 24, [name = 0, accepts_types = 8, accepts_types_count = 16]);
layout!(COutputPin, 40, [name = 0, produces_type = 8]);
layout!(CNodeMetadata, 72, [kind = 0, description = 8, inputs = 16, inputs_count = 24, outputs = 32,
    outputs_count = 40, param_schema = 48, categories = 56, categories_count = 64]);
layout!(CSourceConfig, 24, [is_source = 0, tick_interval_us = 8, max_ticks = 16]);
layout!(CTickResult, 24, [result = 0, done = 16]);
layout!(CAllocVideoResult, 32, [data = 0, len = 8, handle = 16, free_fn = 24]);
layout!(CAllocAudioResult, 32, [data = 0, sample_count = 8, handle = 16, free_fn = 24]);
layout!(CNodeCallbacks, 64, [struct_size = 0, output_callback = 8, output_user_data = 16,
    telemetry_callback = 24, telemetry_user_data = 32, alloc_video = 40, alloc_audio = 48,
    alloc_user_data = 56]);
layout!(CNativePluginAPI, 88, [version = 0, get_metadata = 8, create_instance = 16, process_packet = 24,
    update_params = 32, flush = 40, destroy_instance = 48, get_source_config = 56, tick = 64,
    get_runtime_param_schema = 72, on_upstream_hint = 80]);
