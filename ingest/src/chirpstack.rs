//! ChirpStack v4 uplink events (HTTP integration `?event=up`, MQTT `application/{id}/device/
//! {devEui}/event/up`), in ChirpStack's protobuf-JSON mapping: camelCase fields, `data` base64,
//! `fPort` a number and absent (like `data`) on an empty frame. Only `fPort` and `data` decide
//! what is stored; the ports are the TTN door's (1 legacy, 2 generic, 202 time sync).

use serde_json::Value;

use crate::DecodeError;
use crate::ttn::Uplink;

/// The integration event types ChirpStack posts besides `up`; acknowledged and ignored.
pub const IGNORED_EVENTS: &[&str] = &[
    "join",
    "status",
    "ack",
    "txack",
    "log",
    "location",
    "integration",
];

/// Reads an `up` event. An event without `fPort` (an empty frame, or a MAC-only uplink) stores
/// nothing; a non-object body or a `data` that is not base64 is refused.
pub fn parse(event: &Value) -> Result<Uplink, DecodeError> {
    if !event.is_object() {
        return Err(DecodeError::BadField {
            field: "(body)".into(),
            problem: "a ChirpStack event is a JSON object".into(),
        });
    }
    crate::ttn::by_port(event, "fPort", ("data", "data"))
}

/// The device a ChirpStack event names (`deviceInfo.devEui`, `deviceInfo.deviceName`), for logs.
pub fn device(event: &Value) -> String {
    let info = event.get("deviceInfo");
    let field = |name: &str| {
        info.and_then(|i| i.get(name))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    format!("{} ({})", field("devEui"), field("deviceName"))
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

    /// An `up` event as ChirpStack v4 posts it (fields from `integration.proto`, JSON mapping).
    fn event(port: Option<Value>, data: Option<&str>) -> Value {
        let mut e = json!({
            "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
            "time": "2024-01-13T18:00:05.123456Z",
            "deviceInfo": {
                "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
                "tenantName": "ChirpStack",
                "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
                "applicationName": "soil",
                "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
                "deviceProfileName": "ents",
                "deviceName": "field-7",
                "devEui": "0101010101010101",
                "tags": {}
            },
            "devAddr": "00189440",
            "adr": true,
            "dr": 1,
            "fCnt": 4,
            "confirmed": false,
            "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -57, "snr": 10.5}],
            "txInfo": {"frequency": 868100000, "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 11, "codeRate": "CR_4_5"}}}
        });
        if let Some(port) = port {
            e["fPort"] = port;
        }
        if let Some(data) = data {
            e["data"] = json!(data);
        }
        e
    }

    #[test]
    fn ports_map_to_the_ttn_doors() {
        assert_eq!(
            parse(&event(Some(json!(1)), Some("AQI="))),
            Ok(Uplink::Legacy(vec![1, 2]))
        );
        assert_eq!(
            parse(&event(Some(json!(2)), Some("AQI="))),
            Ok(Uplink::Generic(vec![1, 2]))
        );
        assert_eq!(
            parse(&event(Some(json!(202)), Some("AQI="))),
            Ok(Uplink::TimeSync)
        );
        assert_eq!(parse(&event(Some(json!(3)), None)), Ok(Uplink::UnknownPort));
        assert_eq!(
            parse(&event(Some(json!("1")), Some("AQI="))),
            Ok(Uplink::UnknownPort)
        );
        assert_eq!(
            parse(&event(Some(json!(-1)), Some("AQI="))),
            Ok(Uplink::UnknownPort)
        );
    }

    #[test]
    fn empty_frames_store_nothing() {
        assert_eq!(parse(&event(None, None)), Ok(Uplink::NothingToStore));
    }

    #[test]
    fn bad_payloads_and_bodies_are_refused() {
        let missing = parse(&event(Some(json!(1)), None)).unwrap_err();
        assert!(missing.to_string().contains("data"), "{missing}");
        let garbage = parse(&event(Some(json!(2)), Some("not base64!"))).unwrap_err();
        assert!(garbage.to_string().contains("not base64"), "{garbage}");
        let number = parse(&event(Some(json!(1)), None).tap_data(json!(12))).unwrap_err();
        assert!(number.to_string().contains("data"), "{number}");
        assert!(parse(&json!([1, 2])).is_err());
        assert!(parse(&json!("up")).is_err());
    }

    #[test]
    fn the_device_is_named_for_logs() {
        assert_eq!(device(&event(None, None)), "0101010101010101 (field-7)");
        assert_eq!(device(&json!({})), "? (?)");
    }

    trait TapData {
        fn tap_data(self, data: Value) -> Value;
    }

    impl TapData for Value {
        fn tap_data(mut self, data: Value) -> Value {
            self["data"] = data;
            self
        }
    }
}
