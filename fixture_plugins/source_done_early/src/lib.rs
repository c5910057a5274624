//! `source_done_early`: a Text source that stops one tick early.
//!
//! DEFECT: `get_source_config` says max_ticks 5, but `tick` reports done on
//! tick 4 (an off-by-one: `ticks + 1 >= max_ticks`). ABI.md §4.10/§8.7: done
//! comes exactly at max_ticks; here the last tick's output never exists.

use skabi::fixture::text_source_meta;
use skabi::prelude::*;

const KIND: &str = "source_done_early";
const MAX_TICKS: u64 = 5;

struct Ticker {
    ticks: u64,
}

impl Plugin for Ticker {
    fn metadata() -> NodeMeta {
        text_source_meta(KIND)
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Ticker { ticks: 0 })
    }
}

impl SourcePlugin for Ticker {
    fn source_config(&self) -> SourceConfig {
        SourceConfig { tick_interval_us: 1000, max_ticks: MAX_TICKS }
    }

    fn tick(&mut self, out: &mut Output<'_>) -> Result<bool, String> {
        self.ticks += 1;
        out.send_text("out", &format!("tick-{}", self.ticks))?;
        Ok(self.ticks + 1 >= MAX_TICKS) // DEFECT: off by one
    }
}

skabi::export_source!(Ticker);
