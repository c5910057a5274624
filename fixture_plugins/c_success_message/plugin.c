/*
 * c_success_message: a C Text echo processor (API v9) that fills
 * CResult.error_message on success (ABI.md 3.3: NULL on success).
 *
 * DEFECT: a processed packet is reported as {true, "ok"}. Failures and
 * every other entry point follow the reference behaviour.
 */
#include "../c_common/skfix_c.h"

#define KIND "c_success_message"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor (conformance fixture)")

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return skfix_fail(KIND ": unsupported packet type (accepts Text)");
    CResult r = skfix_echo_text(packet, cb, "out", KIND ": invalid UTF-8 in text packet");
    if (r.success) r.error_message = "ok"; /* DEFECT: must stay NULL on success */
    return r;
}

static const CNativePluginAPI API = {
    .version = STREAMKIT_NATIVE_PLUGIN_API_VERSION,
    .get_metadata = get_metadata,
    .create_instance = skfix_create_instance,
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
