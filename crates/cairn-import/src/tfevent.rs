//! TensorBoard `Event` records (`tensorflow/core/util/event.proto`): the wall time and step of
//! each record and the scalar values, images and histograms of its summary. A scalar is a
//! `simple_value` (TF1 and PyTorch writers) or a one-element tensor of a numeric type whose
//! metadata names the `scalars` plugin or the scalar data class (TF2 writers). An image is a
//! `Summary.Image` with its encoded bytes (TF1, PyTorch) or a string tensor of the `images`
//! plugin (width, height, then encoded images; TF2). A histogram is a `HistogramProto` (TF1,
//! PyTorch) or a `[k, 3]` tensor of the `histograms` plugin (left edge, right edge, count per
//! bucket; TF2). Other values — audio, text and other plugins' tensors — are reported by tag and
//! kind, not decoded.
//!
//! Field numbers used (message: field = number):
//! - `Event`: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5.
//! - `Summary`: value = 1 (repeated `Summary.Value`).
//! - `Summary.Value`: tag = 1, simple_value = 2 (float), histo = 5, image = 4, audio = 6,
//!   obsolete_old_style_histogram = 3, tensor = 8 (`TensorProto`), metadata = 9.
//! - `Summary.Image`: height = 1, width = 2, colorspace = 3, encoded_image_string = 4.
//! - `HistogramProto`: min = 1, max = 2, num = 3, sum = 4, sum_squares = 5, bucket_limit = 6,
//!   bucket = 7 (doubles; the last two packed).
//! - `SummaryMetadata`: plugin_data = 1 (`PluginData`: plugin_name = 1), data_class = 4.
//! - `TensorProto`: dtype = 1, tensor_shape = 2 (`TensorShapeProto`: dim = 2, `Dim`: size = 1),
//!   tensor_content = 4, float_val = 5, double_val = 6, int_val = 7, string_val = 8,
//!   int64_val = 10, bool_val = 11, half_val = 13.

use crate::protowire::{self, WireError, fields};

/// One scalar point: a summary value's tag and number.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub tag: String,
    pub value: f64,
}

/// A summary value that is not a scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub tag: String,
    /// `image`, `histogram`, `audio`, or `tensor:<plugin>` (`tensor` without a plugin).
    pub kind: String,
}

/// An encoded image (PNG, JPEG or GIF bytes as the writer stored them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub tag: String,
    pub encoded: Vec<u8>,
    pub width: i64,
    pub height: i64,
}

/// A histogram: bucket `i` counts values up to `limits[i]` (above `limits[i - 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub tag: String,
    pub min: f64,
    pub max: f64,
    pub count: f64,
    pub sum: Option<f64>,
    pub sum_squares: Option<f64>,
    pub limits: Vec<f64>,
    pub counts: Vec<f64>,
}

/// What an `Event` record holds for an importer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// Seconds since the Unix epoch.
    pub wall_time: f64,
    pub step: i64,
    /// The first record of a file says `brain.Event:2`.
    pub file_version: Option<String>,
    pub scalars: Vec<Scalar>,
    pub images: Vec<Image>,
    pub histograms: Vec<Histogram>,
    pub skipped: Vec<Skipped>,
}

/// Why a record is not a readable `Event`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("a {0} field has the wrong wire type")]
    WireType(&'static str),
    #[error("a summary tag is not UTF-8")]
    Tag,
}

/// The longest metric key a server takes.
const MAX_KEY_CHARS: usize = 250;

/// A metric key for a summary tag: characters outside alphanumerics, `_ - . : /` and space
/// become `_`; empty and `.` path segments are dropped and `..` becomes `__` (keys must not
/// resolve to other names as paths); at most 250 characters. `None` when nothing is left.
pub fn metric_key(tag: &str) -> Option<String> {
    let cleaned: String = tag
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let key = cleaned
        .split('/')
        .filter(|segment| !segment.is_empty() && *segment != ".")
        .map(|segment| if segment == ".." { "__" } else { segment })
        .collect::<Vec<_>>()
        .join("/");
    let key: String = key.chars().take(MAX_KEY_CHARS).collect();
    let key = key.trim_end_matches('/').to_string();
    (!key.is_empty()).then_some(key)
}

/// `TensorProto.dtype` values that hold numbers.
mod dtype {
    pub const FLOAT: i64 = 1;
    pub const DOUBLE: i64 = 2;
    pub const INT32: i64 = 3;
    pub const UINT8: i64 = 4;
    pub const INT16: i64 = 5;
    pub const INT8: i64 = 6;
    pub const INT64: i64 = 9;
    pub const BOOL: i64 = 10;
    pub const BFLOAT16: i64 = 14;
    pub const HALF: i64 = 19;
}

/// `SummaryMetadata.data_class` of a scalar.
const DATA_CLASS_SCALAR: i64 = 1;

/// Decodes one `Event` record.
pub fn decode_event(bytes: &[u8]) -> Result<Event, EventError> {
    let mut event = Event::default();
    for field in fields(bytes) {
        let (number, value) = field?;
        match number {
            1 => event.wall_time = value.as_f64().ok_or(EventError::WireType("wall_time"))?,
            2 => event.step = value.as_i64().ok_or(EventError::WireType("step"))?,
            3 => {
                let text = value
                    .as_bytes()
                    .ok_or(EventError::WireType("file_version"))?;
                event.file_version = Some(String::from_utf8_lossy(text).into_owned());
            }
            5 => {
                let summary = value.as_bytes().ok_or(EventError::WireType("summary"))?;
                decode_summary(summary, &mut event)?;
            }
            _ => {}
        }
    }
    Ok(event)
}

fn decode_summary(bytes: &[u8], event: &mut Event) -> Result<(), EventError> {
    for field in fields(bytes) {
        let (number, value) = field?;
        if number == 1 {
            let value = value
                .as_bytes()
                .ok_or(EventError::WireType("summary value"))?;
            decode_value(value, event)?;
        }
    }
    Ok(())
}

/// The parts of a `Summary.Value` an importer looks at.
#[derive(Default)]
struct SummaryValue<'a> {
    tag: Option<String>,
    simple: Option<f32>,
    tensor: Option<&'a [u8]>,
    image: Option<&'a [u8]>,
    histogram: Option<&'a [u8]>,
    plugin: Option<String>,
    scalar_class: bool,
    other: Option<&'static str>,
}

/// A `Summary.Image`; `None` without encoded bytes.
fn decode_image(tag: &str, bytes: &[u8]) -> Result<Option<Image>, EventError> {
    let mut image = Image {
        tag: tag.to_string(),
        encoded: Vec::new(),
        width: 0,
        height: 0,
    };
    for field in fields(bytes) {
        let (number, value) = field?;
        match number {
            1 => image.height = value.as_i64().ok_or(EventError::WireType("height"))?,
            2 => image.width = value.as_i64().ok_or(EventError::WireType("width"))?,
            4 => {
                image.encoded = value
                    .as_bytes()
                    .ok_or(EventError::WireType("encoded_image_string"))?
                    .to_vec()
            }
            _ => {}
        }
    }
    Ok((!image.encoded.is_empty()).then_some(image))
}

/// A `HistogramProto`.
fn decode_histogram(tag: &str, bytes: &[u8]) -> Result<Histogram, EventError> {
    let mut histogram = Histogram {
        tag: tag.to_string(),
        min: 0.0,
        max: 0.0,
        count: 0.0,
        sum: None,
        sum_squares: None,
        limits: Vec::new(),
        counts: Vec::new(),
    };
    let double =
        |value: protowire::Value<'_>, what| value.as_f64().ok_or(EventError::WireType(what));
    for field in fields(bytes) {
        let (number, value) = field?;
        match number {
            1 => histogram.min = double(value, "min")?,
            2 => histogram.max = double(value, "max")?,
            3 => histogram.count = double(value, "num")?,
            4 => histogram.sum = Some(double(value, "sum")?),
            5 => histogram.sum_squares = Some(double(value, "sum_squares")?),
            6 => protowire::packed_f64(value, &mut histogram.limits)?,
            7 => protowire::packed_f64(value, &mut histogram.counts)?,
            _ => {}
        }
    }
    Ok(histogram)
}

/// The encoded images of an `images` plugin tensor: its strings after width and height.
fn images_of_tensor(tag: &str, bytes: &[u8]) -> Result<Vec<Image>, EventError> {
    let mut strings = Vec::new();
    for field in fields(bytes) {
        let (number, value) = field?;
        if number == 8 {
            strings.push(value.as_bytes().ok_or(EventError::WireType("string_val"))?);
        }
    }
    let number = |i: usize| {
        strings
            .get(i)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (width, height) = (number(0), number(1));
    Ok(strings
        .iter()
        .skip(2)
        .filter(|s| !s.is_empty())
        .map(|s| Image {
            tag: tag.to_string(),
            encoded: s.to_vec(),
            width,
            height,
        })
        .collect())
}

/// A `histograms` plugin tensor (`[k, 3]`: left edge, right edge, count) as a histogram;
/// `None` when the tensor has another shape or type.
fn histogram_of_tensor(tag: &str, bytes: &[u8]) -> Result<Option<Histogram>, EventError> {
    let NumericTensor {
        dtype: dtype_code,
        dims,
        content,
        floats: mut numbers,
        ..
    } = NumericTensor::decode(bytes)?;
    if let Some(content) = content {
        numbers = match dtype_code {
            dtype::FLOAT => content
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            dtype::DOUBLE => content
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            _ => return Ok(None),
        };
    }
    let [buckets, 3] = dims.as_slice() else {
        return Ok(None);
    };
    if numbers.len() as i64 != buckets * 3 {
        return Ok(None);
    }
    let rows: Vec<&[f64]> = numbers.chunks_exact(3).collect();
    Ok(Some(Histogram {
        tag: tag.to_string(),
        min: rows.first().map_or(0.0, |r| r[0]),
        max: rows.last().map_or(0.0, |r| r[1]),
        count: rows.iter().map(|r| r[2]).sum(),
        sum: None,
        sum_squares: None,
        limits: rows.iter().map(|r| r[1]).collect(),
        counts: rows.iter().map(|r| r[2]).collect(),
    }))
}

fn decode_value(bytes: &[u8], event: &mut Event) -> Result<(), EventError> {
    let mut v = SummaryValue::default();
    for field in fields(bytes) {
        let (number, value) = field?;
        match number {
            1 => {
                let tag = value.as_bytes().ok_or(EventError::WireType("tag"))?;
                v.tag = Some(String::from_utf8(tag.to_vec()).map_err(|_| EventError::Tag)?);
            }
            2 => v.simple = Some(value.as_f32().ok_or(EventError::WireType("simple_value"))?),
            3 => v.other = Some("histogram"),
            5 => v.histogram = Some(value.as_bytes().ok_or(EventError::WireType("histo"))?),
            4 => v.image = Some(value.as_bytes().ok_or(EventError::WireType("image"))?),
            6 => v.other = Some("audio"),
            8 => v.tensor = Some(value.as_bytes().ok_or(EventError::WireType("tensor"))?),
            9 => {
                let metadata = value.as_bytes().ok_or(EventError::WireType("metadata"))?;
                decode_metadata(metadata, &mut v)?;
            }
            _ => {}
        }
    }
    let tag = v.tag.unwrap_or_default();
    if let Some(simple) = v.simple {
        event.scalars.push(Scalar {
            tag,
            value: f64::from(simple),
        });
        return Ok(());
    }
    if let Some(image) = v.image {
        match decode_image(&tag, image)? {
            Some(image) => event.images.push(image),
            None => event.skipped.push(Skipped {
                tag,
                kind: "image without its bytes".to_string(),
            }),
        }
        return Ok(());
    }
    if let Some(histogram) = v.histogram {
        event.histograms.push(decode_histogram(&tag, histogram)?);
        return Ok(());
    }
    if let Some(kind) = v.other {
        event.skipped.push(Skipped {
            tag,
            kind: kind.to_string(),
        });
        return Ok(());
    }
    let Some(tensor) = v.tensor else {
        return Ok(());
    };
    match v.plugin.as_deref() {
        Some("images") => {
            event.images.extend(images_of_tensor(&tag, tensor)?);
            return Ok(());
        }
        Some("histograms") => {
            if let Some(histogram) = histogram_of_tensor(&tag, tensor)? {
                event.histograms.push(histogram);
                return Ok(());
            }
        }
        _ => {}
    }
    let is_scalar_plugin = v.plugin.as_deref() == Some("scalars") || v.scalar_class;
    let value = if is_scalar_plugin {
        scalar_of_tensor(tensor)?
    } else {
        None
    };
    match value {
        Some(value) => event.scalars.push(Scalar { tag, value }),
        None => event.skipped.push(Skipped {
            tag,
            kind: match v.plugin {
                Some(plugin) => format!("tensor:{plugin}"),
                None => "tensor".to_string(),
            },
        }),
    }
    Ok(())
}

fn decode_metadata(bytes: &[u8], v: &mut SummaryValue<'_>) -> Result<(), EventError> {
    for field in fields(bytes) {
        let (number, value) = field?;
        match number {
            1 => {
                let plugin_data = value
                    .as_bytes()
                    .ok_or(EventError::WireType("plugin_data"))?;
                for field in fields(plugin_data) {
                    let (number, value) = field?;
                    if number == 1 {
                        let name = value
                            .as_bytes()
                            .ok_or(EventError::WireType("plugin_name"))?;
                        v.plugin = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            4 => v.scalar_class = value.as_i64() == Some(DATA_CLASS_SCALAR),
            _ => {}
        }
    }
    Ok(())
}

/// The one number of a one-element numeric tensor; `None` for anything else.
fn scalar_of_tensor(bytes: &[u8]) -> Result<Option<f64>, EventError> {
    let tensor = NumericTensor::decode(bytes)?;
    let elements = tensor.dims.iter().fold(1u64, |product, size| {
        product.saturating_mul(u64::try_from(*size).unwrap_or(u64::MAX))
    });
    let NumericTensor {
        dtype: dtype_code,
        content,
        floats,
        ints,
        ..
    } = tensor;
    if elements != 1 {
        return Ok(None);
    }
    if let Some(content) = content {
        return Ok(number_from_content(dtype_code, content));
    }
    Ok(match dtype_code {
        dtype::FLOAT | dtype::DOUBLE => floats.first().copied(),
        dtype::HALF => ints.first().map(|&h| f64::from(f16_to_f32(h as u16))),
        dtype::BFLOAT16 => ints
            .first()
            .map(|&b| f64::from(f32::from_bits((b as u32) << 16))),
        dtype::INT32 | dtype::INT64 | dtype::INT16 | dtype::INT8 | dtype::UINT8 => {
            ints.first().map(|&i| i as f64)
        }
        dtype::BOOL => ints.first().map(|&b| if b != 0 { 1.0 } else { 0.0 }),
        _ => None,
    })
}

/// The parts of a `TensorProto` the readers above use: dtype, dims (none for a scalar), packed
/// `tensor_content`, and the typed value fields (floats and doubles as `f64`, the integer, bool
/// and half fields as `i64`).
struct NumericTensor<'a> {
    dtype: i64,
    dims: Vec<i64>,
    content: Option<&'a [u8]>,
    floats: Vec<f64>,
    ints: Vec<i64>,
}

impl<'a> NumericTensor<'a> {
    fn decode(bytes: &'a [u8]) -> Result<NumericTensor<'a>, EventError> {
        let mut tensor = NumericTensor {
            dtype: 0,
            dims: Vec::new(),
            content: None,
            floats: Vec::new(),
            ints: Vec::new(),
        };
        for field in fields(bytes) {
            let (number, value) = field?;
            match number {
                1 => tensor.dtype = value.as_i64().ok_or(EventError::WireType("dtype"))?,
                2 => {
                    let shape = value
                        .as_bytes()
                        .ok_or(EventError::WireType("tensor_shape"))?;
                    tensor.dims = shape_dims(shape)?;
                }
                4 => {
                    let content = value
                        .as_bytes()
                        .ok_or(EventError::WireType("tensor_content"))?;
                    tensor.content = Some(content);
                }
                5 => protowire::packed_f32(value, &mut tensor.floats)?,
                6 => protowire::packed_f64(value, &mut tensor.floats)?,
                7 | 10 | 11 | 13 => protowire::packed_varint(value, &mut tensor.ints)?,
                _ => {}
            }
        }
        Ok(tensor)
    }
}

/// The dims of a `TensorShapeProto`.
fn shape_dims(bytes: &[u8]) -> Result<Vec<i64>, EventError> {
    let mut dims = Vec::new();
    for field in fields(bytes) {
        let (number, value) = field?;
        if number == 2 {
            let dim = value.as_bytes().ok_or(EventError::WireType("dim"))?;
            for field in fields(dim) {
                let (number, value) = field?;
                if number == 1 {
                    dims.push(value.as_i64().ok_or(EventError::WireType("dim size"))?);
                }
            }
        }
    }
    Ok(dims)
}

/// A number packed in `tensor_content` (little-endian, `dtype`'s width).
fn number_from_content(dtype_code: i64, content: &[u8]) -> Option<f64> {
    fn array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
        bytes.try_into().ok()
    }
    Some(match dtype_code {
        dtype::FLOAT => f64::from(f32::from_le_bytes(array(content)?)),
        dtype::DOUBLE => f64::from_le_bytes(array(content)?),
        dtype::INT32 => f64::from(i32::from_le_bytes(array(content)?)),
        dtype::INT64 => i64::from_le_bytes(array(content)?) as f64,
        dtype::INT16 => f64::from(i16::from_le_bytes(array(content)?)),
        dtype::INT8 => f64::from(i8::from_le_bytes(array(content)?)),
        dtype::UINT8 => f64::from(u8::from_le_bytes(array(content)?)),
        dtype::BOOL => f64::from(u8::from_le_bytes(array(content)?) != 0),
        dtype::HALF => f64::from(f16_to_f32(u16::from_le_bytes(array(content)?))),
        dtype::BFLOAT16 => f64::from(f32::from_bits(
            u32::from(u16::from_le_bytes(array(content)?)) << 16,
        )),
        _ => return None,
    })
}

/// An IEEE-754 half-precision number's value.
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1F);
    let fraction = f32::from(h & 0x3FF);
    match exponent {
        0 => sign * fraction * 2f32.powi(-24),
        31 if fraction == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f32.powi(exponent - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protowire::write;
    use proptest::prelude::*;

    fn event(wall: f64, step: i64, values: &[Vec<u8>]) -> Vec<u8> {
        let mut summary = Vec::new();
        for v in values {
            write::bytes(&mut summary, 1, v);
        }
        let mut e = Vec::new();
        write::double(&mut e, 1, wall);
        write::int(&mut e, 2, step);
        write::bytes(&mut e, 5, &summary);
        e
    }

    fn simple(tag: &str, value: f32) -> Vec<u8> {
        let mut v = Vec::new();
        write::bytes(&mut v, 1, tag.as_bytes());
        write::float(&mut v, 2, value);
        v
    }

    fn metadata(plugin: &str) -> Vec<u8> {
        let mut plugin_data = Vec::new();
        write::bytes(&mut plugin_data, 1, plugin.as_bytes());
        let mut m = Vec::new();
        write::bytes(&mut m, 1, &plugin_data);
        m
    }

    /// A `TensorShapeProto` with one dimension of `size`.
    fn shape(size: i64) -> Vec<u8> {
        let mut dim = Vec::new();
        write::int(&mut dim, 1, size);
        let mut shape = Vec::new();
        write::bytes(&mut shape, 2, &dim);
        shape
    }

    fn tensor_value(tag: &str, plugin: &str, tensor: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        write::bytes(&mut v, 1, tag.as_bytes());
        write::bytes(&mut v, 9, &metadata(plugin));
        write::bytes(&mut v, 8, tensor);
        v
    }

    #[test]
    fn simple_values() {
        let bytes = event(
            1.7e9 + 0.25,
            42,
            &[simple("loss", 0.5), simple("acc", 0.75)],
        );
        let e = decode_event(&bytes).unwrap();
        assert_eq!(e.wall_time, 1.7e9 + 0.25);
        assert_eq!(e.step, 42);
        assert_eq!(
            e.scalars,
            vec![
                Scalar {
                    tag: "loss".into(),
                    value: 0.5
                },
                Scalar {
                    tag: "acc".into(),
                    value: 0.75
                }
            ]
        );
    }

    #[test]
    fn the_file_version_record() {
        let mut e = Vec::new();
        write::double(&mut e, 1, 1.0);
        write::bytes(&mut e, 3, b"brain.Event:2");
        let e = decode_event(&e).unwrap();
        assert_eq!(e.file_version.as_deref(), Some("brain.Event:2"));
        assert!(e.scalars.is_empty());
    }

    #[test]
    fn scalar_tensors_of_every_encoding() {
        let mut float_val = Vec::new();
        write::int(&mut float_val, 1, dtype::FLOAT);
        write::bytes(&mut float_val, 2, &[]);
        write::float(&mut float_val, 5, 1.25);
        let mut content_double = Vec::new();
        write::int(&mut content_double, 1, dtype::DOUBLE);
        write::bytes(&mut content_double, 4, &0.1f64.to_le_bytes());
        let mut int64 = Vec::new();
        write::int(&mut int64, 1, dtype::INT64);
        write::int(&mut int64, 10, -7);
        let mut half = Vec::new();
        write::int(&mut half, 1, dtype::HALF);
        write::int(&mut half, 13, 0x3C00); // 1.0
        let mut one_by_one = Vec::new();
        write::int(&mut one_by_one, 1, dtype::FLOAT);
        write::bytes(&mut one_by_one, 2, &shape(1));
        write::bytes(&mut one_by_one, 4, &3.5f32.to_le_bytes());
        let bytes = event(
            1.0,
            3,
            &[
                tensor_value("a", "scalars", &float_val),
                tensor_value("b", "scalars", &content_double),
                tensor_value("c", "scalars", &int64),
                tensor_value("d", "scalars", &half),
                tensor_value("e", "scalars", &one_by_one),
            ],
        );
        let got: Vec<(String, f64)> = decode_event(&bytes)
            .unwrap()
            .scalars
            .into_iter()
            .map(|s| (s.tag, s.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), 1.25),
                ("b".into(), 0.1),
                ("c".into(), -7.0),
                ("d".into(), 1.0),
                ("e".into(), 3.5)
            ]
        );
    }

    #[test]
    fn other_values_are_reported_not_decoded() {
        let mut image = Vec::new();
        write::bytes(&mut image, 1, b"samples");
        write::bytes(&mut image, 4, b"\x08\x01");
        let mut histo = Vec::new();
        write::bytes(&mut histo, 1, b"weights");
        write::bytes(&mut histo, 5, b"");
        let mut text = Vec::new();
        write::int(&mut text, 1, 7); // DT_STRING
        let mut vector = Vec::new();
        write::int(&mut vector, 1, dtype::FLOAT);
        write::bytes(&mut vector, 2, &shape(3));
        let bytes = event(
            1.0,
            0,
            &[
                image,
                histo,
                tensor_value("notes", "text", &text),
                tensor_value("three", "scalars", &vector),
            ],
        );
        let e = decode_event(&bytes).unwrap();
        assert!(e.scalars.is_empty());
        assert_eq!(
            e.histograms.len(),
            1,
            "an empty HistogramProto is an empty histogram"
        );
        let kinds: Vec<(String, String)> = e.skipped.into_iter().map(|s| (s.tag, s.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("samples".into(), "image without its bytes".into()),
                ("notes".into(), "tensor:text".into()),
                ("three".into(), "tensor:scalars".into())
            ]
        );
    }

    #[test]
    fn images_and_histograms_as_tf1_and_pytorch_write_them() {
        let mut image = Vec::new();
        write::int(&mut image, 1, 2);
        write::int(&mut image, 2, 3);
        write::bytes(&mut image, 4, b"\x89PNG-bytes");
        let mut image_value = Vec::new();
        write::bytes(&mut image_value, 1, b"samples");
        write::bytes(&mut image_value, 4, &image);
        let mut histo = Vec::new();
        write::double(&mut histo, 1, -1.0);
        write::double(&mut histo, 2, 2.0);
        write::double(&mut histo, 3, 5.0);
        write::double(&mut histo, 4, 3.5);
        for limit in [0.0, 1.0, 2.0] {
            write::double(&mut histo, 6, limit);
        }
        for count in [2.0, 1.0, 2.0] {
            write::double(&mut histo, 7, count);
        }
        let mut histo_value = Vec::new();
        write::bytes(&mut histo_value, 1, b"weights");
        write::bytes(&mut histo_value, 5, &histo);
        let e = decode_event(&event(1.0, 3, &[image_value, histo_value])).unwrap();
        assert_eq!(
            e.images,
            vec![Image {
                tag: "samples".into(),
                encoded: b"\x89PNG-bytes".to_vec(),
                width: 3,
                height: 2
            }]
        );
        assert_eq!(
            e.histograms,
            vec![Histogram {
                tag: "weights".into(),
                min: -1.0,
                max: 2.0,
                count: 5.0,
                sum: Some(3.5),
                sum_squares: None,
                limits: vec![0.0, 1.0, 2.0],
                counts: vec![2.0, 1.0, 2.0]
            }]
        );
        assert!(e.skipped.is_empty());
    }

    #[test]
    fn images_and_histograms_as_tf2_writes_them() {
        let mut strings = Vec::new();
        write::int(&mut strings, 1, 7);
        for s in [b"4".as_slice(), b"2", b"first", b"second"] {
            write::bytes(&mut strings, 8, s);
        }
        let mut buckets = Vec::new();
        write::int(&mut buckets, 1, dtype::DOUBLE);
        let mut dims = Vec::new();
        for size in [2, 3] {
            let mut dim = Vec::new();
            write::int(&mut dim, 1, size);
            write::bytes(&mut dims, 2, &dim);
        }
        write::bytes(&mut buckets, 2, &dims);
        let content: Vec<u8> = [0.0f64, 0.5, 3.0, 0.5, 1.0, 1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write::bytes(&mut buckets, 4, &content);
        let e = decode_event(&event(
            1.0,
            0,
            &[
                tensor_value("pics", "images", &strings),
                tensor_value("acts", "histograms", &buckets),
            ],
        ))
        .unwrap();
        let encoded: Vec<&[u8]> = e.images.iter().map(|i| i.encoded.as_slice()).collect();
        assert_eq!(encoded, vec![b"first".as_slice(), b"second"]);
        assert_eq!((e.images[0].width, e.images[0].height), (4, 2));
        let h = &e.histograms[0];
        assert_eq!((h.min, h.max, h.count), (0.0, 1.0, 4.0));
        assert_eq!(h.limits, vec![0.5, 1.0]);
        assert_eq!(h.counts, vec![3.0, 1.0]);
    }

    #[test]
    fn tags_become_valid_metric_keys() {
        assert_eq!(metric_key("train/loss").as_deref(), Some("train/loss"));
        assert_eq!(metric_key("loss (train)").as_deref(), Some("loss _train_"));
        assert_eq!(metric_key("/a//b/./c/").as_deref(), Some("a/b/c"));
        assert_eq!(metric_key("../x").as_deref(), Some("__/x"));
        assert_eq!(metric_key("lr@step#1").as_deref(), Some("lr_step_1"));
        assert_eq!(metric_key("Verlust/Zug").as_deref(), Some("Verlust/Zug"));
        assert_eq!(metric_key("").as_deref(), None);
        assert_eq!(metric_key("/./").as_deref(), None);
        assert_eq!(metric_key(&"k".repeat(300)).map(|k| k.len()), Some(250));
    }

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
        assert!(f16_to_f32(0x7E00).is_nan());
    }

    #[test]
    fn wrong_wire_types_are_errors() {
        let mut e = Vec::new();
        write::int(&mut e, 1, 5); // wall_time as a varint
        assert_eq!(decode_event(&e), Err(EventError::WireType("wall_time")));
        let mut bad_tag = Vec::new();
        write::bytes(&mut bad_tag, 1, &[0xFF, 0xFE]);
        write::float(&mut bad_tag, 2, 1.0);
        assert_eq!(
            decode_event(&event(0.0, 0, &[bad_tag])),
            Err(EventError::Tag)
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_event(&bytes);
        }

        #[test]
        fn simple_values_round_trip(
            wall in 0f64..2e9,
            step in any::<i64>(),
            values in prop::collection::vec(("[a-z/_]{1,12}", any::<f32>()), 0..6),
        ) {
            let encoded: Vec<Vec<u8>> = values.iter().map(|(t, v)| simple(t, *v)).collect();
            let e = decode_event(&event(wall, step, &encoded)).unwrap();
            prop_assert_eq!(e.wall_time, wall);
            prop_assert_eq!(e.step, step);
            prop_assert_eq!(e.scalars.len(), values.len());
            for (s, (t, v)) in e.scalars.iter().zip(&values) {
                prop_assert_eq!(&s.tag, t);
                prop_assert_eq!(s.value.to_bits(), f64::from(*v).to_bits());
            }
        }
    }
}
