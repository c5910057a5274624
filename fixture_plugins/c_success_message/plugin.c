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
    CResult r = skfix_text_echo_process(handle, input_pin, packet, cb);
    if (r.success) r.error_message = "ok"; /* DEFECT: must stay NULL on success */
    return r;
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, skfix_create_instance, process_packet, skfix_update_params, skfix_destroy_instance)

SKFIX_EXPORT_API(API)
