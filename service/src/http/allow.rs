//! `-rpcallowip`: which peers may talk to the RPC server (Core's
//! `CSubNet` as used by `InitHTTPAllowList`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::HttpError;

/// One allowed network: an address and a prefix length. IPv4-mapped IPv6
/// addresses are treated as IPv4, as Core does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AllowRule {
    network: IpAddr,
    prefix: u8,
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4, everything else unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    let all = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    if prefix == 0 {
        0
    } else {
        all & !((1u128 << (width - prefix)) - 1)
    }
}

impl AllowRule {
    /// The network `addr/prefix` (host bits cleared); `None` if the prefix
    /// is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<AllowRule> {
        let addr = canonical_ip(addr);
        let (value, width) = bits(addr);
        if prefix > width {
            return None;
        }
        let net = value & mask(prefix, width);
        let network = match addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(net as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(net)),
        };
        Some(AllowRule { network, prefix })
    }

    /// A single address.
    pub fn single(addr: IpAddr) -> AllowRule {
        let addr = canonical_ip(addr);
        AllowRule {
            network: addr,
            prefix: bits(addr).1,
        }
    }

    /// Parses Core's forms: `1.2.3.4`, `1.2.3.0/24`, `1.2.3.0/255.255.255.0`,
    /// `fe80::/10`, `[::1]`. Host names are not resolved.
    pub fn parse(s: &str) -> Result<AllowRule, HttpError> {
        let bad = || HttpError::InvalidAllowIp(s.to_string());
        let (addr_part, mask_part) = match s.rfind('/') {
            Some(pos) => (&s[..pos], Some(&s[pos + 1..])),
            None => (s, None),
        };
        let addr = parse_ip(addr_part).ok_or_else(bad)?;
        let Some(mask_part) = mask_part else {
            return Ok(AllowRule::single(addr));
        };
        let width = bits(addr).1;
        if !mask_part.is_empty() && mask_part.bytes().all(|b| b.is_ascii_digit()) {
            let prefix: u8 = mask_part.parse().map_err(|_| bad())?;
            return AllowRule::new(addr, prefix).ok_or_else(bad);
        }
        let netmask = parse_ip(mask_part).ok_or_else(bad)?;
        let (m, mwidth) = bits(netmask);
        if mwidth != width {
            return Err(bad());
        }
        let prefix = if width == 32 {
            (m as u32).leading_ones() as u8
        } else {
            m.leading_ones() as u8
        };
        if m != mask(prefix, width) {
            return Err(bad());
        }
        AllowRule::new(addr, prefix).ok_or_else(bad)
    }

    /// True if `ip` is in this network (IPv4 never matches an IPv6 rule).
    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        if ip.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        let (value, width) = bits(ip);
        let (net, _) = bits(self.network);
        value & mask(self.prefix, width) == net
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse::<IpAddr>().ok().map(canonical_ip)
}

impl FromStr for AllowRule {
    type Err = HttpError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AllowRule::parse(s)
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The rules Core always adds: 127.0.0.0/8 and ::1.
pub fn loopback_rules() -> [AllowRule; 2] {
    [
        AllowRule {
            network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
            prefix: 8,
        },
        AllowRule::single(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ]
}

/// True if `ip` may use the RPC server: loopback always, else any rule.
pub fn is_allowed(rules: &[AllowRule], ip: IpAddr) -> bool {
    loopback_rules().iter().chain(rules).any(|r| r.matches(ip))
}
