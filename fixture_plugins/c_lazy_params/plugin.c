/*
 * c_lazy_params: a C Text echo processor (API v9) that reads its params once, lazily, on the first
 * create_instance of the process, and keeps what it read for every later node.
 *
 * DEFECT: that first read measures the params with strlen() before any NULL check. The host passes
 * NULL params for a node configured with none (ABI.md 1.3, 4.3), and prewarms a plugin by creating a
 * node right after loading it (HOST.md 6.3): when that first node has no params, the process dies.
 * Every create after the first checks its params properly, so the defect shows only in a process
 * where nothing was created before.
 */
#include <string.h>

#include "../c_common/skfix_c.h"

#define KIND "c_lazy_params"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor (conformance fixture)")

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

#define MAX_PARAMS_LEN (64 * 1024)

static bool g_params_read = false;

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    if (!g_params_read) {
        /* DEFECT: NULL params on the first create of the process crash here */
        if (strlen(params) > MAX_PARAMS_LEN) return NULL;
        g_params_read = true;
    }
    return skfix_create_instance(params, log_cb, log_user_data);
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, skfix_text_echo_process, skfix_update_params, skfix_destroy_instance)

SKFIX_EXPORT_API(API)
