/*
 * c_v6_positional: a C Text echo ported from the upstream C example (which
 * uses the pre-v6 positional callbacks, ABI.md 2.5) by bumping its version
 * to 6 and nothing else. Since v6, process_packet and flush take one
 * `const CNodeCallbacks *` (ABI.md 2.1, 3.3); this plugin still declares
 * (output_callback, output_user_data, telemetry_callback, telemetry_user_data)
 * and calls its 4th argument, the CNodeCallbacks pointer, as the output
 * callback.
 */
#include "../c_common/skfix_c.h"

#define KIND "c_v6_positional"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Echoes Text (built against the pre-v6 signatures)")

/* The pre-v6 (v2..v5) shapes: callbacks and user data passed positionally. */
static CResult process_packet_v5(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                                 COutputCallback output_cb, void *output_user_data, CTelemetryCallback telemetry_cb,
                                 void *telemetry_user_data) {
    (void)telemetry_cb;
    (void)telemetry_user_data;
    if (handle == NULL || input_pin == NULL || packet == NULL || output_cb == NULL)
        return skfix_fail(KIND ": invalid arguments (null)");
    switch (packet->packet_type) {
    case CPacketType_Text: {
        if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
        const char *text = packet->data;
        size_t n = strlen(text);
        if (!skfix_valid_utf8((const unsigned char *)text, n))
            return skfix_fail("Invalid packet: Invalid UTF-8 in text packet");
        CPacket out = {CPacketType_Text, text, n + 1};
        CResult r = output_cb("out", &out, output_user_data); /* DEFECT: since v6 this argument is a CNodeCallbacks * */
        return r.success ? skfix_ok() : skfix_fail(KIND ": output callback rejected the packet");
    }
    default:
        if (skfix_tag_refusal(packet->packet_type) != NULL) return skfix_fail(skfix_tag_refusal(packet->packet_type));
        return skfix_fail(KIND ": unsupported packet type (accepts Text)");
    }
}

static CResult flush_v5(CPluginHandle handle, COutputCallback output_cb, void *output_user_data,
                        CTelemetryCallback telemetry_cb, void *telemetry_user_data) {
    (void)output_cb;
    (void)output_user_data;
    (void)telemetry_cb;
    (void)telemetry_user_data;
    if (handle == NULL) return skfix_fail("Invalid handle or callbacks (null)");
    return skfix_ok();
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

/* The table's v6 field types, filled with the positional functions (the cast hides the mismatch). */
typedef CResult (*TableProcess)(CPluginHandle, const char *, const CPacket *, const CNodeCallbacks *);
typedef CResult (*TableFlush)(CPluginHandle, const CNodeCallbacks *);

static const CNativePluginAPI API = {
    .version = 6,
    .get_metadata = get_metadata,
    .create_instance = skfix_create_instance,
    .process_packet = (TableProcess)(void (*)(void))process_packet_v5,
    .update_params = skfix_update_params,
    .flush = (TableFlush)(void (*)(void))flush_v5,
    .destroy_instance = skfix_destroy_instance,
    .get_source_config = NULL,
    .tick = NULL,
    .get_runtime_param_schema = skfix_no_runtime_schema,
    .on_upstream_hint = NULL,
};

STREAMKIT_EXPORT const CNativePluginAPI *streamkit_native_plugin_api(void) { return &API; }
