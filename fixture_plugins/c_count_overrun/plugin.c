/*
 * c_count_overrun: a C Text echo processor (API v9) whose metadata
 * overstates the length of one of its arrays (ABI.md 4.2: the host builds
 * slices from (pointer, count) and trusts the count).
 *
 * DEFECT: categories_count is 3 while CATEGORIES holds 2 entries. The slot
 * after the array is the first entry of the next static pointer array
 * (the keywords this plugin logs), a readable string, so the metadata
 * still decodes: the host lists a category the plugin never declared.
 */
#include "../c_common/skfix_c.h"

#define KIND "c_count_overrun"

/* gcc lays these out in reverse order of definition: KEYWORDS follows CATEGORIES. */
static const char *const KEYWORDS[] = {"echo", "text"};
static const char *const CATEGORIES[] = {"audio", "effects"};
static volatile size_t keyword_index = 0;

static const CPacketTypeInfo IN_TYPES[] = {{CPacketType_Text, NULL, NULL, NULL}};
static const CInputPin INPUTS[] = {{"in", IN_TYPES, 1}};
static const COutputPin OUTPUTS[] = {{"out", {CPacketType_Passthrough, NULL, NULL, NULL}}};

static CNodeMetadata METADATA = {
    .kind = KIND,
    .description = "Text echo processor (conformance fixture)",
    .inputs = INPUTS,
    .inputs_count = 1,
    .outputs = OUTPUTS,
    .outputs_count = 1,
    .param_schema = "{\"type\":\"object\"}",
    .categories = CATEGORIES,
    .categories_count = 3, /* DEFECT: the array holds 2 */
};

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    SkfixInstance *inst = skfix_create_instance(params, log_cb, log_user_data);
    if (inst != NULL) skfix_log(inst, KIND, CLogLevel_Debug, KEYWORDS[keyword_index % 2]);
    return inst;
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, skfix_text_echo_process, skfix_update_params, skfix_destroy_instance)

SKFIX_EXPORT_API(API)
