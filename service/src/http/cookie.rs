//! The RPC authentication cookie (Core's `GenerateAuthCookie` /
//! `DeleteAuthCookie`).

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bitcoin::hex::DisplayHex;
use rand::TryRngCore;

use super::HttpError;

/// The user name of cookie logins.
pub const COOKIE_USER: &str = "__cookie__";

/// The default cookie file name, in the chain's directory.
pub const COOKIE_FILE: &str = ".cookie";

/// A cookie file written by this process: `__cookie__:<64 hex>`, mode 0600
/// from creation on. Removed by [`Cookie::remove`] or on drop.
pub struct Cookie {
    path: PathBuf,
    password: String,
    removed: bool,
}

impl Cookie {
    /// Writes a fresh cookie to `path` (through `path.tmp` and a rename, as
    /// Core does, so readers never see a partial file).
    pub fn create(path: &Path) -> Result<Cookie, HttpError> {
        let err = |source: io::Error| HttpError::Cookie {
            path: path.to_path_buf(),
            source,
        };
        let mut secret = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut secret)
            .map_err(|e| err(io::Error::other(e)))?;
        let password = secret.to_lower_hex_string();

        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let write = || -> io::Result<()> {
            let mut f = opts.open(&tmp)?;
            f.write_all(format!("{COOKIE_USER}:{password}").as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(err(e));
        }
        Ok(Cookie {
            path: path.to_path_buf(),
            password,
            removed: false,
        })
    }

    /// Where the cookie is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The user name (`__cookie__`).
    pub fn user(&self) -> &str {
        COOKIE_USER
    }

    /// The random password (64 hex digits).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The file's content, `__cookie__:<password>`.
    pub fn user_pass(&self) -> String {
        format!("{COOKIE_USER}:{}", self.password)
    }

    /// Deletes the file now.
    pub fn remove(mut self) -> io::Result<()> {
        self.removed = true;
        fs::remove_file(&self.path)
    }
}

impl Drop for Cookie {
    fn drop(&mut self) {
        if !self.removed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cookie")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
