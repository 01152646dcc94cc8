//! JSON pieces of the native API: a double that may arrive as `"NaN"`/`"Infinity"`/`"-Infinity"`,
//! and fast writers for long numeric arrays (series responses are built here, not by serde, so a
//! million-point answer is written in one pass and streamed in pieces).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A double in JSON: a number, or one of the strings proto-JSON uses for non-finite values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Double(pub f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Double, D::Error> {
        struct DoubleVisitor;
        impl Visitor<'_> for DoubleVisitor {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a number, "NaN", "Infinity" or "-Infinity""#)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Double, E> {
                Ok(Double(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Double, E> {
                match v {
                    "NaN" => Ok(Double(f64::NAN)),
                    "Infinity" => Ok(Double(f64::INFINITY)),
                    "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(DoubleVisitor)
    }
}

impl Serialize for Double {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::mlflow::wire::double(&self.0, serializer)
    }
}

/// Appends a double as JSON (non-finite values as strings).
pub fn push_double(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        let mut buffer = ryu::Buffer::new();
        out.extend_from_slice(buffer.format_finite(value).as_bytes());
    } else if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

/// Appends an optional double (`null` when absent).
pub fn push_opt_double(out: &mut Vec<u8>, value: Option<f64>) {
    match value {
        Some(value) => push_double(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

pub fn push_int(out: &mut Vec<u8>, value: i64) {
    let mut buffer = itoa::Buffer::new();
    out.extend_from_slice(buffer.format(value).as_bytes());
}

/// Appends `"name":[v0,v1,...]` for the values `item` writes.
pub fn push_array<T>(
    out: &mut Vec<u8>,
    name: &str,
    items: &[T],
    mut item: impl FnMut(&mut Vec<u8>, &T),
) {
    push_str(out, name);
    out.extend_from_slice(b":[");
    for (index, value) in items.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        item(out, value);
    }
    out.push(b']');
}

/// Appends a JSON string.
pub fn push_str(out: &mut Vec<u8>, text: &str) {
    // serde_json escapes exactly as JSON requires; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_accept_numbers_and_non_finite_strings() {
        let parsed: Vec<Double> =
            serde_json::from_str(r#"[1, -2.5, 1e300, "NaN", "Infinity", "-Infinity"]"#).unwrap();
        assert_eq!(parsed[0].0, 1.0);
        assert_eq!(parsed[1].0, -2.5);
        assert_eq!(parsed[2].0, 1e300);
        assert!(parsed[3].0.is_nan());
        assert_eq!(parsed[4].0, f64::INFINITY);
        assert_eq!(parsed[5].0, f64::NEG_INFINITY);
        let error = serde_json::from_str::<Vec<Double>>(r#"["nan"]"#).unwrap_err();
        assert!(error.to_string().contains("\"NaN\""), "{error}");
        assert!(serde_json::from_str::<Vec<Double>>("[true]").is_err());
    }

    #[test]
    fn writers_produce_valid_json_that_round_trips() {
        let values = [
            0.1,
            -0.0,
            1e300,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut out = b"{".to_vec();
        push_array(&mut out, "v", &values, |out, v| push_double(out, *v));
        out.push(b',');
        push_array(&mut out, "i", &[i64::MIN, 0, i64::MAX], |out, v| {
            push_int(out, *v)
        });
        out.extend_from_slice(b",\"s\":");
        push_str(&mut out, "a\"b\\\n");
        out.push(b'}');
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let back: Vec<Double> = serde_json::from_value(parsed["v"].clone()).unwrap();
        for (a, b) in values.iter().zip(&back) {
            assert!(a.to_bits() == b.0.to_bits() || (a.is_nan() && b.0.is_nan()));
        }
        assert_eq!(parsed["i"][0], i64::MIN);
        assert_eq!(parsed["s"], "a\"b\\\n");
    }
}
