/*
 * c_meta_mutates: a C Text echo processor (API v9) that keeps a live
 * status line in its metadata (ABI.md 4.2: everything reachable from the
 * metadata stays valid and unchanged while the library is loaded; 8.2:
 * byte-identical after running packets).
 *
 * DEFECT: the description is a static char buffer that process_packet
 * rewrites with a process-wide packet counter. Creating and destroying
 * instances leaves it alone; running packets changes it.
 */
#include <stdio.h>

#include "../c_common/skfix_c.h"

#define KIND "c_meta_mutates"

static char DESCRIPTION[96] = "Text echo processor";
static unsigned long long PACKETS_SEEN = 0;

SKFIX_TEXT_ECHO_METADATA(METADATA, KIND, DESCRIPTION)

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CResult process_packet(CPluginHandle handle, const char *input_pin, const CPacket *packet,
                              const CNodeCallbacks *cb) {
    if (skfix_call_args_ok(handle, input_pin, packet, cb) && packet->packet_type == CPacketType_Text) {
        /* DEFECT: the metadata the host copied at load is rewritten here. */
        snprintf(DESCRIPTION, sizeof DESCRIPTION, "Text echo processor, %llu packets processed", ++PACKETS_SEEN);
    }
    return skfix_text_echo_process(handle, input_pin, packet, cb);
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, skfix_create_instance, process_packet, skfix_update_params, skfix_destroy_instance)

SKFIX_EXPORT_API(API)
