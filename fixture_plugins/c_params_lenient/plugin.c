/*
 * c_params_lenient: a C Text echo processor (API v9) whose create_instance
 * never validates its params (ABI.md 4.3: NULL on any failure; 8.3: invalid
 * UTF-8 / invalid JSON -> NULL).
 *
 * DEFECT: create_instance allocates an instance for any params text, even
 * "{not json" or bytes that are not UTF-8. update_params does validate.
 */
#include "../c_common/skfix_c.h"

#define KIND "c_params_lenient"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor (conformance fixture)")

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    (void)params; /* DEFECT: params are never checked */
    SkfixInstance *inst = calloc(1, sizeof(SkfixInstance));
    if (inst == NULL) return NULL;
    inst->log_cb = log_cb;
    inst->log_user_data = log_user_data;
    return inst;
}

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return skfix_fail(KIND ": unsupported packet type (accepts Text)");
    return skfix_echo_text(packet, cb, "out", KIND ": invalid UTF-8 in text packet");
}

static const CNativePluginAPI API = {
    .version = STREAMKIT_NATIVE_PLUGIN_API_VERSION,
    .get_metadata = get_metadata,
    .create_instance = create_instance,
    .process_packet = process_packet,
    .update_params = skfix_update_params,
    .flush = skfix_flush,
    .destroy_instance = skfix_destroy_instance,
    .get_source_config = NULL,
    .tick = NULL,
    .get_runtime_param_schema = skfix_no_runtime_schema,
    .on_upstream_hint = NULL,
};

SKFIX_EXPORT_API(API)
