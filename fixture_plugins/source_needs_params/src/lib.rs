//! `source_needs_params`: a Text source that cannot be created without params.
//!
//! DEFECT: `create_instance` returns NULL for NULL params. The host's
//! load-time probe is exactly that call (create(NULL) -> get_source_config,
//! ABI.md §1.2 step 7, §4.10), so the probe fails ("Source config probe
//! failed") and the plugin is demoted to a processor: it never ticks.
//! Created with `{}` (or any object) it is a working source.

use skabi::fixture::text_source_meta;
use skabi::prelude::*;

const KIND: &str = "source_needs_params";

struct Ticker {
    ticks: u64,
}

impl Plugin for Ticker {
    fn metadata() -> NodeMeta {
        text_source_meta(KIND)
    }

    fn new(params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        // DEFECT: "no params" is refused instead of meaning the defaults.
        if params.is_none() {
            return Err(format!("{KIND}: params are required"));
        }
        Ok(Ticker { ticks: 0 })
    }
}

impl SourcePlugin for Ticker {
    fn source_config(&self) -> SourceConfig {
        SourceConfig { tick_interval_us: 1000, max_ticks: 3 }
    }

    fn tick(&mut self, out: &mut Output<'_>) -> Result<bool, String> {
        self.ticks += 1;
        out.send_text("out", &format!("tick-{}", self.ticks))?;
        Ok(self.ticks >= 3)
    }
}

skabi::export_source!(Ticker);
