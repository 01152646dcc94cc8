//! The two CRC-32s the imported formats use, byte-at-a-time over compile-time tables:
//! CRC-32C (Castagnoli polynomial, reflected `0x82F63B78`) as TFRecord files use it, with the
//! "masked" form TensorFlow stores (rotated right by 15 bits plus a constant, which keeps a CRC
//! of data that itself holds CRCs from being trivially zero); and CRC-32 (IEEE, zlib's,
//! reflected `0xEDB88320`) as W&B's `.wandb` files use it.

/// The lookup table of the reflected byte-at-a-time algorithm for `polynomial`.
const fn table(polynomial: u32) -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ polynomial
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

const CASTAGNOLI: [u32; 256] = table(0x82F6_3B78);
const IEEE: [u32; 256] = table(0xEDB8_8320);

/// Continues a CRC (`crc` is a finished CRC of the bytes before, 0 for none) over `data`.
fn update(table: &[u32; 256], crc: u32, data: &[u8]) -> u32 {
    let mut crc = !crc;
    for &byte in data {
        crc = table[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    update(&CASTAGNOLI, 0, data)
}

/// The CRC-32 (IEEE) of `data` following bytes whose CRC-32 was `crc` (zlib's
/// `crc32(data, crc)`; 0 to start).
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    update(&IEEE, crc, data)
}

/// TensorFlow's masked CRC: `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
pub fn masked(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xA282_EAD8)
}

/// The masked CRC-32C of `data`, as a TFRecord stores it.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    masked(crc32c(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 3720 (iSCSI) test vectors.
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
    }

    #[test]
    fn ieee_vectors_and_chaining() {
        assert_eq!(crc32_update(0, b""), 0);
        assert_eq!(crc32_update(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32_update(crc32_update(0, b"1234"), b"56789"),
            0xCBF4_3926
        );
    }

    #[test]
    fn masking_matches_tensorflow() {
        // The masked CRC of an empty payload, as every TFRecord writer stores it.
        assert_eq!(masked_crc32c(b""), 0xA282_EAD8);
        // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8, worked out by hand.
        assert_eq!(masked(crc32c(b"123456789")), 0xC78A_B0E5);
    }
}
