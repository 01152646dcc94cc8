//! The chunk codec: a versioned, compressed format for the points of one metric series.
//!
//! A chunk holds any number of points, in the order given, cut into blocks of [`BLOCK_POINTS`]
//! consecutive points (the last block may be shorter). An index at the front of the chunk holds
//! everything each block's [`BlockMeta`] needs — step and time ranges and a [`Summary`] equal to
//! `Summary::of` the block's points, first and last point included — so a reader answers a range
//! from the index ([`Chunk::parse`] decodes no point data) and decodes only the blocks at its
//! edges ([`Chunk::decode_block`]); every block's data decodes on its own. A reader that fetches
//! bytes lazily parses the index from the chunk's first bytes ([`ChunkIndex::parse_prefix`]) and
//! then fetches only the blocks it decodes ([`ChunkIndex::block_bytes`]).
//!
//! The encoder chooses, per block and per stream, the coding with the fewest bits (it computes
//! the exact cost of each candidate); the decoder only follows what the headers say. The
//! common case — steps `+1`, timestamps at a jittery cadence, `f32` values — costs 0 bits per
//! step, about 3 per timestamp and about 25 per noisy `f32` value (see
//! `examples/series_codec.rs` for measurements against the Gorilla/Chimp-style alternatives).
//!
//! # Byte layout, format version 1
//!
//! Notation. `u8` is one byte. `varint` is unsigned LEB128: 7 bits per byte, least significant
//! group first, high bit set on every byte but the last, at most 10 bytes. `zz(v)` is the signed
//! `v` zigzag-mapped (`(v << 1) ^ (v >> 63)`, so 0, -1, 1, -2 … become 0, 1, 2, 3 …) and written
//! as a varint. Arithmetic on steps, timestamps and representations is wrapping 64-bit two's
//! complement; `>>` on a signed value is arithmetic, on an unsigned one logical.
//!
//! ```text
//! chunk = version:u8  count:varint  entry{blocks}  data{blocks}
//! ```
//!
//! `version` is [`FORMAT_VERSION`] (1); readers refuse any other. `count` points make
//! `blocks = ceil(count / 128)` blocks; all but the last have 128 points. The index entries come
//! first, in block order, then the blocks' data in the same order: block `i`'s data starts where
//! block `i - 1`'s ends (the running sum of `data_len`), and the chunk ends exactly where the
//! last block's data does. An empty chunk is the two bytes `01 00`.
//!
//! ## Index entry
//!
//! `n` is the block's point count; *prev* means the same quantity for the previous block, with
//! the initial value given for the first block. Fields, in this order:
//!
//! | field        | present when              | encoding                                              |
//! |--------------|---------------------------|-------------------------------------------------------|
//! | `flags`      | always                    | `u8`: bits 0–4 value coding (below); bit 5 the block has NaNs; bit 6 step range stored; bit 7 time range stored |
//! | `data_len`   | always                    | `varint`: bytes of this block's data; 0 when `n <= 2`, at least 2 otherwise |
//! | first step   | always                    | `zz(first.step - prev last step)`, initial 0          |
//! | first time   | always                    | `zz(first.timestamp - prev last timestamp)`, initial 0 |
//! | first value  | always                    | `zz(repr(first) - r)`: `r` is prev's last-value representation when prev's value domain is the same (decimal places included), else 0 |
//! | last step    | `n >= 2`                  | `zz((last.step - first.step) - prev step span)`; a span is last minus first; initial 127 |
//! | last time    | `n >= 2`                  | `zz((last.timestamp - first.timestamp) - prev time span)`, initial 0 |
//! | last value   | `n >= 2`, coding not 0    | `zz(repr(last) - repr(first))`                        |
//! | step range   | bit 6                     | `zz(min_step - first.step)` then `varint(max_step - min_step)`. Without bit 6 the steps are non-decreasing: `min_step` = first, `max_step` = last |
//! | time range   | bit 7                     | the same for timestamps                              |
//! | `nans`       | bit 5                     | `varint` in `1..=n`; 0 without bit 5                  |
//! | min value    | `nans < n`, coding not 0  | `zz(repr(min) - repr(first))`                          |
//! | max value    | `nans < n`, coding not 0  | `zz(repr(max) - repr(min))`                            |
//! | sum          | `nans < n`                | `trimmed(sum bits XOR prev sum bits)`; prev sum is 0.0 initially and after an all-NaN block |
//!
//! With constant coding (0) the last value, min and max are the first value. With `nans == n`,
//! min is +∞, max −∞ and sum 0.0, as in [`Summary`]. `count` is `n`; `first` and `last` are the
//! first and last points. `trimmed(x)` is one byte `(z_hi << 4) | z_lo`, where `z_hi` and
//! `z_lo` count the zero bytes at the top and bottom of `x`, then the `8 - z_hi - z_lo` bytes
//! between, least significant first; `x == 0` is the single byte `0x80`.
//!
//! ## Value codings and domains
//!
//! | code     | coding                          | domain      |
//! |----------|---------------------------------|-------------|
//! | 0        | constant: every value has the first value's bits | f64 |
//! | 1        | integer stream of representations | f32       |
//! | 2        | integer stream of representations | f64       |
//! | 3        | XOR stream of `f32` bits         | f32         |
//! | 4        | XOR stream of `f64` bits         | f64         |
//! | 8 + d    | integer stream of representations, `d` in `0..=18` | decimal `d` |
//!
//! Other codes are invalid. A domain maps each value to a signed 64-bit representation `repr`:
//!
//! - **f64**: `repr = ord64(bits)`, where `ord64(b) = b ^ ((b >> 63) as u64 >> 1)` flips the 63
//!   low bits of negative numbers, so that integer order is `f64::total_cmp` order. `ord64` is
//!   its own inverse. Every bit pattern is representable.
//! - **f32**: every value of the block is exactly an `f32` (`(v as f32) as f64` has `v`'s bits),
//!   or the canonical NaN `0x7FF8_0000_0000_0000`, whose `f32` is `0x7FC0_0000`. `repr` is the
//!   same map on the `f32` bits (`ord32(b) = b ^ ((b >> 31) as u32 >> 1)`), sign-extended; a
//!   representation in the index must fit an `i32`. Decoding widens the `f32`; an `f32` NaN
//!   decodes to the canonical NaN.
//! - **decimal `d`**: every value is `k as f64 / 10^d` (the IEEE division of the double nearest
//!   `k` by the exact double `10^d`: for `|k| <= 2^53` the double nearest the decimal
//!   `k·10^-d`, as parsing `"0.8734"` or Python's `round(x, 4)` gives), and `repr = k`. Integer
//!   series are `d = 0`. `-0.0`, NaN and infinities are never decimal.
//!
//! ## Block data (blocks of 3 or more points)
//!
//! The index holds the first and last points; the data holds the `m = n - 2` points between,
//! as three streams: steps, timestamps and values.
//!
//! ```text
//! data = step_header  time_header  [value_header]  bits
//! ```
//!
//! `value_header` is present for the integer-stream codings (1, 2, 8 + d); the constant coding
//! has no value stream. `bits` is one bit stream: bit `k` is bit `k % 8` (least significant
//! first) of its byte `k / 8`, every field is written least significant bit first, and fields
//! follow each other with no alignment: the `m` step elements, then the `m` timestamp elements,
//! then the `m` values; zero bits pad the last byte. The stream must end within the last byte
//! of the block's data.
//!
//! ### Integer streams
//!
//! An integer stream codes elements `e[1..=m]` given `e[0]`: the first point's step, timestamp,
//! or value representation. Its header:
//!
//! ```text
//! header    = mode_byte  [width_byte  base:zz  [count:u8  exception_width:u8  lo:varint]]
//! mode_byte = mode | shift << 2         mode 0 raw, 1 delta, 2 delta-of-delta (shift 0)
//! width_byte = width | patched << 7     width in 0..=64, width + shift <= 64
//! ```
//!
//! Modes 0 and 1 are frame-of-reference codes of `x[i]`: `x[i] = e[i]` (raw) or
//! `x[i] = e[i] - e[i-1]` (delta). `base` is the smallest `x[i]`; for raw it is written
//! relative to a reference (`zz(base - reference)`), where the reference is `min_step` for
//! steps, `min_time` for timestamps and `repr(min value)` for values (`repr(first)` when all
//! values are NaN). Each `x[i]` is `base + (s[i] << shift)` with `s[i]` unsigned; unpatched, the
//! stream holds the `m` values `s[i]` in `width` bits each.
//!
//! A patched stream (`width < 64`, `count` in `1..=32`) moves the `s[i]` outside
//! `lo..lo + 2^width` out of line: the stream holds the `count` positions `i - 1` of those
//! elements (7 bits each, strictly increasing, below `m`), then their `s[i]` (`exception_width`
//! bits each, in the same order), then the `m - count` other elements as `s[i] - lo` in `width`
//! bits each, in order.
//!
//! Mode 2 codes delta-of-deltas: with `d[0] = 0` and `d[i] = e[i] - e[i-1]`, each element is
//! `z = zz(d[i] - d[i-1])` as a prefix code (prefix bits in stream order): `0` for `z = 0`;
//! `10` + 6 bits, `110` + 13 bits, `1110` + 20 bits, `11110` + 32 bits, or `11111` + 64 bits,
//! each holding `z - 1`.
//!
//! ### XOR streams (codings 3 and 4)
//!
//! Chimp-style XOR of consecutive words: `B`-bit words (`B` = 32: the `f32` bits; 64: the `f64`
//! bits), starting from the first value's word. For each of the `m` words, `x` is the word XOR
//! the previous word, coded after a 2-bit control `c`:
//!
//! - `c = 0`: `x = 0`.
//! - `c = 1`: a 3-bit code `j`, a `C`-bit length `len` (`C` = 5 for `B` = 32, 6 for 64;
//!   `1 <= len <= B - L[j]`), then `len` bits `y`: `x = y << (B - L[j] - len)`.
//! - `c = 2`: `B - L` bits of `x`, `L` being the count stored by the latest `c = 3`; invalid
//!   when there is none or a `c = 0` or `c = 1` came after it.
//! - `c = 3`: a 3-bit code `j`, then `B - L[j]` bits of `x`; `L[j]` becomes the stored count.
//!
//! `L` (leading zeros, rounded down) is `[0, 8, 12, 16, 18, 20, 22, 24]` for `B` = 64 and
//! `[0, 4, 6, 8, 9, 10, 11, 12]` for `B` = 32. The encoder uses `c = 1` when `x` has more than 6
//! (64) or 3 (32) trailing zero bits, and rounds leading zeros down to the table.
//!
//! # Robustness
//!
//! [`Chunk::parse`] checks the whole index and the data lengths against the input; the
//! decoders check every header, exception position and stream end, so corrupt input yields a
//! [`CodecError`], never a panic. Allocation is bounded by the input's length (at most 128
//! points per 5 bytes of index), and no loop runs longer than the block it decodes.

use super::{Point, Summary};

/// The first byte of every chunk.
pub const FORMAT_VERSION: u8 = 1;
/// Points per block (the last block of a chunk may have fewer).
pub const BLOCK_POINTS: usize = 128;

/// Bytes that are not a chunk this build can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt metric chunk: {0}")]
pub struct CodecError(pub String);

fn corrupt(message: impl Into<String>) -> CodecError {
    CodecError(message.into())
}

/// What the index says about one block: its step and time ranges and `Summary::of` its points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockMeta {
    pub min_step: i64,
    pub max_step: i64,
    pub min_time: i64,
    pub max_time: i64,
    pub summary: Summary,
}

// ---------------------------------------------------------------------------------------------
// Format constants
// ---------------------------------------------------------------------------------------------

/// The one NaN the `f32` value domain can hold (`f64::NAN` on every Rust platform to date).
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;
/// `CANONICAL_NAN` narrowed to `f32`.
const F32_NAN: u32 = 0x7FC0_0000;
/// Largest number of decimal places of the decimal value domain.
const MAX_DECIMALS: usize = 18;
const POW10: [f64; MAX_DECIMALS + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

const CODING_MASK: u8 = 0x1F;
const FLAG_NANS: u8 = 0x20;
const FLAG_STEP_RANGE: u8 = 0x40;
const FLAG_TIME_RANGE: u8 = 0x80;

const CODING_CONST: u8 = 0;
const CODING_F32: u8 = 1;
const CODING_F64: u8 = 2;
const CODING_XOR32: u8 = 3;
const CODING_XOR64: u8 = 4;
const CODING_DECIMAL: u8 = 8;

const INT_RAW: u8 = 0;
const INT_DELTA: u8 = 1;
const INT_DOD: u8 = 2;

/// Rounded leading-zero counts of the XOR codes, indexed by a 3-bit code.
const XOR64_LEADING: [u32; 8] = [0, 8, 12, 16, 18, 20, 22, 24];
const XOR32_LEADING: [u32; 8] = [0, 4, 6, 8, 9, 10, 11, 12];

// ---------------------------------------------------------------------------------------------
// Value domains: how a block's values map to integers ("representations")
// ---------------------------------------------------------------------------------------------

/// The integers a block's values are written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    /// The bits, in total order (`ord64`).
    F64,
    /// The `f32` bits, in total order (`ord32`); every value is exactly an `f32` (or the canonical NaN).
    F32,
    /// `k` where the value is `k as f64 / 10^d`, exactly.
    Decimal(u8),
}

/// How a block's values are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    /// Every value has the bits of the first.
    Const,
    /// Representations in a domain, coded as an integer stream.
    Ints(Domain),
    /// `f32` bits (domain `F32`), XOR-coded.
    Xor32,
    /// `f64` bits (domain `F64`), XOR-coded.
    Xor64,
}

impl Coding {
    fn code(self) -> u8 {
        match self {
            Coding::Const => CODING_CONST,
            Coding::Ints(Domain::F32) => CODING_F32,
            Coding::Ints(Domain::F64) => CODING_F64,
            Coding::Xor32 => CODING_XOR32,
            Coding::Xor64 => CODING_XOR64,
            Coding::Ints(Domain::Decimal(d)) => CODING_DECIMAL + d,
        }
    }

    fn from_code(code: u8) -> Option<Coding> {
        Some(match code {
            CODING_CONST => Coding::Const,
            CODING_F32 => Coding::Ints(Domain::F32),
            CODING_F64 => Coding::Ints(Domain::F64),
            CODING_XOR32 => Coding::Xor32,
            CODING_XOR64 => Coding::Xor64,
            c if (CODING_DECIMAL..=CODING_DECIMAL + MAX_DECIMALS as u8).contains(&c) => {
                Coding::Ints(Domain::Decimal(c - CODING_DECIMAL))
            }
            _ => return None,
        })
    }

    fn domain(self) -> Domain {
        match self {
            Coding::Const | Coding::Xor64 => Domain::F64,
            Coding::Xor32 => Domain::F32,
            Coding::Ints(domain) => domain,
        }
    }
}

impl Domain {
    /// The representation of a value, if the domain holds it.
    fn repr(self, bits: u64) -> Option<i64> {
        match self {
            Domain::F64 => Some(ord64(bits)),
            Domain::F32 => f32_bits(bits).map(|b| i64::from(ord32(b))),
            Domain::Decimal(d) => decimal_k(f64::from_bits(bits), d as usize),
        }
    }

    /// The value of a representation read from the index (checked).
    fn value(self, repr: i64) -> Result<u64, CodecError> {
        match self {
            Domain::F32 if i32::try_from(repr).is_err() => Err(corrupt("f32 value out of range")),
            _ => Ok(self.value_unchecked(repr)),
        }
    }

    /// The value of a representation (an out-of-range `f32` one is truncated).
    #[inline]
    fn value_unchecked(self, repr: i64) -> u64 {
        match self {
            Domain::F64 => unord64(repr),
            Domain::F32 => f64_of_f32_bits(unord32(repr as i32)),
            Domain::Decimal(d) => decimal_value(repr, d as usize),
        }
    }
}

/// Maps `f64` bits to an `i64` in the order of `f64::total_cmp` (an involution).
#[inline]
fn ord64(bits: u64) -> i64 {
    let b = bits as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

#[inline]
fn unord64(repr: i64) -> u64 {
    ord64(repr as u64) as u64
}

/// Maps `f32` bits to an `i32` in the order of `f32::total_cmp` (an involution).
#[inline]
fn ord32(bits: u32) -> i32 {
    let b = bits as i32;
    b ^ (((b >> 31) as u32) >> 1) as i32
}

#[inline]
fn unord32(repr: i32) -> u32 {
    ord32(repr as u32) as u32
}

/// The `f32` bits of a value that is exactly an `f32`, or the canonical NaN.
#[inline]
fn f32_bits(bits: u64) -> Option<u32> {
    // Normal f32 range: the exponent fits and the 29 mantissa bits an f32 lacks are zero.
    let exponent = (bits >> 52) & 0x7FF;
    if (897..=1150).contains(&exponent) && bits & 0x1FFF_FFFF == 0 {
        let sign = ((bits >> 63) as u32) << 31;
        return Some(sign | ((exponent as u32 - 896) << 23) | ((bits >> 29) as u32 & 0x7F_FFFF));
    }
    f32_bits_slow(bits)
}

#[cold]
fn f32_bits_slow(bits: u64) -> Option<u32> {
    if bits == CANONICAL_NAN {
        return Some(F32_NAN);
    }
    let value = f64::from_bits(bits);
    let narrow = value as f32;
    (!value.is_nan() && f64::from(narrow).to_bits() == bits).then_some(narrow.to_bits())
}

/// The `f64` bits of an `f32` (exact); every NaN becomes the canonical one.
#[inline]
fn f64_of_f32_bits(bits: u32) -> u64 {
    let value = f64::from(f32::from_bits(bits));
    if value.is_nan() {
        CANONICAL_NAN
    } else {
        value.to_bits()
    }
}

#[inline]
fn decimal_value(k: i64, decimals: usize) -> u64 {
    (k as f64 / POW10[decimals]).to_bits()
}

/// `k` such that `k as f64 / 10^decimals` has exactly these bits, if the rounding of
/// `value * 10^decimals` is one.
#[inline]
fn decimal_k(value: f64, decimals: usize) -> Option<i64> {
    let scaled = value * POW10[decimals];
    let whole = scaled as i64;
    let frac = scaled - whole as f64;
    let k = if frac >= 0.5 {
        whole.wrapping_add(1)
    } else if frac <= -0.5 {
        whole.wrapping_sub(1)
    } else {
        whole
    };
    (decimal_value(k, decimals) == value.to_bits()).then_some(k)
}

/// The fewest decimal places that hold every value, filling `ks` with their representations.
fn find_decimals(values: &[u64], ks: &mut [i64]) -> Option<u8> {
    let mut decimals = 0;
    let mut i = 0;
    while i < values.len() {
        let value = f64::from_bits(values[i]);
        match decimal_k(value, decimals) {
            Some(k) => {
                ks[i] = k;
                i += 1;
            }
            None => {
                decimals =
                    (decimals + 1..=MAX_DECIMALS).find(|&d| decimal_k(value, d).is_some())?;
                i = 0;
            }
        }
    }
    Some(decimals as u8)
}

// ---------------------------------------------------------------------------------------------
// Byte-level helpers
// ---------------------------------------------------------------------------------------------

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[inline]
fn varint_len(v: u64) -> u64 {
    u64::from((64 - (v | 1).leading_zeros()).div_ceil(7))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

/// A 64-bit word with its leading and trailing zero bytes left out (one header byte).
fn put_trimmed(out: &mut Vec<u8>, x: u64) {
    if x == 0 {
        out.push(0x80);
        return;
    }
    let leading = x.leading_zeros() / 8;
    let trailing = x.trailing_zeros() / 8;
    out.push(((leading << 4) | trailing) as u8);
    let len = (8 - leading - trailing) as usize;
    out.extend_from_slice(&(x >> (8 * trailing)).to_le_bytes()[..len]);
}

fn bit_width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

#[inline]
fn low_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        ByteReader { buf, pos: 0 }
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        let byte = *self.buf.get(self.pos).ok_or_else(|| corrupt("truncated"))?;
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            if shift == 63 && byte > 1 {
                return Err(corrupt("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7F) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(corrupt("varint longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> Result<i64, CodecError> {
        self.varint().map(unzigzag)
    }

    fn trimmed(&mut self) -> Result<u64, CodecError> {
        let header = self.u8()?;
        let (leading, trailing) = (u32::from(header >> 4), u32::from(header & 0x0F));
        if leading + trailing > 8 {
            return Err(corrupt("bad trimmed-word header"));
        }
        let len = (8 - leading - trailing) as usize;
        if len == 0 {
            return Ok(0);
        }
        let mut word = [0u8; 8];
        word[..len].copy_from_slice(self.take(len)?);
        Ok(u64::from_le_bytes(word) << (8 * trailing))
    }

    fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

// ---------------------------------------------------------------------------------------------
// Bit streams (least significant bit first)
// ---------------------------------------------------------------------------------------------

/// Most bytes one block's bit stream can take: three streams of `BLOCK_POINTS - 2` elements,
/// none of which costs more than 69 bits (a 64-bit delta-of-delta or XOR code and its prefix).
const MAX_BLOCK_BITS_BYTES: usize = (3 * (BLOCK_POINTS - 2) * 69).div_ceil(8);

/// Writes bits after the end of a vector, in room reserved up front (no branch per write).
struct BitWriter<'a> {
    out: &'a mut [u8],
    /// The byte where `acc` goes.
    pos: usize,
    acc: u64,
    used: u32,
}

impl<'a> BitWriter<'a> {
    /// Writes into `out`, which has room for a block's bits and 8 bytes more.
    fn new(out: &'a mut [u8]) -> Self {
        BitWriter {
            out,
            pos: 0,
            acc: 0,
            used: 0,
        }
    }

    /// Appends the low `width` bits of `v` (`width <= 64`; higher bits of `v` must be zero).
    #[inline]
    fn put(&mut self, v: u64, width: u32) {
        debug_assert!(width <= 64 && (width == 64 || v >> width == 0));
        if width > 56 {
            self.put_wide(v, width);
        } else {
            self.put_narrow(v, width);
        }
    }

    #[inline(never)]
    fn put_wide(&mut self, v: u64, width: u32) {
        self.put_narrow(v & low_mask(32), 32);
        self.put_narrow(v >> 32, width - 32);
    }

    /// `put` for `width <= 56`.
    #[inline(always)]
    fn put_narrow(&mut self, v: u64, width: u32) {
        self.acc |= v << self.used;
        self.used += width;
        self.out[self.pos..self.pos + 8].copy_from_slice(&self.acc.to_le_bytes());
        // `used` is at most 7 + 56 bits, so at most 7 whole bytes leave.
        let bytes = self.used / 8;
        self.pos += bytes as usize;
        self.acc >>= 8 * bytes;
        self.used -= 8 * bytes;
    }

    /// `put` of every value at one width.
    #[inline(always)]
    fn put_all(&mut self, values: impl Iterator<Item = u64>, width: u32) {
        if width == 0 {
            return;
        }
        if width > 56 {
            values.for_each(|v| self.put_wide(v, width));
        } else {
            values.for_each(|v| self.put_narrow(v, width));
        }
    }

    /// The bytes written.
    fn finish(self) -> usize {
        self.pos + self.used.div_ceil(8) as usize
    }
}

/// Reads bits; past the end of the buffer it reads zeros (callers check [`BitReader::end`]).
struct BitReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0 }
    }

    /// The 8 bytes from `byte` on, little-endian, zero past the end.
    #[inline]
    fn word(&self, byte: usize) -> u64 {
        match self.buf.get(byte..byte + 8) {
            Some(bytes) => u64::from_le_bytes(bytes.try_into().unwrap()),
            None => self.word_tail(byte),
        }
    }

    #[cold]
    fn word_tail(&self, byte: usize) -> u64 {
        let mut word = [0u8; 8];
        if let Some(bytes) = self.buf.get(byte..) {
            word[..bytes.len()].copy_from_slice(bytes);
        }
        u64::from_le_bytes(word)
    }

    /// The next 57 or more bits, unconsumed.
    #[inline]
    fn peek(&self) -> u64 {
        self.word(self.pos >> 3) >> (self.pos & 7)
    }

    #[inline]
    fn read(&mut self, width: u32) -> u64 {
        if width <= 56 {
            let v = self.peek() & low_mask(width);
            self.pos += width as usize;
            v
        } else {
            let low = self.peek() & low_mask(32);
            self.pos += 32;
            let high = self.peek() & low_mask(width - 32);
            self.pos += (width - 32) as usize;
            low | (high << 32)
        }
    }

    /// Checks that the stream ended within its last byte.
    fn end(&self) -> Result<(), CodecError> {
        if self.pos.div_ceil(8) == self.buf.len() {
            Ok(())
        } else if self.pos > self.buf.len() * 8 {
            Err(corrupt("block data truncated"))
        } else {
            Err(corrupt("trailing bytes in block data"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Integer streams (steps, timestamps, value representations)
// ---------------------------------------------------------------------------------------------

/// Elements the encoder codes to estimate whether a rarely best code could win.
const SAMPLE: usize = 24;
/// Most exceptions a patched frame-of-reference stream may have.
const MAX_PATCHES: usize = 32;
/// Narrowest full width worth trying exceptions for.
const PATCH_MIN_WIDTH: u32 = 4;

/// Exceptions of a patched stream: slots hold `s - lo` in `width` bits; the `count` elements
/// whose `s` falls outside `lo..lo + 2^width` are written whole in `Patch::width` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Patch {
    lo: u64,
    count: u32,
    width: u32,
}

/// How an integer stream `e[1..=m]` following a known `e[0]` is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IntPlan {
    mode: u8,
    shift: u32,
    width: u32,
    /// `INT_RAW`: the smallest element; `INT_DELTA`: the smallest delta.
    base: i64,
    patch: Option<Patch>,
}

impl IntPlan {
    const DOD: IntPlan = IntPlan {
        mode: INT_DOD,
        shift: 0,
        width: 0,
        base: 0,
        patch: None,
    };
}

/// The cost in bits of a delta-of-delta code for zigzagged `z`.
#[inline]
fn dod_bits(z: u64) -> u64 {
    match z {
        0 => 1,
        1..=64 => 8,
        65..=8192 => 16,
        8193..=1_048_576 => 24,
        1_048_577..=4_294_967_296 => 37,
        _ => 69,
    }
}

#[inline]
fn put_dod(w: &mut BitWriter, z: u64) {
    match dod_bits(z) {
        1 => w.put(0, 1),
        8 => w.put(0b01 | ((z - 1) << 2), 8),
        16 => w.put(0b011 | ((z - 1) << 3), 16),
        24 => w.put(0b0111 | ((z - 1) << 4), 24),
        37 => w.put(0b01111 | ((z - 1) << 5), 37),
        _ => {
            w.put(0b11111, 5);
            w.put(z - 1, 64);
        }
    }
}

#[inline]
fn read_dod(r: &mut BitReader) -> u64 {
    let peek = r.peek();
    if peek & 1 == 0 {
        r.pos += 1;
        return 0;
    }
    let ones = (!peek).trailing_zeros().min(5);
    let (prefix, width) = match ones {
        1 => (2, 6),
        2 => (3, 13),
        3 => (4, 20),
        4 => (5, 32),
        _ => (5, 64),
    };
    r.pos += prefix;
    r.read(width).wrapping_add(1)
}

fn common_shift(or: u64) -> u32 {
    if or == 0 { 0 } else { or.trailing_zeros() }
}

/// For a byte `h`: byte `b` of the entry is 1 when `h` is wider than `7 - b` bits.
const WIDER_THAN: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut h = 1;
    while h < 256 {
        let width = 32 - (h as u32).leading_zeros();
        let mut b = 8 - width;
        while b < 8 {
            table[h] |= 1 << (8 * b);
            b += 1;
        }
        h += 1;
    }
    table
};

/// How many values are wider than `counted - 1 - b` bits, in byte `b` (`b < 8`), counted from
/// the bottom (`low`: the values) and from the top (`high`: the largest value minus them).
#[derive(Clone, Copy, Default)]
struct Wider {
    low: u64,
    high: u64,
}

impl Wider {
    /// `(left, right)`: the shifts that take a `counted`-bit value to its top 8 bits.
    fn shifts(counted: u32) -> (u32, u32) {
        (8u32.saturating_sub(counted), counted.saturating_sub(8))
    }

    /// Counts `s` (in `0..=top`) from both ends, either end's distance capped at `cap` (a
    /// `counted`-bit value).
    #[inline]
    fn add(&mut self, s: u64, top: u64, cap: u64, (left, right): (u32, u32)) {
        self.low += WIDER_THAN[((s.min(cap) << left) >> right) as usize & 0xFF];
        self.high += WIDER_THAN[(((top - s).min(cap) << left) >> right) as usize & 0xFF];
    }
}

/// The cheapest exceptions for `values` (`m` of them, in `0..=top`, `full` bits wide): counts
/// 8 widths at a time, going on to narrower ones while the best sits at the narrowest counted.
fn patch_for(
    values: impl Iterator<Item = u64> + Clone,
    m: u64,
    full: u32,
    top: u64,
) -> Option<(u32, Patch, u64)> {
    let mut best: Option<(u32, Patch, u64)> = None;
    let (mut counted, mut cap) = (full, top);
    loop {
        let mut counts = Wider::default();
        let shifts = Wider::shifts(counted);
        for s in values.clone() {
            counts.add(s, top, cap, shifts);
        }
        let found = plan_patch(counts, m, full, top, counted);
        if let Some(found) = found
            && best.is_none_or(|b| found.2 < b.2)
        {
            best = Some(found);
        }
        match found {
            Some((width, ..)) if counted > 8 && width == counted - 8 => {
                counted -= 8;
                cap = low_mask(counted);
            }
            _ => return best,
        }
    }
}

/// The cheapest exceptions for `m` values in `0..=top` (`full` bits wide) among the widths
/// `counts` has (`counted - 8..counted`): the slot width, the patch and its cost in bits (the
/// header bytes it adds included).
fn plan_patch(
    counts: Wider,
    m: u64,
    full: u32,
    top: u64,
    counted: u32,
) -> Option<(u32, Patch, u64)> {
    let mut best: Option<(u32, Patch, u64)> = None;
    let mut keep = |candidate: (u32, Patch, u64)| {
        if best.is_none_or(|b| candidate.2 < b.2) {
            best = Some(candidate);
        }
    };
    for b in 0..counted.min(8) {
        let width = counted - 1 - b;
        let below = (counts.low >> (8 * b)) & 0xFF;
        let above = (counts.high >> (8 * b)) & 0xFF;
        if below > MAX_PATCHES as u64 && above > MAX_PATCHES as u64 {
            break;
        }
        if below <= MAX_PATCHES as u64 {
            // Window at the bottom: the exceptions are the large values.
            let bits = (m - below) * u64::from(width) + below * u64::from(7 + full) + 8 * 3;
            let patch = Patch {
                lo: 0,
                count: below as u32,
                width: full,
            };
            keep((width, patch, bits));
        }
        if above <= MAX_PATCHES as u64 {
            // Window at the top: the exceptions are the small values.
            let lo = top - ((1u64 << width) - 1);
            let exception_width = bit_width(lo - 1);
            let bits = (m - above) * u64::from(width)
                + above * u64::from(7 + exception_width)
                + 8 * (2 + varint_len(lo));
            let patch = Patch {
                lo,
                count: above as u32,
                width: exception_width,
            };
            keep((width, patch, bits));
        }
    }
    best
}

/// Chooses the cheapest coding of `es` after `e0`; returns it with its cost in bits (header
/// included). `raw_ref` is what a `INT_RAW` base is written relative to.
/// `patch_raw`: whether to try exceptions to the frame of reference itself (deltas always are).
fn plan_ints(
    e0: i64,
    es: &[i64],
    raw_ref: i64,
    allow_for: bool,
    patch_raw: bool,
) -> (IntPlan, u64) {
    let head = es[0];
    let first_delta = head.wrapping_sub(e0);
    // An arithmetic progression (steps +1, identical timestamps) costs nothing per element.
    if allow_for
        && es
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) == first_delta)
    {
        let plan = IntPlan {
            mode: INT_DELTA,
            shift: 0,
            width: 0,
            base: first_delta,
            patch: None,
        };
        return (plan, 8 * (2 + varint_len(zigzag(first_delta))));
    }
    // Frame of reference of the elements themselves.
    let raw_or = es.iter().fold(0u64, |or, &e| or | (e ^ head) as u64);
    let (min, max) = if es.is_sorted() {
        (head, es[es.len() - 1])
    } else {
        es.iter()
            .fold((head, head), |(min, max), &e| (min.min(e), max.max(e)))
    };
    // And of their deltas.
    let (mut dmin, mut dmax, mut delta_or) = (first_delta, first_delta, 0u64);
    let mut prev = e0;
    for &e in es {
        let delta = e.wrapping_sub(prev);
        prev = e;
        dmin = dmin.min(delta);
        dmax = dmax.max(delta);
        delta_or |= (delta ^ first_delta) as u64;
    }
    let m = es.len() as u64;
    // Candidates in order of preference (faster to decode first); ties keep the earlier.
    let mut best: Option<(IntPlan, u64)> = None;
    let keep = |best: &mut Option<(IntPlan, u64)>, candidate: (IntPlan, u64)| {
        if best.is_none_or(|b| candidate.1 < b.1) {
            *best = Some(candidate);
        }
    };
    if allow_for {
        let raw_shift = common_shift(raw_or);
        let raw_top = (max.wrapping_sub(min) as u64) >> raw_shift;
        let raw_full = bit_width(raw_top);
        let raw_head = 8 * (2 + varint_len(zigzag(min.wrapping_sub(raw_ref))));
        let raw = IntPlan {
            mode: INT_RAW,
            shift: raw_shift,
            width: raw_full,
            base: min,
            patch: None,
        };
        keep(&mut best, (raw, raw_head + m * u64::from(raw_full)));

        let delta_shift = common_shift(delta_or);
        let delta_top = (dmax.wrapping_sub(dmin) as u64) >> delta_shift;
        let delta_full = bit_width(delta_top);
        let delta_head = 8 * (2 + varint_len(zigzag(dmin)));
        let delta = IntPlan {
            mode: INT_DELTA,
            shift: delta_shift,
            width: delta_full,
            base: dmin,
            patch: None,
        };
        keep(&mut best, (delta, delta_head + m * u64::from(delta_full)));

        let try_raw = patch_raw && m >= 8 && raw_full >= PATCH_MIN_WIDTH;
        // Exceptions sit at one end of the window, so only deltas of one sign (a monotone
        // stream, the case of steps and timestamps with gaps) are worth patching.
        let monotone = dmin >= 0 || dmax <= 0;
        let try_delta = monotone && m >= 8 && delta_full >= PATCH_MIN_WIDTH;
        if try_raw {
            let values = es
                .iter()
                .map(|&e| (e.wrapping_sub(min) as u64) >> raw_shift);
            if let Some((width, patch, bits)) = patch_for(values, m, raw_full, raw_top) {
                let plan = IntPlan {
                    width,
                    patch: Some(patch),
                    ..raw
                };
                keep(&mut best, (plan, raw_head + bits));
            }
        }
        if try_delta {
            let deltas = es.iter().scan(e0, |prev, &e| {
                let delta = e.wrapping_sub(*prev);
                *prev = e;
                Some((delta.wrapping_sub(dmin) as u64) >> delta_shift)
            });
            if let Some((width, patch, bits)) = patch_for(deltas, m, delta_full, delta_top) {
                let plan = IntPlan {
                    width,
                    patch: Some(patch),
                    ..delta
                };
                keep(&mut best, (plan, delta_head + bits));
            }
        }
    }
    // Delta-of-delta: every element costs at least a bit; when that leaves it a chance, the
    // cost of a sample must too before the exact count.
    let dod_cost = |es: &[i64], e0: i64| {
        let (mut prev, mut prev_delta, mut bits) = (e0, 0i64, 0u64);
        for &e in es {
            let delta = e.wrapping_sub(prev);
            prev = e;
            bits += dod_bits(zigzag(delta.wrapping_sub(prev_delta)));
            prev_delta = delta;
        }
        bits
    };
    let sample = es.len().min(SAMPLE);
    let promising = || {
        best.is_none_or(|b| {
            8 + m < b.1 && 8 + dod_cost(&es[..sample], e0) * m / (sample as u64) < b.1 * 2
        })
    };
    if promising() {
        keep(&mut best, (IntPlan::DOD, 8 + dod_cost(es, e0)));
    }
    best.unwrap_or((IntPlan::DOD, u64::MAX))
}

fn put_int_header(out: &mut Vec<u8>, plan: &IntPlan, raw_ref: i64) {
    out.push(plan.mode | (plan.shift << 2) as u8);
    if plan.mode == INT_DOD {
        return;
    }
    out.push(plan.width as u8 | if plan.patch.is_some() { 0x80 } else { 0 });
    let base = if plan.mode == INT_RAW {
        plan.base.wrapping_sub(raw_ref)
    } else {
        plan.base
    };
    put_zigzag(out, base);
    if let Some(patch) = &plan.patch {
        out.push(patch.count as u8);
        out.push(patch.width as u8);
        put_varint(out, patch.lo);
    }
}

fn read_int_header(r: &mut ByteReader, raw_ref: i64) -> Result<IntPlan, CodecError> {
    let byte = r.u8()?;
    let (mode, shift) = (byte & 3, u32::from(byte >> 2));
    match mode {
        INT_DOD if shift == 0 => Ok(IntPlan::DOD),
        INT_RAW | INT_DELTA => {
            let byte = r.u8()?;
            let width = u32::from(byte & 0x7F);
            if width + shift > 64 {
                return Err(corrupt("bad integer stream width"));
            }
            let base = r.zigzag()?;
            let base = if mode == INT_RAW {
                base.wrapping_add(raw_ref)
            } else {
                base
            };
            let patch = if byte & 0x80 != 0 {
                let count = u32::from(r.u8()?);
                let exception_width = u32::from(r.u8()?);
                let lo = r.varint()?;
                if count == 0 || count as usize > MAX_PATCHES || exception_width > 64 || width >= 64
                {
                    return Err(corrupt("bad integer stream exceptions"));
                }
                Some(Patch {
                    lo,
                    count,
                    width: exception_width,
                })
            } else {
                None
            };
            Ok(IntPlan {
                mode,
                shift,
                width,
                base,
                patch,
            })
        }
        _ => Err(corrupt("bad integer stream header")),
    }
}

/// The values a frame-of-reference stream packs: `(e - base) >> shift` or the same of deltas.
fn packed_values(plan: &IntPlan, e0: i64, es: &[i64], out: &mut [u64]) {
    let mut prev = e0;
    for (slot, &e) in out.iter_mut().zip(es) {
        let x = if plan.mode == INT_RAW {
            e
        } else {
            let delta = e.wrapping_sub(prev);
            prev = e;
            delta
        };
        *slot = (x.wrapping_sub(plan.base) as u64) >> plan.shift;
    }
}

fn put_ints(w: &mut BitWriter, plan: &IntPlan, e0: i64, es: &[i64]) {
    if plan.mode == INT_DOD {
        let (mut prev, mut prev_delta) = (e0, 0i64);
        for &e in es {
            let delta = e.wrapping_sub(prev);
            prev = e;
            put_dod(w, zigzag(delta.wrapping_sub(prev_delta)));
            prev_delta = delta;
        }
        return;
    }
    if plan.patch.is_none() {
        // Unpatched: straight from the elements.
        let (base, shift) = (plan.base, plan.shift);
        if plan.mode == INT_RAW {
            w.put_all(
                es.iter().map(|&e| (e.wrapping_sub(base) as u64) >> shift),
                plan.width,
            );
        } else {
            let mut prev = e0;
            let deltas = es.iter().map(|&e| {
                let delta = e.wrapping_sub(prev);
                prev = e;
                (delta.wrapping_sub(base) as u64) >> shift
            });
            w.put_all(deltas, plan.width);
        }
        return;
    }
    let mut values = [0u64; BLOCK_POINTS];
    let values = &mut values[..es.len()];
    packed_values(plan, e0, es, values);
    if let Some(patch) = &plan.patch {
        let mut positions = [0usize; MAX_PATCHES];
        let mut count = 0;
        for (i, &s) in values.iter().enumerate() {
            if s.wrapping_sub(patch.lo) >> plan.width != 0 && count < MAX_PATCHES {
                positions[count] = i;
                count += 1;
            }
        }
        debug_assert_eq!(count, patch.count as usize);
        let positions = &positions[..count];
        for &i in positions {
            w.put(i as u64, 7);
        }
        for &i in positions {
            w.put(values[i], patch.width);
        }
        let mut start = 0;
        for &i in positions.iter().chain([values.len()].iter()) {
            w.put_all(values[start..i].iter().map(|&s| s - patch.lo), plan.width);
            start = i + 1;
        }
    }
}

/// Reads `out.len()` packed values of `width` bits, mapping each through `f`.
#[inline(always)]
fn unpack<T>(r: &mut BitReader, width: u32, out: &mut [T], mut f: impl FnMut(u64) -> T) {
    if width == 0 {
        for slot in out.iter_mut() {
            *slot = f(0);
        }
    } else if width <= 56 {
        let mask = low_mask(width);
        let mut pos = r.pos;
        for slot in out.iter_mut() {
            let u = (r.word(pos >> 3) >> (pos & 7)) & mask;
            pos += width as usize;
            *slot = f(u);
        }
        r.pos = pos;
    } else {
        for slot in out.iter_mut() {
            *slot = f(r.read(width));
        }
    }
}

/// Reads an integer stream after `e0` into `out`, each element mapped through `map` (the
/// identity for steps and timestamps, a value domain's decoding for values).
#[inline(always)]
fn read_ints<T>(
    r: &mut BitReader,
    plan: &IntPlan,
    e0: i64,
    out: &mut [T],
    map: impl Fn(i64) -> T,
) -> Result<(), CodecError> {
    let (shift, base) = (plan.shift, plan.base);
    match (plan.mode, &plan.patch) {
        (INT_DOD, _) => {
            let (mut prev, mut delta) = (e0, 0i64);
            for slot in out.iter_mut() {
                delta = delta.wrapping_add(unzigzag(read_dod(r)));
                prev = prev.wrapping_add(delta);
                *slot = map(prev);
            }
        }
        (INT_RAW, None) => {
            unpack(r, plan.width, out, |u| {
                map(base.wrapping_add((u << shift) as i64))
            });
        }
        (_, None) => {
            let mut prev = e0;
            unpack(r, plan.width, out, |u| {
                prev = prev.wrapping_add(base.wrapping_add((u << shift) as i64));
                map(prev)
            });
        }
        (mode, Some(patch)) => {
            let m = out.len();
            let count = patch.count as usize;
            if count > m {
                return Err(corrupt("more exceptions than values"));
            }
            let mut positions = [0usize; MAX_PATCHES];
            let mut exceptions = [0u64; MAX_PATCHES];
            for j in 0..count {
                let position = r.read(7) as usize;
                if position >= m || (j > 0 && position <= positions[j - 1]) {
                    return Err(corrupt("bad exception position"));
                }
                positions[j] = position;
            }
            for exception in &mut exceptions[..count] {
                *exception = r.read(patch.width);
            }
            // The packed values fill the runs between exceptions, in order.
            let (lo, width) = (patch.lo, plan.width);
            let mut start = 0;
            if mode == INT_RAW {
                let value = |s: u64| map(base.wrapping_add((s << shift) as i64));
                for j in 0..=count {
                    let end = if j < count { positions[j] } else { m };
                    unpack(r, width, &mut out[start..end], |u| {
                        value(u.wrapping_add(lo))
                    });
                    if j < count {
                        out[end] = value(exceptions[j]);
                    }
                    start = end + 1;
                }
            } else {
                let mut prev = e0;
                for j in 0..=count {
                    let end = if j < count { positions[j] } else { m };
                    unpack(r, width, &mut out[start..end], |u| {
                        prev = prev
                            .wrapping_add(base.wrapping_add((u.wrapping_add(lo) << shift) as i64));
                        map(prev)
                    });
                    if j < count {
                        prev =
                            prev.wrapping_add(base.wrapping_add((exceptions[j] << shift) as i64));
                        out[end] = map(prev);
                    }
                    start = end + 1;
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XOR value streams (Chimp-style)
// ---------------------------------------------------------------------------------------------

/// Parameters of the XOR code for 32- or 64-bit words.
struct XorWidth {
    bits: u32,
    leading: &'static [u32; 8],
    /// `leading_code` for every leading-zero count.
    codes: &'static [u8; 65],
    /// Width of the centre-length field.
    centre_field: u32,
    /// Trailing zeros above which the centre form is used.
    threshold: u32,
}

const XOR64: XorWidth = XorWidth {
    bits: 64,
    leading: &XOR64_LEADING,
    codes: &leading_codes(&XOR64_LEADING),
    centre_field: 6,
    threshold: 6,
};
const XOR32: XorWidth = XorWidth {
    bits: 32,
    leading: &XOR32_LEADING,
    codes: &leading_codes(&XOR32_LEADING),
    centre_field: 5,
    threshold: 3,
};

const fn leading_codes(levels: &[u32; 8]) -> [u8; 65] {
    let mut codes = [0u8; 65];
    let mut lz = 0;
    while lz < 65 {
        let mut code = 0;
        while code < 7 && levels[code + 1] <= lz as u32 {
            code += 1;
        }
        codes[lz] = code as u8;
        lz += 1;
    }
    codes
}

impl XorWidth {
    /// The index of the largest rounded leading-zero count not above `lz`.
    #[inline]
    fn leading_code(&self, lz: u32) -> u32 {
        u32::from(self.codes[lz as usize])
    }

    /// Emits the XOR code of `words` after `prev` into `sink(value, width)`.
    #[inline]
    fn code(
        &self,
        mut prev: u64,
        words: impl Iterator<Item = u64>,
        mut sink: impl FnMut(u64, u32),
    ) {
        let mut stored: Option<u32> = None;
        for word in words {
            let x = word ^ prev;
            prev = word;
            if x == 0 {
                sink(0, 2);
                stored = None;
                continue;
            }
            let lz = x.leading_zeros() - (64 - self.bits);
            let tz = x.trailing_zeros();
            let code = self.leading_code(lz);
            let rounded = self.leading[code as usize];
            if tz > self.threshold {
                let centre = self.bits - rounded - tz;
                sink(
                    1 | (u64::from(code) << 2) | (u64::from(centre) << 5),
                    5 + self.centre_field,
                );
                sink(x >> tz, centre);
                stored = None;
            } else if stored == Some(rounded) {
                sink(2, 2);
                sink(x, self.bits - rounded);
            } else {
                sink(3 | (u64::from(code) << 2), 5);
                sink(x, self.bits - rounded);
                stored = Some(rounded);
            }
        }
    }

    fn cost(&self, prev: u64, words: impl Iterator<Item = u64>) -> u64 {
        let mut bits = 0u64;
        self.code(prev, words, |_, width| bits += u64::from(width));
        bits
    }

    fn read(&self, r: &mut BitReader, mut prev: u64, out: &mut [u64]) -> Result<(), CodecError> {
        let mut stored: Option<u32> = None;
        for slot in out.iter_mut() {
            let x = match r.read(2) {
                0 => {
                    stored = None;
                    0
                }
                1 => {
                    let header = r.read(3 + self.centre_field);
                    let lz = self.leading[(header & 7) as usize];
                    let centre = (header >> 3) as u32;
                    if centre == 0 || lz + centre > self.bits {
                        return Err(corrupt("bad XOR centre length"));
                    }
                    stored = None;
                    r.read(centre) << (self.bits - lz - centre)
                }
                2 => {
                    let lz = stored.ok_or_else(|| corrupt("XOR code reuses no width"))?;
                    r.read(self.bits - lz)
                }
                _ => {
                    let lz = self.leading[r.read(3) as usize];
                    stored = Some(lz);
                    r.read(self.bits - lz)
                }
            };
            prev ^= x;
            *slot = prev;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

/// Which codings the encoder may choose from (for measuring alternatives; [`encode`] allows all).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Frame-of-reference and delta codes for steps and timestamps (else delta-of-delta only).
    pub int_for: bool,
    /// The decimal value domain.
    pub decimal: bool,
    /// The `f32` value domain.
    pub f32: bool,
    /// Integer-stream codes for float values (ordered bits).
    pub value_ints: bool,
    /// XOR codes for float values.
    pub value_xor: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            int_for: true,
            decimal: true,
            f32: true,
            value_ints: true,
            value_xor: true,
        }
    }
}

/// What the index carried over from the previous block.
#[derive(Debug, Clone, Copy)]
struct Carry {
    last_step: i64,
    last_time: i64,
    step_span: i64,
    time_span: i64,
    domain: Option<Domain>,
    last_repr: i64,
    sum_bits: u64,
}

impl Carry {
    fn new() -> Carry {
        Carry {
            last_step: 0,
            last_time: 0,
            step_span: BLOCK_POINTS as i64 - 1,
            time_span: 0,
            domain: None,
            last_repr: 0,
            sum_bits: 0,
        }
    }

    fn first_ref(&self, domain: Domain) -> i64 {
        if self.domain == Some(domain) {
            self.last_repr
        } else {
            0
        }
    }
}

/// Encodes points (any order, any number) as one chunk.
pub fn encode(points: &[Point]) -> Vec<u8> {
    encode_with(points, &EncodeOptions::default())
}

/// [`encode`] restricted to some codings.
#[doc(hidden)]
pub fn encode_with(points: &[Point], options: &EncodeOptions) -> Vec<u8> {
    let blocks = points.len().div_ceil(BLOCK_POINTS);
    let mut out = Vec::with_capacity(11 + blocks * 40 + points.len() * 4);
    out.push(FORMAT_VERSION);
    put_varint(&mut out, points.len() as u64);
    let mut data = Vec::with_capacity(points.len() * 4);
    let mut carry = Carry::new();
    let mut scratch = Box::new(Scratch {
        steps: [0; BLOCK_POINTS],
        times: [0; BLOCK_POINTS],
        values: [0; BLOCK_POINTS],
        decimal_reprs: [0; BLOCK_POINTS],
        float_reprs: [0; BLOCK_POINTS],
        words: [0; BLOCK_POINTS],
        bits: [0; MAX_BLOCK_BITS_BYTES + 8],
    });
    for block in points.chunks(BLOCK_POINTS) {
        encode_block(
            block,
            &mut carry,
            options,
            &mut scratch,
            &mut out,
            &mut data,
        );
    }
    out.extend_from_slice(&data);
    out
}

/// A candidate value coding with its cost in bits (index fields and data).
struct ValueChoice {
    coding: Coding,
    plan: Option<IntPlan>,
    bits: u64,
}

/// The index representations of first, last, min and max (min and max when there are numbers).
#[derive(Clone, Copy)]
struct Reprs {
    first: i64,
    last: i64,
    min: i64,
    max: i64,
}

fn index_value_bits(reprs: &Reprs, first_ref: i64, numbers: bool) -> u64 {
    let mut bytes = varint_len(zigzag(reprs.first.wrapping_sub(first_ref)))
        + varint_len(zigzag(reprs.last.wrapping_sub(reprs.first)));
    if numbers {
        bytes += varint_len(zigzag(reprs.min.wrapping_sub(reprs.first)))
            + varint_len(zigzag(reprs.max.wrapping_sub(reprs.min)));
    }
    8 * bytes
}

/// `Summary::of(block)` for a non-empty block, faster. `f64::min` and `max` may return either
/// zero for `0.0` against `-0.0`, and which one depends on code generation, so blocks with a
/// zero go through `Summary::of` itself: the index must hold exactly what it returns.
fn summarize(block: &[Point]) -> Summary {
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    let (mut nans, mut zeros) = (0u64, false);
    for point in block {
        let value = point.value;
        zeros |= value == 0.0;
        if value.is_nan() {
            nans += 1;
        } else {
            min = min.min(value);
            max = max.max(value);
            sum += value;
        }
    }
    if zeros {
        return Summary::of(block);
    }
    Summary {
        count: block.len() as u64,
        nans,
        min,
        max,
        sum,
        first: block.first().copied(),
        last: block.last().copied(),
    }
}

/// Buffers for encoding one block, reused from block to block (only what a block writes is
/// read back).
struct Scratch {
    steps: [i64; BLOCK_POINTS],
    times: [i64; BLOCK_POINTS],
    values: [u64; BLOCK_POINTS],
    decimal_reprs: [i64; BLOCK_POINTS],
    float_reprs: [i64; BLOCK_POINTS],
    words: [u64; BLOCK_POINTS],
    bits: [u8; MAX_BLOCK_BITS_BYTES + 8],
}

fn encode_block(
    block: &[Point],
    carry: &mut Carry,
    options: &EncodeOptions,
    scratch: &mut Scratch,
    index: &mut Vec<u8>,
    data: &mut Vec<u8>,
) {
    let Scratch {
        steps,
        times,
        values: value_bits,
        decimal_reprs,
        float_reprs,
        words,
        bits,
    } = scratch;
    let n = block.len();
    let summary = summarize(block);
    let first = block[0];
    let last = block[n - 1];
    let m = n.saturating_sub(2);
    let numbers = summary.nans < summary.count;

    for (i, point) in block.iter().enumerate() {
        steps[i] = point.step;
        times[i] = point.timestamp;
        value_bits[i] = point.value.to_bits();
    }
    let values = &value_bits[..n];
    let range = |xs: &[i64]| {
        let sorted = xs.windows(2).all(|w| w[0] <= w[1]);
        let (min, max) = if sorted {
            (xs[0], xs[xs.len() - 1])
        } else {
            let min = xs.iter().copied().min().unwrap_or(0);
            (min, xs.iter().copied().max().unwrap_or(0))
        };
        (sorted, min, max)
    };
    let (steps_sorted, min_step, max_step) = range(&steps[..n]);
    let (times_sorted, min_time, max_time) = range(&times[..n]);

    // Choose the value coding.
    let min_bits = summary.min.to_bits();
    let max_bits = summary.max.to_bits();
    let reprs_in = |domain: Domain, reprs: &[i64]| -> Option<Reprs> {
        let (min, max) = if numbers {
            (domain.repr(min_bits)?, domain.repr(max_bits)?)
        } else {
            (0, 0)
        };
        Some(Reprs {
            first: reprs[0],
            last: reprs[n - 1],
            min,
            max,
        })
    };
    let is_const = values.iter().all(|&v| v == values[0])
        && (!numbers || (min_bits == values[0] && max_bits == values[0]));
    let mut best: Option<(ValueChoice, Reprs)> = None;
    let consider = |best: &mut Option<(ValueChoice, Reprs)>, choice: ValueChoice, reprs: Reprs| {
        if best.as_ref().is_none_or(|(b, _)| choice.bits < b.bits) {
            *best = Some((choice, reprs));
        }
    };
    // An integer stream of a domain's representations: the index bits plus the stream's cost.
    let int_choice = |domain: Domain, reprs: &Reprs, ints: &[i64], index_bits: u64| {
        let raw_ref = if numbers { reprs.min } else { reprs.first };
        let mut bits = index_bits;
        let plan = (m > 0).then(|| {
            let (plan, cost) = plan_ints(reprs.first, &ints[1..=m], raw_ref, true, true);
            bits += cost;
            plan
        });
        ValueChoice {
            coding: Coding::Ints(domain),
            plan,
            bits,
        }
    };
    if is_const {
        let repr = ord64(values[0]);
        let reprs = Reprs {
            first: repr,
            last: repr,
            min: repr,
            max: repr,
        };
        consider(
            &mut best,
            ValueChoice {
                coding: Coding::Const,
                plan: None,
                bits: 0,
            },
            reprs,
        );
    } else {
        if options.decimal
            && let Some(d) = find_decimals(values, &mut decimal_reprs[..])
        {
            let domain = Domain::Decimal(d);
            if let Some(reprs) = reprs_in(domain, &decimal_reprs[..]) {
                let index_bits = index_value_bits(&reprs, carry.first_ref(domain), numbers);
                let choice = int_choice(domain, &reprs, &decimal_reprs[..], index_bits);
                consider(&mut best, choice, reprs);
            }
        }
        // Decimals that cost at most 16 bits a point leave the float domains no chance worth
        // the time.
        let decimal_cheap = best.as_ref().is_some_and(|(b, _)| b.bits <= 16 * n as u64);
        if !decimal_cheap {
            // XOR words: the f32 bits when every value is an f32, else the f64 bits.
            let mut narrow = options.f32;
            if narrow {
                for (word, &v) in words.iter_mut().zip(values) {
                    match f32_bits(v) {
                        Some(bits) => *word = u64::from(bits),
                        None => {
                            narrow = false;
                            break;
                        }
                    }
                }
            }
            let domain = if narrow { Domain::F32 } else { Domain::F64 };
            if narrow {
                for (slot, &word) in float_reprs.iter_mut().zip(&words[..n]) {
                    *slot = i64::from(ord32(word as u32));
                }
            } else {
                for ((slot, word), &v) in float_reprs.iter_mut().zip(words.iter_mut()).zip(values) {
                    *slot = ord64(v);
                    *word = v;
                }
            }
            if let Some(reprs) = reprs_in(domain, &float_reprs[..]) {
                let index_bits = index_value_bits(&reprs, carry.first_ref(domain), numbers);
                if options.value_ints || !options.value_xor {
                    let choice = int_choice(domain, &reprs, &float_reprs[..], index_bits);
                    consider(&mut best, choice, reprs);
                }
                let xor = if narrow { &XOR32 } else { &XOR64 };
                // The XOR code's cost, estimated from a sample first (it is rarely the cheapest).
                let sample = m.min(SAMPLE);
                let promising = |best: &Option<(ValueChoice, Reprs)>| {
                    best.as_ref().is_none_or(|(b, _)| {
                        let estimate = xor.cost(words[0], words[1..=sample].iter().copied());
                        index_bits + estimate * m as u64 / (sample.max(1) as u64) < b.bits
                    })
                };
                if options.value_xor && promising(&best) {
                    let bits = index_bits + xor.cost(words[0], words[1..=m].iter().copied());
                    let coding = if narrow { Coding::Xor32 } else { Coding::Xor64 };
                    consider(
                        &mut best,
                        ValueChoice {
                            coding,
                            plan: None,
                            bits,
                        },
                        reprs,
                    );
                }
            }
        }
    }
    // The F64 domain holds every value and integer codes are always considered, so there
    // always is a choice; this fallback only keeps the encoder total.
    let (choice, reprs) = best.unwrap_or_else(|| {
        let reprs = Reprs {
            first: ord64(values[0]),
            last: ord64(values[n - 1]),
            min: ord64(min_bits),
            max: ord64(max_bits),
        };
        let raw_ref = if numbers { reprs.min } else { reprs.first };
        let plan = (m > 0).then(|| {
            for (slot, &v) in float_reprs.iter_mut().zip(values) {
                *slot = ord64(v);
            }
            plan_ints(reprs.first, &float_reprs[1..=m], raw_ref, true, true).0
        });
        (
            ValueChoice {
                coding: Coding::Ints(Domain::F64),
                plan,
                bits: 0,
            },
            reprs,
        )
    });
    let domain = choice.coding.domain();

    // Data.
    let data_start = data.len();
    if m > 0 {
        let interior = 1..=m;
        let (step_plan, _) = plan_ints(
            first.step,
            &steps[interior.clone()],
            min_step,
            options.int_for,
            false,
        );
        let (time_plan, _) = plan_ints(
            first.timestamp,
            &times[interior.clone()],
            min_time,
            options.int_for,
            false,
        );
        put_int_header(data, &step_plan, min_step);
        put_int_header(data, &time_plan, min_time);
        let value_ref = if numbers { reprs.min } else { reprs.first };
        if let Some(plan) = &choice.plan {
            put_int_header(data, plan, value_ref);
        }
        let mut w = BitWriter::new(&mut bits[..]);
        put_ints(&mut w, &step_plan, first.step, &steps[interior.clone()]);
        put_ints(
            &mut w,
            &time_plan,
            first.timestamp,
            &times[interior.clone()],
        );
        match choice.coding {
            Coding::Const => {}
            Coding::Ints(Domain::Decimal(_)) => {
                if let Some(plan) = &choice.plan {
                    put_ints(&mut w, plan, reprs.first, &decimal_reprs[interior]);
                }
            }
            Coding::Ints(_) => {
                if let Some(plan) = &choice.plan {
                    put_ints(&mut w, plan, reprs.first, &float_reprs[interior]);
                }
            }
            Coding::Xor32 | Coding::Xor64 => {
                let xor = if choice.coding == Coding::Xor32 {
                    &XOR32
                } else {
                    &XOR64
                };
                xor.code(words[0], words[interior].iter().copied(), |v, width| {
                    w.put(v, width)
                });
            }
        }
        let len = w.finish();
        data.extend_from_slice(&bits[..len]);
    }
    let data_len = data.len() - data_start;

    // Index entry.
    let mut flags = choice.coding.code();
    if summary.nans > 0 {
        flags |= FLAG_NANS;
    }
    if !steps_sorted {
        flags |= FLAG_STEP_RANGE;
    }
    if !times_sorted {
        flags |= FLAG_TIME_RANGE;
    }
    index.push(flags);
    put_varint(index, data_len as u64);
    put_zigzag(index, first.step.wrapping_sub(carry.last_step));
    put_zigzag(index, first.timestamp.wrapping_sub(carry.last_time));
    put_zigzag(index, reprs.first.wrapping_sub(carry.first_ref(domain)));
    let step_span = last.step.wrapping_sub(first.step);
    let time_span = last.timestamp.wrapping_sub(first.timestamp);
    if n >= 2 {
        put_zigzag(index, step_span.wrapping_sub(carry.step_span));
        put_zigzag(index, time_span.wrapping_sub(carry.time_span));
        if choice.coding != Coding::Const {
            put_zigzag(index, reprs.last.wrapping_sub(reprs.first));
        }
    }
    if !steps_sorted {
        put_zigzag(index, min_step.wrapping_sub(first.step));
        put_varint(index, max_step.wrapping_sub(min_step) as u64);
    }
    if !times_sorted {
        put_zigzag(index, min_time.wrapping_sub(first.timestamp));
        put_varint(index, max_time.wrapping_sub(min_time) as u64);
    }
    if summary.nans > 0 {
        put_varint(index, summary.nans);
    }
    if numbers {
        if choice.coding != Coding::Const {
            put_zigzag(index, reprs.min.wrapping_sub(reprs.first));
            put_zigzag(index, reprs.max.wrapping_sub(reprs.min));
        }
        put_trimmed(index, summary.sum.to_bits() ^ carry.sum_bits);
    }

    *carry = Carry {
        last_step: last.step,
        last_time: last.timestamp,
        step_span,
        time_span,
        domain: Some(domain),
        last_repr: reprs.last,
        sum_bits: summary.sum.to_bits(),
    };
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

/// Decodes a whole chunk.
pub fn decode(bytes: &[u8]) -> Result<Vec<Point>, CodecError> {
    let chunk = Chunk::parse(bytes)?;
    let mut out = Vec::with_capacity(chunk.len());
    chunk.decode(&mut out)?;
    Ok(out)
}

/// Where a block's data lies and what decoding it needs beyond its [`BlockMeta`].
#[derive(Debug, Clone, Copy)]
struct BlockLayout {
    start: usize,
    end: usize,
    coding: Coding,
    first_repr: i64,
    /// What an `INT_RAW` value stream's base is relative to.
    value_ref: i64,
}

/// A chunk's index: each block's [`BlockMeta`] and where its data lies, parsed from the chunk's
/// first bytes alone. A reader that holds only those bytes answers from the block summaries and
/// fetches just the blocks it must decode ([`ChunkIndex::block_bytes`]).
#[derive(Debug, Clone)]
pub struct ChunkIndex {
    blocks: Vec<BlockMeta>,
    /// Offsets are from the start of the chunk.
    layouts: Vec<BlockLayout>,
    index_len: usize,
}

impl ChunkIndex {
    /// Parses the index from `prefix`, the first bytes of a chunk of `total_len` bytes.
    /// `Ok(None)` when the index runs past `prefix` (read more of the chunk and try again); an
    /// error when the chunk is corrupt, which a prefix of the whole chunk always settles.
    pub fn parse_prefix(prefix: &[u8], total_len: usize) -> Result<Option<ChunkIndex>, CodecError> {
        if prefix.len() > total_len {
            return Err(corrupt(format!(
                "a prefix of {} bytes of a {total_len}-byte chunk",
                prefix.len()
            )));
        }
        match parse_index(prefix, total_len) {
            Ok(index) => Ok(Some(index)),
            // Cut short by the prefix, or corrupt: only the whole chunk can tell.
            Err(_) if prefix.len() < total_len => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    /// Bytes before the first block's data: version, point count and block index.
    pub fn index_len(&self) -> usize {
        self.index_len
    }

    /// Where block `index`'s data lies in the chunk (empty for blocks of at most two points,
    /// which the index holds whole).
    pub fn block_bytes(&self, index: usize) -> Result<std::ops::Range<usize>, CodecError> {
        let layout = self.layout(index)?;
        Ok(layout.start..layout.end)
    }

    fn layout(&self, index: usize) -> Result<&BlockLayout, CodecError> {
        self.layouts.get(index).ok_or_else(|| {
            corrupt(format!(
                "no block {index} in a chunk of {}",
                self.blocks.len()
            ))
        })
    }

    /// Decodes block `index` from `data`, the chunk's bytes at [`ChunkIndex::block_bytes`].
    pub fn decode_block(
        &self,
        index: usize,
        data: &[u8],
        out: &mut Vec<Point>,
    ) -> Result<(), CodecError> {
        let layout = self.layout(index)?;
        if data.len() != layout.end - layout.start {
            return Err(corrupt(format!(
                "block {index} has {} bytes of data, not {}",
                layout.end - layout.start,
                data.len()
            )));
        }
        let meta = &self.blocks[index];
        let n = meta.summary.count as usize;
        let (Some(first), Some(last)) = (meta.summary.first, meta.summary.last) else {
            return Err(corrupt("empty block"));
        };
        if n <= 2 {
            out.push(first);
            if n == 2 {
                out.push(last);
            }
            return Ok(());
        }
        let m = n - 2;
        let mut r = ByteReader::new(data);
        let step_plan = read_int_header(&mut r, meta.min_step)?;
        let time_plan = read_int_header(&mut r, meta.min_time)?;
        let value_plan = match layout.coding {
            Coding::Ints(_) => Some(read_int_header(&mut r, layout.value_ref)?),
            _ => None,
        };
        let mut bits = BitReader::new(r.rest());
        let mut steps = [0i64; BLOCK_POINTS];
        let mut times = [0i64; BLOCK_POINTS];
        let mut values = [0u64; BLOCK_POINTS];
        let (steps, times, values) = (&mut steps[..m], &mut times[..m], &mut values[..m]);
        read_ints(&mut bits, &step_plan, first.step, steps, |e| e)?;
        read_ints(&mut bits, &time_plan, first.timestamp, times, |e| e)?;
        match (layout.coding, value_plan) {
            (Coding::Ints(domain), Some(plan)) => {
                let e0 = layout.first_repr;
                match domain {
                    Domain::F64 => read_ints(&mut bits, &plan, e0, values, unord64)?,
                    Domain::F32 => read_ints(&mut bits, &plan, e0, values, |e| {
                        f64_of_f32_bits(unord32(e as i32))
                    })?,
                    Domain::Decimal(d) => {
                        let scale = POW10[d as usize];
                        read_ints(&mut bits, &plan, e0, values, |e| {
                            (e as f64 / scale).to_bits()
                        })?
                    }
                }
            }
            (Coding::Xor32, _) => {
                let prev = (f32_bits(first.value.to_bits()).unwrap_or(0)) as u64;
                XOR32.read(&mut bits, prev, values)?;
                for v in values.iter_mut() {
                    *v = f64_of_f32_bits(*v as u32);
                }
            }
            (Coding::Xor64, _) => XOR64.read(&mut bits, first.value.to_bits(), values)?,
            _ => values.fill(first.value.to_bits()),
        }
        bits.end()?;
        out.reserve(n);
        out.push(first);
        out.extend(steps.iter().zip(times.iter()).zip(values.iter()).map(
            |((&step, &timestamp), &v)| Point {
                step,
                timestamp,
                value: f64::from_bits(v),
            },
        ));
        out.push(last);
        Ok(())
    }
}

/// A whole chunk: its index and its bytes, ready to answer from block summaries or decode blocks.
#[derive(Debug, Clone)]
pub struct Chunk<'a> {
    bytes: &'a [u8],
    index: ChunkIndex,
}

impl<'a> Chunk<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Chunk<'a>, CodecError> {
        let index = ChunkIndex::parse_prefix(bytes, bytes.len())?
            .ok_or_else(|| corrupt("the index does not fit in the chunk"))?;
        Ok(Chunk { bytes, index })
    }

    pub fn len(&self) -> usize {
        self.index
            .blocks
            .iter()
            .map(|b| b.summary.count as usize)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.index.blocks.is_empty()
    }

    pub fn blocks(&self) -> &[BlockMeta] {
        &self.index.blocks
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for block in &self.index.blocks {
            summary.merge(&block.summary);
        }
        summary
    }

    /// Bytes before the first block's data: version, point count and block index.
    pub fn index_len(&self) -> usize {
        self.index.index_len
    }

    /// How block `index` is coded, e.g. `steps=delta/0 times=delta/3 values=f32:raw/24+2`
    /// (`+2`: two exceptions).
    #[doc(hidden)]
    pub fn describe_block(&self, index: usize) -> Result<String, CodecError> {
        let layout = self.index.layout(index)?;
        let name = |plan: &IntPlan| {
            let patched = plan
                .patch
                .map(|patch| format!("+{}", patch.count))
                .unwrap_or_default();
            match plan.mode {
                INT_RAW => format!("raw/{}{patched}", plan.width),
                INT_DELTA => format!("delta/{}{patched}", plan.width),
                _ => "dod".to_string(),
            }
        };
        let coding = match layout.coding {
            Coding::Const => "const".to_string(),
            Coding::Xor32 => "xor32".to_string(),
            Coding::Xor64 => "xor64".to_string(),
            Coding::Ints(Domain::F32) => "f32".to_string(),
            Coding::Ints(Domain::F64) => "f64".to_string(),
            Coding::Ints(Domain::Decimal(d)) => format!("dec{d}"),
        };
        if layout.start == layout.end {
            return Ok(format!("values={coding}"));
        }
        let mut r = ByteReader::new(&self.bytes[layout.start..layout.end]);
        let steps = read_int_header(&mut r, 0)?;
        let times = read_int_header(&mut r, 0)?;
        let values = match layout.coding {
            Coding::Ints(_) => format!("{coding}:{}", name(&read_int_header(&mut r, 0)?)),
            _ => coding,
        };
        Ok(format!(
            "steps={} times={} values={values}",
            name(&steps),
            name(&times)
        ))
    }

    pub fn decode_block(&self, index: usize, out: &mut Vec<Point>) -> Result<(), CodecError> {
        let range = self.index.block_bytes(index)?;
        self.index.decode_block(index, &self.bytes[range], out)
    }

    pub fn decode(&self, out: &mut Vec<Point>) -> Result<(), CodecError> {
        for index in 0..self.index.blocks.len() {
            self.decode_block(index, out)?;
        }
        Ok(())
    }
}

/// The index of a chunk of `total_len` bytes from its first bytes `bytes`.
fn parse_index(bytes: &[u8], total_len: usize) -> Result<ChunkIndex, CodecError> {
    let mut r = ByteReader::new(bytes);
    let version = r.u8().map_err(|_| corrupt("empty input"))?;
    if version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "format version {version} is not supported (this build reads version {FORMAT_VERSION})"
        )));
    }
    let total = r.varint()?;
    let block_points = BLOCK_POINTS as u64;
    let block_count = total / block_points + u64::from(total % block_points != 0);
    // Every index entry takes at least 5 bytes.
    let capacity = block_count.min(total_len as u64 / 5) as usize;
    let mut blocks = Vec::with_capacity(capacity);
    let mut layouts = Vec::with_capacity(capacity);
    let mut carry = Carry::new();
    let mut data_len = 0usize;
    for b in 0..block_count {
        let n = if b + 1 == block_count {
            total - b * block_points
        } else {
            block_points
        };
        let (meta, layout) = parse_entry(&mut r, n, &mut carry, &mut data_len)?;
        blocks.push(meta);
        layouts.push(layout);
    }
    let index_len = r.pos;
    if total_len - index_len != data_len {
        return Err(corrupt(format!(
            "block data is {} bytes, the index says {data_len}",
            total_len - index_len
        )));
    }
    for layout in &mut layouts {
        layout.start += index_len;
        layout.end += index_len;
    }
    Ok(ChunkIndex {
        blocks,
        layouts,
        index_len,
    })
}

/// Reads one index entry for a block of `n` points.
fn parse_entry(
    r: &mut ByteReader,
    n: u64,
    carry: &mut Carry,
    data_offset: &mut usize,
) -> Result<(BlockMeta, BlockLayout), CodecError> {
    let flags = r.u8()?;
    let coding =
        Coding::from_code(flags & CODING_MASK).ok_or_else(|| corrupt("unknown value coding"))?;
    let domain = coding.domain();
    let data_len = usize::try_from(r.varint()?).map_err(|_| corrupt("block too long"))?;
    let start = *data_offset;
    let end = start
        .checked_add(data_len)
        .ok_or_else(|| corrupt("block too long"))?;
    *data_offset = end;
    if n <= 2 && data_len != 0 {
        return Err(corrupt("data for a block of at most two points"));
    }
    if n > 2 && data_len < 2 {
        return Err(corrupt("block data too short"));
    }

    let first_step = carry.last_step.wrapping_add(r.zigzag()?);
    let first_time = carry.last_time.wrapping_add(r.zigzag()?);
    let first_repr = carry.first_ref(domain).wrapping_add(r.zigzag()?);
    let first = Point {
        step: first_step,
        timestamp: first_time,
        value: f64::from_bits(domain.value(first_repr)?),
    };
    let (last, last_repr) = if n >= 2 {
        let step = first_step
            .wrapping_add(carry.step_span)
            .wrapping_add(r.zigzag()?);
        let timestamp = first_time
            .wrapping_add(carry.time_span)
            .wrapping_add(r.zigzag()?);
        let repr = if coding == Coding::Const {
            first_repr
        } else {
            first_repr.wrapping_add(r.zigzag()?)
        };
        let point = Point {
            step,
            timestamp,
            value: f64::from_bits(domain.value(repr)?),
        };
        (point, repr)
    } else {
        (first, first_repr)
    };

    let mut range = |flag: u8, first: i64, last: i64| -> Result<(i64, i64), CodecError> {
        if flags & flag == 0 {
            if last < first {
                return Err(corrupt("block range out of order"));
            }
            return Ok((first, last));
        }
        if n < 2 {
            return Err(corrupt("explicit range for a single point"));
        }
        let min = first.wrapping_add(r.zigzag()?);
        let max = min.wrapping_add(r.varint()? as i64);
        if max < min || first < min || first > max || last < min || last > max {
            return Err(corrupt("block range inconsistent"));
        }
        Ok((min, max))
    };
    let (min_step, max_step) = range(FLAG_STEP_RANGE, first.step, last.step)?;
    let (min_time, max_time) = range(FLAG_TIME_RANGE, first.timestamp, last.timestamp)?;

    let nans = if flags & FLAG_NANS != 0 {
        let nans = r.varint()?;
        if nans == 0 || nans > n {
            return Err(corrupt("bad NaN count"));
        }
        nans
    } else {
        0
    };
    let numbers = nans < n;
    if coding == Coding::Const && first.value.is_nan() != (nans == n) {
        return Err(corrupt("constant block's NaN count disagrees"));
    }
    let (min, max, min_repr, sum) = if numbers {
        let (min_repr, max_repr) = if coding == Coding::Const {
            (first_repr, first_repr)
        } else {
            let min_repr = first_repr.wrapping_add(r.zigzag()?);
            (min_repr, min_repr.wrapping_add(r.zigzag()?))
        };
        let sum = f64::from_bits(carry.sum_bits ^ r.trimmed()?);
        let min = f64::from_bits(domain.value(min_repr)?);
        let max = f64::from_bits(domain.value(max_repr)?);
        (min, max, min_repr, sum)
    } else {
        (f64::INFINITY, f64::NEG_INFINITY, first_repr, 0.0)
    };

    *carry = Carry {
        last_step: last.step,
        last_time: last.timestamp,
        step_span: last.step.wrapping_sub(first.step),
        time_span: last.timestamp.wrapping_sub(first.timestamp),
        domain: Some(domain),
        last_repr,
        sum_bits: sum.to_bits(),
    };
    let meta = BlockMeta {
        min_step,
        max_step,
        min_time,
        max_time,
        summary: Summary {
            count: n,
            nans,
            min,
            max,
            sum,
            first: Some(first),
            last: Some(last),
        },
    };
    let layout = BlockLayout {
        start,
        end,
        coding,
        first_repr,
        value_ref: min_repr,
    };
    Ok((meta, layout))
}

#[cfg(test)]
mod tests;
