/*
 * reload_changes: a C Text echo processor (API v9) whose metadata depends on
 * how often the library was loaded.
 *
 * DEFECT: a library constructor counts loads in the process environment
 * (SKFIX_RELOAD_CHANGES_LOADS, which survives dlclose) and writes
 * "... (load N)" into the description. The host loads every plugin at least
 * twice per upload and expects the same metadata each time (HOST.md 1.1,
 * 1.9, 6.2); here the second load describes a different plugin.
 */
#include <stdio.h>

#include "../c_common/skfix_c.h"

#define KIND "reload_changes"
#define LOADS_VAR "SKFIX_RELOAD_CHANGES_LOADS"

static char DESCRIPTION[96] = "Text echo processor (conformance fixture)";

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, DESCRIPTION)

/* DEFECT: process-global state outside the library decides the metadata. */
__attribute__((constructor)) static void count_load(void) {
    const char *previous = getenv(LOADS_VAR);
    long loads = (previous != NULL ? strtol(previous, NULL, 10) : 0) + 1;
    char text[24];
    snprintf(text, sizeof text, "%ld", loads);
    setenv(LOADS_VAR, text, 1);
    snprintf(DESCRIPTION, sizeof DESCRIPTION, "Text echo processor (conformance fixture, load %ld)", loads);
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return skfix_fail(KIND ": unsupported packet type (accepts Text)");
    return skfix_echo_text(packet, cb, "out", "Invalid packet: Invalid UTF-8 in text packet");
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
