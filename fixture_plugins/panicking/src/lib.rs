//! `panicking` / `panicking_unguarded` / `panicking_abort`: the panic matrix
//! (HOST.md §6.8). One source, three builds:
//!
//! * `panicking`: SDK-style guards catch the panic → `plugin panicked: <msg>`.
//! * `panicking_unguarded` (feature `unguarded`): the exported functions have
//!   no `catch_unwind`, so the panic reaches the `extern "C"` boundary and the
//!   process aborts ("panic in a function that cannot unwind").
//! * `panicking_abort`: guarded code built with `panic = "abort"`; the guard
//!   never gets a chance, the process aborts.
//!
//! The kind and the messages use the package name, e.g.
//! `panicking_abort: intentional panic in process_packet`.
//!
//! Variants: per instance `{"mode": ...}` (create, process, flush,
//! update_params, destroy, schema, set_log_enabled); load time
//! `SKFIX_MODE=` tick | hint | source_config | live_source_config (switch to
//! the source table) or get_metadata. Default: panic in process_packet.
//!
//! The `panic_<entry>` packages (built unguarded from this source, one per
//! entry point) make that entry's variant their default, chosen by the
//! package name: `panic_flush` panics in flush under ordinary traffic,
//! `panic_tick` is a source that panics in tick, and so on. `panic_source_config`
//! defaults to `live_source_config`: the load-time probe (NULL params) is
//! answered normally, so the plugin is classified as a source, and the
//! re-query on a live instance (created with params) panics.

use skabi::fixture::{text_echo_meta, text_source_meta};
use skabi::prelude::*;

const KIND: &str = env!("CARGO_PKG_NAME");

#[cfg(feature = "unguarded")]
type G = skabi::Unguarded;
#[cfg(not(feature = "unguarded"))]
type G = skabi::Guarded;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Create,
    Process,
    Flush,
    UpdateParams,
    Destroy,
    Schema,
    SetLogEnabled,
    Tick,
    Hint,
    SourceConfig,
    /// get_source_config panics only on instances created with params.
    LiveSourceConfig,
}

/// DEFECT: every variant ends up here.
fn boom(entry: &str) -> ! {
    panic!("{KIND}: intentional panic in {entry}")
}

/// The variant a `panic_<entry>` package makes its default (None for
/// `panicking`, `panicking_unguarded`, `panicking_abort`).
fn package_mode() -> Option<&'static str> {
    match KIND.strip_prefix("panic_")? {
        "source_config" => Some("live_source_config"),
        entry => Some(entry),
    }
}

/// The load-time variant: `SKFIX_MODE`, else the package default.
fn load_mode() -> Option<&'static str> {
    env_mode().or_else(package_mode)
}

/// Load-time source variants (they also select the source table).
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
        Some(m @ ("create" | "flush" | "update_params" | "destroy" | "schema" | "set_log_enabled")) => m,
        _ => "process",
    }
}

fn instance_mode(params: Option<&Json>) -> Result<Mode, String> {
    if let Some(m) = env_source_mode() {
        return Ok(m);
    }
    Ok(match param_mode(params).unwrap_or(default_instance_mode()) {
        "process" => Mode::Process,
        "create" => Mode::Create,
        "flush" => Mode::Flush,
        "update_params" => Mode::UpdateParams,
        "destroy" => Mode::Destroy,
        "schema" => Mode::Schema,
        "set_log_enabled" => Mode::SetLogEnabled,
        other => return Err(format!("{KIND}: unknown mode `{other}`")),
    })
}

struct Panicker {
    mode: Mode,
    logger: Logger,
    ticks: u64,
    /// Created with params (not NULL, "" or `null`): a live node, not the load probe.
    has_params: bool,
}

impl Plugin for Panicker {
    fn metadata() -> NodeMeta {
        if load_mode() == Some("get_metadata") {
            boom("get_metadata");
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
            boom("create_instance");
        }
        Ok(Panicker { mode, logger, ticks: 0, has_params: params.is_some() })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        if self.mode == Mode::Process {
            boom("process_packet");
        }
        out.send("out", &packet)
    }

    fn update_params(&mut self, _params: Option<Json>) -> Result<(), String> {
        if self.mode == Mode::UpdateParams {
            boom("update_params");
        }
        Ok(())
    }

    fn flush(&mut self, _out: &mut Output<'_>) -> Result<(), String> {
        if self.mode == Mode::Flush {
            boom("flush");
        }
        Ok(())
    }

    fn cleanup(&mut self) {
        if self.mode == Mode::Destroy {
            boom("destroy_instance");
        }
    }

    fn runtime_param_schema(&self) -> Result<Option<String>, String> {
        if self.mode == Mode::Schema {
            boom("get_runtime_param_schema");
        }
        Ok(None)
    }

    fn logger_mut(&mut self) -> Option<&mut Logger> {
        if self.mode == Mode::SetLogEnabled {
            boom("set_log_enabled_callback");
        }
        Some(&mut self.logger)
    }
}

impl SourcePlugin for Panicker {
    fn source_config(&self) -> SourceConfig {
        if self.mode == Mode::SourceConfig || (self.mode == Mode::LiveSourceConfig && self.has_params) {
            boom("get_source_config");
        }
        SourceConfig { tick_interval_us: 1000, max_ticks: 3 }
    }

    fn tick(&mut self, out: &mut Output<'_>) -> Result<bool, String> {
        if self.mode == Mode::Tick {
            boom("tick");
        }
        self.ticks += 1;
        out.send_text("out", &format!("tick-{}", self.ticks))?;
        Ok(self.ticks >= 3)
    }

    fn on_upstream_hint(&mut self, _hint: &Json) -> Result<(), String> {
        if self.mode == Mode::Hint {
            boom("on_upstream_hint");
        }
        Ok(())
    }
}

static PROCESSOR_API: CNativePluginAPI = processor_api::<Panicker, G>(9);
static SOURCE_API: CNativePluginAPI = source_api::<Panicker, G>(9);

skabi::export_api!(if env_source_mode().is_some() { &SOURCE_API } else { &PROCESSOR_API });
skabi::export_log_setter!(Panicker, G);
