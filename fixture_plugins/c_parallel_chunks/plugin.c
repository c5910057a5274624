/*
 * c_parallel_chunks: a C Text processor (API v9) that "parallelises" long texts.
 *
 * Input `in` accepts Text; the text goes out on `out` (Text). A short text is
 * sent from the calling thread. A text longer than 4096 bytes is split in two
 * halves, and two worker threads send one half each; both are joined before
 * process_packet returns, so no callback is late.
 *
 * DEFECT: the two workers call output_callback at the same time. ABI.md 4.1
 * and 7: the host's callbacks write a per-call context without locking and
 * must never be called concurrently from two threads (a joined helper is fine,
 * two at once are not). Ordinary traffic (short texts) never shows it; only a
 * long text does (wire-in.text.long).
 */
#include <pthread.h>

#include "../c_common/skfix_c.h"

#define KIND "c_parallel_chunks"
#define CHUNK_THRESHOLD 4096

SKFIX_TEXT_METADATA(METADATA, KIND, "Text processor that sends long texts in two halves from two worker threads", CPacketType_Text)

typedef struct Chunk {
    const CNodeCallbacks *cb;
    char *text; /* NUL-terminated copy of one half */
    bool ok;
} Chunk;

static void *send_chunk(void *arg) {
    Chunk *chunk = arg;
    CPacket out = {CPacketType_Text, chunk->text, strlen(chunk->text) + 1};
    /* DEFECT: the other worker may be inside output_callback right now. */
    CResult r = chunk->cb->output_callback("out", &out, chunk->cb->output_user_data);
    chunk->ok = r.success;
    return NULL;
}

static CResult send_in_halves(const char *text, size_t n, const CNodeCallbacks *cb) {
    size_t half = n / 2;
    while (half < n && (text[half] & 0xC0) == 0x80) half++; /* never split a UTF-8 sequence */
    Chunk chunks[2] = {{cb, strndup(text, half), false}, {cb, strdup(text + half), false}};
    if (chunks[0].text == NULL || chunks[1].text == NULL) {
        free(chunks[0].text);
        free(chunks[1].text);
        return skfix_fail(KIND ": out of memory");
    }
    pthread_t workers[2];
    int started = 0;
    for (; started < 2; started++) {
        if (pthread_create(&workers[started], NULL, send_chunk, &chunks[started]) != 0) break;
    }
    for (int i = 0; i < started; i++) pthread_join(workers[i], NULL);
    for (int i = started; i < 2; i++) send_chunk(&chunks[i]); /* no thread: send it here */
    bool ok = chunks[0].ok && chunks[1].ok;
    free(chunks[0].text);
    free(chunks[1].text);
    return ok ? skfix_ok() : skfix_fail(KIND ": output callback rejected a chunk");
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text)
        return skfix_refuse_type(packet->packet_type, KIND ": unsupported packet type (accepts Text)");
    if (packet->data == NULL) return skfix_fail("Invalid packet: Null packet data pointer");
    const char *text = packet->data;
    size_t n = strlen(text);
    if (!skfix_valid_utf8((const unsigned char *)text, n)) return skfix_fail("Invalid packet: Invalid UTF-8 in text packet");
    if (n > CHUNK_THRESHOLD) return send_in_halves(text, n, cb);
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
