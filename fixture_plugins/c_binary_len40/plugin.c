/*
 * c_binary_len40: a C binary echo processor (API v9) that labels its
 * BinaryWithMeta packets with the wrong size (ABI.md 2.3, 8.6: CPacket.len
 * is 32 for the v7/v8 struct or >= 48 for the v9 one; Appendix A.1: the
 * SDK comment's "40-byte" layout does not exist).
 *
 * DEFECT: every emitted BinaryWithMeta says len 40. Everything else is the
 * reference behaviour: a delivered v9 handle is left to the host (rule 1),
 * payloads are echoed during the call, errors are static strings.
 */
#include "../c_common/skfix_c.h"

#define KIND "c_binary_len40"
#define BINARY_WITH_META_LEN 40 /* DEFECT: "v8 layout is 40 bytes" */

static const CPacketTypeInfo IN_TYPES[] = {{CPacketType_Binary, NULL, NULL, NULL}};
static const CInputPin INPUTS[] = {{"in", IN_TYPES, 1}};
static const COutputPin OUTPUTS[] = {{"bytes", {CPacketType_BinaryWithMeta, NULL, NULL, NULL}}};
static const char *const CATEGORIES[] = {"test"};
static const CNodeMetadata METADATA = {
    .kind = KIND,
    .description = "Binary echo processor (conformance fixture)",
    .inputs = INPUTS,
    .inputs_count = 1,
    .outputs = OUTPUTS,
    .outputs_count = 1,
    .param_schema = "{\"type\":\"object\"}",
    .categories = CATEGORIES,
    .categories_count = 1,
};

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult emit(const CNodeCallbacks *cb, const uint8_t *data, size_t len) {
    CBinaryPacket out = {data != NULL ? data : SKFIX_EMPTY, len, "application/octet-stream", NULL, NULL, NULL};
    CPacket pkt = {CPacketType_BinaryWithMeta, &out, BINARY_WITH_META_LEN};
    CResult r = cb->output_callback("bytes", &pkt, cb->output_user_data);
    return r.success ? skfix_ok() : skfix_fail(KIND ": output callback rejected the packet");
}

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
    switch (packet->packet_type) {
    case CPacketType_Binary:
        return emit(cb, packet->data, packet->len);
    case CPacketType_BinaryWithMeta: {
        if (packet->len < sizeof(CBinaryPacketV8)) return skfix_fail(KIND ": BinaryWithMeta packet too small");
        const CBinaryPacket *bp = packet->data;
        if (bp->data == NULL && bp->data_len > 0)
            return skfix_fail("Invalid packet: BinaryWithMeta packet has null data pointer");
        if (bp->content_type != NULL &&
            !skfix_valid_utf8((const unsigned char *)bp->content_type, strlen(bp->content_type)))
            return skfix_fail("Invalid packet: Invalid UTF-8 in content_type");
        return emit(cb, bp->data, bp->data_len); /* a delivered handle stays for the host to free */
    }
    case CPacketType_OpusAudio:
    case CPacketType_Any:
    case CPacketType_Passthrough:
        return skfix_fail(KIND ": pin-type tags are not packets");
    default:
        return skfix_fail(KIND ": unsupported packet type (accepts Binary)");
    }
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, skfix_create_instance, process_packet, skfix_update_params, skfix_destroy_instance)

SKFIX_EXPORT_API(API)
