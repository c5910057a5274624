/*
 * conforming_c: the reference C plugin (API v9), written against
 * include/streamkit_plugin.h.
 *
 * Input `in` accepts Text and Binary. Text is echoed on `text`; Binary (5)
 * and BinaryWithMeta (10, any CPacket.len >= 32) are echoed on `bytes` as a
 * 48-byte BinaryWithMeta with a NULL handle. A delivered zero-copy handle is
 * released early: the bytes are copied first, then free_fn(handle) is
 * called once and NULL is written into the host's buffer_handle field.
 *
 * Style follows the upstream C example: static metadata arrays, malloc'ed
 * instance state, static error strings.
 */
#include <stdlib.h>
#include <string.h>

#include "streamkit_plugin.h"

#define KIND "conforming_c"

/* ---- static metadata ---- */

static const CPacketTypeInfo IN_TYPES[] = {
    {CPacketType_Text, NULL, NULL, NULL},
    {CPacketType_Binary, NULL, NULL, NULL},
};
static const CInputPin INPUTS[] = {{"in", IN_TYPES, 2}};
static const COutputPin OUTPUTS[] = {
    {"text", {CPacketType_Text, NULL, NULL, NULL}},
    {"bytes", {CPacketType_Binary, NULL, NULL, NULL}},
};
static const char *const CATEGORIES[] = {"test"};
static const CNodeMetadata METADATA = {
    .kind = KIND,
    .description = "Reference C plugin: echoes Text on `text` and binary payloads on `bytes`",
    .inputs = INPUTS,
    .inputs_count = 1,
    .outputs = OUTPUTS,
    .outputs_count = 2,
    .param_schema = "{\"type\":\"object\"}",
    .categories = CATEGORIES,
    .categories_count = 1,
};

/* A non-NULL pointer for empty payloads (the host rejects NULL data). */
static const uint8_t EMPTY[1] = {0};

typedef struct Instance {
    CLogCallback log_cb;
    void *log_user_data;
    CLogEnabledCallback enabled_cb; /* set by the exported setter (v9) */
    void *enabled_user_data;
    uint64_t packets;
} Instance;

static CResult ok(void) {
    CResult r = {true, NULL};
    return r;
}

static CResult fail(const char *msg) {
    CResult r = {false, msg};
    return r;
}

/* Log only when the host says the level is enabled (or never told us). */
static void plog(const Instance *inst, CLogLevel level, const char *msg) {
    if (inst->log_cb == NULL) return;
    if (inst->enabled_cb != NULL && !inst->enabled_cb(level, KIND, inst->enabled_user_data)) return;
    inst->log_cb(level, KIND, msg, inst->log_user_data);
}

/* Strict UTF-8 validation (no overlongs, no surrogates, <= U+10FFFF). */
static bool valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + extra >= n) return false; /* truncated sequence */
        for (size_t k = 1; k <= extra; k++) {
            unsigned char cc = s[i + k];
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
    }
    return true;
}

/*
 * Params: NULL, "" (or only whitespace) or a JSON object. The check is
 * deliberately simple: valid UTF-8, first non-space character `{`, braces
 * balanced outside strings, nothing but whitespace after the closing brace.
 */
static bool params_ok(const char *params) {
    if (params == NULL) return true;
    size_t n = strlen(params);
    if (!valid_utf8((const unsigned char *)params, n)) return false;
    const char *p = params;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p == '\0') return true;
    if (*p != '{') return false;
    int depth = 0;
    bool in_string = false;
    for (; *p; p++) {
        char c = *p;
        if (in_string) {
            if (c == '\\' && p[1] != '\0') {
                p++;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            if (--depth == 0) {
                p++;
                break;
            }
        }
    }
    if (depth != 0 || in_string) return false;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return *p == '\0';
}

/* Release a delivered v9 handle early: free it once AND null the host's field. */
static void release_handle(const CBinaryPacket *bp) {
    CBinaryPacket *writable = (CBinaryPacket *)bp; /* the host's struct is writable (ABI 4.16) */
    if (writable->buffer_handle != NULL && writable->free_fn != NULL) {
        writable->free_fn(writable->buffer_handle);
        writable->buffer_handle = NULL;
    }
}

static CResult emit_bytes(const CNodeCallbacks *cb, const uint8_t *data, size_t len, const char *content_type,
                          const CPacketMetadata *metadata) {
    CBinaryPacket out = {data != NULL ? data : EMPTY, len, content_type, metadata, NULL, NULL};
    CPacket pkt = {CPacketType_BinaryWithMeta, &out, sizeof(CBinaryPacket)};
    CResult r = cb->output_callback("bytes", &pkt, cb->output_user_data);
    return r.success ? ok() : fail("conforming_c: output callback rejected the packet");
}

static CResult handle_binary_with_meta(const CPacket *packet, const CNodeCallbacks *cb) {
    if (packet->len < sizeof(CBinaryPacketV8)) return fail("Invalid packet: BinaryWithMeta packet too small");
    const CBinaryPacket *bp = (const CBinaryPacket *)packet->data;
    /* buffer_handle/free_fn exist only in the 48-byte (v9) struct. */
    bool has_handle_fields = packet->len >= sizeof(CBinaryPacket);
    bool has_handle = has_handle_fields && bp->buffer_handle != NULL;

    if (bp->data == NULL && bp->data_len > 0) {
        if (has_handle) release_handle(bp);
        return fail("Invalid packet: BinaryWithMeta packet has null data pointer");
    }
    if (bp->content_type != NULL &&
        !valid_utf8((const unsigned char *)bp->content_type, strlen(bp->content_type))) {
        if (has_handle) release_handle(bp);
        return fail("Invalid packet: Invalid UTF-8 in content_type");
    }
    if (bp->data_len == 0) {
        if (has_handle) release_handle(bp);
        return emit_bytes(cb, EMPTY, 0, bp->content_type, bp->metadata);
    }
    uint8_t *copy = malloc(bp->data_len);
    if (copy == NULL) return fail("conforming_c: out of memory");
    memcpy(copy, bp->data, bp->data_len);
    if (has_handle) release_handle(bp); /* after this, bp->data must not be read */
    CResult r = emit_bytes(cb, copy, bp->data_len, bp->content_type, bp->metadata);
    free(copy);
    return r;
}

/* ---- entry points ---- */

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    if (!params_ok(params)) return NULL;
    Instance *inst = calloc(1, sizeof(Instance));
    if (inst == NULL) return NULL;
    inst->log_cb = log_cb;
    inst->log_user_data = log_user_data;
    plog(inst, CLogLevel_Info, "created");
    return inst;
}

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (handle == NULL || input_pin == NULL || packet == NULL || cb == NULL || cb->output_callback == NULL)
        return fail("conforming_c: invalid arguments (null)");
    Instance *inst = handle;
    inst->packets++;
    plog(inst, CLogLevel_Debug, "packet");

    switch (packet->packet_type) {
    case CPacketType_Text: {
        if (packet->data == NULL) return fail("Invalid packet: Null packet data pointer");
        const char *text = packet->data;
        size_t n = strlen(text); /* len is not trusted for Text */
        if (!valid_utf8((const unsigned char *)text, n)) return fail("Invalid packet: Invalid UTF-8 in text packet");
        CPacket out = {CPacketType_Text, text, n + 1};
        CResult r = cb->output_callback("text", &out, cb->output_user_data);
        return r.success ? ok() : fail("conforming_c: output callback rejected the packet");
    }
    case CPacketType_Binary:
        if (packet->data == NULL) return fail("Invalid packet: Null packet data pointer");
        return emit_bytes(cb, packet->data, packet->len, NULL, NULL);
    case CPacketType_BinaryWithMeta:
        if (packet->data == NULL) return fail("Invalid packet: Null packet data pointer");
        return handle_binary_with_meta(packet, cb);
    /* Pin-type tags are never packets (ABI.md 5.0 C3): the SDK's own wording. */
    case CPacketType_OpusAudio:
        return fail("Invalid packet: Unsupported packet type: OpusAudio");
    case CPacketType_Any:
        return fail("Invalid packet: Unsupported packet type: Any");
    case CPacketType_Passthrough:
        return fail("Invalid packet: Unsupported packet type: Passthrough");
    default:
        return fail("conforming_c: unsupported packet type (accepts Text, Binary, BinaryWithMeta)");
    }
}

static CResult update_params(CPluginHandle handle, const char *params_json) {
    if (handle == NULL) return fail("Invalid handle (null)");
    if (!params_ok(params_json)) return fail("conforming_c: params must be a JSON object");
    return ok();
}

static CResult flush(CPluginHandle handle, const CNodeCallbacks *cb) {
    if (handle == NULL || cb == NULL) return fail("Invalid handle or callbacks (null)");
    return ok();
}

static void destroy_instance(CPluginHandle handle) { free(handle); }

static CSchemaResult get_runtime_param_schema(CPluginHandle handle) {
    (void)handle;
    CSchemaResult r = {true, NULL, "{\"properties\":{}}"};
    return r;
}

static const CNativePluginAPI API = {
    .version = STREAMKIT_NATIVE_PLUGIN_API_VERSION,
    .get_metadata = get_metadata,
    .create_instance = create_instance,
    .process_packet = process_packet,
    .update_params = update_params,
    .flush = flush,
    .destroy_instance = destroy_instance,
    .get_source_config = NULL,
    .tick = NULL,
    .get_runtime_param_schema = get_runtime_param_schema,
    .on_upstream_hint = NULL,
};

STREAMKIT_EXPORT const CNativePluginAPI *streamkit_native_plugin_api(void) { return &API; }

STREAMKIT_EXPORT void streamkit_native_plugin_set_log_enabled_callback(CPluginHandle handle, CLogEnabledCallback cb,
                                                                       void *user_data) {
    if (handle == NULL) return;
    Instance *inst = handle;
    inst->enabled_cb = cb;
    inst->enabled_user_data = user_data;
}
