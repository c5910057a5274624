//! `v9_no_log_setter`: a conforming v9 Text echo processor that does **not**
//! export `streamkit_native_plugin_set_log_enabled_callback`.
//!
//! DEFECT (warning-level): the host logs "v9 plugin did not export
//! log-enabled callback symbol" and the plugin's level macros can never
//! short-circuit (HOST.md §6.11).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;

struct Echo {
    logger: Logger,
}

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta("v9_no_log_setter")
    }

    fn new(_params: Option<Json>, logger: Logger) -> Result<Self, String> {
        log_info!(logger, "created");
        Ok(Echo { logger })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        log_debug!(self.logger, "echoing a packet");
        out.send("out", &packet)
    }

    fn logger_mut(&mut self) -> Option<&mut Logger> {
        Some(&mut self.logger)
    }
}

static API: CNativePluginAPI = processor_api::<Echo, Guarded>(9);
skabi::export_api!(&API);
// DEFECT: no skabi::export_log_setter!(Echo) here.
