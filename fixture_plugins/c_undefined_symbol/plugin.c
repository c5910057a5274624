/*
 * c_undefined_symbol: the reference C Text echo with a path that calls a function nothing defines.
 *
 * The host opens plugins with RTLD_LAZY, so the library loads and ordinary traffic works; an instance
 * created with {"mode": "transcode"} calls skfix_missing_transcoder, and there the dynamic linker ends
 * the whole process with "symbol lookup error: ... undefined symbol: skfix_missing_transcoder" and
 * exit status 127.
 *
 * DEFECT: skfix_missing_transcoder is declared and called but defined nowhere (a library the plugin
 * needs was not linked). Bound at load (RTLD_NOW), the library does not open.
 */
#include <string.h>

#include "../c_common/skfix_c.h"

SKFIX_TEXT_ECHO_METADATA(METADATA, "c_undefined_symbol", "Text echo with a transcode mode that calls an undefined function")

extern void skfix_missing_transcoder(const CPacket *packet); /* DEFECT: no library defines it */

typedef struct {
    SkfixInstance base;
    bool transcode;
} Instance;

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    if (!skfix_params_ok(params)) return NULL;
    Instance *inst = calloc(1, sizeof(Instance));
    if (inst == NULL) return NULL;
    inst->base.log_cb = log_cb;
    inst->base.log_user_data = log_user_data;
    inst->transcode = params != NULL && strstr(params, "\"transcode\"") != NULL;
    return inst;
}

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    const Instance *inst = handle;
    if (inst != NULL && inst->transcode) skfix_missing_transcoder(packet);
    return skfix_text_echo_process(handle, input_pin, packet, cb);
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, process_packet, skfix_update_params, skfix_destroy_instance)
SKFIX_EXPORT_API(API)
