"""C declarations of the StreamKit native plugin ABI (v9), for cffi.

Written from the ABI reference, section 3 (x86_64 Linux, LP64). Enums are
declared as ``int32_t`` typedefs rather than C enums so that an out-of-range
value written by a plugin reads back as the raw integer the validator needs to
report, instead of being coerced. ``bool`` fields are ``_Bool``: cffi refuses
to read a value other than 0 or 1, which the decoders catch and report; they
also read the raw byte where the exact value matters.

Layouts that changed between versions have their own names:
``CBinaryPacketV8`` is the 32-byte v7/v8 struct (the v9 struct is 48 bytes).
"""

from __future__ import annotations

CDEFS = r"""
typedef void *CPluginHandle;

typedef int32_t CLogLevel;
typedef int32_t CSampleFormat;
typedef int32_t CPacketType;
typedef int32_t CPixelFormat;
typedef int32_t CCustomEncoding;

typedef struct CResult {
    _Bool success;
    const char *error_message;
} CResult;

typedef struct CSchemaResult {
    _Bool success;
    const char *error_message;
    const char *json_schema;
} CSchemaResult;

typedef struct CAudioFormat {
    uint32_t sample_rate;
    uint16_t channels;
    CSampleFormat sample_format;
} CAudioFormat;

typedef struct CRawVideoFormat {
    uint32_t width;
    uint32_t height;
    CPixelFormat pixel_format;
} CRawVideoFormat;

typedef struct CPacketMetadata {
    uint64_t timestamp_us;
    _Bool has_timestamp_us;
    uint64_t duration_us;
    _Bool has_duration_us;
    uint64_t sequence;
    _Bool has_sequence;
} CPacketMetadata;

typedef struct CVideoFrame {
    uint32_t width;
    uint32_t height;
    CPixelFormat pixel_format;
    const uint8_t *data;
    size_t data_len;
    void *buffer_handle;
    const CPacketMetadata *metadata;
} CVideoFrame;

typedef struct CAudioFrame {
    uint32_t sample_rate;
    uint16_t channels;
    const float *samples;
    size_t sample_count;
    void *buffer_handle;
    const CPacketMetadata *metadata;
} CAudioFrame;

typedef struct CCustomPacket {
    const char *type_id;
    CCustomEncoding encoding;
    const uint8_t *data_json;
    size_t data_len;
    const CPacketMetadata *metadata;
} CCustomPacket;

typedef struct CBinaryPacket {
    const uint8_t *data;
    size_t data_len;
    const char *content_type;
    const CPacketMetadata *metadata;
    void *buffer_handle;
    void (*free_fn)(void *);
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
    const CAudioFormat *audio_format;
    const char *custom_type_id;
    const CRawVideoFormat *raw_video_format;
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
    const char *description;
    const CInputPin *inputs;
    size_t inputs_count;
    const COutputPin *outputs;
    size_t outputs_count;
    const char *param_schema;
    const char *const *categories;
    size_t categories_count;
} CNodeMetadata;

typedef struct CSourceConfig {
    _Bool is_source;
    uint64_t tick_interval_us;
    uint64_t max_ticks;
} CSourceConfig;

typedef struct CTickResult {
    CResult result;
    _Bool done;
} CTickResult;

typedef struct CAllocVideoResult {
    uint8_t *data;
    size_t len;
    void *handle;
    void (*free_fn)(void *);
} CAllocVideoResult;

typedef struct CAllocAudioResult {
    float *data;
    size_t sample_count;
    void *handle;
    void (*free_fn)(void *);
} CAllocAudioResult;

typedef void (*CLogCallback)(CLogLevel level, const char *target, const char *message, void *user_data);
typedef _Bool (*CLogEnabledCallback)(CLogLevel level, const char *target, void *user_data);
typedef void (*CSetLogEnabledCallback)(CPluginHandle handle, CLogEnabledCallback cb, void *user_data);
typedef CResult (*COutputCallback)(const char *pin_name, const CPacket *packet, void *user_data);
typedef CResult (*CTelemetryCallback)(const char *event_type, const uint8_t *data_json, size_t data_len,
                                      const CPacketMetadata *metadata, void *user_data);
typedef CAllocVideoResult (*CAllocVideoFn)(size_t min_bytes, void *user_data);
typedef CAllocAudioResult (*CAllocAudioFn)(size_t min_samples, void *user_data);
typedef void (*CFreeFn)(void *handle);

typedef struct CNodeCallbacks {
    size_t struct_size;
    COutputCallback output_callback;
    void *output_user_data;
    CTelemetryCallback telemetry_callback;
    void *telemetry_user_data;
    CAllocVideoFn alloc_video;
    CAllocAudioFn alloc_audio;
    void *alloc_user_data;
} CNodeCallbacks;

typedef struct CNativePluginAPI {
    uint32_t version;
    const CNodeMetadata *(*get_metadata)(void);
    CPluginHandle (*create_instance)(const char *params, CLogCallback log_cb, void *log_user_data);
    CResult (*process_packet)(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *callbacks);
    CResult (*update_params)(CPluginHandle handle, const char *params_json);
    CResult (*flush)(CPluginHandle handle, const CNodeCallbacks *callbacks);
    void (*destroy_instance)(CPluginHandle handle);
    CSourceConfig (*get_source_config)(CPluginHandle handle);
    CTickResult (*tick)(CPluginHandle handle, const CNodeCallbacks *callbacks);
    CSchemaResult (*get_runtime_param_schema)(CPluginHandle handle);
    CResult (*on_upstream_hint)(CPluginHandle handle, const char *hint_json);
} CNativePluginAPI;

typedef const CNativePluginAPI *(*CPluginApiEntry)(void);
"""

#: Names of every struct and callback type declared above, in declaration order.
STRUCT_NAMES: tuple[str, ...] = (
    "CResult",
    "CSchemaResult",
    "CAudioFormat",
    "CRawVideoFormat",
    "CPacketMetadata",
    "CVideoFrame",
    "CAudioFrame",
    "CCustomPacket",
    "CBinaryPacket",
    "CBinaryPacketV8",
    "CPacket",
    "CPacketTypeInfo",
    "CInputPin",
    "COutputPin",
    "CNodeMetadata",
    "CSourceConfig",
    "CTickResult",
    "CAllocVideoResult",
    "CAllocAudioResult",
    "CNodeCallbacks",
    "CNativePluginAPI",
)
