//! `source_hint_unknown_aborts`: a Text source that panics on a hint type it does not know.
//!
//! DEFECT: `on_upstream_hint` handles `preferred_size` and panics on any
//! other `type` ("source_hint_unknown_aborts: unknown hint type `<t>`"),
//! with no panic guard: the process aborts. ABI.md §4.11: future hint types
//! will be added, and a source must ignore or refuse them, never crash.

use skabi::fixture::text_source_meta;
use skabi::prelude::*;

const KIND: &str = "source_hint_unknown_aborts";

struct Ticker {
    ticks: u64,
    preferred_size: Option<(u32, u32)>,
}

impl Plugin for Ticker {
    fn metadata() -> NodeMeta {
        text_source_meta(KIND)
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Ticker { ticks: 0, preferred_size: None })
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

    fn on_upstream_hint(&mut self, hint: &Json) -> Result<(), String> {
        match parse_hint(hint)? {
            Hint::PreferredSize { width, height } => {
                self.preferred_size = Some((width, height));
                Ok(())
            }
            Hint::Unknown(t) => panic!("{KIND}: unknown hint type `{t}`"), // DEFECT
        }
    }
}

// DEFECT: no panic guard around the entry points.
static API: CNativePluginAPI = source_api::<Ticker, Unguarded>(9);
skabi::export_api!(&API);
skabi::export_log_setter!(Ticker, Unguarded);
