/*
 * c_alloc_null_deref: a v9 C gain plugin that publishes its output in a
 * frame-pool buffer (ABI.md 4.14, zero-copy). Written from ABI.md by someone
 * who missed that alloc_audio returns the null result (data NULL) when the
 * pipeline has no audio pool: it writes through the returned pointer without
 * checking it. With a pool it conforms.
 */
#include "../c_common/skfix_c.h"

#define KIND "c_alloc_null_deref"

static const CAudioFormat FORMAT = {48000, 2, CSampleFormat_F32};
static const CPacketTypeInfo IN_TYPES[] = {{CPacketType_RawAudio, &FORMAT, NULL, NULL}};
static const CInputPin INPUTS[] = {{"in", IN_TYPES, 1}};
static const COutputPin OUTPUTS[] = {{"out", {CPacketType_RawAudio, &FORMAT, NULL, NULL}}};
static const char *const CATEGORIES[] = {"audio"};
static const CNodeMetadata METADATA = {
    .kind = KIND,
    .description = "Halves the gain of interleaved f32 audio, writing into pool buffers",
    .inputs = INPUTS,
    .inputs_count = 1,
    .outputs = OUTPUTS,
    .outputs_count = 1,
    .param_schema = "{\"type\":\"object\"}",
    .categories = CATEGORIES,
    .categories_count = 1,
};

static const float SILENCE[1] = {0.0f};

static CResult emit(const CNodeCallbacks *cb, const CAudioFrame *in, const float *samples, size_t count,
                    void *handle) {
    CAudioFrame out = {in->sample_rate, in->channels, samples, count, handle, in->metadata};
    CPacket pkt = {CPacketType_RawAudio, &out, sizeof(CAudioFrame)};
    CResult r = cb->output_callback("out", &pkt, cb->output_user_data);
    return r.success ? skfix_ok() : skfix_fail(KIND ": output callback rejected the packet");
}

static CResult gain(const CAudioFrame *in, const CNodeCallbacks *cb) {
    if (in->samples == NULL) return skfix_fail("Invalid packet: Null samples pointer in audio frame");
    if (in->sample_count == 0) return emit(cb, in, SILENCE, 0, NULL);
    bool has_pool = cb->struct_size >= 56 && cb->alloc_audio != NULL;
    if (!has_pool) {
        float *copy = malloc(in->sample_count * sizeof(float));
        if (copy == NULL) return skfix_fail(KIND ": out of memory");
        for (size_t i = 0; i < in->sample_count; i++) copy[i] = in->samples[i] * 0.5f;
        CResult r = emit(cb, in, copy, in->sample_count, NULL);
        free(copy);
        return r;
    }
    CAllocAudioResult buffer = cb->alloc_audio(in->sample_count, cb->alloc_user_data);
    /* DEFECT: buffer.data is NULL when the host has no audio pool (ABI.md 4.14); not checked */
    for (size_t i = 0; i < in->sample_count; i++) buffer.data[i] = in->samples[i] * 0.5f;
    return emit(cb, in, buffer.data, buffer.sample_count, buffer.handle);
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    switch (packet->packet_type) {
    case CPacketType_RawAudio:
        if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
        return gain((const CAudioFrame *)packet->data, cb);
    default:
        if (skfix_tag_refusal(packet->packet_type) != NULL) return skfix_fail(skfix_tag_refusal(packet->packet_type));
        return skfix_fail(KIND ": unsupported packet type (accepts RawAudio)");
    }
}

SKFIX_PROCESSOR_API(API, get_metadata, process_packet)

SKFIX_EXPORT_API(API)
