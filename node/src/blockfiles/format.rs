//! The bytes of a block or undo file: a 16-byte file header, then records
//! at 16-byte-aligned offsets, each a 16-byte record header, the payload
//! and zero padding up to the next multiple of 16.
//!
//! ```text
//! file header:   magic (4) | FORMAT_TAG (8) | zero (4)
//! record header: magic (4) | length (4, LE) | crc32 of the payload (4, LE) | zero (4)
//! ```
//!
//! Why aligned: a block record's payload is the block's rkyv archive, which
//! needs 16-byte alignment to be read in place. Another process (the
//! wallet) maps a block file read-only and uses an archive where it lies,
//! with no copy, no parse and no hashing; the node reads it into an aligned
//! buffer the same way. The file header carries the format, so files of the
//! older layout (12-byte headers, wire bytes, no file header) are refused
//! with a message rather than misread.

use rkyv::util::AlignedVec;

/// Alignment of every record, and so of every payload.
pub const RECORD_ALIGN: u64 = 16;
/// Bytes of the file header; the first record starts here.
pub const FILE_HEADER: u64 = 16;
/// Bytes of a record header.
pub const HEADER: u64 = 16;
/// Bytes 4..12 of the file header: this layout, version 3 (the archives
/// of versions 1 and 2 had no key columns, or a script tail inside each
/// output entry). Files of the first layout have a record length and a
/// checksum there instead.
pub const FORMAT_TAG: [u8; 8] = *b"ALIGN16\x03";

/// A payload buffer: aligned like the payload was in the file.
pub type RecordBuf = AlignedVec<{ RECORD_ALIGN as usize }>;

/// The file header of a file of network `magic`.
pub fn file_header(magic: [u8; 4]) -> [u8; FILE_HEADER as usize] {
    let mut h = [0u8; FILE_HEADER as usize];
    h[..4].copy_from_slice(&magic);
    h[4..12].copy_from_slice(&FORMAT_TAG);
    h
}

/// What is wrong with a file header: `Err((old_format, what))`, where
/// `old_format` says the file looks like one of the old layout.
pub fn check_file_header(header: &[u8], magic: [u8; 4]) -> Result<(), (bool, String)> {
    if header.len() < FILE_HEADER as usize {
        return Err((false, format!("{} bytes of a file header", header.len())));
    }
    if header[..4] != magic {
        return Err((
            false,
            format!(
                "file starts with {:02x?}, not this network's magic",
                &header[..4]
            ),
        ));
    }
    if header[4..11] == FORMAT_TAG[..7] && header[11] < FORMAT_TAG[7] {
        return Err((
            true,
            format!(
                "archive format version {}, this node writes {}",
                header[11], FORMAT_TAG[7]
            ),
        ));
    }
    if header[4..12] != FORMAT_TAG {
        // The old layout began with a record: magic, then its length.
        return Err((true, "no format tag after the magic".into()));
    }
    if header[12..16] != [0; 4] {
        return Err((
            false,
            "reserved bytes of the file header are not zero".into(),
        ));
    }
    Ok(())
}

/// Record header for a payload of `len` bytes with checksum `crc`.
pub fn record_header(magic: [u8; 4], len: u32, crc: u32) -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[..4].copy_from_slice(&magic);
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..12].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a record header: `(length, crc)`, refusing lengths over `max`.
pub fn parse_record_header(
    header: &[u8; HEADER as usize],
    magic: [u8; 4],
    max: u32,
) -> Result<(u32, u32), String> {
    if header[..4] != magic {
        return Err(format!("bad magic {:02x?}", &header[..4]));
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > max {
        return Err(format!("record length {len} is larger than any block"));
    }
    if header[12..16] != [0; 4] {
        return Err("reserved bytes of the record header are not zero".into());
    }
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    Ok((len, crc))
}

/// Zero bytes after a payload of `len` bytes, up to the next record.
pub fn padding(len: u64) -> u64 {
    len.next_multiple_of(RECORD_ALIGN) - len
}

/// Bytes a record of a `len`-byte payload takes: header, payload, padding.
pub fn record_size(len: u64) -> u64 {
    HEADER + len + padding(len)
}

/// Zeros to write as padding (at most `RECORD_ALIGN - 1` are needed).
pub const ZEROS: [u8; RECORD_ALIGN as usize] = [0; RECORD_ALIGN as usize];

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: [u8; 4] = [0xfa, 0xbf, 0xb5, 0xda];

    #[test]
    fn headers_round_trip_and_bad_ones_are_named() {
        assert_eq!(check_file_header(&file_header(MAGIC), MAGIC), Ok(()));
        // The old layout: a 12-byte record header at offset 0.
        let mut old = MAGIC.to_vec();
        old.extend_from_slice(&285u32.to_le_bytes());
        old.extend_from_slice(&[1, 2, 3, 4, 1, 0, 0, 0]);
        assert!(matches!(check_file_header(&old, MAGIC), Err((true, _))));
        let mut v1 = file_header(MAGIC);
        v1[11] = 1;
        assert!(matches!(check_file_header(&v1, MAGIC), Err((true, m)) if m.contains("version 1")));
        assert!(matches!(
            check_file_header(&file_header([1, 2, 3, 4]), MAGIC),
            Err((false, _))
        ));
        assert!(check_file_header(&[0; 5], MAGIC).is_err());

        let h = record_header(MAGIC, 1000, 0xdead_beef);
        assert_eq!(
            parse_record_header(&h, MAGIC, 1000),
            Ok((1000, 0xdead_beef))
        );
        assert!(parse_record_header(&h, MAGIC, 999).is_err());
        let mut h2 = h;
        h2[13] = 1;
        assert!(parse_record_header(&h2, MAGIC, 1000).is_err());
        assert!(parse_record_header(&h, [0; 4], 1000).is_err());
    }

    #[test]
    fn records_keep_alignment() {
        for len in 0..100u64 {
            assert_eq!(record_size(len) % RECORD_ALIGN, 0);
            assert!(record_size(len) >= HEADER + len);
            assert!(padding(len) < RECORD_ALIGN);
        }
        assert_eq!(record_size(16), 32);
        assert_eq!(record_size(17), 48);
    }
}
