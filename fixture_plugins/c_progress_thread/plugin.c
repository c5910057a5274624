/*
 * c_progress_thread: a C Text processor (API v9) with a "render" helper thread.
 *
 * Input `in` accepts Text; the text goes out on `out` (Text) from the calling
 * thread. For every packet a helper thread takes a 4 KiB scratch buffer from
 * the host pool (alloc_video), fills it and gives it back (free_fn), while the
 * calling thread reports `progress` telemetry until the helper says it is
 * done. The helper is joined before process_packet returns, so nothing is
 * late, and every pool buffer comes back exactly once.
 *
 * DEFECT: alloc_video (helper thread) and telemetry_callback (calling thread)
 * run at the same time. ABI.md 4.1 and 7: the output, telemetry and alloc
 * callbacks share a per-call context the host writes without locking; they
 * must never be called concurrently from two threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "../c_common/skfix_c.h"

#define KIND "c_progress_thread"
#define SCRATCH_BYTES 4096

SKFIX_TEXT_METADATA(METADATA, KIND, "Text processor that renders in a helper thread and reports progress telemetry", CPacketType_Text)

typedef struct Render {
    const CNodeCallbacks *cb;
    atomic_bool done;
} Render;

static bool has_alloc(const CNodeCallbacks *cb) {
    return cb->struct_size >= offsetof(CNodeCallbacks, alloc_video) + sizeof(cb->alloc_video) && cb->alloc_video != NULL;
}

static bool has_telemetry(const CNodeCallbacks *cb) {
    return cb->struct_size >= offsetof(CNodeCallbacks, telemetry_callback) + sizeof(cb->telemetry_callback) &&
           cb->telemetry_callback != NULL;
}

static void *render(void *arg) {
    Render *job = arg;
    const CNodeCallbacks *cb = job->cb;
    /* DEFECT: the calling thread is inside telemetry_callback meanwhile. */
    CAllocVideoResult scratch = cb->alloc_video(SCRATCH_BYTES, cb->alloc_user_data);
    if (scratch.data != NULL) {
        memset(scratch.data, 0x5a, scratch.len);
        if (scratch.free_fn != NULL) scratch.free_fn(scratch.handle);
    }
    atomic_store(&job->done, true);
    return NULL;
}

static void report_progress(const CNodeCallbacks *cb, unsigned step) {
    char json[48];
    int n = snprintf(json, sizeof json, "{\"step\":%u}", step);
    cb->telemetry_callback("progress", (const uint8_t *)json, (size_t)n, NULL, cb->telemetry_user_data);
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (!skfix_call_args_ok(handle, input_pin, packet, cb)) return skfix_fail(KIND ": invalid arguments (null)");
    if (packet->packet_type != CPacketType_Text)
        return skfix_refuse_type(packet->packet_type, KIND ": unsupported packet type (accepts Text)");
    if (has_alloc(cb)) {
        Render job = {cb, false};
        pthread_t helper;
        if (pthread_create(&helper, NULL, render, &job) == 0) {
            unsigned step = 0;
            while (!atomic_load(&job.done) && step < 200) {
                if (has_telemetry(cb)) report_progress(cb, step);
                step++;
                struct timespec pause = {0, 200000};
                nanosleep(&pause, NULL);
            }
            pthread_join(helper, NULL);
        }
    }
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
