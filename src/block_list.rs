//! Node's `net.BlockList`: rules that refuse addresses, shared by the
//! servers and sockets given it (`blockList` options). Cheap to clone: the
//! clones share one rule list, so rules added later apply everywhere.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorCode};

#[derive(Debug, Clone, Copy)]
enum Rule {
    Address(IpAddr),
    Range(IpAddr, IpAddr),
    Subnet(IpAddr, u8),
}

fn family(ip: &IpAddr) -> crate::tcp::Family {
    crate::tcp::Family::from(*ip)
}

fn bits(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(*v4).into(),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

impl Rule {
    fn matches(&self, ip: &IpAddr) -> bool {
        let same = |a: &IpAddr| a.is_ipv4() == ip.is_ipv4();
        match self {
            Rule::Address(a) => a == ip,
            Rule::Range(lo, hi) => same(lo) && bits(lo) <= bits(ip) && bits(ip) <= bits(hi),
            Rule::Subnet(net, prefix) => {
                if !same(net) {
                    return false;
                }
                let width = if net.is_ipv4() { 32 } else { 128 };
                let shift = width - u32::from(*prefix);
                shift >= width || bits(net) >> shift == bits(ip) >> shift
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Address(a) => write!(f, "Address: {} {a}", family(a)),
            Rule::Range(lo, hi) => write!(f, "Range: {} {lo}-{hi}", family(lo)),
            Rule::Subnet(net, p) => write!(f, "Subnet: {} {net}/{p}", family(net)),
        }
    }
}

/// A set of blocked addresses, ranges and subnets.
///
/// # Examples
///
/// ```
/// use std::net::IpAddr;
/// use nodenet::BlockList;
///
/// let blocked = BlockList::new();
/// blocked.add_address("10.0.0.1".parse().unwrap());
/// blocked.add_subnet("192.168.0.0".parse().unwrap(), 16)?;
/// assert!(blocked.check("192.168.4.2".parse().unwrap()));
/// assert!(blocked.check("::ffff:10.0.0.1".parse().unwrap())); // IPv4-mapped
/// assert!(!blocked.check("127.0.0.1".parse().unwrap()));
/// assert_eq!(blocked.rules()[0], "Subnet: IPv4 192.168.0.0/16");
/// # Ok::<(), nodenet::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct BlockList {
    rules: Arc<Mutex<Vec<Rule>>>,
}

/// Two block lists are equal when they are the same list (clones share
/// their rules, and a rule added through one is seen by all): identity,
/// not the rules at this moment, which may change.
impl PartialEq for BlockList {
    fn eq(&self, other: &BlockList) -> bool {
        Arc::ptr_eq(&self.rules, &other.rules)
    }
}

impl Eq for BlockList {}

impl fmt::Debug for BlockList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rules()).finish()
    }
}

impl BlockList {
    /// An empty list.
    pub fn new() -> BlockList {
        BlockList::default()
    }

    fn push(&self, rule: Rule) {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rule);
    }

    /// Blocks one address.
    pub fn add_address(&self, address: IpAddr) {
        self.push(Rule::Address(address));
    }

    /// Blocks `start..=end`.
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` when the two are of different families or
    /// `start` is after `end`.
    pub fn add_range(&self, start: IpAddr, end: IpAddr) -> Result<(), Error> {
        if start.is_ipv4() != end.is_ipv4() || bits(&start) > bits(&end) {
            return Err(Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                format!("The range {start}-{end} is not valid"),
            ));
        }
        self.push(Rule::Range(start, end));
        Ok(())
    }

    /// Blocks the subnet `network/prefix`.
    ///
    /// # Errors
    ///
    /// `ERR_OUT_OF_RANGE` for a prefix above 32 (IPv4) or 128 (IPv6).
    pub fn add_subnet(&self, network: IpAddr, prefix: u8) -> Result<(), Error> {
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(Error::new(
                ErrorCode::ERR_OUT_OF_RANGE,
                format!("The value of \"prefix\" is out of range. It must be >= 0 && <= {max}. Received {prefix}"),
            ));
        }
        self.push(Rule::Subnet(network, prefix));
        Ok(())
    }

    /// Whether `address` is blocked. An IPv4-mapped IPv6 address also
    /// matches IPv4 rules, as in Node.
    pub fn check(&self, address: IpAddr) -> bool {
        let mapped: Option<IpAddr> = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules
            .iter()
            .any(|r| r.matches(&address) || mapped.is_some_and(|m| r.matches(&m)))
    }

    /// The rules, newest first, in Node's words (`"Address: IPv4 1.2.3.4"`,
    /// `"Range: IPv4 a-b"`, `"Subnet: IPv6 x/64"`).
    pub fn rules(&self) -> Vec<String> {
        let rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules.iter().rev().map(Rule::to_string).collect()
    }
}

/// The error of a connection refused by a block list: `ERR_IP_BLOCKED`.
pub(crate) fn blocked(ip: IpAddr) -> Error {
    Error::new(
        ErrorCode::ERR_IP_BLOCKED,
        format!("IP({ip}) is blocked by net.BlockList"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_ranges_and_subnets() {
        let b = BlockList::new();
        b.add_address(ip("1.2.3.4"));
        b.add_range(ip("10.0.0.10"), ip("10.0.0.20")).unwrap();
        b.add_subnet(ip("2001:db8::"), 32).unwrap();
        assert!(b.check(ip("1.2.3.4")));
        assert!(!b.check(ip("1.2.3.5")));
        assert!(b.check(ip("10.0.0.10")) && b.check(ip("10.0.0.20")));
        assert!(!b.check(ip("10.0.0.21")));
        assert!(b.check(ip("2001:db8:ffff::1")));
        assert!(!b.check(ip("2001:db9::1")));
        assert!(
            b.check(ip("::ffff:10.0.0.15")),
            "IPv4-mapped matches IPv4 rules"
        );
        assert_eq!(
            b.rules(),
            [
                "Subnet: IPv6 2001:db8::/32",
                "Range: IPv4 10.0.0.10-10.0.0.20",
                "Address: IPv4 1.2.3.4"
            ]
        );
    }

    #[test]
    fn prefix_zero_blocks_the_family_and_bad_input_is_refused() {
        let b = BlockList::new();
        b.add_subnet(ip("0.0.0.0"), 0).unwrap();
        assert!(b.check(ip("8.8.8.8")));
        assert!(!b.check(ip("::1")));
        assert_eq!(
            b.add_subnet(ip("1.0.0.0"), 33).unwrap_err().code(),
            "ERR_OUT_OF_RANGE"
        );
        assert_eq!(
            b.add_range(ip("10.0.0.2"), ip("10.0.0.1"))
                .unwrap_err()
                .code(),
            "ERR_INVALID_ARG_VALUE"
        );
        assert!(b.add_range(ip("10.0.0.1"), ip("::1")).is_err());
    }

    #[test]
    fn clones_share_their_rules() {
        let a = BlockList::new();
        let b = a.clone();
        a.add_address(ip("127.0.0.2"));
        assert!(b.check(ip("127.0.0.2")));
    }
}
