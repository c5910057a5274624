//! `create_valid_rejected`: a Text gain processor that refuses its own defaults.
//!
//! DEFECT: the param schema declares `gain` (number, default 1.0), but the
//! params reader expects the misspelt key `gian` and refuses unknown keys
//! (like serde's `deny_unknown_fields`), so `{"gain":1.0}`, the params built
//! from its own schema, gives a NULL handle (ABI.md §4.3, §8.3). NULL, ""
//! and `{}` work (the reader's default gain is used).

use skabi::prelude::*;

const KIND: &str = "create_valid_rejected";
const PARAM_SCHEMA: &str =
    r#"{"type":"object","properties":{"gain":{"type":"number","default":1.0}},"additionalProperties":false}"#;

struct Gain {
    _gain: f64,
}

/// DEFECT: the key is misspelt (`gian`), and every other key is refused.
fn read_gain(params: Option<&Json>) -> Result<f64, String> {
    let mut gain = 1.0;
    let Some(members) = params.and_then(Json::as_object) else { return Ok(gain) };
    for (key, value) in members {
        match key.as_str() {
            "gian" => gain = value.as_f64().ok_or(format!("{KIND}: `gian` must be a number"))?,
            other => return Err(format!("{KIND}: unknown field `{other}`, expected `gian`")),
        }
    }
    Ok(gain)
}

impl Plugin for Gain {
    fn metadata() -> NodeMeta {
        NodeMeta::new(KIND)
            .description("Text processor with a gain parameter (conformance fixture)")
            .input("in", &[PinType::Text])
            .output("out", PinType::Passthrough)
            .param_schema(PARAM_SCHEMA)
            .category("test")
    }

    fn new(params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Gain { _gain: read_gain(params.as_ref())? })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }

    fn update_params(&mut self, params: Option<Json>) -> Result<(), String> {
        self._gain = read_gain(params.as_ref())?;
        Ok(())
    }
}

skabi::export_processor!(Gain);
