/*
 * skfix_c.h - shared by the defective C fixtures (entry_not_code,
 * reload_changes, leaks_per_load, c_double_release, c_bad_errors,
 * c_null_empty_binary, c_parallel_chunks, c_progress_thread, c_null_content_type, c_alloc_null_deref,
 * c_v6_positional and c_stack_message, c_success_message, c_meta_mutates, c_count_overrun, c_binary_len40,
 * c_params_lenient, c_shared_handle).
 *
 * Not a fixture itself (no fixture.toml): the parts of the reference C
 * plugin (conforming_c/plugin.c) that these fixtures do not change, as
 * static helpers, so that each fixture's plugin.c shows only its metadata,
 * its table and its one deliberate defect. Include it from a fixture's
 * plugin.c as "../c_common/skfix_c.h" (gcc runs with -I fixture_plugins/include).
 *
 * Everything is `static` and marked unused-ok: a fixture uses what it needs
 * and the build runs with -Wall -Werror.
 */
#ifndef SKFIX_C_H
#define SKFIX_C_H

#include <stdlib.h>
#include <string.h>

#include "streamkit_plugin.h"

#define SKFIX_UNUSED __attribute__((unused))

/* A non-NULL pointer for empty payloads (the host rejects NULL data). */
static const uint8_t SKFIX_EMPTY[1] SKFIX_UNUSED = {0};

typedef struct SkfixInstance {
    CLogCallback log_cb;
    void *log_user_data;
    CLogEnabledCallback enabled_cb; /* set by the exported setter (v9) */
    void *enabled_user_data;
    uint64_t packets;
} SkfixInstance;

static SKFIX_UNUSED CResult skfix_ok(void) {
    CResult r = {true, NULL};
    return r;
}

static SKFIX_UNUSED CResult skfix_fail(const char *msg) {
    CResult r = {false, msg};
    return r;
}

/* Strict UTF-8 validation (no overlongs, no surrogates, <= U+10FFFF). */
static SKFIX_UNUSED bool skfix_valid_utf8(const unsigned char *s, size_t n) {
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

/* Params: NULL, "" (or only whitespace), JSON null or a JSON object (simple structural check, as conforming_c). */
static SKFIX_UNUSED bool skfix_params_ok(const char *params) {
    if (params == NULL) return true;
    size_t n = strlen(params);
    if (!skfix_valid_utf8((const unsigned char *)params, n)) return false;
    const char *p = params;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p == '\0' || strcmp(p, "null") == 0) return true;
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

/* Log only when the host says the level is enabled (or never told us). */
static SKFIX_UNUSED void skfix_log(const SkfixInstance *inst, const char *target, CLogLevel level, const char *msg) {
    if (inst->log_cb == NULL) return;
    if (inst->enabled_cb != NULL && !inst->enabled_cb(level, target, inst->enabled_user_data)) return;
    inst->log_cb(level, target, msg, inst->log_user_data);
}

/* ---- default entry points (the reference behaviour) ---- */

static SKFIX_UNUSED CPluginHandle skfix_create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    if (!skfix_params_ok(params)) return NULL;
    SkfixInstance *inst = calloc(1, sizeof(SkfixInstance));
    if (inst == NULL) return NULL;
    inst->log_cb = log_cb;
    inst->log_user_data = log_user_data;
    return inst;
}

static SKFIX_UNUSED CResult skfix_update_params(CPluginHandle handle, const char *params_json) {
    if (handle == NULL) return skfix_fail("Invalid handle (null)");
    if (!skfix_params_ok(params_json)) return skfix_fail("Invalid params: expected a JSON object");
    return skfix_ok();
}

static SKFIX_UNUSED CResult skfix_flush(CPluginHandle handle, const CNodeCallbacks *cb) {
    if (handle == NULL || cb == NULL) return skfix_fail("Invalid handle or callbacks (null)");
    return skfix_ok();
}

static SKFIX_UNUSED void skfix_destroy_instance(CPluginHandle handle) { free(handle); }

static SKFIX_UNUSED CSchemaResult skfix_no_runtime_schema(CPluginHandle handle) {
    (void)handle;
    CSchemaResult r = {true, NULL, NULL};
    return r;
}

static SKFIX_UNUSED bool skfix_call_args_ok(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                                            const CNodeCallbacks *cb) {
    return handle != NULL && input_pin != NULL && packet != NULL && cb != NULL && cb->output_callback != NULL;
}

/* Echo a Text packet on `pin` (NULL data and invalid UTF-8 refused with `bad_utf8_message`). */
static SKFIX_UNUSED CResult skfix_echo_text(const CPacket *packet, const CNodeCallbacks *cb, const char *pin,
                                            const char *bad_utf8_message) {
    if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
    const char *text = packet->data;
    size_t n = strlen(text); /* len is not trusted for Text */
    if (!skfix_valid_utf8((const unsigned char *)text, n)) return skfix_fail(bad_utf8_message);
    CPacket out = {CPacketType_Text, text, n + 1};
    CResult r = cb->output_callback(pin, &out, cb->output_user_data);
    return r.success ? skfix_ok() : skfix_fail("output callback rejected the packet");
}

/* Pin-type tags are never packets (ABI.md 5.0 C3): the SDK's refusal, or NULL for a runtime type. */
static SKFIX_UNUSED const char *skfix_tag_refusal(CPacketType type) {
    switch (type) {
    case CPacketType_OpusAudio:
        return "Invalid packet: Unsupported packet type: OpusAudio";
    case CPacketType_Any:
        return "Invalid packet: Unsupported packet type: Any";
    case CPacketType_Passthrough:
        return "Invalid packet: Unsupported packet type: Passthrough";
    default:
        return NULL;
    }
}

/* Refuse a pin-type tag with the SDK's wording, anything else with `other`. */
static SKFIX_UNUSED CResult skfix_refuse_type(CPacketType type, const char *other) {
    const char *tag = skfix_tag_refusal(type);
    return skfix_fail(tag != NULL ? tag : other);
}

/* Release a delivered v9 binary handle early: free it once AND null the host's field (ABI.md 4.16 rule 2). */
static SKFIX_UNUSED void skfix_release_handle(const CBinaryPacket *bp) {
    CBinaryPacket *writable = (CBinaryPacket *)bp; /* the host's struct is writable (ABI 4.16) */
    if (writable->buffer_handle != NULL && writable->free_fn != NULL) {
        writable->free_fn(writable->buffer_handle);
        writable->buffer_handle = NULL;
    }
}

/* process_packet of a Text echo on `out`: anything but valid Text is refused with a static message. */
static SKFIX_UNUSED CResult skfix_text_echo_process(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                                                    const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail("skfix: invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return skfix_fail("skfix: unsupported packet type (accepts Text)");
    return skfix_echo_text(packet, cb, "out", "skfix: invalid UTF-8 in text packet");
}

/* The exported v9 setter body: store the enabled callback on the instance. */
static SKFIX_UNUSED void skfix_set_log_enabled(CPluginHandle handle, CLogEnabledCallback cb, void *user_data) {
    if (handle == NULL) return;
    SkfixInstance *inst = handle;
    inst->enabled_cb = cb;
    inst->enabled_user_data = user_data;
}

/*
 * Static metadata of a Text echo processor: input `in` accepts Text, output
 * `out` is Passthrough (the harness then expects output == input).
 * `description` may be a string literal or the address of a static buffer.
 */
#define SKFIX_TEXT_ECHO_METADATA(name, kind_, desc_) SKFIX_TEXT_METADATA(name, kind_, desc_, CPacketType_Passthrough)

/* The same with a Text output pin: a Text processor whose output is not a plain echo. */
#define SKFIX_TEXT_METADATA(name, kind_, desc_, out_type)                                                         \
    static const CPacketTypeInfo name##_IN_TYPES[] = {{CPacketType_Text, NULL, NULL, NULL}};                      \
    static const CInputPin name##_INPUTS[] = {{"in", name##_IN_TYPES, 1}};                                        \
    static const COutputPin name##_OUTPUTS[] = {{"out", {(out_type), NULL, NULL, NULL}}};                         \
    static const char *const name##_CATEGORIES[] = {"test"};                                                     \
    static const CNodeMetadata name = {                                                                          \
        .kind = (kind_),                                                                                         \
        .description = (desc_),                                                                                  \
        .inputs = name##_INPUTS,                                                                                 \
        .inputs_count = 1,                                                                                       \
        .outputs = name##_OUTPUTS,                                                                               \
        .outputs_count = 1,                                                                                      \
        .param_schema = "{\"type\":\"object\"}",                                                                 \
        .categories = name##_CATEGORIES,                                                                         \
        .categories_count = 1,                                                                                   \
    };

/* A v9 processor table: the given create/process/update/destroy, the reference flush, no source entries. */
#define SKFIX_PROCESSOR_TABLE(name, get_metadata_, create_, process_, update_, destroy_)                             \
    static const CNativePluginAPI name = {                                                                       \
        .version = STREAMKIT_NATIVE_PLUGIN_API_VERSION,                                                          \
        .get_metadata = (get_metadata_),                                                                         \
        .create_instance = (create_),                                                                            \
        .process_packet = (process_),                                                                            \
        .update_params = (update_),                                                                              \
        .flush = skfix_flush,                                                                                    \
        .destroy_instance = (destroy_),                                                                          \
        .get_source_config = NULL,                                                                               \
        .tick = NULL,                                                                                            \
        .get_runtime_param_schema = skfix_no_runtime_schema,                                                     \
        .on_upstream_hint = NULL,                                                                                \
    };

/* Define the exported entry symbol (returning `table`) and the v9 setter. */
#define SKFIX_EXPORT_API(table)                                                                                    \
    STREAMKIT_EXPORT const CNativePluginAPI *streamkit_native_plugin_api(void) { return &(table); }                 \
    STREAMKIT_EXPORT void streamkit_native_plugin_set_log_enabled_callback(CPluginHandle handle,                   \
                                                                           CLogEnabledCallback cb, void *user_data) { \
        skfix_set_log_enabled(handle, cb, user_data);                                                              \
    }

/* A v9 processor table with the default entry points, `get_metadata_` and `process_packet_`. */
#define SKFIX_PROCESSOR_API(table, get_metadata_, process_packet_)                                                \
    SKFIX_PROCESSOR_TABLE(table, get_metadata_, skfix_create_instance, process_packet_, skfix_update_params,        \
                          skfix_destroy_instance)

#endif /* SKFIX_C_H */
