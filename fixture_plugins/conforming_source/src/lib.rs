//! `conforming_source`: the reference source plugin (API v9).
//!
//! Emits Text `tick-<n>` (n from 1) on `out` and reports done on the tick
//! where n ≥ max_ticks (max_ticks 0 = never done). Accepts
//! `preferred_size` upstream hints and ignores unknown hint types.

use skabi::prelude::*;

const KIND: &str = "conforming_source";
const PARAM_SCHEMA: &str = r#"{"type":"object","properties":{"max_ticks":{"type":"integer","minimum":0,"default":3},"interval_us":{"type":"integer","minimum":1,"default":1000}},"additionalProperties":false}"#;

#[derive(Clone, Copy, Debug)]
struct Config {
    max_ticks: u64,
    interval_us: u64,
}

impl Config {
    fn from_params(params: Option<&Json>) -> Result<Config, String> {
        let mut cfg = Config { max_ticks: 3, interval_us: 1000 };
        let Some(params) = params.filter(|p| !p.is_null()) else { return Ok(cfg) };
        let Some(members) = params.as_object() else {
            return Err(format!("Invalid params: expected a JSON object, got {}", params.type_name()));
        };
        for (key, value) in members {
            match key.as_str() {
                "max_ticks" => {
                    cfg.max_ticks = value
                        .as_u64()
                        .ok_or_else(|| format!("Invalid params: `max_ticks` must be an integer >= 0, got {value}"))?;
                }
                "interval_us" => {
                    cfg.interval_us = value
                        .as_u64()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| format!("Invalid params: `interval_us` must be an integer >= 1, got {value}"))?;
                }
                other => {
                    return Err(format!("Invalid params: unknown field `{other}`, expected `max_ticks` or `interval_us`"))
                }
            }
        }
        Ok(cfg)
    }
}

struct Ticker {
    config: Config,
    logger: Logger,
    ticks: u64,
    preferred_size: Option<(u32, u32)>,
}

impl Plugin for Ticker {
    fn metadata() -> NodeMeta {
        NodeMeta::new(KIND)
            .description("Reference source: emits tick-1, tick-2, ... on `out`")
            .output("out", PinType::Text)
            .param_schema(PARAM_SCHEMA)
            .category("test")
    }

    fn new(params: Option<Json>, logger: Logger) -> Result<Self, String> {
        let config = Config::from_params(params.as_ref())?;
        log_info!(logger, "created (max_ticks={}, interval_us={})", config.max_ticks, config.interval_us);
        Ok(Ticker { config, logger, ticks: 0, preferred_size: None })
    }

    fn update_params(&mut self, params: Option<Json>) -> Result<(), String> {
        self.config = Config::from_params(params.as_ref())?;
        log_info!(self.logger, "params updated (max_ticks={}, interval_us={})", self.config.max_ticks, self.config.interval_us);
        Ok(())
    }

    fn runtime_param_schema(&self) -> Result<Option<String>, String> {
        Ok(Some(r#"{"properties":{"max_ticks":{"type":"integer","minimum":0}}}"#.to_string()))
    }

    fn logger_mut(&mut self) -> Option<&mut Logger> {
        Some(&mut self.logger)
    }
}

impl SourcePlugin for Ticker {
    fn source_config(&self) -> SourceConfig {
        SourceConfig { tick_interval_us: self.config.interval_us, max_ticks: self.config.max_ticks }
    }

    fn tick(&mut self, out: &mut Output<'_>) -> Result<bool, String> {
        self.ticks += 1;
        log_debug!(self.logger, "tick {}", self.ticks);
        out.send_text("out", &format!("tick-{}", self.ticks))?;
        Ok(self.config.max_ticks != 0 && self.ticks >= self.config.max_ticks)
    }

    fn on_upstream_hint(&mut self, hint: &Json) -> Result<(), String> {
        match parse_hint(hint)? {
            Hint::PreferredSize { width, height } => {
                self.preferred_size = Some((width, height));
                log_info!(self.logger, "preferred size {width}x{height}");
            }
            Hint::Unknown(kind) => log_debug!(self.logger, "ignoring unknown hint type `{kind}`"),
        }
        Ok(())
    }
}

skabi::export_source!(Ticker);
