/*
 * streamkit_plugin.h - StreamKit native plugin C ABI, version 9.
 *
 * Written for the streamkit-conformance fixture corpus from the ABI reference
 * (section 3: x86_64 Linux, System V, LP64). Upstream ships no v9 C header
 * (its C example targets v4). Every size and offset is pinned by
 * _Static_assert below, so a header edit that changes the layout fails to
 * compile instead of producing a silently incompatible plugin.
 *
 * Rules a C plugin must follow that the types cannot express:
 *   - Every array pointer in CNodeMetadata must be non-NULL, even with count 0.
 *   - Error messages are borrowed by the host: return static strings or
 *     per-instance buffers.
 *   - CNodeCallbacks and everything reachable from it are valid only during
 *     the call; never keep them.
 *   - v9 hosts deliver Binary as BinaryWithMeta (10) with a writable 48-byte
 *     CBinaryPacket. Either ignore buffer_handle, or call free_fn(handle) AND
 *     write NULL into buffer_handle ("release early"). When emitting your own
 *     BinaryWithMeta, set buffer_handle and free_fn to NULL.
 *   - Check struct_size before using telemetry_callback (>= 32),
 *     alloc_video (>= 48) and alloc_audio (>= 56).
 */
#ifndef STREAMKIT_PLUGIN_H
#define STREAMKIT_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STREAMKIT_NATIVE_PLUGIN_API_VERSION 9u
#define STREAMKIT_MIN_SUPPORTED_API_VERSION 6u
#define STREAMKIT_PLUGIN_API_SYMBOL "streamkit_native_plugin_api"
#define STREAMKIT_PLUGIN_SET_LOG_ENABLED_SYMBOL "streamkit_native_plugin_set_log_enabled_callback"

#define STREAMKIT_EXPORT __attribute__((visibility("default")))

typedef void *CPluginHandle;

typedef enum CLogLevel {
    CLogLevel_Trace = 0,
    CLogLevel_Debug = 1,
    CLogLevel_Info = 2,
    CLogLevel_Warn = 3,
    CLogLevel_Error = 4
} CLogLevel;

typedef enum CSampleFormat { CSampleFormat_F32 = 0, CSampleFormat_S16Le = 1 } CSampleFormat;

typedef enum CPacketType {
    CPacketType_RawAudio = 0,
    CPacketType_OpusAudio = 1,
    CPacketType_Text = 2,
    CPacketType_Transcription = 3,
    CPacketType_Custom = 4,
    CPacketType_Binary = 5,
    CPacketType_Any = 6,
    CPacketType_Passthrough = 7,
    CPacketType_RawVideo = 8,
    CPacketType_EncodedVideo = 9,
    CPacketType_BinaryWithMeta = 10,
    CPacketType_EncodedAudio = 11
} CPacketType;

typedef enum CPixelFormat { CPixelFormat_Rgba8 = 0, CPixelFormat_I420 = 1, CPixelFormat_Nv12 = 2 } CPixelFormat;

typedef enum CCustomEncoding { CCustomEncoding_Json = 0 } CCustomEncoding;

typedef struct CResult {
    bool success;
    const char *error_message; /* borrowed; NULL on success */
} CResult;

typedef struct CSchemaResult {
    bool success;
    const char *error_message;
    const char *json_schema;
} CSchemaResult;

typedef struct CAudioFormat {
    uint32_t sample_rate;
    uint16_t channels;
    CSampleFormat sample_format;
} CAudioFormat;

typedef struct CRawVideoFormat {
    uint32_t width;  /* 0 = wildcard */
    uint32_t height; /* 0 = wildcard */
    CPixelFormat pixel_format;
} CRawVideoFormat;

typedef struct CPacketMetadata {
    uint64_t timestamp_us;
    bool has_timestamp_us;
    uint64_t duration_us;
    bool has_duration_us;
    uint64_t sequence;
    bool has_sequence;
} CPacketMetadata;

typedef struct CVideoFrame {
    uint32_t width;
    uint32_t height;
    CPixelFormat pixel_format;
    const uint8_t *data;
    size_t data_len;
    void *buffer_handle; /* NULL, or a handle from alloc_video */
    const CPacketMetadata *metadata;
} CVideoFrame;

typedef struct CAudioFrame {
    uint32_t sample_rate;
    uint16_t channels;
    const float *samples; /* interleaved f32 */
    size_t sample_count;  /* all channels */
    void *buffer_handle;  /* NULL, or a handle from alloc_audio */
    const CPacketMetadata *metadata;
} CAudioFrame;

typedef struct CCustomPacket {
    const char *type_id;
    CCustomEncoding encoding;
    const uint8_t *data_json; /* not NUL-terminated */
    size_t data_len;
    const CPacketMetadata *metadata;
} CCustomPacket;

typedef void (*CFreeFn)(void *handle);

/* v9: 48 bytes. v7/v8 plugins see only the first four fields (32 bytes). */
typedef struct CBinaryPacket {
    const uint8_t *data;
    size_t data_len;
    const char *content_type;
    const CPacketMetadata *metadata;
    void *buffer_handle; /* v9; read only if CPacket.len >= 48 */
    CFreeFn free_fn;     /* v9; NULL iff buffer_handle NULL */
} CBinaryPacket;

typedef struct CBinaryPacketV8 {
    const uint8_t *data;
    size_t data_len;
    const char *content_type;
    const CPacketMetadata *metadata;
} CBinaryPacketV8;

typedef struct CPacket {
    CPacketType packet_type;
    const void *data;
    size_t len;
} CPacket;

typedef struct CPacketTypeInfo {
    CPacketType type_discriminant;
    const CAudioFormat *audio_format;        /* RawAudio */
    const char *custom_type_id;              /* Custom id; EncodedAudio/EncodedVideo codec */
    const CRawVideoFormat *raw_video_format; /* RawVideo */
} CPacketTypeInfo;

typedef struct CInputPin {
    const char *name;
    const CPacketTypeInfo *accepts_types;
    size_t accepts_types_count;
} CInputPin;

typedef struct COutputPin {
    const char *name;
    CPacketTypeInfo produces_type;
} COutputPin;

typedef struct CNodeMetadata {
    const char *kind;
    const char *description; /* nullable */
    const CInputPin *inputs;
    size_t inputs_count;
    const COutputPin *outputs;
    size_t outputs_count;
    const char *param_schema;
    const char *const *categories;
    size_t categories_count;
} CNodeMetadata;

typedef struct CSourceConfig {
    bool is_source;
    uint64_t tick_interval_us;
    uint64_t max_ticks; /* 0 = unlimited */
} CSourceConfig;

typedef struct CTickResult {
    CResult result;
    bool done;
} CTickResult;

typedef struct CAllocVideoResult {
    uint8_t *data; /* NULL = failure */
    size_t len;
    void *handle;
    CFreeFn free_fn;
} CAllocVideoResult;

typedef struct CAllocAudioResult {
    float *data; /* NULL = failure */
    size_t sample_count;
    void *handle;
    CFreeFn free_fn;
} CAllocAudioResult;

typedef void (*CLogCallback)(CLogLevel level, const char *target, const char *message, void *user_data);
typedef bool (*CLogEnabledCallback)(CLogLevel level, const char *target, void *user_data);
typedef void (*CSetLogEnabledCallback)(CPluginHandle handle, CLogEnabledCallback cb, void *user_data);
typedef CResult (*COutputCallback)(const char *pin_name, const CPacket *packet, void *user_data);
typedef CResult (*CTelemetryCallback)(const char *event_type, const uint8_t *data_json, size_t data_len,
                                      const CPacketMetadata *metadata, void *user_data);
typedef CAllocVideoResult (*CAllocVideoFn)(size_t min_bytes, void *user_data);
typedef CAllocAudioResult (*CAllocAudioFn)(size_t min_samples, void *user_data);

typedef struct CNodeCallbacks {
    size_t struct_size; /* 64 from the current host */
    COutputCallback output_callback;
    void *output_user_data;
    CTelemetryCallback telemetry_callback; /* nullable; needs struct_size >= 32 */
    void *telemetry_user_data;
    CAllocVideoFn alloc_video; /* nullable; needs struct_size >= 48 */
    CAllocAudioFn alloc_audio; /* nullable; needs struct_size >= 56 */
    void *alloc_user_data;
} CNodeCallbacks;

#define STREAMKIT_CALLBACKS_TELEMETRY_END 32u
#define STREAMKIT_CALLBACKS_ALLOC_VIDEO_END 48u
#define STREAMKIT_CALLBACKS_ALLOC_AUDIO_END 56u

/* The 88-byte API table (v5..v9). The first six entries must be non-NULL. */
typedef struct CNativePluginAPI {
    uint32_t version;
    const CNodeMetadata *(*get_metadata)(void);
    CPluginHandle (*create_instance)(const char *params, CLogCallback log_cb, void *log_user_data);
    CResult (*process_packet)(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *callbacks);
    CResult (*update_params)(CPluginHandle handle, const char *params_json);
    CResult (*flush)(CPluginHandle handle, const CNodeCallbacks *callbacks);
    void (*destroy_instance)(CPluginHandle handle);
    CSourceConfig (*get_source_config)(CPluginHandle handle);                     /* nullable */
    CTickResult (*tick)(CPluginHandle handle, const CNodeCallbacks *callbacks);   /* nullable */
    CSchemaResult (*get_runtime_param_schema)(CPluginHandle handle);             /* nullable */
    CResult (*on_upstream_hint)(CPluginHandle handle, const char *hint_json);    /* nullable */
} CNativePluginAPI;

/* Exported symbols. */
STREAMKIT_EXPORT const CNativePluginAPI *streamkit_native_plugin_api(void);
STREAMKIT_EXPORT void streamkit_native_plugin_set_log_enabled_callback(CPluginHandle handle, CLogEnabledCallback cb,
                                                                       void *user_data);

/* ---- layout pins (ABI reference section 3.3) ---- */
#define SK_ASSERT_SIZE(t, n) _Static_assert(sizeof(t) == (n), "sizeof(" #t ") != " #n)
#define SK_ASSERT_OFF(t, f, n) _Static_assert(offsetof(t, f) == (n), "offsetof(" #t ", " #f ") != " #n)

_Static_assert(sizeof(void *) == 8, "StreamKit ABI v9 is specified for LP64");
_Static_assert(sizeof(bool) == 1, "bool must be 1 byte");
SK_ASSERT_SIZE(CLogLevel, 4);
SK_ASSERT_SIZE(CPacketType, 4);
SK_ASSERT_SIZE(CPixelFormat, 4);
SK_ASSERT_SIZE(CSampleFormat, 4);
SK_ASSERT_SIZE(CCustomEncoding, 4);

SK_ASSERT_SIZE(CResult, 16);
SK_ASSERT_OFF(CResult, success, 0);
SK_ASSERT_OFF(CResult, error_message, 8);

SK_ASSERT_SIZE(CSchemaResult, 24);
SK_ASSERT_OFF(CSchemaResult, success, 0);
SK_ASSERT_OFF(CSchemaResult, error_message, 8);
SK_ASSERT_OFF(CSchemaResult, json_schema, 16);

SK_ASSERT_SIZE(CAudioFormat, 12);
SK_ASSERT_OFF(CAudioFormat, sample_rate, 0);
SK_ASSERT_OFF(CAudioFormat, channels, 4);
SK_ASSERT_OFF(CAudioFormat, sample_format, 8);

SK_ASSERT_SIZE(CRawVideoFormat, 12);
SK_ASSERT_OFF(CRawVideoFormat, width, 0);
SK_ASSERT_OFF(CRawVideoFormat, height, 4);
SK_ASSERT_OFF(CRawVideoFormat, pixel_format, 8);

SK_ASSERT_SIZE(CPacketMetadata, 48);
SK_ASSERT_OFF(CPacketMetadata, timestamp_us, 0);
SK_ASSERT_OFF(CPacketMetadata, has_timestamp_us, 8);
SK_ASSERT_OFF(CPacketMetadata, duration_us, 16);
SK_ASSERT_OFF(CPacketMetadata, has_duration_us, 24);
SK_ASSERT_OFF(CPacketMetadata, sequence, 32);
SK_ASSERT_OFF(CPacketMetadata, has_sequence, 40);

SK_ASSERT_SIZE(CVideoFrame, 48);
SK_ASSERT_OFF(CVideoFrame, width, 0);
SK_ASSERT_OFF(CVideoFrame, height, 4);
SK_ASSERT_OFF(CVideoFrame, pixel_format, 8);
SK_ASSERT_OFF(CVideoFrame, data, 16);
SK_ASSERT_OFF(CVideoFrame, data_len, 24);
SK_ASSERT_OFF(CVideoFrame, buffer_handle, 32);
SK_ASSERT_OFF(CVideoFrame, metadata, 40);

SK_ASSERT_SIZE(CAudioFrame, 40);
SK_ASSERT_OFF(CAudioFrame, sample_rate, 0);
SK_ASSERT_OFF(CAudioFrame, channels, 4);
SK_ASSERT_OFF(CAudioFrame, samples, 8);
SK_ASSERT_OFF(CAudioFrame, sample_count, 16);
SK_ASSERT_OFF(CAudioFrame, buffer_handle, 24);
SK_ASSERT_OFF(CAudioFrame, metadata, 32);

SK_ASSERT_SIZE(CCustomPacket, 40);
SK_ASSERT_OFF(CCustomPacket, type_id, 0);
SK_ASSERT_OFF(CCustomPacket, encoding, 8);
SK_ASSERT_OFF(CCustomPacket, data_json, 16);
SK_ASSERT_OFF(CCustomPacket, data_len, 24);
SK_ASSERT_OFF(CCustomPacket, metadata, 32);

SK_ASSERT_SIZE(CBinaryPacket, 48);
SK_ASSERT_OFF(CBinaryPacket, data, 0);
SK_ASSERT_OFF(CBinaryPacket, data_len, 8);
SK_ASSERT_OFF(CBinaryPacket, content_type, 16);
SK_ASSERT_OFF(CBinaryPacket, metadata, 24);
SK_ASSERT_OFF(CBinaryPacket, buffer_handle, 32);
SK_ASSERT_OFF(CBinaryPacket, free_fn, 40);

SK_ASSERT_SIZE(CBinaryPacketV8, 32);
SK_ASSERT_OFF(CBinaryPacketV8, data, 0);
SK_ASSERT_OFF(CBinaryPacketV8, data_len, 8);
SK_ASSERT_OFF(CBinaryPacketV8, content_type, 16);
SK_ASSERT_OFF(CBinaryPacketV8, metadata, 24);

SK_ASSERT_SIZE(CPacket, 24);
SK_ASSERT_OFF(CPacket, packet_type, 0);
SK_ASSERT_OFF(CPacket, data, 8);
SK_ASSERT_OFF(CPacket, len, 16);

SK_ASSERT_SIZE(CPacketTypeInfo, 32);
SK_ASSERT_OFF(CPacketTypeInfo, type_discriminant, 0);
SK_ASSERT_OFF(CPacketTypeInfo, audio_format, 8);
SK_ASSERT_OFF(CPacketTypeInfo, custom_type_id, 16);
SK_ASSERT_OFF(CPacketTypeInfo, raw_video_format, 24);

SK_ASSERT_SIZE(CInputPin, 24);
SK_ASSERT_OFF(CInputPin, name, 0);
SK_ASSERT_OFF(CInputPin, accepts_types, 8);
SK_ASSERT_OFF(CInputPin, accepts_types_count, 16);

SK_ASSERT_SIZE(COutputPin, 40);
SK_ASSERT_OFF(COutputPin, name, 0);
SK_ASSERT_OFF(COutputPin, produces_type, 8);

SK_ASSERT_SIZE(CNodeMetadata, 72);
SK_ASSERT_OFF(CNodeMetadata, kind, 0);
SK_ASSERT_OFF(CNodeMetadata, description, 8);
SK_ASSERT_OFF(CNodeMetadata, inputs, 16);
SK_ASSERT_OFF(CNodeMetadata, inputs_count, 24);
SK_ASSERT_OFF(CNodeMetadata, outputs, 32);
SK_ASSERT_OFF(CNodeMetadata, outputs_count, 40);
SK_ASSERT_OFF(CNodeMetadata, param_schema, 48);
SK_ASSERT_OFF(CNodeMetadata, categories, 56);
SK_ASSERT_OFF(CNodeMetadata, categories_count, 64);

SK_ASSERT_SIZE(CSourceConfig, 24);
SK_ASSERT_OFF(CSourceConfig, is_source, 0);
SK_ASSERT_OFF(CSourceConfig, tick_interval_us, 8);
SK_ASSERT_OFF(CSourceConfig, max_ticks, 16);

SK_ASSERT_SIZE(CTickResult, 24);
SK_ASSERT_OFF(CTickResult, result, 0);
SK_ASSERT_OFF(CTickResult, done, 16);

SK_ASSERT_SIZE(CAllocVideoResult, 32);
SK_ASSERT_OFF(CAllocVideoResult, data, 0);
SK_ASSERT_OFF(CAllocVideoResult, len, 8);
SK_ASSERT_OFF(CAllocVideoResult, handle, 16);
SK_ASSERT_OFF(CAllocVideoResult, free_fn, 24);

SK_ASSERT_SIZE(CAllocAudioResult, 32);
SK_ASSERT_OFF(CAllocAudioResult, data, 0);
SK_ASSERT_OFF(CAllocAudioResult, sample_count, 8);
SK_ASSERT_OFF(CAllocAudioResult, handle, 16);
SK_ASSERT_OFF(CAllocAudioResult, free_fn, 24);

SK_ASSERT_SIZE(CNodeCallbacks, 64);
SK_ASSERT_OFF(CNodeCallbacks, struct_size, 0);
SK_ASSERT_OFF(CNodeCallbacks, output_callback, 8);
SK_ASSERT_OFF(CNodeCallbacks, output_user_data, 16);
SK_ASSERT_OFF(CNodeCallbacks, telemetry_callback, 24);
SK_ASSERT_OFF(CNodeCallbacks, telemetry_user_data, 32);
SK_ASSERT_OFF(CNodeCallbacks, alloc_video, 40);
SK_ASSERT_OFF(CNodeCallbacks, alloc_audio, 48);
SK_ASSERT_OFF(CNodeCallbacks, alloc_user_data, 56);

SK_ASSERT_SIZE(CNativePluginAPI, 88);
SK_ASSERT_OFF(CNativePluginAPI, version, 0);
SK_ASSERT_OFF(CNativePluginAPI, get_metadata, 8);
SK_ASSERT_OFF(CNativePluginAPI, create_instance, 16);
SK_ASSERT_OFF(CNativePluginAPI, process_packet, 24);
SK_ASSERT_OFF(CNativePluginAPI, update_params, 32);
SK_ASSERT_OFF(CNativePluginAPI, flush, 40);
SK_ASSERT_OFF(CNativePluginAPI, destroy_instance, 48);
SK_ASSERT_OFF(CNativePluginAPI, get_source_config, 56);
SK_ASSERT_OFF(CNativePluginAPI, tick, 64);
SK_ASSERT_OFF(CNativePluginAPI, get_runtime_param_schema, 72);
SK_ASSERT_OFF(CNativePluginAPI, on_upstream_hint, 80);

#undef SK_ASSERT_SIZE
#undef SK_ASSERT_OFF

#ifdef __cplusplus
}
#endif

#endif /* STREAMKIT_PLUGIN_H */
