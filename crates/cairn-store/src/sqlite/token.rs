//! Page tokens: opaque to clients, validated on the way back in.
//!
//! Format: base64url (no padding) of the ASCII text `c1|<kind>|<fingerprint>|<position>` where
//! - `c1` is the format version,
//! - `<kind>` is `o` (an offset into a search result) or `h` (a keyset position in a history),
//! - `<fingerprint>` is 16 hex digits of an FNV-1a hash of the query the token was issued for
//!   (filter, order, experiment ids, view; not the page size), so a token replayed against a
//!   different query is rejected instead of silently skipping rows,
//! - `<position>` is the offset (`o`) or `step,timestamp,is_nan,value-bits-hex` (`h`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::StoreError;

const VERSION: &str = "c1";

/// A hash identifying a query, from any text that describes it completely.
pub fn fingerprint(description: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in description.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn encode(kind: &str, query: u64, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}|{kind}|{query:016x}|{position}"))
}

fn decode(token: &str, kind: &str, query: u64) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| StoreError::invalid_page_token())?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::invalid_page_token())?;
    let mut parts = text.splitn(4, '|');
    let (Some(version), Some(token_kind), Some(print), Some(position)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(StoreError::invalid_page_token());
    };
    if version != VERSION || token_kind != kind {
        return Err(StoreError::invalid_page_token());
    }
    if print != format!("{query:016x}") {
        return Err(StoreError::InvalidArgument(
            "Invalid page token: it was issued for a different query".to_string(),
        ));
    }
    Ok(position.to_string())
}

/// A token for the rows after the first `offset` rows of a query.
pub fn encode_offset(query: u64, offset: usize) -> String {
    encode("o", query, &offset.to_string())
}

/// The offset an optional token stands for (0 without a token).
pub fn decode_offset(token: Option<&str>, query: u64) -> Result<usize, StoreError> {
    match token {
        None | Some("") => Ok(0),
        // Bounded so that the offset always fits SQLite's signed 64-bit integers.
        Some(token) => decode(token, "o", query)?
            .parse::<u32>()
            .map(|offset| offset as usize)
            .map_err(|_| StoreError::invalid_page_token()),
    }
}

/// Cuts a search's rows (fetched with `LIMIT limit + 1 OFFSET offset`) to the page and answers
/// the token of the next page, when there is one.
pub fn offset_page<T>(
    rows: &mut Vec<T>,
    limit: usize,
    offset: usize,
    query: u64,
) -> Option<String> {
    if rows.len() > limit {
        rows.truncate(limit);
        Some(encode_offset(query, offset + limit))
    } else {
        None
    }
}

/// The last point of a history page: `(step, timestamp, is_nan, value)`.
pub type HistoryPosition = (i64, i64, bool, f64);

pub fn encode_history(query: u64, position: HistoryPosition) -> String {
    let (step, timestamp, is_nan, value) = position;
    encode(
        "h",
        query,
        &format!(
            "{step},{timestamp},{},{:016x}",
            u8::from(is_nan),
            value.to_bits()
        ),
    )
}

pub fn decode_history(
    token: Option<&str>,
    query: u64,
) -> Result<Option<HistoryPosition>, StoreError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let position = decode(token, "h", query)?;
    let fields: Vec<&str> = position.split(',').collect();
    let parsed = match fields.as_slice() {
        [step, timestamp, is_nan, bits] => (|| {
            let step = step.parse().ok()?;
            let timestamp = timestamp.parse().ok()?;
            let is_nan = match *is_nan {
                "0" => false,
                "1" => true,
                _ => return None,
            };
            let value = f64::from_bits(u64::from_str_radix(bits, 16).ok()?);
            Some((step, timestamp, is_nan, value))
        })(),
        _ => None,
    };
    parsed.map(Some).ok_or_else(StoreError::invalid_page_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_are_bound_to_the_query() {
        let token = encode_offset(7, 300);
        assert_eq!(decode_offset(Some(&token), 7).unwrap(), 300);
        assert!(decode_offset(Some(&token), 8).is_err());
        assert!(decode_offset(Some("not a token"), 7).is_err());
        assert!(decode_offset(Some(&encode_history(7, (1, 2, false, 3.0))), 7).is_err());
    }

    #[test]
    fn history_positions_round_trip() {
        let token = encode_history(9, (5, 6, false, f64::NEG_INFINITY));
        assert_eq!(
            decode_history(Some(&token), 9).unwrap(),
            Some((5, 6, false, f64::NEG_INFINITY))
        );
    }
}
