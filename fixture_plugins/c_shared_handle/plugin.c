/*
 * c_shared_handle: a C Text prefixer (API v9) with one static instance for
 * the whole process (ABI.md 4.3: instances must be independent; 4.9:
 * destroy frees what the instance owns).
 *
 * DEFECT: create_instance returns the address of THE_INSTANCE every time
 * and stores the new node's prefix in it, so creating a second node
 * changes what the first one emits. destroy_instance is a no-op.
 */
#include <stdio.h>

#include "../c_common/skfix_c.h"

#define KIND "c_shared_handle"
#define MAX_PREFIX 64

static const CPacketTypeInfo IN_TYPES[] = {{CPacketType_Text, NULL, NULL, NULL}};
static const CInputPin INPUTS[] = {{"in", IN_TYPES, 1}};
static const COutputPin OUTPUTS[] = {{"out", {CPacketType_Text, NULL, NULL, NULL}}};
static const char *const CATEGORIES[] = {"text"};
static const CNodeMetadata METADATA = {
    .kind = KIND,
    .description = "Prefixes every Text packet (conformance fixture)",
    .inputs = INPUTS,
    .inputs_count = 1,
    .outputs = OUTPUTS,
    .outputs_count = 1,
    .param_schema = "{\"type\":\"object\",\"properties\":{\"prefix\":{\"type\":\"string\",\"default\":\"> \"}}}",
    .categories = CATEGORIES,
    .categories_count = 1,
};

typedef struct Prefixer {
    SkfixInstance base;
    char prefix[MAX_PREFIX];
} Prefixer;

static Prefixer THE_INSTANCE; /* DEFECT: one instance shared by every node */

/* Read {"prefix":"..."} (no escapes); false when params are not acceptable. */
static bool read_prefix(const char *params, char out[MAX_PREFIX]) {
    snprintf(out, MAX_PREFIX, "> ");
    if (!skfix_params_ok(params)) return false;
    if (params == NULL) return true;
    const char *key = strstr(params, "\"prefix\"");
    if (key == NULL) return true;
    const char *p = key + strlen("\"prefix\"");
    while (*p == ' ' || *p == ':') p++;
    if (*p != '"') return false;
    const char *end = strchr(p + 1, '"');
    if (end == NULL || memchr(p + 1, '\\', (size_t)(end - p - 1)) != NULL) return false;
    size_t n = (size_t)(end - p - 1);
    if (n >= MAX_PREFIX) return false;
    memcpy(out, p + 1, n);
    out[n] = '\0';
    return true;
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    char prefix[MAX_PREFIX];
    if (!read_prefix(params, prefix)) return NULL;
    Prefixer *inst = &THE_INSTANCE; /* DEFECT: not a fresh allocation */
    inst->base.log_cb = log_cb;
    inst->base.log_user_data = log_user_data;
    memcpy(inst->prefix, prefix, sizeof prefix);
    return inst;
}

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return skfix_fail(KIND ": unsupported packet type (accepts Text)");
    if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
    const Prefixer *inst = handle;
    const char *text = packet->data;
    size_t n = strlen(text);
    if (!skfix_valid_utf8((const unsigned char *)text, n)) return skfix_fail(KIND ": invalid UTF-8 in text packet");
    size_t p = strlen(inst->prefix);
    char *joined = malloc(p + n + 1);
    if (joined == NULL) return skfix_fail(KIND ": out of memory");
    memcpy(joined, inst->prefix, p);
    memcpy(joined + p, text, n + 1);
    CPacket out = {CPacketType_Text, joined, p + n + 1};
    CResult r = cb->output_callback("out", &out, cb->output_user_data);
    free(joined);
    return r.success ? skfix_ok() : skfix_fail(KIND ": output callback rejected the packet");
}

static CResult update_params(CPluginHandle handle, const char *params_json) {
    if (handle == NULL) return skfix_fail("Invalid handle (null)");
    char prefix[MAX_PREFIX];
    if (!read_prefix(params_json, prefix)) return skfix_fail(KIND ": params must be {\"prefix\": string}");
    memcpy(((Prefixer *)handle)->prefix, prefix, sizeof prefix);
    return skfix_ok();
}

static void destroy_instance(CPluginHandle handle) { (void)handle; /* static: nothing to free */ }

SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, process_packet, update_params, destroy_instance)

SKFIX_EXPORT_API(API)
