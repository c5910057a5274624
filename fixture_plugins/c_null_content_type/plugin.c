/*
 * c_null_content_type: a v9 C plugin that echoes Text and binary payloads,
 * written from ABI.md by someone who assumed every BinaryWithMeta carries a
 * content type. A v9 host upgrades every plain Binary packet to
 * BinaryWithMeta with content_type NULL (ABI.md 2.2), so the first ordinary
 * binary packet crashes it; a packet with a content type works.
 */
#include "../c_common/skfix_c.h"

#define KIND "c_null_content_type"

static const CPacketTypeInfo IN_TYPES[] = {
    {CPacketType_Text, NULL, NULL, NULL},
    {CPacketType_Binary, NULL, NULL, NULL},
};
static const CInputPin INPUTS[] = {{"in", IN_TYPES, 2}};
static const COutputPin OUTPUTS[] = {{"out", {CPacketType_Passthrough, NULL, NULL, NULL}}};
static const char *const CATEGORIES[] = {"test"};
static const CNodeMetadata METADATA = {
    .kind = KIND,
    .description = "Echoes Text and binary payloads, keeping the content type",
    .inputs = INPUTS,
    .inputs_count = 1,
    .outputs = OUTPUTS,
    .outputs_count = 1,
    .param_schema = "{\"type\":\"object\"}",
    .categories = CATEGORIES,
    .categories_count = 1,
};

static CResult echo_binary(const CPacket *packet, const CNodeCallbacks *cb) {
    if (packet->len < sizeof(CBinaryPacketV8)) return skfix_fail("Invalid packet: BinaryWithMeta packet too small");
    const CBinaryPacket *bp = (const CBinaryPacket *)packet->data;
    bool has_handle = packet->len >= sizeof(CBinaryPacket) && bp->buffer_handle != NULL;
    if (bp->data == NULL && bp->data_len > 0) {
        if (has_handle) skfix_release_handle(bp);
        return skfix_fail("Invalid packet: BinaryWithMeta packet has null data pointer");
    }
    size_t type_len = strlen(bp->content_type); /* DEFECT: content_type is nullable (ABI.md 3.3, 2.2) */
    if (!skfix_valid_utf8((const unsigned char *)bp->content_type, type_len)) {
        if (has_handle) skfix_release_handle(bp);
        return skfix_fail("Invalid packet: Invalid UTF-8 in content_type");
    }
    uint8_t *copy = malloc(bp->data_len > 0 ? bp->data_len : 1);
    if (copy == NULL) return skfix_fail(KIND ": out of memory");
    if (bp->data_len > 0) memcpy(copy, bp->data, bp->data_len);
    if (has_handle) skfix_release_handle(bp);
    CBinaryPacket out = {copy, bp->data_len, bp->content_type, bp->metadata, NULL, NULL};
    CPacket pkt = {CPacketType_BinaryWithMeta, &out, sizeof(CBinaryPacket)};
    CResult r = cb->output_callback("out", &pkt, cb->output_user_data);
    free(copy);
    return r.success ? skfix_ok() : skfix_fail(KIND ": output callback rejected the packet");
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    switch (packet->packet_type) {
    case CPacketType_Text:
        return skfix_echo_text(packet, cb, "out", "Invalid packet: Invalid UTF-8 in text packet");
    case CPacketType_Binary: {
        if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
        CPacket out = {CPacketType_Binary, packet->data, packet->len};
        CResult r = cb->output_callback("out", &out, cb->output_user_data);
        return r.success ? skfix_ok() : skfix_fail(KIND ": output callback rejected the packet");
    }
    case CPacketType_BinaryWithMeta:
        if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
        return echo_binary(packet, cb);
    default:
        if (skfix_tag_refusal(packet->packet_type) != NULL) return skfix_fail(skfix_tag_refusal(packet->packet_type));
        return skfix_fail(KIND ": unsupported packet type (accepts Text and Binary)");
    }
}

SKFIX_PROCESSOR_API(API, get_metadata, process_packet)

SKFIX_EXPORT_API(API)
