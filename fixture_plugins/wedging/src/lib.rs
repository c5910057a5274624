//! `wedging`: entry points that never return (HOST.md §6.5, §6.9, §7 "wedge
//! tests for every entry point").
//!
//! Default: blocks forever in process_packet. Variants: per instance
//! `{"mode": ...}` (flush, update_params, create, set_log_enabled, destroy,
//! schema, slow_process); load time `SKFIX_MODE=` tick | hint |
//! source_config | live_source_config (source table) or get_metadata.
//! `slow_process` is the control case: it sleeps `sleep_ms` (default 300) and
//! then echoes.
//!
//! The `wedge_<entry>` packages (same source, kind and messages from the
//! package name) make that entry's variant their default: `wedge_flush`
//! blocks in flush under ordinary traffic, `wedge_tick` is a source that
//! blocks in tick, and so on. `wedge_source_config` defaults to
//! `live_source_config`: the load-time probe (NULL params) is answered, so
//! the plugin is classified as a source, and the re-query on a live instance
//! (created with params) blocks.

use skabi::fixture::{text_echo_meta, text_source_meta};
use skabi::prelude::*;
use std::time::Duration;

const KIND: &str = env!("CARGO_PKG_NAME");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Process,
    SlowProcess(u64),
    Flush,
    UpdateParams,
    Create,
    SetLogEnabled,
    Destroy,
    Schema,
    Tick,
    Hint,
    SourceConfig,
    /// get_source_config blocks only on instances created with params.
    LiveSourceConfig,
}

/// DEFECT: block the calling thread forever.
fn wedge(entry: &str) -> ! {
    eprintln!("{KIND}: blocking forever in {entry}");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The variant a `wedge_<entry>` package makes its default (None for `wedging`).
fn package_mode() -> Option<&'static str> {
    match KIND.strip_prefix("wedge_")? {
        "source_config" => Some("live_source_config"),
        entry => Some(entry),
    }
}

/// The load-time variant: `SKFIX_MODE`, else the package default.
fn load_mode() -> Option<&'static str> {
    env_mode().or_else(package_mode)
}

fn env_source_mode() -> Option<Mode> {
    match load_mode() {
        Some("tick") => Some(Mode::Tick),
        Some("hint") => Some(Mode::Hint),
        Some("source_config") => Some(Mode::SourceConfig),
        Some("live_source_config") => Some(Mode::LiveSourceConfig),
        _ => None,
    }
}

/// The per-instance variant used when the params name none.
fn default_instance_mode() -> &'static str {
    match package_mode() {
        Some(m @ ("flush" | "update_params" | "create" | "set_log_enabled" | "destroy" | "schema")) => m,
        _ => "process",
    }
}

fn instance_mode(params: Option<&Json>) -> Result<Mode, String> {
    if let Some(m) = env_source_mode() {
        return Ok(m);
    }
    Ok(match param_mode(params).unwrap_or(default_instance_mode()) {
        "process" => Mode::Process,
        "slow_process" => {
            let ms = params.and_then(|p| p.get("sleep_ms")).map_or(Some(300), |v| v.as_u64());
            Mode::SlowProcess(ms.ok_or("wedging: `sleep_ms` must be a non-negative integer")?)
        }
        "flush" => Mode::Flush,
        "update_params" => Mode::UpdateParams,
        "create" => Mode::Create,
        "set_log_enabled" => Mode::SetLogEnabled,
        "destroy" => Mode::Destroy,
        "schema" => Mode::Schema,
        other => return Err(format!("{KIND}: unknown mode `{other}`")),
    })
}

struct Wedger {
    mode: Mode,
    logger: Logger,
    ticks: u64,
    /// Created with params (not NULL, "" or `null`): a live node, not the load probe.
    has_params: bool,
}

impl Plugin for Wedger {
    fn metadata() -> NodeMeta {
        if load_mode() == Some("get_metadata") {
            wedge("get_metadata");
        }
        if env_source_mode().is_some() {
            text_source_meta(KIND)
        } else {
            text_echo_meta(KIND)
        }
    }

    fn new(params: Option<Json>, logger: Logger) -> Result<Self, String> {
        let mode = instance_mode(params.as_ref())?;
        if mode == Mode::Create {
            wedge("create_instance");
        }
        Ok(Wedger { mode, logger, ticks: 0, has_params: params.is_some() })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        match self.mode {
            Mode::Process => wedge("process_packet"),
            Mode::SlowProcess(ms) => std::thread::sleep(Duration::from_millis(ms)),
            _ => {}
        }
        out.send("out", &packet)
    }

    fn update_params(&mut self, _params: Option<Json>) -> Result<(), String> {
        if self.mode == Mode::UpdateParams {
            wedge("update_params");
        }
        Ok(())
    }

    fn flush(&mut self, _out: &mut Output<'_>) -> Result<(), String> {
        if self.mode == Mode::Flush {
            wedge("flush");
        }
        Ok(())
    }

    fn cleanup(&mut self) {
        if self.mode == Mode::Destroy {
            wedge("destroy_instance");
        }
    }

    fn runtime_param_schema(&self) -> Result<Option<String>, String> {
        if self.mode == Mode::Schema {
            wedge("get_runtime_param_schema");
        }
        Ok(None)
    }

    fn logger_mut(&mut self) -> Option<&mut Logger> {
        if self.mode == Mode::SetLogEnabled {
            wedge("set_log_enabled_callback");
        }
        Some(&mut self.logger)
    }
}

impl SourcePlugin for Wedger {
    fn source_config(&self) -> SourceConfig {
        if self.mode == Mode::SourceConfig || (self.mode == Mode::LiveSourceConfig && self.has_params) {
            wedge("get_source_config");
        }
        SourceConfig { tick_interval_us: 1000, max_ticks: 3 }
    }

    fn tick(&mut self, out: &mut Output<'_>) -> Result<bool, String> {
        if self.mode == Mode::Tick {
            wedge("tick");
        }
        self.ticks += 1;
        out.send_text("out", &format!("tick-{}", self.ticks))?;
        Ok(self.ticks >= 3)
    }

    fn on_upstream_hint(&mut self, _hint: &Json) -> Result<(), String> {
        if self.mode == Mode::Hint {
            wedge("on_upstream_hint");
        }
        Ok(())
    }
}

static PROCESSOR_API: CNativePluginAPI = processor_api::<Wedger, Guarded>(9);
static SOURCE_API: CNativePluginAPI = source_api::<Wedger, Guarded>(9);

skabi::export_api!(if env_source_mode().is_some() { &SOURCE_API } else { &PROCESSOR_API });
skabi::export_log_setter!(Wedger);
