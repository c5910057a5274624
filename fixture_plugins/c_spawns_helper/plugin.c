/*
 * c_spawns_helper: a C Text echo processor (API v9) that starts a helper
 * process per instance.
 *
 * create_instance forks a helper that waits for work (here it only waits);
 * packets are echoed on `out` by the calling thread as in the reference echo.
 *
 * DEFECT: destroy_instance frees the instance but never ends the helper, so
 * every node the host creates leaves one process running for the life of the
 * host (ABI.md 4.9: destroy releases everything the instance owns).
 */
#include <signal.h>
#include <unistd.h>

#include "../c_common/skfix_c.h"

#define KIND "c_spawns_helper"

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, "Text echo processor with a helper process per instance")

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    CPluginHandle handle = skfix_create_instance(params, log_cb, log_user_data);
    if (handle == NULL) return NULL;
    pid_t helper = fork();
    if (helper == 0) {
        for (;;) pause(); /* the helper's work loop, reduced to waiting */
    }
    return handle; /* DEFECT: the helper's pid is not kept, so destroy cannot end it */
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, skfix_text_echo_process, skfix_update_params, skfix_destroy_instance)

SKFIX_EXPORT_API(API)
