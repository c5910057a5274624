/*
 * c_params_lenient: a C Text echo processor (API v9) whose create_instance
 * never validates its params (ABI.md 4.3: NULL on any failure; 8.3: invalid
 * UTF-8 / invalid JSON -> NULL).
 *
 * DEFECT: create_instance allocates an instance for any params text, even
 * "{not json" or bytes that are not UTF-8. update_params does validate.
 */
#include "../c_common/skfix_c.h"

#define KIND "c_params_lenient"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor (conformance fixture)")

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    (void)params; /* DEFECT: params are never checked */
    SkfixInstance *inst = calloc(1, sizeof(SkfixInstance));
    if (inst == NULL) return NULL;
    inst->log_cb = log_cb;
    inst->log_user_data = log_user_data;
    return inst;
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, skfix_text_echo_process, skfix_update_params, skfix_destroy_instance)

SKFIX_EXPORT_API(API)
