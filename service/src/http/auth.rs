//! HTTP Basic authentication against the cookie, `-rpcuser`/`-rpcpassword`
//! and `-rpcauth` entries (Core's `RPCAuthorized`).

use std::fmt;

use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use bitcoin::hex::DisplayHex;

use super::HttpError;

/// One accepted login.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A plain user and password (the cookie, or `-rpcuser`/`-rpcpassword`).
    Password {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// An `-rpcauth=user:salt$hmac` entry: HMAC-SHA256 with the salt as key
    /// over the password, in lower-case hex.
    Hashed {
        /// User name.
        user: String,
        /// The salt (used as given, as text).
        salt: String,
        /// The expected HMAC, hex.
        hmac: String,
    },
}

impl Credential {
    /// The user name.
    pub fn user(&self) -> &str {
        match self {
            Credential::Password { user, .. } | Credential::Hashed { user, .. } => user,
        }
    }

    fn accepts(&self, user: &[u8], password: &[u8]) -> bool {
        match self {
            Credential::Password {
                user: u,
                password: p,
            } => {
                // Both compared, no early exit on the user name.
                let user_ok = timing_resistant_equal(u.as_bytes(), user);
                let pass_ok = timing_resistant_equal(p.as_bytes(), password);
                user_ok & pass_ok
            }
            Credential::Hashed {
                user: u,
                salt,
                hmac,
            } => {
                if !timing_resistant_equal(u.as_bytes(), user) {
                    return false;
                }
                let computed = hmac_hex(salt.as_bytes(), password);
                timing_resistant_equal(computed.as_bytes(), hmac.as_bytes())
            }
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password { user, .. } => f
                .debug_struct("Password")
                .field("user", user)
                .finish_non_exhaustive(),
            Credential::Hashed { user, .. } => f
                .debug_struct("Hashed")
                .field("user", user)
                .finish_non_exhaustive(),
        }
    }
}

/// The set of accepted logins. Empty means every request is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// Accepted logins, tried in order.
    pub credentials: Vec<Credential>,
}

impl Auth {
    /// Adds a plain user and password.
    pub fn add_password(&mut self, user: &str, password: &str) {
        self.credentials.push(Credential::Password {
            user: user.to_string(),
            password: password.to_string(),
        });
    }

    /// Adds an `-rpcauth` value, `user:salt$hmac` (exactly one `:` and one
    /// `$` after it, as Core requires).
    pub fn add_rpcauth(&mut self, value: &str) -> Result<(), HttpError> {
        let bad = || HttpError::InvalidRpcAuth(value.to_string());
        let fields: Vec<&str> = value.split(':').collect();
        let [user, rest] = fields.as_slice() else {
            return Err(bad());
        };
        let salt_hmac: Vec<&str> = rest.split('$').collect();
        let [salt, hmac] = salt_hmac.as_slice() else {
            return Err(bad());
        };
        self.credentials.push(Credential::Hashed {
            user: user.to_string(),
            salt: salt.to_string(),
            hmac: hmac.to_string(),
        });
        Ok(())
    }

    /// Checks an `Authorization` header value; returns the user name if it
    /// is a valid `Basic` login.
    pub fn check_header(&self, header: &str) -> Option<String> {
        let encoded = header.strip_prefix("Basic ")?;
        let decoded = decode_base64(encoded.trim_matches(|c: char| " \x0c\n\r\t\x0b".contains(c)))?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let mut ok = false;
        for c in &self.credentials {
            ok |= c.accepts(user, password);
        }
        if ok {
            Some(String::from_utf8_lossy(user).into_owned())
        } else {
            None
        }
    }
}

/// HMAC-SHA256(key = salt, message = password) in lower-case hex, as in
/// Core's `share/rpcauth/rpcauth.py`.
pub fn hmac_hex(salt: &[u8], password: &[u8]) -> String {
    let mut engine = hmac::HmacEngine::<sha256::Hash>::new(salt);
    engine.input(password);
    hmac::Hmac::<sha256::Hash>::from_engine(engine)
        .to_byte_array()
        .to_lower_hex_string()
}

/// The `-rpcauth` value for a user, salt and password.
pub fn rpcauth_line(user: &str, salt: &str, password: &str) -> String {
    format!(
        "{user}:{salt}${}",
        hmac_hex(salt.as_bytes(), password.as_bytes())
    )
}

/// Core's `TimingResistantEqual`: the time depends on the lengths only.
pub fn timing_resistant_equal(a: &[u8], b: &[u8]) -> bool {
    if b.is_empty() {
        return a.is_empty();
    }
    let mut acc = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        acc |= usize::from(x ^ b[i % b.len()]);
    }
    acc == 0
}

/// Strict standard base64 with padding (Core's `DecodeBase64`).
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut t = s.as_bytes();
    for _ in 0..2 {
        if let Some(rest) = t.strip_suffix(b"=") {
            t = rest;
        }
    }
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut nbits = 0;
    for &c in t {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
            acc &= (1 << nbits) - 1;
        }
    }
    // Leftover bits must be fewer than one symbol and all zero.
    if nbits >= 6 || acc != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(decode_base64("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("YQ=").is_none());
        assert!(decode_base64("YR==").is_none());
        assert!(decode_base64("Y===").is_none());
        assert!(decode_base64("Y*==").is_none());
        assert!(decode_base64("é").is_none());
    }

    #[test]
    fn equal() {
        assert!(timing_resistant_equal(b"abc", b"abc"));
        assert!(!timing_resistant_equal(b"abc", b"abd"));
        assert!(!timing_resistant_equal(b"abc", b"abcabc"));
        assert!(!timing_resistant_equal(b"abcabc", b"abc"));
        assert!(!timing_resistant_equal(b"a", b""));
        assert!(timing_resistant_equal(b"", b""));
    }

    #[test]
    fn rpcauth() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut a = Auth::default();
        a.add_rpcauth("rt:somesalt$somehash").unwrap();
        assert!(a.add_rpcauth("rt:salthash").is_err());
        assert!(a.add_rpcauth("rt:s$h:x").is_err());
        assert!(a.add_rpcauth("rt:s$h$x").is_err());
        let line = rpcauth_line("alice", "0123abcd", "secret");
        let mut a = Auth::default();
        a.add_rpcauth(&line).unwrap();
        assert!(a.check_header("Basic YWxpY2U6c2VjcmV0").is_some()); // alice:secret
        assert!(a.check_header("Basic YWxpY2U6c2VjcmV1").is_none()); // alice:secreu
        assert!(a.check_header("basic YWxpY2U6c2VjcmV0").is_none());
        assert!(a.check_header("Basic !!!!").is_none());
    }
}
