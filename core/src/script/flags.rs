//! The consensus script verification flags: [`VerifyFlags`] is the set the
//! consensus library evaluates (P2SH, DERSIG, NULLDUMMY,
//! CHECKLOCKTIMEVERIFY, CHECKSEQUENCEVERIFY, WITNESS and TAPROOT) with the
//! bit values of `bitcoinconsensus` (which are Bitcoin Core's
//! `SCRIPT_VERIFY_*` bits), and [`regtest_flags`] the set Core enforces on
//! regtest. Core's flag names, policy flags included, are in
//! [`core_flags`](super::core_flags).

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not, Sub};

use bitcoinconsensus as lib;

/// A set of consensus script verification flags (the ones
/// `bitcoinconsensus` evaluates).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VerifyFlags(u32);

impl VerifyFlags {
    pub const NONE: VerifyFlags = VerifyFlags(lib::VERIFY_NONE);
    /// BIP16: evaluate P2SH redeem scripts.
    pub const P2SH: VerifyFlags = VerifyFlags(lib::VERIFY_P2SH);
    /// BIP66: strict DER signatures.
    pub const DERSIG: VerifyFlags = VerifyFlags(lib::VERIFY_DERSIG);
    /// BIP147: the CHECKMULTISIG dummy element must be empty.
    pub const NULLDUMMY: VerifyFlags = VerifyFlags(lib::VERIFY_NULLDUMMY);
    /// BIP65: OP_CHECKLOCKTIMEVERIFY.
    pub const CHECKLOCKTIMEVERIFY: VerifyFlags = VerifyFlags(lib::VERIFY_CHECKLOCKTIMEVERIFY);
    /// BIP112: OP_CHECKSEQUENCEVERIFY.
    pub const CHECKSEQUENCEVERIFY: VerifyFlags = VerifyFlags(lib::VERIFY_CHECKSEQUENCEVERIFY);
    /// BIP141/143: segwit v0 (requires [`P2SH`](Self::P2SH)).
    pub const WITNESS: VerifyFlags = VerifyFlags(lib::VERIFY_WITNESS);
    /// BIP341/342: taproot (needs every spent output to check signatures).
    pub const TAPROOT: VerifyFlags = VerifyFlags(lib::VERIFY_TAPROOT);
    /// Every flag above.
    pub const ALL: VerifyFlags = VerifyFlags(lib::VERIFY_ALL_PRE_TAPROOT | lib::VERIFY_TAPROOT);

    /// The flags with their names as Bitcoin Core spells them.
    pub const NAMED: [(&'static str, VerifyFlags); 7] = [
        ("P2SH", Self::P2SH),
        ("DERSIG", Self::DERSIG),
        ("NULLDUMMY", Self::NULLDUMMY),
        ("CHECKLOCKTIMEVERIFY", Self::CHECKLOCKTIMEVERIFY),
        ("CHECKSEQUENCEVERIFY", Self::CHECKSEQUENCEVERIFY),
        ("WITNESS", Self::WITNESS),
        ("TAPROOT", Self::TAPROOT),
    ];

    /// The bits, as `bitcoinconsensus` takes them.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The set with these bits, or `None` if a bit is not a consensus flag.
    pub const fn from_bits(bits: u32) -> Option<VerifyFlags> {
        if bits & !Self::ALL.0 == 0 {
            Some(VerifyFlags(bits))
        } else {
            None
        }
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn contains(self, other: VerifyFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: VerifyFlags) -> VerifyFlags {
        VerifyFlags(self.0 | other.0)
    }

    pub const fn intersection(self, other: VerifyFlags) -> VerifyFlags {
        VerifyFlags(self.0 & other.0)
    }

    pub const fn difference(self, other: VerifyFlags) -> VerifyFlags {
        VerifyFlags(self.0 & !other.0)
    }

    /// Whether the library can take this set: Core asserts (aborts) when
    /// WITNESS is set without P2SH, so [`verify`](super::verify) refuses it.
    pub const fn is_valid(self) -> bool {
        !self.contains(Self::WITNESS) || self.contains(Self::P2SH)
    }

    /// The names of the flags in the set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .into_iter()
            .filter(move |(_, f)| self.contains(*f))
            .map(|(name, _)| name)
    }
}

impl BitOr for VerifyFlags {
    type Output = VerifyFlags;
    fn bitor(self, rhs: VerifyFlags) -> VerifyFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for VerifyFlags {
    fn bitor_assign(&mut self, rhs: VerifyFlags) {
        *self = self.union(rhs);
    }
}

impl BitAnd for VerifyFlags {
    type Output = VerifyFlags;
    fn bitand(self, rhs: VerifyFlags) -> VerifyFlags {
        self.intersection(rhs)
    }
}

impl Sub for VerifyFlags {
    type Output = VerifyFlags;
    fn sub(self, rhs: VerifyFlags) -> VerifyFlags {
        self.difference(rhs)
    }
}

impl Not for VerifyFlags {
    type Output = VerifyFlags;
    /// The complement within [`ALL`](Self::ALL).
    fn not(self) -> VerifyFlags {
        Self::ALL.difference(self)
    }
}

impl fmt::Display for VerifyFlags {
    /// Core's notation: names joined by commas, `NONE` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_names(f, self.names())
    }
}

impl fmt::Debug for VerifyFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyFlags({self})")
    }
}

pub(super) fn write_names<'a>(
    f: &mut fmt::Formatter<'_>,
    names: impl Iterator<Item = &'a str>,
) -> fmt::Result {
    let mut any = false;
    for name in names {
        if any {
            f.write_str(",")?;
        }
        f.write_str(name)?;
        any = true;
    }
    if !any {
        f.write_str("NONE")?;
    }
    Ok(())
}

/// The flags Bitcoin Core enforces on **regtest** for a block at `height`,
/// with the default deployment heights (`GetBlockScriptFlags` with
/// `CRegTestParams`; no `-testactivationheight`):
///
/// - P2SH, WITNESS and TAPROOT always (Core keeps them on from genesis
///   except for two historical mainnet blocks; regtest has no exceptions);
/// - NULLDUMMY with segwit, active from height 0;
/// - DERSIG (BIP66), CHECKLOCKTIMEVERIFY (BIP65) and CHECKSEQUENCEVERIFY
///   (CSV) buried at height 1.
///
/// So every block after genesis gets [`VerifyFlags::ALL`]; the genesis
/// block's only transaction is a coinbase, whose script is never run.
pub const fn regtest_flags(height: u32) -> VerifyFlags {
    let always = VerifyFlags(
        VerifyFlags::P2SH.0
            | VerifyFlags::WITNESS.0
            | VerifyFlags::TAPROOT.0
            | VerifyFlags::NULLDUMMY.0,
    );
    if height >= 1 {
        VerifyFlags::ALL
    } else {
        always
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets() {
        assert_eq!(VerifyFlags::ALL.names().count(), 7);
        assert_eq!(VerifyFlags::NONE.to_string(), "NONE");
        assert_eq!(
            (VerifyFlags::WITNESS | VerifyFlags::P2SH).to_string(),
            "P2SH,WITNESS"
        );
        assert!(!VerifyFlags::WITNESS.is_valid());
        assert!((VerifyFlags::WITNESS | VerifyFlags::P2SH).is_valid());
        assert_eq!(VerifyFlags::from_bits(1 << 1), None);
        assert_eq!(!VerifyFlags::ALL, VerifyFlags::NONE);
    }

    #[test]
    fn regtest() {
        assert_eq!(regtest_flags(1), VerifyFlags::ALL);
        assert_eq!(regtest_flags(500_000), VerifyFlags::ALL);
        assert!(regtest_flags(0).contains(VerifyFlags::TAPROOT | VerifyFlags::WITNESS));
        assert!(!regtest_flags(0).contains(VerifyFlags::DERSIG));
    }
}
