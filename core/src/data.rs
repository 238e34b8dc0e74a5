//! Where the real blocks used by tests and benchmarks live: the folder named
//! by the environment variable `BITCOIN_TEST_DATA` (never copied into the
//! repository). Code that needs the data fails with instructions when the
//! variable is unset, so a test can't pass by silently skipping.

use std::path::{Path, PathBuf};

/// The environment variable naming the data folder.
pub const ENV: &str = "BITCOIN_TEST_DATA";

/// Mainnet block 413567 (pre-segwit, 1,557 transactions).
pub const BLOCK_413567: &str = "core/block413567.raw";
/// Mainnet block 702861 (segwit, 2,500 transactions).
pub const BLOCK_702861: &str = "rust-bitcoin/block702861.raw";

/// Why the data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "{ENV} is not set. Point it at the shared data folder, e.g. from the \
         repository root: `{ENV}=../shared/data cargo test` (on the project's \
         machines: {ENV}=/work/shared/data)"
    )]
    NotSet,
    #[error("{ENV} names {0}, which is not a folder")]
    NotAFolder(PathBuf),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The data folder. A relative path is taken from the current directory,
/// or else from the workspace root (`cargo test` runs in the package's
/// folder, one level down, while people write paths from the root).
pub fn dir() -> Result<PathBuf, DataError> {
    let value = std::env::var_os(ENV).ok_or(DataError::NotSet)?;
    let path = PathBuf::from(value);
    if path.is_dir() {
        return Ok(path);
    }
    if path.is_relative() {
        let from_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&path);
        if from_root.is_dir() {
            return Ok(from_root);
        }
    }
    Err(DataError::NotAFolder(path))
}

/// Reads a file of the data folder, e.g. [`BLOCK_702861`].
pub fn read(relative: &str) -> Result<Vec<u8>, DataError> {
    let path = dir()?.join(relative);
    std::fs::read(&path).map_err(|source| DataError::Read { path, source })
}

/// Reads a file of the data folder or panics with instructions: for tests
/// and benchmarks, which must fail, not skip, without their data.
pub fn require(relative: &str) -> Vec<u8> {
    read(relative).unwrap_or_else(|e| panic!("test data: {e}"))
}
