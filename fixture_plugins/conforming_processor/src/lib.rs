//! `conforming_processor`: the reference echo/passthrough processor (API v9).
//!
//! Accepts any runtime packet on `in` and echoes it on `out` (declared
//! Passthrough: output must equal input, modulo the SDK's normalisations).
//! It follows every rule of ABI.md §4–§5 and §8 and is the baseline that must
//! pass the whole conformance battery.

use skabi::prelude::*;

const KIND: &str = "conforming_processor";
const PARAM_SCHEMA: &str = r#"{"type":"object","properties":{"label":{"type":"string","default":"echo"}},"additionalProperties":false}"#;
const RUNTIME_SCHEMA: &str =
    r#"{"properties":{"label":{"type":"string","description":"Free-form label, logged on create"}}}"#;

/// Validated parameters.
#[derive(Clone, Debug)]
struct Config {
    label: String,
}

impl Config {
    /// Apply the param schema: an object whose only key is a string `label`.
    /// JSON `null` counts as "no params".
    fn from_params(params: Option<&Json>) -> Result<Config, String> {
        let mut cfg = Config { label: "echo".to_string() };
        let Some(params) = params.filter(|p| !p.is_null()) else { return Ok(cfg) };
        let Some(members) = params.as_object() else {
            return Err(format!("Invalid params: expected a JSON object, got {}", params.type_name()));
        };
        for (key, value) in members {
            match key.as_str() {
                "label" => {
                    cfg.label = value
                        .as_str()
                        .ok_or_else(|| format!("Invalid params: `label` must be a string, got {}", value.type_name()))?
                        .to_string();
                }
                other => return Err(format!("Invalid params: unknown field `{other}`, expected `label`")),
            }
        }
        Ok(cfg)
    }
}

struct Echo {
    config: Config,
    logger: Logger,
    packets: u64,
}

impl Echo {
    /// Echo one decoded packet on `out`.
    fn echo(&mut self, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        match packet {
            // Zero-copy where the host offers a pool: allocate exactly what we publish.
            Packet::RawAudio(frame) if !frame.samples.is_empty() => match out.alloc_audio(frame.samples.len()) {
                Some(mut buf) => {
                    buf.as_mut_slice()[..frame.samples.len()].copy_from_slice(&frame.samples);
                    out.send_pooled_audio("out", buf, frame.sample_rate, frame.channels, frame.metadata.as_ref())
                }
                None => out.send("out", &Packet::RawAudio(frame)),
            },
            Packet::RawVideo(frame) if !frame.data.is_empty() => match out.alloc_video(frame.data.len()) {
                Some(mut buf) => {
                    buf.as_mut_slice()[..frame.data.len()].copy_from_slice(&frame.data);
                    out.send_pooled_video(
                        "out",
                        buf,
                        frame.width,
                        frame.height,
                        frame.pixel_format,
                        frame.metadata.as_ref(),
                    )
                }
                None => out.send("out", &Packet::RawVideo(frame)),
            },
            other => out.send("out", &other),
        }
    }
}

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        NodeMeta::new(KIND)
            .description("Reference echo processor: every packet on `in` is re-emitted on `out`")
            .input("in", &[PinType::Any])
            .output("out", PinType::Passthrough)
            .param_schema(PARAM_SCHEMA)
            .category("test")
    }

    fn new(params: Option<Json>, logger: Logger) -> Result<Self, String> {
        let config = Config::from_params(params.as_ref())?;
        log_info!(logger, "created (label={})", config.label);
        Ok(Echo { config, logger, packets: 0 })
    }

    // The raw hook is used only to learn the wire discriminant for telemetry;
    // decoding is the SDK's.
    fn process_raw(&mut self, pin: &str, input: &RawPacket, out: &mut Output<'_>) -> Result<(), String> {
        let wire_type = input.packet_type();
        let packet = input.decode()?;
        self.packets += 1;
        log_debug!(self.logger, "packet #{} (type {wire_type}) on pin {pin}", self.packets);
        self.echo(packet, out)?;
        out.telemetry("packet_echoed", &format!("{{\"packet_type\":{wire_type}}}"), None)
    }

    fn update_params(&mut self, params: Option<Json>) -> Result<(), String> {
        // Validate fully before replacing: a bad update keeps the old params.
        self.config = Config::from_params(params.as_ref())?;
        log_info!(self.logger, "params updated (label={})", self.config.label);
        Ok(())
    }

    fn runtime_param_schema(&self) -> Result<Option<String>, String> {
        Ok(Some(RUNTIME_SCHEMA.to_string()))
    }

    fn logger_mut(&mut self) -> Option<&mut Logger> {
        Some(&mut self.logger)
    }
}

skabi::export_processor!(Echo);
