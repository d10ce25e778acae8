//! Field decoders that accept what ENTS's marshmallow fields accept, so the unchanged dashboard's
//! forms (which send numbers as text) keep working: a JSON number or a numeric string for
//! `Float`, and marshmallow `Boolean`'s truthy and falsy spellings. Anything else is refused with
//! a serde error, which the API answers as a 4xx.

use serde::de::{self, Deserializer, Unexpected, Visitor};
use std::fmt;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

/// A finite number, given as a JSON number or a numeric string (`"36.97"`, `" -122.03 "`).
pub fn float<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(FloatVisitor)
}

/// Like [`float`], for optional fields: `null` or absent stays `None`.
pub fn opt_float<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    deserializer.deserialize_option(OptionOf(FloatVisitor))
}

/// A boolean as marshmallow `Boolean` reads it: `true`/`false`, `1`/`0`, and `"true"`, `"yes"`,
/// `"on"`, `"1"`, `"t"`, `"y"` (and their falsy twins) in any case.
pub fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    deserializer.deserialize_any(BoolVisitor)
}

/// Like [`boolean`], for optional fields: `null` or absent stays `None`.
pub fn opt_boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    deserializer.deserialize_option(OptionOf(BoolVisitor))
}

/// OpenAPI: a latitude as a number in [-90, 90] or a numeric string.
pub fn latitude_schema() -> Schema {
    number_or_text(-90.0, 90.0)
}

/// OpenAPI: a longitude as a number in [-180, 180] or a numeric string.
pub fn longitude_schema() -> Schema {
    number_or_text(-180.0, 180.0)
}

/// OpenAPI: a boolean, 0/1, or one of marshmallow `Boolean`'s spellings.
pub fn boolean_schema() -> Schema {
    let words = TRUTHY.iter().chain(FALSY.iter()).copied();
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(ObjectBuilder::new().schema_type(Type::Integer).enum_values(Some([0, 1])))
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(format!(
            "^({})$",
            words.collect::<Vec<_>>().join("|")
        ))))
        .description(Some("true/false, 0/1, or (in any case) \"true\", \"yes\", \"on\", \"t\", \"y\", \"1\" and their opposites"))
        .into()
}

fn number_or_text(min: f64, max: f64) -> Schema {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(min))
                .maximum(Some(max)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*$")),
        )
        .description(Some(format!(
            "a number in [{min}, {max}], or the same as a numeric string"
        )))
        .into()
}

struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a numeric string")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        let trimmed = v.trim();
        // Rust also parses "inf", "NaN" and "infinity"; marshmallow refuses them by default.
        match trimmed.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }
}

struct BoolVisitor;

const TRUTHY: [&str; 6] = ["true", "t", "yes", "y", "on", "1"];
const FALSY: [&str; 6] = ["false", "f", "no", "n", "off", "0"];

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean, 0 or 1, or \"true\"/\"false\"")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        let lower = v.to_ascii_lowercase();
        if TRUTHY.contains(&lower.as_str()) {
            Ok(true)
        } else if FALSY.contains(&lower.as_str()) {
            Ok(false)
        } else {
            Err(E::invalid_value(Unexpected::Str(v), &self))
        }
    }
}

/// Lifts a value visitor to `Option`, so optional fields share the rules of required ones.
struct OptionOf<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionOf<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)?;
        f.write_str(" or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self.0).map(Some)
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
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Form {
        #[serde(deserialize_with = "super::float")]
        lat: f64,
        #[serde(default, deserialize_with = "super::opt_float")]
        long: Option<f64>,
        #[serde(default, deserialize_with = "super::opt_boolean")]
        archive: Option<bool>,
    }

    fn parse(json: &str) -> Result<Form, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn numbers_and_numeric_strings_are_the_same_value() {
        let a = parse(r#"{"lat": 36.9741, "long": -122, "archive": true}"#).unwrap();
        let b = parse(r#"{"lat": "36.9741", "long": " -122 ", "archive": "True"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a,
            Form {
                lat: 36.9741,
                long: Some(-122.0),
                archive: Some(true)
            }
        );
    }

    #[test]
    fn absent_and_null_optionals_are_none() {
        assert_eq!(
            parse(r#"{"lat": 1}"#).unwrap(),
            Form {
                lat: 1.0,
                long: None,
                archive: None
            }
        );
        let nulls = parse(r#"{"lat": 1, "long": null, "archive": null}"#).unwrap();
        assert_eq!(
            nulls,
            Form {
                lat: 1.0,
                long: None,
                archive: None
            }
        );
    }

    #[test]
    fn marshmallow_boolean_spellings() {
        for (text, want) in [
            ("\"yes\"", true),
            ("\"OFF\"", false),
            ("1", true),
            ("0", false),
            ("\"f\"", false),
        ] {
            let form = parse(&format!(r#"{{"lat": 0, "archive": {text}}}"#)).unwrap();
            assert_eq!(form.archive, Some(want), "{text}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            r#"{"lat": "north"}"#,
            r#"{"lat": ""}"#,
            r#"{"lat": "NaN"}"#,
            r#"{"lat": "inf"}"#,
            r#"{"lat": [1]}"#,
            r#"{"lat": true}"#,
            r#"{"lat": 1, "long": "1e999"}"#,
            r#"{"lat": 1, "archive": "maybe"}"#,
            r#"{"lat": 1, "archive": 2}"#,
            r#"{"lat": 1, "archive": 1.0}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
