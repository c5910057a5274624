/*
 * c_double_release: a C Binary echo processor (API v9) that releases a
 * delivered zero-copy handle without clearing the field.
 *
 * Input `in` accepts Binary (a v9 host delivers BinaryWithMeta, 10); the
 * bytes are echoed on `out` as a 48-byte BinaryWithMeta with a NULL handle.
 *
 * DEFECT: when the host's CBinaryPacket carries a buffer_handle, the plugin
 * copies the bytes and calls free_fn(buffer_handle) ("release early") but
 * does not write NULL into buffer_handle. The host sees the handle still set
 * after the call and releases it again: a double free (ABI.md 4.16 rule 2).
 */
#include "../c_common/skfix_c.h"

#define KIND "c_double_release"

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

/* DEFECT: frees the handle but leaves it in the host's field (rule 2 says: free AND write NULL). */
static void release_handle(const CBinaryPacket *bp) {
    if (bp->buffer_handle != NULL && bp->free_fn != NULL) bp->free_fn(bp->buffer_handle);
}

static CResult emit_bytes(const CNodeCallbacks *cb, const uint8_t *data, size_t len, const char *content_type,
                          const CPacketMetadata *metadata) {
    CBinaryPacket out = {data != NULL ? data : SKFIX_EMPTY, len, content_type, metadata, NULL, NULL};
    CPacket pkt = {CPacketType_BinaryWithMeta, &out, sizeof(CBinaryPacket)};
    CResult r = cb->output_callback("out", &pkt, cb->output_user_data);
    return r.success ? skfix_ok() : skfix_fail(KIND ": output callback rejected the packet");
}

static CResult handle_binary_with_meta(const CPacket *packet, const CNodeCallbacks *cb) {
    if (packet->len < sizeof(CBinaryPacketV8)) return skfix_fail("Invalid packet: BinaryWithMeta packet too small");
    const CBinaryPacket *bp = (const CBinaryPacket *)packet->data;
    bool has_handle = packet->len >= sizeof(CBinaryPacket) && bp->buffer_handle != NULL;

    if (bp->data == NULL && bp->data_len > 0) {
        if (has_handle) release_handle(bp);
        return skfix_fail("Invalid packet: BinaryWithMeta packet has null data pointer");
    }
    if (bp->content_type != NULL &&
        !skfix_valid_utf8((const unsigned char *)bp->content_type, strlen(bp->content_type))) {
        if (has_handle) release_handle(bp);
        return skfix_fail("Invalid packet: Invalid UTF-8 in content_type");
    }
    if (bp->data_len == 0) {
        if (has_handle) release_handle(bp);
        return emit_bytes(cb, SKFIX_EMPTY, 0, bp->content_type, bp->metadata);
    }
    uint8_t *copy = malloc(bp->data_len);
    if (copy == NULL) return skfix_fail(KIND ": out of memory");
    memcpy(copy, bp->data, bp->data_len);
    if (has_handle) release_handle(bp);
    CResult r = emit_bytes(cb, copy, bp->data_len, bp->content_type, bp->metadata);
    free(copy);
    return r;
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    switch (packet->packet_type) {
    case CPacketType_Binary:
        if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
        return emit_bytes(cb, packet->data, packet->len, NULL, NULL);
    case CPacketType_BinaryWithMeta:
        if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
        return handle_binary_with_meta(packet, cb);
    default:
        return skfix_fail(KIND ": unsupported packet type (accepts Binary, BinaryWithMeta)");
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
