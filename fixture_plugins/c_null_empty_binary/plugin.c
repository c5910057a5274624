/*
 * c_null_empty_binary: a C Binary echo processor (API v9).
 *
 * Input `in` accepts Binary (a v9 host delivers BinaryWithMeta, 10). The bytes
 * are copied and sent on `out` as a plain Binary (5) packet. A delivered
 * zero-copy handle is released early (free_fn once, then NULL written into the
 * host's buffer_handle), as ABI.md 4.16 allows.
 *
 * DEFECT: the copy is `len ? malloc(len) : NULL`, so an empty payload is sent
 * with a NULL data pointer. ABI.md 5.0 C2 / 5.4 / 8.6: CPacket.data must be
 * non-NULL for every type, even Binary with len 0; the host refuses the packet
 * ("Failed to convert packet: Null packet data pointer"). Ordinary traffic
 * (non-empty payloads) never shows it; only an empty payload does
 * (wire-in.binary.empty, wire-in.binary-with-meta.handle-empty).
 */
#include "../c_common/skfix_c.h"

#define KIND "c_null_empty_binary"

static const CPacketTypeInfo IN_TYPES[] = {{CPacketType_Binary, NULL, NULL, NULL}};
static const CInputPin INPUTS[] = {{"in", IN_TYPES, 1}};
static const COutputPin OUTPUTS[] = {{"out", {CPacketType_Binary, NULL, NULL, NULL}}};
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

static CResult send_copy(const CNodeCallbacks *cb, const uint8_t *data, size_t len, const CBinaryPacket *owner) {
    uint8_t *copy = len ? malloc(len) : NULL; /* DEFECT: NULL for an empty payload */
    if (len && copy == NULL) return skfix_fail(KIND ": out of memory");
    if (len) memcpy(copy, data, len);
    if (owner != NULL) skfix_release_handle(owner); /* after this, the host's bytes are not read again */
    CPacket pkt = {CPacketType_Binary, copy, len};
    CResult r = cb->output_callback("out", &pkt, cb->output_user_data);
    free(copy);
    return r.success ? skfix_ok() : skfix_fail(KIND ": output callback rejected the packet");
}

static CResult handle_binary_with_meta(const CPacket *packet, const CNodeCallbacks *cb) {
    if (packet->len < sizeof(CBinaryPacketV8)) return skfix_fail("Invalid packet: BinaryWithMeta packet too small");
    const CBinaryPacket *bp = (const CBinaryPacket *)packet->data;
    bool has_handle = packet->len >= sizeof(CBinaryPacket) && bp->buffer_handle != NULL;
    if (bp->data == NULL && bp->data_len > 0) {
        if (has_handle) skfix_release_handle(bp);
        return skfix_fail("Invalid packet: BinaryWithMeta packet has null data pointer");
    }
    if (bp->content_type != NULL &&
        !skfix_valid_utf8((const unsigned char *)bp->content_type, strlen(bp->content_type))) {
        if (has_handle) skfix_release_handle(bp);
        return skfix_fail("Invalid packet: Invalid UTF-8 in content_type");
    }
    return send_copy(cb, bp->data, bp->data_len, has_handle ? bp : NULL);
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    switch (packet->packet_type) {
    case CPacketType_Binary:
        if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
        return send_copy(cb, packet->data, packet->len, NULL);
    case CPacketType_BinaryWithMeta:
        if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
        return handle_binary_with_meta(packet, cb);
    default:
        return skfix_refuse_type(packet->packet_type, KIND ": unsupported packet type (accepts Binary, BinaryWithMeta)");
    }
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
