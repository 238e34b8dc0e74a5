//! Block and undo files: append-only files of records, the node's copy of
//! every block it has accepted and of the undo data that disconnects it.
//!
//! `blk00000.dat`, `blk00001.dat`, ... hold blocks, each as its rkyv
//! archive (`btc_core::ArchivedBlockArchive`, whose first bytes are the
//! block's wire bytes); `rev00000.dat`, ... hold undo data. Each file is at
//! most [`MAX_FILE_SIZE`]. The layout is in [`format`]: a file header that
//! names the format, then records at 16-byte-aligned offsets, each a
//! 16-byte header (magic, length, crc32), the payload and zero padding.
//! Aligned payloads are what let another process map a block file
//! read-only and use an archive where it lies
//! ([`BlockFiles::open_readonly`]). The checksum is ours (Bitcoin Core has
//! none on blocks); it lets a scan tell a torn tail, left by a crash in the
//! middle of an append, from a complete record.
//!
//! The files are the node's durable log: a block is acknowledged only after
//! [`BlockFiles::sync`], and after a crash the node re-reads the records
//! appended since its database last flushed (see `chainstate`). The database
//! is never flushed ahead of the files.

pub mod format;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use format::{
    check_file_header, file_header, padding, parse_record_header, record_header, record_size,
    FILE_HEADER, HEADER, ZEROS,
};
pub use format::{RecordBuf, RECORD_ALIGN};

/// Largest file before appends move on to the next (Core's
/// `MAX_BLOCKFILE_SIZE`).
pub const MAX_FILE_SIZE: u64 = 128 << 20;
/// Largest record payload accepted on read or append. A valid block has at
/// most 4,000,000 wire bytes, of which at most 1,000,000 are outside the
/// witnesses; its archive adds tables of 96 bytes per transaction, 60 per
/// input and 16 per output, at most 172 bytes per 60 of those bytes (the
/// smallest transaction), so under 2.9 MB: every archive fits in 8 MB.
pub const MAX_RECORD: u32 = 8_000_000;

/// What a scan calls for each record: its payload position and bytes (the
/// bytes 16-byte aligned, as in the file).
pub type RecordVisitor<'a> = dyn FnMut(FilePos, &[u8]) -> Result<(), FilesError> + 'a;

/// Which kind of file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `blk?????.dat`.
    Block,
    /// `rev?????.dat`.
    Undo,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Block => "blk",
            Kind::Undo => "rev",
        }
    }
}

/// Where a record's payload starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FilePos {
    /// File number.
    pub file: u32,
    /// Byte offset of the payload (just after the record header; a
    /// multiple of 16).
    pub offset: u32,
}

impl FilePos {
    /// The 8-byte encoding used in the block index.
    pub fn encode(self) -> [u8; 8] {
        let mut out = [0; 8];
        out[..4].copy_from_slice(&self.file.to_le_bytes());
        out[4..].copy_from_slice(&self.offset.to_le_bytes());
        out
    }

    /// Decodes [`FilePos::encode`].
    pub fn decode(b: [u8; 8]) -> FilePos {
        FilePos {
            file: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            offset: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// Errors of the block files.
#[derive(Debug, Error)]
pub enum FilesError {
    /// The filesystem failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// A record is not what was written there.
    #[error("{path} at offset {offset}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Offset of the record's payload.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A file was written by an older version of the node, in a layout
    /// this one does not read.
    #[error(
        "{path}: {what}: the file is in an older block-file format (12-byte record headers, unaligned wire bytes) that this node does not read. Delete the blocks and chainstate directories of this network, or use a new -datadir, and sync again."
    )]
    OldFormat {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        what: String,
    },
    /// A file does not start with a valid file header.
    #[error("{path}: not a block or undo file of this network: {what}")]
    BadFileHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A record is larger than any block.
    #[error("record of {0} bytes is larger than any block")]
    TooLarge(usize),
}

/// How a scan ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every record up to the end of the last file was whole.
    Clean {
        /// Where the next record would go.
        end: FilePos,
    },
    /// The last file ends in a partial or damaged record at `at`, after
    /// which nothing else was read: the remains of an append cut short.
    TornTail {
        /// Start of the damaged record's header.
        at: FilePos,
        /// What is wrong with it.
        what: String,
    },
}

/// What [`BlockFiles::next_record`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// A whole record, now in the caller's buffer.
    Record {
        /// Where its payload starts.
        pos: FilePos,
        /// The header of the record after it.
        next: FilePos,
    },
    /// No more records: the next one would go here.
    End(FilePos),
    /// The last file ends in a partial or damaged record at `at` (see
    /// [`ScanEnd::TornTail`]).
    Torn {
        /// Start of the damaged record's header.
        at: FilePos,
        /// What is wrong with it.
        what: String,
    },
}

struct Appender {
    file: File,
    number: u32,
    len: u64,
    dirty: bool,
}

/// One kind of file (blocks or undo), appended to and read from.
struct Series {
    dir: PathBuf,
    max_file_size: u64,
    kind: Kind,
    magic: [u8; 4],
    tail: Appender,
    readers: HashMap<u32, File>,
}

/// The block files and undo files of one network.
pub struct BlockFiles {
    blocks: Series,
    undo: Series,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks the file header of `file`, whose length is `len`.
fn verify_file_header(
    path: &Path,
    file: &File,
    len: u64,
    magic: [u8; 4],
) -> Result<(), FilesError> {
    let mut header = [0u8; FILE_HEADER as usize];
    let n = len.min(FILE_HEADER) as usize;
    read_at(file, &mut header[..n], 0).map_err(io_err(path))?;
    check_file_header(&header[..n], magic).map_err(|(old, what)| {
        let path = path.to_path_buf();
        if old {
            FilesError::OldFormat { path, what }
        } else {
            FilesError::BadFileHeader { path, what }
        }
    })
}

impl Series {
    fn path(&self, number: u32) -> PathBuf {
        file_path(&self.dir, self.kind, number)
    }

    /// Opens the series, checking every file's header: a directory of
    /// old-format files is refused here, before anything reads a record.
    fn open(
        dir: &Path,
        kind: Kind,
        magic: [u8; 4],
        max_file_size: u64,
    ) -> Result<Series, FilesError> {
        let mut number = 0;
        while file_path(dir, kind, number + 1).exists() {
            number += 1;
        }
        for n in 0..number {
            let path = file_path(dir, kind, n);
            let file = File::open(&path).map_err(io_err(&path))?;
            let len = file.metadata().map_err(io_err(&path))?.len();
            verify_file_header(&path, &file, len, magic)?;
        }
        let path = file_path(dir, kind, number);
        let mut file = open_append(&path)?;
        let mut len = file.metadata().map_err(io_err(&path))?.len();
        let header = file_header(magic);
        if len < FILE_HEADER {
            // New, or its creation was cut short by a crash: (re)write the
            // header, unless the bytes there are something else.
            let mut have = vec![0u8; len as usize];
            read_at(&file, &mut have, 0).map_err(io_err(&path))?;
            if have[..] != header[..have.len()] {
                verify_file_header(&path, &file, len, magic)?;
            }
            file.set_len(0).map_err(io_err(&path))?;
            file.write_all(&header).map_err(io_err(&path))?;
            file.sync_data().map_err(io_err(&path))?;
            len = FILE_HEADER;
        } else {
            verify_file_header(&path, &file, len, magic)?;
        }
        Ok(Series {
            dir: dir.to_path_buf(),
            max_file_size,
            kind,
            magic,
            tail: Appender {
                file,
                number,
                len,
                dirty: false,
            },
            readers: HashMap::new(),
        })
    }

    fn append(&mut self, payload: &[u8]) -> Result<FilePos, FilesError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l <= MAX_RECORD)
            .ok_or(FilesError::TooLarge(payload.len()))?;
        if self.tail.len > FILE_HEADER
            && self.tail.len.next_multiple_of(RECORD_ALIGN) + record_size(u64::from(len))
                > self.max_file_size
        {
            self.roll()?;
        }
        // The tail is aligned unless a torn record was left there (block
        // files are cut back first; undo files are never scanned): pad.
        let start = self.tail.len.next_multiple_of(RECORD_ALIGN);
        let before = &ZEROS[..(start - self.tail.len) as usize];
        let header = record_header(self.magic, len, crc32fast::hash(payload));
        let after = &ZEROS[..padding(u64::from(len)) as usize];
        let path = self.path(self.tail.number);
        write_all_vectored(&mut self.tail.file, &[before, &header, payload, after])
            .map_err(io_err(&path))?;
        let pos = FilePos {
            file: self.tail.number,
            offset: (start + HEADER) as u32,
        };
        self.tail.len = start + record_size(u64::from(len));
        self.tail.dirty = true;
        Ok(pos)
    }

    /// Moves appends to a new file, syncing the finished one.
    fn roll(&mut self) -> Result<(), FilesError> {
        self.sync()?;
        let number = self.tail.number + 1;
        let path = self.path(number);
        let mut file = open_append(&path)?;
        file.write_all(&file_header(self.magic))
            .map_err(io_err(&path))?;
        self.tail = Appender {
            file,
            number,
            len: FILE_HEADER,
            dirty: true,
        };
        sync_dir(&self.dir)?;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), FilesError> {
        if self.tail.dirty {
            let path = self.path(self.tail.number);
            self.tail.file.sync_data().map_err(io_err(&path))?;
            self.tail.dirty = false;
        }
        Ok(())
    }

    fn reader(&mut self, number: u32) -> Result<&File, FilesError> {
        if !self.readers.contains_key(&number) {
            let path = self.path(number);
            let file = File::open(&path).map_err(io_err(&path))?;
            self.readers.insert(number, file);
        }
        Ok(&self.readers[&number])
    }

    /// A new read-only handle on file `number` (not cached: it is handed
    /// to another process).
    fn open_readonly(&self, number: u32) -> Result<File, FilesError> {
        let path = self.path(number);
        if number > self.tail.number {
            return Err(FilesError::Io {
                path,
                source: io::ErrorKind::NotFound.into(),
            });
        }
        File::open(&path).map_err(io_err(&path))
    }

    fn read(&mut self, pos: FilePos) -> Result<RecordBuf, FilesError> {
        let path = self.path(pos.file);
        let magic = self.magic;
        let offset = u64::from(pos.offset);
        let corrupt = |what: String| FilesError::Corrupt {
            path: path.clone(),
            offset,
            what,
        };
        if offset < FILE_HEADER + HEADER {
            return Err(corrupt("offset inside the file header".into()));
        }
        if !offset.is_multiple_of(RECORD_ALIGN) {
            return Err(corrupt(format!(
                "offset is not a multiple of {RECORD_ALIGN}"
            )));
        }
        let file = self.reader(pos.file)?;
        let mut header = [0u8; HEADER as usize];
        read_at(file, &mut header, offset - HEADER).map_err(|e| corrupt(e.to_string()))?;
        let (len, crc) = parse_record_header(&header, magic, MAX_RECORD).map_err(corrupt)?;
        let mut payload = RecordBuf::new();
        read_payload(file, offset, len, crc, &mut payload).map_err(corrupt)?;
        Ok(payload)
    }

    fn len_of(&self, number: u32) -> Result<u64, FilesError> {
        if number == self.tail.number {
            return Ok(self.tail.len);
        }
        let path = self.path(number);
        match std::fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Reads the record whose header is at `at` (or, at the end of a file
    /// that is not the last, the first of the next file) into `buf`.
    fn next_record(&mut self, mut at: FilePos, buf: &mut RecordBuf) -> Result<Next, FilesError> {
        loop {
            at.offset = at.offset.max(FILE_HEADER as u32);
            let len = self.len_of(at.file)?;
            let last = at.file >= self.tail.number;
            let offset = u64::from(at.offset);
            if offset < len {
                return match self.scan_one(at.file, offset, len, buf) {
                    Ok(next) => Ok(Next::Record {
                        pos: FilePos {
                            file: at.file,
                            offset: (offset + HEADER) as u32,
                        },
                        next: FilePos {
                            file: at.file,
                            offset: next as u32,
                        },
                    }),
                    Err(what) if last => Ok(Next::Torn { at, what }),
                    Err(what) => Err(FilesError::Corrupt {
                        path: self.path(at.file),
                        offset,
                        what: format!("{what} (in a file that is not the last)"),
                    }),
                };
            }
            if last {
                return Ok(Next::End(at));
            }
            at = FilePos {
                file: at.file + 1,
                offset: FILE_HEADER as u32,
            };
        }
    }

    /// Reads every record from `from` (a record header's position) on.
    fn scan(&mut self, from: FilePos, f: &mut RecordVisitor<'_>) -> Result<ScanEnd, FilesError> {
        let mut at = from;
        let mut buf = RecordBuf::new();
        loop {
            match self.next_record(at, &mut buf)? {
                Next::Record { pos, next } => {
                    f(pos, &buf)?;
                    at = next;
                }
                Next::End(end) => return Ok(ScanEnd::Clean { end }),
                Next::Torn { at, what } => return Ok(ScanEnd::TornTail { at, what }),
            }
        }
    }

    /// Reads the record at `offset` into `buf`; returns the next record's
    /// offset. A record is whole only with its padding: an append is one
    /// write of header, payload and padding, so a missing or non-zero pad
    /// is a torn write like a short payload.
    fn scan_one(
        &mut self,
        number: u32,
        offset: u64,
        len: u64,
        buf: &mut RecordBuf,
    ) -> Result<u64, String> {
        let magic = self.magic;
        if !offset.is_multiple_of(RECORD_ALIGN) {
            return Err(format!(
                "record at an offset that is not a multiple of {RECORD_ALIGN}"
            ));
        }
        if len - offset < HEADER {
            return Err(format!("{} bytes of a record header", len - offset));
        }
        let file = self.reader(number).map_err(|e| e.to_string())?;
        let mut header = [0u8; HEADER as usize];
        read_at(file, &mut header, offset).map_err(|e| e.to_string())?;
        let (rec_len, crc) = parse_record_header(&header, magic, MAX_RECORD)?;
        let end = offset + record_size(u64::from(rec_len));
        if end > len {
            return Err(format!(
                "record of {rec_len} bytes (padded to {}), but only {} remain",
                end - offset - HEADER,
                len - offset - HEADER
            ));
        }
        read_payload(file, offset + HEADER, rec_len, crc, buf)?;
        Ok(end)
    }

    /// Cuts the last file at `at`, dropping a torn record, and any later
    /// files.
    fn truncate(&mut self, at: FilePos) -> Result<(), FilesError> {
        let mut n = self.tail.number;
        while n > at.file {
            let path = self.path(n);
            std::fs::remove_file(&path).map_err(io_err(&path))?;
            n -= 1;
        }
        self.readers.clear();
        let keep = u64::from(at.offset).max(FILE_HEADER);
        let path = self.path(at.file);
        let file = open_append(&path)?;
        file.set_len(keep).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        self.tail = Appender {
            file,
            number: at.file,
            len: keep,
            dirty: false,
        };
        Ok(())
    }

    /// Where the next record will be appended (its header).
    fn end(&self) -> FilePos {
        FilePos {
            file: self.tail.number,
            offset: self.tail.len as u32,
        }
    }
}

/// Writes `parts` one after the other with as few `write` calls as the
/// kernel allows (usually one), without first copying them into one buffer.
fn write_all_vectored(file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
    let mut bufs: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
    let mut slices = &mut bufs[..];
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads the `len`-byte payload at `offset` and its padding into `buf` (one
/// read), checks that the padding is zeros and the payload's checksum is
/// `crc`, and leaves the payload in `buf`.
fn read_payload(
    file: &File,
    offset: u64,
    len: u32,
    crc: u32,
    buf: &mut RecordBuf,
) -> Result<(), String> {
    let len = len as usize;
    let padded = len + padding(len as u64) as usize;
    buf.clear();
    buf.resize(padded, 0);
    read_at(file, buf, offset).map_err(|e| e.to_string())?;
    if buf[len..].iter().any(|&b| b != 0) {
        return Err("padding after the record is not zero".into());
    }
    buf.resize(len, 0);
    if crc32fast::hash(buf) != crc {
        return Err("checksum mismatch".into());
    }
    Ok(())
}

fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

fn file_path(dir: &Path, kind: Kind, number: u32) -> PathBuf {
    dir.join(format!("{}{number:05}.dat", kind.prefix()))
}

fn open_append(path: &Path) -> Result<File, FilesError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(io_err(path))
}

fn sync_dir(dir: &Path) -> Result<(), FilesError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl BlockFiles {
    /// Opens (creating) the files in `dir`; `magic` is the network's message
    /// start, which begins every file and record. Files of another layout
    /// are refused ([`FilesError::OldFormat`]).
    pub fn open(dir: &Path, magic: [u8; 4]) -> Result<BlockFiles, FilesError> {
        Self::open_with(dir, magic, MAX_FILE_SIZE)
    }

    /// [`BlockFiles::open`] with another file size limit (tests).
    pub fn open_with(
        dir: &Path,
        magic: [u8; 4],
        max_file_size: u64,
    ) -> Result<BlockFiles, FilesError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let files = BlockFiles {
            blocks: Series::open(dir, Kind::Block, magic, max_file_size)?,
            undo: Series::open(dir, Kind::Undo, magic, max_file_size)?,
        };
        sync_dir(dir)?;
        Ok(files)
    }

    fn series(&mut self, kind: Kind) -> &mut Series {
        match kind {
            Kind::Block => &mut self.blocks,
            Kind::Undo => &mut self.undo,
        }
    }

    fn series_ref(&self, kind: Kind) -> &Series {
        match kind {
            Kind::Block => &self.blocks,
            Kind::Undo => &self.undo,
        }
    }

    /// Appends a record; it is durable after the next [`BlockFiles::sync`].
    /// Its payload lands at a 16-byte-aligned offset.
    pub fn append(&mut self, kind: Kind, payload: &[u8]) -> Result<FilePos, FilesError> {
        self.series(kind).append(payload)
    }

    /// Reads the record whose payload starts at `pos`, checking its
    /// checksum, into a 16-byte-aligned buffer.
    pub fn read(&mut self, kind: Kind, pos: FilePos) -> Result<RecordBuf, FilesError> {
        self.series(kind).read(pos)
    }

    /// A new read-only (`O_RDONLY`) handle on file `number` of `kind`, to
    /// hand to another process, which maps it and reads records in place.
    pub fn open_readonly(&self, kind: Kind, number: u32) -> Result<File, FilesError> {
        self.series_ref(kind).open_readonly(number)
    }

    /// Makes every append durable (one `fdatasync` per file written to).
    pub fn sync(&mut self) -> Result<(), FilesError> {
        self.blocks.sync()?;
        self.undo.sync()
    }

    /// Handles on the files being appended to, for a sync made without
    /// holding `self` ([`Chainstate::tail_files`](crate::chainstate::Chainstate::tail_files)):
    /// earlier files were synced when appends moved past them.
    pub fn tail_handles(&self) -> Result<Vec<File>, FilesError> {
        let mut out = Vec::with_capacity(2);
        for s in [&self.blocks, &self.undo] {
            let path = s.path(s.tail.number);
            out.push(s.tail.file.try_clone().map_err(io_err(&path))?);
        }
        Ok(out)
    }

    /// Whether appends are waiting for [`BlockFiles::sync`].
    pub fn dirty(&self) -> bool {
        self.blocks.tail.dirty || self.undo.tail.dirty
    }

    /// Where the next record of `kind` will be appended (its header).
    pub fn end(&self, kind: Kind) -> FilePos {
        self.series_ref(kind).end()
    }

    /// Where the first record of a file goes (its header), after the file
    /// header.
    pub fn first_record(file: u32) -> FilePos {
        FilePos {
            file,
            offset: FILE_HEADER as u32,
        }
    }

    /// Where the payload of the first record of a file starts.
    pub fn first_payload(file: u32) -> FilePos {
        FilePos {
            file,
            offset: (FILE_HEADER + HEADER) as u32,
        }
    }

    /// The length of file `number` of `kind` (0 if it does not exist).
    pub fn file_len(&self, kind: Kind, number: u32) -> Result<u64, FilesError> {
        self.series_ref(kind).len_of(number)
    }

    /// Calls `f(payload position, payload)` for every record of `kind` from
    /// the record header at `from` on, in order. A damaged record in the
    /// last file ends the scan ([`ScanEnd::TornTail`]); one in an earlier
    /// file is an error.
    pub fn scan(
        &mut self,
        kind: Kind,
        from: FilePos,
        f: &mut RecordVisitor<'_>,
    ) -> Result<ScanEnd, FilesError> {
        self.series(kind).scan(from, f)
    }

    /// Reads one record of `kind`, the one whose header is at `at`, into
    /// `buf`: for walking the files a record at a time (a reindex) without
    /// holding more than one block in memory.
    pub fn next_record(
        &mut self,
        kind: Kind,
        at: FilePos,
        buf: &mut RecordBuf,
    ) -> Result<Next, FilesError> {
        self.series(kind).next_record(at, buf)
    }

    /// Cuts the files of `kind` back to the record header at `at`.
    pub fn truncate(&mut self, kind: Kind, at: FilePos) -> Result<(), FilesError> {
        self.series(kind).truncate(at)
    }

    /// Total bytes in the files (for `size_on_disk`).
    pub fn size_on_disk(&self) -> u64 {
        let mut total = 0;
        for s in [&self.blocks, &self.undo] {
            for n in 0..=s.tail.number {
                total += s.len_of(n).unwrap_or(0);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom};

    const MAGIC: [u8; 4] = [0xfa, 0xbf, 0xb5, 0xda];

    fn payload(i: u32) -> Vec<u8> {
        (0..(100 + i * 37))
            .map(|j| (i.wrapping_mul(31) ^ j) as u8)
            .collect()
    }

    fn all(files: &mut BlockFiles) -> (Vec<(FilePos, Vec<u8>)>, ScanEnd) {
        let mut seen = Vec::new();
        let end = files
            .scan(Kind::Block, FilePos::default(), &mut |p, b| {
                assert!((b.as_ptr() as usize).is_multiple_of(RECORD_ALIGN as usize));
                seen.push((p, b.to_vec()));
                Ok(())
            })
            .unwrap();
        (seen, end)
    }

    #[test]
    fn append_read_reopen_and_roll_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut positions = Vec::new();
        {
            let mut f = BlockFiles::open_with(dir.path(), MAGIC, 1000).unwrap();
            for i in 0..20 {
                positions.push(f.append(Kind::Block, &payload(i)).unwrap());
            }
            f.sync().unwrap();
            assert!(!f.dirty());
        }
        assert!(positions.iter().any(|p| p.file > 0), "rolled over");
        assert!(positions
            .iter()
            .all(|p| u64::from(p.offset).is_multiple_of(RECORD_ALIGN)));
        assert_eq!(positions[0], BlockFiles::first_payload(0));
        let mut f = BlockFiles::open_with(dir.path(), MAGIC, 1000).unwrap();
        for (i, p) in positions.iter().enumerate() {
            let got = f.read(Kind::Block, *p).unwrap();
            assert_eq!(got.as_slice(), payload(i as u32));
            assert!((got.as_ptr() as usize).is_multiple_of(RECORD_ALIGN as usize));
        }
        let (seen, end) = all(&mut f);
        assert_eq!(seen.len(), 20);
        assert_eq!(
            seen.iter().map(|s| s.0).collect::<Vec<_>>(),
            positions,
            "the scan skips the padding and file headers"
        );
        assert!(matches!(end, ScanEnd::Clean { .. }));
        // Every file is whole records after its header.
        for n in 0..=positions.last().unwrap().file {
            assert!(f
                .file_len(Kind::Block, n)
                .unwrap()
                .is_multiple_of(RECORD_ALIGN));
        }
        // Appends continue after the last record.
        let p = f.append(Kind::Block, b"next").unwrap();
        assert!(p > *positions.last().unwrap());
        for bad in [3, 16, 40] {
            assert!(f
                .read(
                    Kind::Block,
                    FilePos {
                        file: 0,
                        offset: bad
                    }
                )
                .is_err());
        }
        assert!(f.read(Kind::Undo, positions[0]).is_err());
        assert!(f
            .append(Kind::Block, &vec![0; MAX_RECORD as usize + 1])
            .is_err());
        let ro = f.open_readonly(Kind::Block, 0).unwrap();
        let mut first = [0u8; 4];
        read_at(&ro, &mut first, 0).unwrap();
        assert_eq!(first, MAGIC);
        assert!(f.open_readonly(Kind::Block, 1000).is_err());
    }

    #[test]
    fn torn_tail_is_found_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = BlockFiles::open(dir.path(), MAGIC).unwrap();
        for i in 0..3 {
            f.append(Kind::Block, &payload(i)).unwrap();
        }
        f.sync().unwrap();
        let whole = f.end(Kind::Block);
        drop(f);
        let path = dir.path().join("blk00000.dat");
        let p = payload(3);
        let header = record_header(MAGIC, p.len() as u32, crc32fast::hash(&p));
        // A crash in the middle of the fourth append: its header and half
        // of its payload reached the file; then one where the payload is
        // whole but its padding is missing.
        for torn in [&p[..p.len() / 2], &p[..]] {
            assert!(!(p.len() as u64).is_multiple_of(RECORD_ALIGN));
            let mut file = OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(&header).unwrap();
            file.write_all(torn).unwrap();
            drop(file);
            let mut f = BlockFiles::open(dir.path(), MAGIC).unwrap();
            let (seen, end) = all(&mut f);
            assert_eq!(seen.len(), 3);
            let ScanEnd::TornTail { at, .. } = end else {
                panic!("expected a torn tail, got {end:?}");
            };
            assert_eq!(at, whole);
            f.truncate(Kind::Block, at).unwrap();
            assert_eq!(f.end(Kind::Block), whole);
        }
        let mut f = BlockFiles::open(dir.path(), MAGIC).unwrap();
        let again = f.append(Kind::Block, &payload(3)).unwrap();
        assert_eq!(f.read(Kind::Block, again).unwrap().as_slice(), payload(3));
        let (seen, end) = all(&mut f);
        assert_eq!(seen.len(), 4);
        assert!(matches!(end, ScanEnd::Clean { .. }));
    }

    #[test]
    fn an_unaligned_torn_undo_tail_is_padded_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = BlockFiles::open(dir.path(), MAGIC).unwrap();
        f.append(Kind::Undo, &payload(0)).unwrap();
        f.sync().unwrap();
        drop(f);
        let path = dir.path().join("rev00000.dat");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&MAGIC[..3]).unwrap();
        drop(file);
        let mut f = BlockFiles::open(dir.path(), MAGIC).unwrap();
        let p = f.append(Kind::Undo, &payload(1)).unwrap();
        assert!(u64::from(p.offset).is_multiple_of(RECORD_ALIGN));
        assert_eq!(f.read(Kind::Undo, p).unwrap().as_slice(), payload(1));
    }

    #[test]
    fn a_file_whose_header_was_cut_short_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        drop(BlockFiles::open(dir.path(), MAGIC).unwrap());
        let path = dir.path().join("blk00000.dat");
        // A crash while the file was being created: 5 header bytes.
        std::fs::write(&path, &file_header(MAGIC)[..5]).unwrap();
        let mut f = BlockFiles::open(dir.path(), MAGIC).unwrap();
        assert_eq!(f.end(Kind::Block), BlockFiles::first_record(0));
        let p = f.append(Kind::Block, &payload(0)).unwrap();
        assert_eq!(p, BlockFiles::first_payload(0));
        drop(f);
        // Five bytes that are not a header prefix are not overwritten.
        std::fs::write(&path, [1, 2, 3, 4, 5]).unwrap();
        let e = BlockFiles::open(dir.path(), MAGIC).err().unwrap();
        assert!(matches!(e, FilesError::BadFileHeader { .. }), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn old_format_and_foreign_files_are_refused() {
        // The old layout: `magic | len | crc | payload` from offset 0.
        let dir = tempfile::tempdir().unwrap();
        let p = payload(0);
        let mut old = MAGIC.to_vec();
        old.extend_from_slice(&(p.len() as u32).to_le_bytes());
        old.extend_from_slice(&crc32fast::hash(&p).to_le_bytes());
        old.extend_from_slice(&p);
        for name in ["blk00000.dat", "rev00000.dat"] {
            std::fs::write(dir.path().join(name), &old).unwrap();
        }
        let e = BlockFiles::open(dir.path(), MAGIC).err().unwrap();
        assert!(matches!(e, FilesError::OldFormat { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("older block-file format") && msg.contains("-datadir"),
            "{msg}"
        );
        // Untouched.
        assert_eq!(std::fs::read(dir.path().join("blk00000.dat")).unwrap(), old);

        // An old file that is not the last one is found too.
        let dir = tempfile::tempdir().unwrap();
        drop(BlockFiles::open(dir.path(), MAGIC).unwrap());
        std::fs::rename(
            dir.path().join("blk00000.dat"),
            dir.path().join("blk00001.dat"),
        )
        .unwrap();
        std::fs::write(dir.path().join("blk00000.dat"), &old).unwrap();
        let e = BlockFiles::open(dir.path(), MAGIC).err().unwrap();
        assert!(matches!(e, FilesError::OldFormat { .. }), "{e}");

        // Another network's files.
        let dir = tempfile::tempdir().unwrap();
        drop(BlockFiles::open(dir.path(), [1, 2, 3, 4]).unwrap());
        let e = BlockFiles::open(dir.path(), MAGIC).err().unwrap();
        assert!(matches!(e, FilesError::BadFileHeader { .. }), "{e}");
    }

    #[test]
    fn corruption_is_an_error_not_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = BlockFiles::open_with(dir.path(), MAGIC, 600).unwrap();
        let mut pos = Vec::new();
        for i in 0..6 {
            pos.push(f.append(Kind::Block, &payload(i)).unwrap());
        }
        f.sync().unwrap();
        drop(f);
        // Flip one payload byte of the first record of file 0.
        let path = dir.path().join("blk00000.dat");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        file.seek(SeekFrom::Start(u64::from(pos[0].offset) + 5))
            .unwrap();
        file.write_all(&[0xee]).unwrap();
        // And the last padding byte of the third (174 bytes, 2 of padding).
        assert_eq!(padding(payload(2).len() as u64), 2);
        file.seek(SeekFrom::Start(u64::from(pos[2].offset) + 175))
            .unwrap();
        file.write_all(&[0x01]).unwrap();
        drop(file);
        let mut f = BlockFiles::open_with(dir.path(), MAGIC, 600).unwrap();
        let e = f.read(Kind::Block, pos[0]).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        let e = f.read(Kind::Block, pos[2]).unwrap_err();
        assert!(e.to_string().contains("padding"), "{e}");
        assert_eq!(f.read(Kind::Block, pos[1]).unwrap().as_slice(), payload(1));
        // In a file that is not the last, a scan reports it as an error.
        assert!(pos.last().unwrap().file > 0);
        assert!(f
            .scan(Kind::Block, FilePos::default(), &mut |_, _| Ok(()))
            .is_err());
    }
}
