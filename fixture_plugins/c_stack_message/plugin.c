/*
 * c_stack_message: a C Text echo processor (API v9) whose process_packet
 * error messages live on the stack (ABI.md 4.1: a message is borrowed and
 * must stay valid until the next call into the plugin on that thread).
 *
 * DEFECT: refusals are formatted with snprintf into a local char array and
 * that array's address is returned in CResult.error_message. The frame is
 * popped when process_packet returns, so the host copies a dead buffer.
 * update_params and flush use static strings and are fine.
 */
#include <stdio.h>

#include "../c_common/skfix_c.h"

#define KIND "c_stack_message"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor (conformance fixture)")

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

/* DEFECT: the message is formatted into this frame and returned by address. */
static __attribute__((noinline)) CResult refuse(const char *what, int packet_type) {
    char message[160];
    snprintf(message, sizeof message, KIND ": refusing %s (packet type %d)", what, packet_type);
    CResult r;
    r.success = false;
    r.error_message = message;
    return r;
}

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text) return refuse("a packet that is not Text", packet->packet_type);
    if (packet->data == NULL) return refuse("Text with a NULL data pointer", packet->packet_type);
    const char *text = packet->data;
    if (!skfix_valid_utf8((const unsigned char *)text, strlen(text)))
        return refuse("Text that is not valid UTF-8", packet->packet_type);
    return skfix_echo_text(packet, cb, "out", KIND ": invalid UTF-8 in text packet");
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, skfix_create_instance, process_packet, skfix_update_params, skfix_destroy_instance)

SKFIX_EXPORT_API(API)
