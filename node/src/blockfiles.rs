//! Block and undo files: append-only files of records, the node's copy of
//! every block it has accepted and of the undo data that disconnects it.
//!
//! A record is `magic (4) | length (4, LE) | crc32 (4, LE) | payload`, in
//! `blk00000.dat`, `blk00001.dat`, ... (blocks) and `rev00000.dat`, ...
//! (undo), each file at most [`MAX_FILE_SIZE`]. The checksum is ours (Bitcoin
//! Core has none on blocks); it lets a scan tell a torn tail, left by a
//! crash in the middle of an append, from a complete record.
//!
//! The files are the node's durable log: a block is acknowledged only after
//! [`BlockFiles::sync`], and after a crash the node re-reads the records
//! appended since its database last flushed (see `chainstate`). The database
//! is never flushed ahead of the files.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Largest file before appends move on to the next (Core's
/// `MAX_BLOCKFILE_SIZE`).
pub const MAX_FILE_SIZE: u64 = 128 << 20;
/// Largest record payload accepted on read: a block can't exceed 4 MB of
/// weight, so its serialization can't exceed 4 MB.
pub const MAX_RECORD: u32 = 4_000_000 + 1_000_000;
const HEADER: u64 = 12;

/// What a scan calls for each record: its payload position and bytes.
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
    /// Byte offset of the payload (just after the record header).
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

impl Series {
    fn path(&self, number: u32) -> PathBuf {
        file_path(&self.dir, self.kind, number)
    }

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
        let path = file_path(dir, kind, number);
        let file = open_append(&path)?;
        let len = file.metadata().map_err(io_err(&path))?.len();
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
        if self.tail.len > 0 && self.tail.len + HEADER + u64::from(len) > self.max_file_size {
            self.roll()?;
        }
        let mut header = [0u8; HEADER as usize];
        header[..4].copy_from_slice(&self.magic);
        header[4..8].copy_from_slice(&len.to_le_bytes());
        header[8..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        let path = self.path(self.tail.number);
        write_all_vectored(&mut self.tail.file, &header, payload).map_err(io_err(&path))?;
        let pos = FilePos {
            file: self.tail.number,
            offset: (self.tail.len + HEADER) as u32,
        };
        self.tail.len += HEADER + payload.len() as u64;
        self.tail.dirty = true;
        Ok(pos)
    }

    /// Moves appends to a new file, syncing the finished one.
    fn roll(&mut self) -> Result<(), FilesError> {
        self.sync()?;
        let number = self.tail.number + 1;
        let path = self.path(number);
        self.tail = Appender {
            file: open_append(&path)?,
            number,
            len: 0,
            dirty: false,
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

    fn read(&mut self, pos: FilePos) -> Result<Vec<u8>, FilesError> {
        let path = self.path(pos.file);
        let magic = self.magic;
        let offset = u64::from(pos.offset);
        let corrupt = |what: String| FilesError::Corrupt {
            path: path.clone(),
            offset,
            what,
        };
        if offset < HEADER {
            return Err(corrupt("offset inside the file header".into()));
        }
        let file = self.reader(pos.file)?;
        let mut header = [0u8; HEADER as usize];
        read_at(file, &mut header, offset - HEADER).map_err(|e| corrupt(e.to_string()))?;
        let (len, crc) = parse_header(&header, magic).map_err(corrupt)?;
        let mut payload = vec![0u8; len as usize];
        read_at(file, &mut payload, offset).map_err(|e| corrupt(e.to_string()))?;
        if crc32fast::hash(&payload) != crc {
            return Err(corrupt("checksum mismatch".into()));
        }
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
    fn next_record(&mut self, mut at: FilePos, buf: &mut Vec<u8>) -> Result<Next, FilesError> {
        loop {
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
                offset: 0,
            };
        }
    }

    /// Reads every record from `from` (a record header's position) on.
    fn scan(&mut self, from: FilePos, f: &mut RecordVisitor<'_>) -> Result<ScanEnd, FilesError> {
        let mut at = from;
        let mut buf = Vec::new();
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

    /// Reads the record at `offset` into `buf`; returns the next offset.
    fn scan_one(
        &mut self,
        number: u32,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<u64, String> {
        let magic = self.magic;
        if len - offset < HEADER {
            return Err(format!("{} bytes of a record header", len - offset));
        }
        let file = self.reader(number).map_err(|e| e.to_string())?;
        let mut header = [0u8; HEADER as usize];
        read_at(file, &mut header, offset).map_err(|e| e.to_string())?;
        let (rec_len, crc) = parse_header(&header, magic)?;
        let end = offset + HEADER + u64::from(rec_len);
        if end > len {
            return Err(format!(
                "record of {rec_len} bytes, but only {} remain",
                len - offset - HEADER
            ));
        }
        buf.resize(rec_len as usize, 0);
        read_at(file, buf, offset + HEADER).map_err(|e| e.to_string())?;
        if crc32fast::hash(buf) != crc {
            return Err("checksum mismatch".into());
        }
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
        let path = self.path(at.file);
        let file = open_append(&path)?;
        file.set_len(u64::from(at.offset)).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        self.tail = Appender {
            file,
            number: at.file,
            len: u64::from(at.offset),
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

fn parse_header(header: &[u8; HEADER as usize], magic: [u8; 4]) -> Result<(u32, u32), String> {
    if header[..4] != magic {
        return Err(format!("bad magic {:02x?}", &header[..4]));
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD {
        return Err(format!("record length {len} is larger than any block"));
    }
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    Ok((len, crc))
}

/// Writes `header` then `payload` with as few `write` calls as the kernel
/// allows (usually one), without first copying them into one buffer.
fn write_all_vectored(file: &mut File, header: &[u8], payload: &[u8]) -> io::Result<()> {
    let mut bufs = [io::IoSlice::new(header), io::IoSlice::new(payload)];
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
    /// start, which begins every record.
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

    /// Appends a record; it is durable after the next [`BlockFiles::sync`].
    pub fn append(&mut self, kind: Kind, payload: &[u8]) -> Result<FilePos, FilesError> {
        self.series(kind).append(payload)
    }

    /// Reads the record whose payload starts at `pos`, checking its
    /// checksum.
    pub fn read(&mut self, kind: Kind, pos: FilePos) -> Result<Vec<u8>, FilesError> {
        self.series(kind).read(pos)
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
        match kind {
            Kind::Block => self.blocks.end(),
            Kind::Undo => self.undo.end(),
        }
    }

    /// The length of file `number` of `kind` (0 if it does not exist).
    pub fn file_len(&self, kind: Kind, number: u32) -> Result<u64, FilesError> {
        match kind {
            Kind::Block => self.blocks.len_of(number),
            Kind::Undo => self.undo.len_of(number),
        }
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
        buf: &mut Vec<u8>,
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
        let mut f = BlockFiles::open_with(dir.path(), MAGIC, 1000).unwrap();
        for (i, p) in positions.iter().enumerate() {
            assert_eq!(f.read(Kind::Block, *p).unwrap(), payload(i as u32));
        }
        let (seen, end) = all(&mut f);
        assert_eq!(seen.len(), 20);
        assert!(matches!(end, ScanEnd::Clean { .. }));
        // Appends continue after the last record.
        let p = f.append(Kind::Block, b"next").unwrap();
        assert!(p > *positions.last().unwrap());
        assert!(f.read(Kind::Block, FilePos { file: 0, offset: 3 }).is_err());
        assert!(f.read(Kind::Undo, positions[0]).is_err());
        assert!(f
            .append(Kind::Block, &vec![0; MAX_RECORD as usize + 1])
            .is_err());
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
        // A crash in the middle of the fourth append: its header and half
        // of its payload reached the file.
        let path = dir.path().join("blk00000.dat");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        let p = payload(3);
        file.write_all(&MAGIC).unwrap();
        file.write_all(&(p.len() as u32).to_le_bytes()).unwrap();
        file.write_all(&crc32fast::hash(&p).to_le_bytes()).unwrap();
        file.write_all(&p[..p.len() / 2]).unwrap();
        drop(file);
        let mut f = BlockFiles::open(dir.path(), MAGIC).unwrap();
        let (seen, end) = all(&mut f);
        assert_eq!(seen.len(), 3);
        let ScanEnd::TornTail { at, .. } = end else {
            panic!("expected a torn tail, got {end:?}");
        };
        assert_eq!(at, whole);
        f.truncate(Kind::Block, at).unwrap();
        let again = f.append(Kind::Block, &payload(3)).unwrap();
        assert_eq!(f.read(Kind::Block, again).unwrap(), payload(3));
        let (seen, end) = all(&mut f);
        assert_eq!(seen.len(), 4);
        assert!(matches!(end, ScanEnd::Clean { .. }));
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
        drop(file);
        let mut f = BlockFiles::open_with(dir.path(), MAGIC, 600).unwrap();
        let e = f.read(Kind::Block, pos[0]).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        assert_eq!(f.read(Kind::Block, pos[1]).unwrap(), payload(1));
        // In a file that is not the last, a scan reports it as an error.
        assert!(pos.last().unwrap().file > 0);
        assert!(f
            .scan(Kind::Block, FilePos::default(), &mut |_, _| Ok(()))
            .is_err());
    }
}
