//! The protobuf wire format, just enough to walk a message field by field without its `.proto`:
//! each field is a key (field number and wire type, a varint) and a value — a varint, 8 or 4
//! little-endian bytes, or a length-prefixed byte string (strings, bytes, sub-messages and packed
//! repeated fields). Groups (wire types 3 and 4) are refused; no message used here has them.

/// A malformed message: what is wrong and at which byte of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf at byte {offset}: {reason}")]
pub struct WireError {
    pub offset: usize,
    pub reason: &'static str,
}

/// A field's value as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// A `float` field (wire type 5).
    pub fn as_f32(self) -> Option<f32> {
        match self {
            Value::Fixed32(bits) => Some(f32::from_bits(bits)),
            _ => None,
        }
    }

    /// A `double` field (wire type 1).
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Fixed64(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }

    /// An `int64`/`int32`/enum field (a varint, two's complement).
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Value::Varint(v) => Some(v as i64),
            _ => None,
        }
    }

    /// A `string`, `bytes` or sub-message field.
    pub fn as_bytes(self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// The fields of one message, in wire order (a repeated field appears once per element).
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Walks the fields of `message`.
pub fn fields(message: &[u8]) -> Fields<'_> {
    Fields {
        bytes: message,
        pos: 0,
        failed: false,
    }
}

/// Reads a varint at `*pos` of `bytes`, advancing `*pos`.
pub fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let start = *pos;
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&byte) = bytes.get(*pos) else {
            return Err(WireError {
                offset: start,
                reason: "a varint runs past the end",
            });
        };
        *pos += 1;
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError {
        offset: start,
        reason: "a varint is longer than 10 bytes",
    })
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], WireError> {
    let end = pos
        .checked_add(n)
        .filter(|&end| end <= bytes.len())
        .ok_or(WireError {
            offset: *pos,
            reason: "a value runs past the end",
        })?;
    let out = &bytes[*pos..end];
    *pos = end;
    Ok(out)
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u32, Value<'a>), WireError> {
        let start = self.pos;
        let key = read_varint(self.bytes, &mut self.pos)?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|&n| n > 0)
            .ok_or(WireError {
                offset: start,
                reason: "a field number is 0 or too large",
            })?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(self.bytes, &mut self.pos)?),
            1 => {
                let raw = take(self.bytes, &mut self.pos, 8)?;
                Value::Fixed64(u64::from_le_bytes(raw.try_into().unwrap_or([0; 8])))
            }
            2 => {
                let len = read_varint(self.bytes, &mut self.pos)?;
                let len = usize::try_from(len).map_err(|_| WireError {
                    offset: start,
                    reason: "a length is too large",
                })?;
                Value::Bytes(take(self.bytes, &mut self.pos, len)?)
            }
            5 => {
                let raw = take(self.bytes, &mut self.pos, 4)?;
                Value::Fixed32(u32::from_le_bytes(raw.try_into().unwrap_or([0; 4])))
            }
            _ => {
                return Err(WireError {
                    offset: start,
                    reason: "an unsupported wire type (groups or 6/7)",
                });
            }
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let field = self.field();
        self.failed = field.is_err();
        Some(field)
    }
}

/// The elements of a repeated `float` field, packed (one byte string) or not (one value).
pub fn packed_f32(value: Value<'_>, out: &mut Vec<f64>) -> Result<(), WireError> {
    match value {
        Value::Fixed32(bits) => out.push(f64::from(f32::from_bits(bits))),
        Value::Bytes(b) if b.len() % 4 == 0 => out.extend(
            b.chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        _ => {
            return Err(WireError {
                offset: 0,
                reason: "a packed float field is not a multiple of 4 bytes",
            });
        }
    }
    Ok(())
}

/// The elements of a repeated `double` field, packed or not.
pub fn packed_f64(value: Value<'_>, out: &mut Vec<f64>) -> Result<(), WireError> {
    match value {
        Value::Fixed64(bits) => out.push(f64::from_bits(bits)),
        Value::Bytes(b) if b.len() % 8 == 0 => out.extend(b.chunks_exact(8).map(|c| {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            f64::from_le_bytes(word)
        })),
        _ => {
            return Err(WireError {
                offset: 0,
                reason: "a packed double field is not a multiple of 8 bytes",
            });
        }
    }
    Ok(())
}

/// The elements of a repeated varint field (`int32`, `int64`, `bool`), packed or not.
pub fn packed_varint(value: Value<'_>, out: &mut Vec<i64>) -> Result<(), WireError> {
    match value {
        Value::Varint(v) => out.push(v as i64),
        Value::Bytes(b) => {
            let mut pos = 0;
            while pos < b.len() {
                out.push(read_varint(b, &mut pos)? as i64);
            }
        }
        _ => {
            return Err(WireError {
                offset: 0,
                reason: "a packed varint field has the wrong wire type",
            });
        }
    }
    Ok(())
}

/// Writers of the wire format, for tests of the readers built on it.
#[cfg(test)]
pub(crate) mod write {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
        varint(out, (u64::from(field) << 3) | u64::from(wire));
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    pub fn int(out: &mut Vec<u8>, field: u32, v: i64) {
        key(out, field, 0);
        varint(out, v as u64);
    }

    pub fn double(out: &mut Vec<u8>, field: u32, v: f64) {
        key(out, field, 1);
        out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn float(out: &mut Vec<u8>, field: u32, v: f32) {
        key(out, field, 5);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn walks_every_wire_type() {
        let mut m = Vec::new();
        write::int(&mut m, 1, -2);
        write::double(&mut m, 2, 1.5);
        write::bytes(&mut m, 3, b"tag");
        write::float(&mut m, 15, 0.25);
        let got: Vec<(u32, Value)> = fields(&m).map(Result::unwrap).collect();
        assert_eq!(got[0], (1, Value::Varint(-2i64 as u64)));
        assert_eq!(got[0].1.as_i64(), Some(-2));
        assert_eq!(got[1].1.as_f64(), Some(1.5));
        assert_eq!(got[2].1.as_bytes(), Some(&b"tag"[..]));
        assert_eq!((got[3].0, got[3].1.as_f32()), (15, Some(0.25)));
    }

    #[test]
    fn refuses_what_is_cut_or_unknown() {
        let mut m = Vec::new();
        write::bytes(&mut m, 3, b"abcdef");
        let cut = &m[..m.len() - 1];
        let got: Vec<_> = fields(cut).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].as_ref().unwrap_err().reason.contains("past the end"));
        assert!(fields(&[0x0B]).next().unwrap().is_err()); // wire type 3 (group)
        assert!(fields(&[0x00, 0x00]).next().unwrap().is_err()); // field 0
        assert!(fields(&[0xFF; 11]).next().unwrap().is_err()); // varint too long
    }

    #[test]
    fn packed_fields() {
        let mut out = Vec::new();
        let floats: Vec<u8> = [1.0f32, -2.5]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        packed_f32(Value::Bytes(&floats), &mut out).unwrap();
        packed_f32(Value::Fixed32(3.0f32.to_bits()), &mut out).unwrap();
        assert_eq!(out, vec![1.0, -2.5, 3.0]);
        assert!(packed_f32(Value::Bytes(&[1, 2, 3]), &mut out).is_err());
        let mut ints = Vec::new();
        let mut packed = Vec::new();
        write::varint(&mut packed, 5);
        write::varint(&mut packed, 300);
        packed_varint(Value::Bytes(&packed), &mut ints).unwrap();
        assert_eq!(ints, vec![5, 300]);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let n = fields(&bytes).count();
            prop_assert!(n <= bytes.len());
        }
    }
}
