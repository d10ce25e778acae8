//! The Things Stack uplink webhook (reference §6.2): only `uplink_message.f_port` and
//! `uplink_message.frm_payload` matter.

use base64::Engine;
use serde_json::Value;

use crate::DecodeError;

/// What a TTN uplink asks of the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Uplink {
    /// Port 1: a legacy `Measurement`.
    Legacy(Vec<u8>),
    /// Port 2: a generic `RepeatedSensorMeasurements`.
    Generic(Vec<u8>),
    /// Port 202: LoRaWAN clock sync; acknowledged, nothing stored.
    TimeSync,
    /// No `uplink_message` or no `f_port`: acknowledged, nothing stored (as ENTS).
    NothingToStore,
    /// Any other port (including the string `"1"`): 404 `f_port not recognized.`.
    UnknownPort,
}

/// Reads an uplink webhook body.
pub fn parse(body: &Value) -> Result<Uplink, DecodeError> {
    let Some(message) = body.get("uplink_message").filter(|m| m.is_object()) else {
        return Ok(Uplink::NothingToStore);
    };
    by_port(
        message,
        "f_port",
        ("frm_payload", "uplink_message.frm_payload"),
    )
}

/// What a LoRaWAN uplink asks for, from its port field and its base64 payload field: shared by
/// TTN (`f_port`, `frm_payload`) and ChirpStack (`fPort`, `data`), so both map ports alike.
/// `data` is (the field's key, its name in a refusal).
pub(crate) fn by_port(
    message: &Value,
    port_key: &str,
    (data_key, data_name): (&str, &str),
) -> Result<Uplink, DecodeError> {
    let Some(port) = message.get(port_key) else {
        return Ok(Uplink::NothingToStore);
    };
    let port = match port.as_u64() {
        Some(p) if port.is_u64() => p,
        _ => return Ok(Uplink::UnknownPort),
    };
    let payload = || -> Result<Vec<u8>, DecodeError> {
        let text = message
            .get(data_key)
            .and_then(Value::as_str)
            .ok_or_else(|| DecodeError::BadField {
                field: data_name.into(),
                problem: "missing (an uplink on this port carries a payload)".into(),
            })?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| DecodeError::BadField {
                field: data_name.into(),
                problem: format!("not base64: {e}"),
            })
    };
    match port {
        1 => Ok(Uplink::Legacy(payload()?)),
        2 => Ok(Uplink::Generic(payload()?)),
        202 => Ok(Uplink::TimeSync),
        _ => Ok(Uplink::UnknownPort),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_map_to_doors() {
        let up = |port: Value, payload: Option<&str>| {
            let mut m = json!({"f_port": port});
            if let Some(p) = payload {
                m["frm_payload"] = json!(p);
            }
            parse(&json!({"uplink_message": m}))
        };
        assert_eq!(up(json!(1), Some("AQI=")), Ok(Uplink::Legacy(vec![1, 2])));
        assert_eq!(up(json!(2), Some("AQI=")), Ok(Uplink::Generic(vec![1, 2])));
        assert_eq!(up(json!(202), None), Ok(Uplink::TimeSync));
        assert_eq!(up(json!(3), None), Ok(Uplink::UnknownPort));
        assert_eq!(up(json!("1"), Some("AQI=")), Ok(Uplink::UnknownPort));
        assert!(up(json!(1), None).is_err());
        assert_eq!(
            parse(&json!({"end_device_ids": {}})),
            Ok(Uplink::NothingToStore)
        );
    }
}
