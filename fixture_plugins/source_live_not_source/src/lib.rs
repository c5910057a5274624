//! `source_live_not_source`: a Text source that stops being one once configured.
//!
//! DEFECT: `get_source_config` answers is_source true for the load probe's
//! instance (NULL params) but false for an instance created with params. The
//! host re-queries the live instance at Start and uses its answer (ABI.md
//! §4.10; HOST.md 4): a plugin that contradicts its probe is inconsistent
//! (interval and max_ticks stay plausible either way).

use skabi::fixture::text_source_meta;
use skabi::plugin::get_source_config as sdk_get_source_config;
use skabi::prelude::*;
use skabi::types::{CPluginHandle, CSourceConfig};

const KIND: &str = "source_live_not_source";

struct Ticker {
    ticks: u64,
    has_params: bool,
}

impl Plugin for Ticker {
    fn metadata() -> NodeMeta {
        text_source_meta(KIND)
    }

    fn new(params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Ticker { ticks: 0, has_params: params.is_some() })
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

/// DEFECT: is_source depends on whether the instance got params.
extern "C" fn get_source_config(handle: CPluginHandle) -> CSourceConfig {
    let mut config = sdk_get_source_config::<Ticker, Guarded>(handle);
    // SAFETY: a live handle from create_instance points to the Ticker first.
    if !handle.is_null() && unsafe { &*(handle as *const Ticker) }.has_params {
        config.is_source = false;
    }
    config
}

static API: CNativePluginAPI = {
    let mut api = source_api::<Ticker, Guarded>(9);
    api.get_source_config = Some(get_source_config);
    api
};
skabi::export_api!(&API);
skabi::export_log_setter!(Ticker);
