//! `source_hint_strict`: a Text source with inverted upstream-hint handling.
//!
//! DEFECT (ABI.md §4.11, §8.7; HOST.md 4):
//! * a valid `{"type":"preferred_size",...}` hint is refused
//!   ("source_hint_strict: preferred_size hints are not supported");
//! * hint text that is not JSON (also NULL) is accepted: nothing parses it;
//! * after any hint the source refuses every tick
//!   ("source_hint_strict: tick refused: reconfiguration pending after an upstream hint").
//!
//! Without hints it ticks like the reference source (tick-<n>, done at 3).

use skabi::cstr::{cstr, error_to_c};
use skabi::fixture::text_source_meta;
use skabi::json;
use skabi::prelude::*;
use skabi::types::{CPluginHandle, CResult};
use std::os::raw::c_char;

const KIND: &str = "source_hint_strict";

struct Ticker {
    ticks: u64,
    hinted: bool,
}

impl Plugin for Ticker {
    fn metadata() -> NodeMeta {
        text_source_meta(KIND)
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Ticker { ticks: 0, hinted: false })
    }
}

impl SourcePlugin for Ticker {
    fn source_config(&self) -> SourceConfig {
        SourceConfig { tick_interval_us: 1000, max_ticks: 3 }
    }

    fn tick(&mut self, out: &mut Output<'_>) -> Result<bool, String> {
        if self.hinted {
            // DEFECT: a hint wedges the source into an error state.
            return Err(format!("{KIND}: tick refused: reconfiguration pending after an upstream hint"));
        }
        self.ticks += 1;
        out.send_text("out", &format!("tick-{}", self.ticks))?;
        Ok(self.ticks >= 3)
    }
}

fn result(r: Result<(), String>) -> CResult {
    match r {
        Ok(()) => CResult { success: true, error_message: std::ptr::null() },
        Err(e) => CResult { success: false, error_message: error_to_c(&e) },
    }
}

/// DEFECT: refuses what it should accept and accepts what it should refuse.
extern "C" fn on_upstream_hint(handle: CPluginHandle, hint: *const c_char) -> CResult {
    if handle.is_null() {
        return result(Err("Invalid handle (null)".into()));
    }
    // SAFETY: a live handle from create_instance points to the Ticker first.
    let ticker = unsafe { &mut *(handle as *mut Ticker) };
    ticker.hinted = true;
    let Ok(text) = (unsafe { cstr(hint) }) else { return result(Ok(())) };
    let Ok(value) = json::parse(text) else { return result(Ok(())) }; // malformed: "ignored"
    match parse_hint(&value) {
        Ok(Hint::PreferredSize { .. }) => result(Err(format!("{KIND}: preferred_size hints are not supported"))),
        _ => result(Ok(())),
    }
}

static API: CNativePluginAPI = {
    let mut api = source_api::<Ticker, Guarded>(9);
    api.on_upstream_hint = Some(on_upstream_hint);
    api
};
skabi::export_api!(&API);
skabi::export_log_setter!(Ticker);
