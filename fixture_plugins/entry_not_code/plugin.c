/*
 * entry_not_code: a C Text echo processor (API v9) whose table entry `flush`
 * points at a static data array instead of a function.
 *
 * DEFECT: `flush` is the address of NOT_CODE, a writable (hence
 * non-executable) data array, as if the table had been filled from the wrong
 * symbol. The host calls it at end of stream: SIGSEGV on the first
 * instruction fetch (ABI.md 3.3, 8.1). Everything else is the reference echo.
 */
#include "../c_common/skfix_c.h"

#define KIND "entry_not_code"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor whose flush entry is data (conformance fixture)")

/* DEFECT: data, not code (.data is mapped rw-, never executable). */
static unsigned char NOT_CODE[64] = {0xc3 /* ret, should it ever be executable */};

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return skfix_fail(KIND ": unsupported packet type (accepts Text)");
    return skfix_echo_text(packet, cb, "out", "Invalid packet: Invalid UTF-8 in text packet");
}

typedef CResult (*FlushFn)(CPluginHandle, const CNodeCallbacks *);

static const CNativePluginAPI API = {
    .version = STREAMKIT_NATIVE_PLUGIN_API_VERSION,
    .get_metadata = get_metadata,
    .create_instance = skfix_create_instance,
    .process_packet = process_packet,
    .update_params = skfix_update_params,
    .flush = (FlushFn)(void *)NOT_CODE, /* DEFECT: the data array */
    .destroy_instance = skfix_destroy_instance,
    .get_source_config = NULL,
    .tick = NULL,
    .get_runtime_param_schema = skfix_no_runtime_schema,
    .on_upstream_hint = NULL,
};

SKFIX_EXPORT_API(API)
