/*
 * c_meta_mutates: a C Text echo processor (API v9) that keeps a live
 * status line in its metadata (ABI.md 4.2: everything reachable from the
 * metadata stays valid and unchanged while the library is loaded; 8.2:
 * byte-identical after running packets).
 *
 * DEFECT: the description is a static char buffer that process_packet
 * rewrites with a process-wide packet counter. Creating and destroying
 * instances leaves it alone; running packets changes it.
 */
#include <stdio.h>

#include "../c_common/skfix_c.h"

#define KIND "c_meta_mutates"

static char DESCRIPTION[96] = "Text echo processor";
static unsigned long long PACKETS_SEEN = 0;

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, DESCRIPTION)

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return skfix_fail(KIND ": unsupported packet type (accepts Text)");
    /* DEFECT: the metadata the host copied at load is rewritten here. */
    snprintf(DESCRIPTION, sizeof DESCRIPTION, "Text echo processor, %llu packets processed", ++PACKETS_SEEN);
    return skfix_echo_text(packet, cb, "out", KIND ": invalid UTF-8 in text packet");
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
