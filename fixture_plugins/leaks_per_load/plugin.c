/*
 * leaks_per_load: a C Text echo processor (API v9) that leaks on every load.
 *
 * DEFECT: a library constructor allocates a 256 KiB table (four 64 KiB
 * blocks, written so they are resident; each below glibc's mmap threshold,
 * so they come from the heap) and opens /dev/null; no destructor frees or
 * closes them. Each
 * dlopen/dlclose cycle (the host loads every plugin at least twice per
 * upload, and again on reload) leaks 256 KiB and one descriptor (ABI.md 4.9;
 * HOST.md 1.9, 6.3).
 */
#include <fcntl.h>

#include "../c_common/skfix_c.h"

#define KIND "leaks_per_load"
#define BLOCK_BYTES (64 * 1024)
#define BLOCKS 4

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor (conformance fixture)")

static unsigned char *TABLE[BLOCKS];
static int NULL_FD = -1;

/* DEFECT: acquired at load, never released (no destructor). */
__attribute__((constructor)) static void acquire_at_load(void) {
    for (int i = 0; i < BLOCKS; i++) {
        TABLE[i] = malloc(BLOCK_BYTES);
        if (TABLE[i] != NULL) memset(TABLE[i], 0xA5, BLOCK_BYTES);
    }
    NULL_FD = open("/dev/null", O_RDONLY);
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
