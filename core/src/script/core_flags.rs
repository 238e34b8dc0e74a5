//! Bitcoin Core's script verification flags by name, policy flags
//! included, as its test vectors write them ("P2SH,STRICTENC").
//!
//! The policy flags (STRICTENC, LOW_S, MINIMALDATA, CLEANSTACK,
//! DISCOURAGE_*, ...) are recognized, but the consensus library cannot
//! evaluate them: [`CoreFlags::consensus`] keeps the supported part and
//! [`CoreFlags::policy`] reports the rest.

use std::fmt;
use std::ops::{BitOr, Sub};

use super::flags::{write_names, VerifyFlags};

/// Every script verification flag Bitcoin Core names, consensus and policy,
/// with Core's bit values (`SCRIPT_VERIFY_*` in `script/interpreter.h`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CoreFlags(u32);

impl CoreFlags {
    pub const NONE: CoreFlags = CoreFlags(0);
    pub const P2SH: CoreFlags = CoreFlags(1 << 0);
    pub const STRICTENC: CoreFlags = CoreFlags(1 << 1);
    pub const DERSIG: CoreFlags = CoreFlags(1 << 2);
    pub const LOW_S: CoreFlags = CoreFlags(1 << 3);
    pub const NULLDUMMY: CoreFlags = CoreFlags(1 << 4);
    pub const SIGPUSHONLY: CoreFlags = CoreFlags(1 << 5);
    pub const MINIMALDATA: CoreFlags = CoreFlags(1 << 6);
    pub const DISCOURAGE_UPGRADABLE_NOPS: CoreFlags = CoreFlags(1 << 7);
    pub const CLEANSTACK: CoreFlags = CoreFlags(1 << 8);
    pub const CHECKLOCKTIMEVERIFY: CoreFlags = CoreFlags(1 << 9);
    pub const CHECKSEQUENCEVERIFY: CoreFlags = CoreFlags(1 << 10);
    pub const WITNESS: CoreFlags = CoreFlags(1 << 11);
    pub const DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM: CoreFlags = CoreFlags(1 << 12);
    pub const MINIMALIF: CoreFlags = CoreFlags(1 << 13);
    pub const NULLFAIL: CoreFlags = CoreFlags(1 << 14);
    pub const WITNESS_PUBKEYTYPE: CoreFlags = CoreFlags(1 << 15);
    pub const CONST_SCRIPTCODE: CoreFlags = CoreFlags(1 << 16);
    pub const TAPROOT: CoreFlags = CoreFlags(1 << 17);
    pub const DISCOURAGE_UPGRADABLE_TAPROOT_VERSION: CoreFlags = CoreFlags(1 << 18);
    pub const DISCOURAGE_OP_SUCCESS: CoreFlags = CoreFlags(1 << 19);
    pub const DISCOURAGE_UPGRADABLE_PUBKEYTYPE: CoreFlags = CoreFlags(1 << 20);

    /// Every flag, with Core's names, in bit order.
    pub const NAMED: [(&'static str, CoreFlags); 21] = [
        ("P2SH", Self::P2SH),
        ("STRICTENC", Self::STRICTENC),
        ("DERSIG", Self::DERSIG),
        ("LOW_S", Self::LOW_S),
        ("NULLDUMMY", Self::NULLDUMMY),
        ("SIGPUSHONLY", Self::SIGPUSHONLY),
        ("MINIMALDATA", Self::MINIMALDATA),
        (
            "DISCOURAGE_UPGRADABLE_NOPS",
            Self::DISCOURAGE_UPGRADABLE_NOPS,
        ),
        ("CLEANSTACK", Self::CLEANSTACK),
        ("CHECKLOCKTIMEVERIFY", Self::CHECKLOCKTIMEVERIFY),
        ("CHECKSEQUENCEVERIFY", Self::CHECKSEQUENCEVERIFY),
        ("WITNESS", Self::WITNESS),
        (
            "DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM",
            Self::DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM,
        ),
        ("MINIMALIF", Self::MINIMALIF),
        ("NULLFAIL", Self::NULLFAIL),
        ("WITNESS_PUBKEYTYPE", Self::WITNESS_PUBKEYTYPE),
        ("CONST_SCRIPTCODE", Self::CONST_SCRIPTCODE),
        ("TAPROOT", Self::TAPROOT),
        (
            "DISCOURAGE_UPGRADABLE_TAPROOT_VERSION",
            Self::DISCOURAGE_UPGRADABLE_TAPROOT_VERSION,
        ),
        ("DISCOURAGE_OP_SUCCESS", Self::DISCOURAGE_OP_SUCCESS),
        (
            "DISCOURAGE_UPGRADABLE_PUBKEYTYPE",
            Self::DISCOURAGE_UPGRADABLE_PUBKEYTYPE,
        ),
    ];

    /// Every named flag.
    pub const ALL: CoreFlags = {
        let mut bits = 0;
        let mut i = 0;
        while i < Self::NAMED.len() {
            bits |= Self::NAMED[i].1 .0;
            i += 1;
        }
        CoreFlags(bits)
    };

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn contains(self, other: CoreFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: CoreFlags) -> CoreFlags {
        CoreFlags(self.0 | other.0)
    }

    pub const fn difference(self, other: CoreFlags) -> CoreFlags {
        CoreFlags(self.0 & !other.0)
    }

    /// Parses Core's notation: names separated by commas; `""` and `"NONE"`
    /// are the empty set.
    pub fn parse(s: &str) -> Result<CoreFlags, FlagsError> {
        let mut flags = CoreFlags::NONE;
        for word in s.split(',') {
            let word = word.trim();
            if word.is_empty() || word == "NONE" {
                continue;
            }
            let (_, flag) = Self::NAMED
                .iter()
                .find(|(name, _)| *name == word)
                .ok_or_else(|| FlagsError::Unknown(word.to_owned()))?;
            flags = flags.union(*flag);
        }
        Ok(flags)
    }

    /// Adds the flags that others imply, as Core's tests do (`FillFlags`):
    /// CLEANSTACK needs WITNESS, WITNESS needs P2SH.
    pub const fn fill(self) -> CoreFlags {
        let mut flags = self;
        if flags.contains(Self::CLEANSTACK) {
            flags = flags.union(Self::WITNESS);
        }
        if flags.contains(Self::WITNESS) {
            flags = flags.union(Self::P2SH);
        }
        flags
    }

    /// Removes the flags whose prerequisite is missing (Core's
    /// `TrimFlags`): no WITNESS without P2SH, no CLEANSTACK without WITNESS.
    pub const fn trim(self) -> CoreFlags {
        let mut flags = self;
        if !flags.contains(Self::P2SH) {
            flags = flags.difference(Self::WITNESS);
        }
        if !flags.contains(Self::WITNESS) {
            flags = flags.difference(Self::CLEANSTACK);
        }
        flags
    }

    /// The part the consensus library evaluates.
    pub const fn consensus(self) -> VerifyFlags {
        match VerifyFlags::from_bits(self.0 & VerifyFlags::ALL.bits()) {
            Some(flags) => flags,
            None => unreachable!(),
        }
    }

    /// The policy flags: those the consensus library cannot evaluate.
    pub const fn policy(self) -> CoreFlags {
        CoreFlags(self.0 & !VerifyFlags::ALL.bits())
    }

    /// Whether every flag is one the consensus library evaluates.
    pub const fn is_consensus_only(self) -> bool {
        self.policy().is_empty()
    }

    /// The names of the flags in the set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .into_iter()
            .filter(move |(_, f)| self.contains(*f))
            .map(|(name, _)| name)
    }

    /// Each flag of the set on its own.
    pub fn iter(self) -> impl Iterator<Item = CoreFlags> {
        Self::NAMED
            .into_iter()
            .map(|(_, f)| f)
            .filter(move |f| self.contains(*f))
    }
}

impl From<VerifyFlags> for CoreFlags {
    fn from(flags: VerifyFlags) -> CoreFlags {
        CoreFlags(flags.bits())
    }
}

impl BitOr for CoreFlags {
    type Output = CoreFlags;
    fn bitor(self, rhs: CoreFlags) -> CoreFlags {
        self.union(rhs)
    }
}

impl Sub for CoreFlags {
    type Output = CoreFlags;
    fn sub(self, rhs: CoreFlags) -> CoreFlags {
        self.difference(rhs)
    }
}

impl fmt::Display for CoreFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_names(f, self.names())
    }
}

impl fmt::Debug for CoreFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CoreFlags({self})")
    }
}

impl std::str::FromStr for CoreFlags {
    type Err = FlagsError;
    fn from_str(s: &str) -> Result<CoreFlags, FlagsError> {
        CoreFlags::parse(s)
    }
}

/// A flag name that Bitcoin Core does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagsError {
    #[error("unknown script verification flag {0:?}")]
    Unknown(String),
}

// The consensus flags have the same bits in both sets (Core's values).
const _: () = {
    let mut i = 0;
    while i < VerifyFlags::NAMED.len() {
        let bits = VerifyFlags::NAMED[i].1.bits();
        assert!(CoreFlags::ALL.0 & bits == bits);
        i += 1;
    }
    assert!(CoreFlags::P2SH.0 == VerifyFlags::P2SH.bits());
    assert!(CoreFlags::DERSIG.0 == VerifyFlags::DERSIG.bits());
    assert!(CoreFlags::NULLDUMMY.0 == VerifyFlags::NULLDUMMY.bits());
    assert!(CoreFlags::CHECKLOCKTIMEVERIFY.0 == VerifyFlags::CHECKLOCKTIMEVERIFY.bits());
    assert!(CoreFlags::CHECKSEQUENCEVERIFY.0 == VerifyFlags::CHECKSEQUENCEVERIFY.bits());
    assert!(CoreFlags::WITNESS.0 == VerifyFlags::WITNESS.bits());
    assert!(CoreFlags::TAPROOT.0 == VerifyFlags::TAPROOT.bits());
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_split() {
        let f = CoreFlags::parse("P2SH,STRICTENC,WITNESS,CLEANSTACK").unwrap();
        assert_eq!(f.consensus(), VerifyFlags::P2SH | VerifyFlags::WITNESS);
        assert_eq!(f.policy(), CoreFlags::STRICTENC | CoreFlags::CLEANSTACK);
        assert!(!f.is_consensus_only());
        assert_eq!(f.to_string(), "P2SH,STRICTENC,CLEANSTACK,WITNESS");
        assert_eq!(CoreFlags::parse("").unwrap(), CoreFlags::NONE);
        assert_eq!(CoreFlags::parse("NONE").unwrap(), CoreFlags::NONE);
        assert_eq!(
            CoreFlags::parse("P2SH,BADTX"),
            Err(FlagsError::Unknown("BADTX".into()))
        );
        assert_eq!(CoreFlags::ALL.consensus(), VerifyFlags::ALL);
        assert_eq!(CoreFlags::from(VerifyFlags::ALL).policy(), CoreFlags::NONE);
    }

    #[test]
    fn fill_and_trim() {
        assert_eq!(
            CoreFlags::CLEANSTACK.fill(),
            CoreFlags::CLEANSTACK | CoreFlags::WITNESS | CoreFlags::P2SH
        );
        assert_eq!(
            (CoreFlags::CLEANSTACK | CoreFlags::WITNESS).trim(),
            CoreFlags::NONE
        );
    }
}
