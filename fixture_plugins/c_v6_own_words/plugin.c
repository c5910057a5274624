/*
 * c_v6_own_words: a conforming C plugin for API v6 that refuses what it
 * cannot take in its own words (ABI.md 4.1: the message is the plugin's;
 * only Rust-SDK plugins share the SDK converter's texts).
 *
 * v6 (ABI.md 2.1, 2.2): CNodeCallbacks bundles, no BinaryWithMeta (the host
 * downgrades binary to Binary (5) for v6 plugins), no log-enabled setter.
 * Input `in` accepts Text and Binary; Text is echoed on `text`, Binary on
 * `bytes`. Messages are static strings.
 */
#include <stdlib.h>
#include <string.h>

#include "streamkit_plugin.h"

#define KIND "v6_words"

static const CPacketTypeInfo IN_TYPES[] = {
    {CPacketType_Text, NULL, NULL, NULL},
    {CPacketType_Binary, NULL, NULL, NULL},
};
static const CInputPin INPUTS[] = {{"in", IN_TYPES, 2}};
static const COutputPin OUTPUTS[] = {
    {"text", {CPacketType_Text, NULL, NULL, NULL}},
    {"bytes", {CPacketType_Binary, NULL, NULL, NULL}},
};
static const char *const CATEGORIES[] = {"utility"};
static const CNodeMetadata METADATA = {
    .kind = KIND,
    .description = "Echoes text and bytes (API v6)",
    .inputs = INPUTS,
    .inputs_count = 1,
    .outputs = OUTPUTS,
    .outputs_count = 2,
    .param_schema = "{\"type\":\"object\"}",
    .categories = CATEGORIES,
    .categories_count = 1,
};

static const uint8_t NOTHING[1] = {0};

typedef struct Node {
    CLogCallback log;
    void *log_data;
    unsigned long packets;
} Node;

static CResult ok(void) {
    CResult r = {true, NULL};
    return r;
}

static CResult refuse(const char *why) {
    CResult r = {false, why};
    return r;
}

static bool utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t more;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + more >= n) return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

/* NULL, "", "null" or one balanced JSON object, all valid UTF-8. */
static bool params_ok(const char *text) {
    if (text == NULL) return true;
    if (!utf8_ok((const unsigned char *)text, strlen(text))) return false;
    while (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r') text++;
    if (*text == '\0' || strcmp(text, "null") == 0) return true;
    if (*text != '{') return false;
    int depth = 0;
    bool quoted = false;
    for (; *text; text++) {
        if (quoted) {
            if (*text == '\\' && text[1] != '\0')
                text++;
            else if (*text == '"')
                quoted = false;
        } else if (*text == '"') {
            quoted = true;
        } else if (*text == '{') {
            depth++;
        } else if (*text == '}' && --depth == 0) {
            text++;
            break;
        }
    }
    if (depth != 0 || quoted) return false;
    while (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r') text++;
    return *text == '\0';
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log, void *log_data) {
    if (!params_ok(params)) return NULL;
    Node *node = calloc(1, sizeof(Node));
    if (node == NULL) return NULL;
    node->log = log;
    node->log_data = log_data;
    return node;
}

static CResult send(const CNodeCallbacks *cb, const char *pin, CPacketType type, const void *data, size_t len) {
    CPacket out = {type, data, len};
    CResult r = cb->output_callback(pin, &out, cb->output_user_data);
    return r.success ? ok() : refuse("v6_words: the host did not take my output");
}

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (handle == NULL || input_pin == NULL || packet == NULL || cb == NULL || cb->output_callback == NULL)
        return refuse("v6_words: called without handle, pin, packet or callbacks");
    Node *node = handle;
    node->packets++;
    if (packet->data == NULL) return refuse("v6_words: packet has no payload");
    switch (packet->packet_type) {
    case CPacketType_Text: {
        const char *text = packet->data;
        size_t n = strlen(text);
        if (!utf8_ok((const unsigned char *)text, n)) return refuse("v6_words: text is not UTF-8");
        return send(cb, "text", CPacketType_Text, text, n + 1);
    }
    case CPacketType_Binary:
        return send(cb, "bytes", CPacketType_Binary, packet->len ? packet->data : (const void *)NOTHING, packet->len);
    default:
        return refuse("v6_words: this packet type is not handled here");
    }
}

static CResult update_params(CPluginHandle handle, const char *params) {
    if (handle == NULL) return refuse("v6_words: no instance");
    return params_ok(params) ? ok() : refuse("v6_words: params must be a JSON object");
}

static CResult flush(CPluginHandle handle, const CNodeCallbacks *cb) {
    if (handle == NULL || cb == NULL) return refuse("v6_words: flush without instance or callbacks");
    return ok();
}

static void destroy_instance(CPluginHandle handle) { free(handle); }

static const CNativePluginAPI API = {
    .version = 6,
    .get_metadata = get_metadata,
    .create_instance = create_instance,
    .process_packet = process_packet,
    .update_params = update_params,
    .flush = flush,
    .destroy_instance = destroy_instance,
    .get_source_config = NULL,
    .tick = NULL,
    .get_runtime_param_schema = NULL,
    .on_upstream_hint = NULL,
};

STREAMKIT_EXPORT const CNativePluginAPI *streamkit_native_plugin_api(void) { return &API; }
