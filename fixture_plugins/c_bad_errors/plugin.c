/*
 * c_bad_errors: a C Text echo processor (API v9) with two broken error
 * messages (ABI.md 4.1; HOST.md 6.9).
 *
 * DEFECT 1 (message lifetime): update_params refuses invalid params with a
 * message it formats into a freshly mapped page and unmaps again before
 * returning (a "free the buffer, return the pointer" bug made deterministic:
 * the page is gone, so the host's copy reads unmapped memory).
 * DEFECT 2 (message encoding): process_packet refuses Text that is not UTF-8
 * with the static message "\xff\xfe bad text", itself not UTF-8.
 *
 * Success bytes are always 0 or 1; valid traffic is echoed normally.
 */
#include <stdio.h>
#include <sys/mman.h>

#include "../c_common/skfix_c.h"

#define KIND "c_bad_errors"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor (conformance fixture)")

/* DEFECT 2: an error message that is not UTF-8. */
static const char BAD_TEXT_MESSAGE[] = "\xff\xfe bad text";

/* DEFECT 1: the message's storage is released before the host can copy it. */
static const char *released_message(const char *params) {
    size_t page = 4096;
    char *buffer = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED) return KIND ": invalid params";
    snprintf(buffer, page, KIND ": invalid params (%.64s)", params != NULL ? params : "NULL");
    munmap(buffer, page);
    return buffer;
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return skfix_fail(KIND ": unsupported packet type (accepts Text)");
    return skfix_echo_text(packet, cb, "out", BAD_TEXT_MESSAGE);
}

static CResult update_params(CPluginHandle handle, const char *params_json) {
    if (handle == NULL) return skfix_fail("Invalid handle (null)");
    if (!skfix_params_ok(params_json)) return skfix_fail(released_message(params_json));
    return skfix_ok();
}

static const CNativePluginAPI API = {
    .version = STREAMKIT_NATIVE_PLUGIN_API_VERSION,
    .get_metadata = get_metadata,
    .create_instance = skfix_create_instance,
    .process_packet = process_packet,
    .update_params = update_params,
    .flush = skfix_flush,
    .destroy_instance = skfix_destroy_instance,
    .get_source_config = NULL,
    .tick = NULL,
    .get_runtime_param_schema = skfix_no_runtime_schema,
    .on_upstream_hint = NULL,
};

SKFIX_EXPORT_API(API)
