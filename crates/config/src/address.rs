//! Pool address entries: a CIDR (`203.0.113.0/24`, host bits masked) or a range
//! (`203.0.113.10-203.0.113.20`, spaces around the ends allowed), each turned into the minimal
//! list of CIDRs, as MetalLB's `ParseCIDR` does.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why an address entry was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error(
        "invalid CIDR {0:?}: write an address and a prefix length such as 203.0.113.0/24 or 2001:db8::/120, with no spaces"
    )]
    Cidr(String),
    #[error("invalid IP range {range:?}: invalid start IP {start:?}")]
    RangeStart { range: String, start: String },
    #[error("invalid IP range {range:?}: invalid end IP {end:?}")]
    RangeEnd { range: String, end: String },
    #[error("invalid IP range {range:?}: start IP {start} is after the end IP {end}")]
    RangeReversed {
        range: String,
        start: IpAddr,
        end: IpAddr,
    },
    #[error("invalid IP range {range:?}: start and end must both be IPv4 or both IPv6")]
    RangeMixedFamilies { range: String },
}

/// Parses one `spec.addresses` entry into CIDRs, in ascending order.
pub fn parse_entry(text: &str) -> Result<Vec<IpNet>, AddressError> {
    let Some((start_text, end_text)) = text.split_once('-') else {
        return parse_cidr(text).map(|net| vec![net]);
    };
    let range = || text.to_string();
    let start: IpAddr = start_text
        .trim()
        .parse()
        .map_err(|_| AddressError::RangeStart {
            range: range(),
            start: start_text.to_string(),
        })?;
    let end: IpAddr = end_text
        .trim()
        .parse()
        .map_err(|_| AddressError::RangeEnd {
            range: range(),
            end: end_text.to_string(),
        })?;
    match (start, end) {
        (IpAddr::V4(first), IpAddr::V4(last)) => {
            if first > last {
                return Err(AddressError::RangeReversed {
                    range: range(),
                    start,
                    end,
                });
            }
            Ok(summarize(
                u128::from(u32::from(first)),
                u128::from(u32::from(last)),
                32,
            )
            .into_iter()
            .map(|(base, length)| IpNet::V4(Ipv4Net::new_assert((base as u32).into(), length)))
            .collect())
        }
        (IpAddr::V6(first), IpAddr::V6(last)) => {
            if first > last {
                return Err(AddressError::RangeReversed {
                    range: range(),
                    start,
                    end,
                });
            }
            Ok(summarize(u128::from(first), u128::from(last), 128)
                .into_iter()
                .map(|(base, length)| IpNet::V6(Ipv6Net::new_assert(base.into(), length)))
                .collect())
        }
        _ => Err(AddressError::RangeMixedFamilies { range: range() }),
    }
}

/// A CIDR as Go's `net.ParseCIDR` reads it, with the host bits cleared.
fn parse_cidr(text: &str) -> Result<IpNet, AddressError> {
    let error = || AddressError::Cidr(text.to_string());
    let (address, length) = text.split_once('/').ok_or_else(error)?;
    if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) || length.len() > 3 {
        return Err(error());
    }
    let length: u8 = length.parse().map_err(|_| error())?;
    let address: IpAddr = address.parse().map_err(|_| error())?;
    IpNet::new(address, length)
        .map(|net| net.trunc())
        .map_err(|_| error())
}

/// The minimal list of aligned blocks covering `first..=last` in an address space of `bits`.
fn summarize(first: u128, last: u128, bits: u8) -> Vec<(u128, u8)> {
    let mut blocks = Vec::new();
    let mut current = first;
    loop {
        // Largest block aligned at `current` that does not pass `last`.
        let alignment = if current == 0 {
            u32::from(bits)
        } else {
            current.trailing_zeros().min(u32::from(bits))
        };
        let mut size_bits = alignment;
        while size_bits > 0 {
            let span = if size_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << size_bits) - 1
            };
            match current.checked_add(span) {
                Some(block_last) if block_last <= last => break,
                _ => size_bits -= 1,
            }
        }
        blocks.push((current, bits - size_bits as u8));
        let span = if size_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << size_bits) - 1
        };
        match current.checked_add(span).and_then(|end| end.checked_add(1)) {
            Some(next) if next <= last => current = next,
            _ => break,
        }
    }
    blocks
}

/// Whether two CIDRs overlap (one contains the other).
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(text: &str) -> Vec<String> {
        parse_entry(text)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn cidr_host_bits_are_masked() {
        assert_eq!(nets("10.0.0.5/24"), ["10.0.0.0/24"]);
        assert_eq!(nets("2001:db8::1/120"), ["2001:db8::/120"]);
    }

    #[test]
    fn range_splits_into_minimal_cidrs() {
        assert_eq!(
            nets("3.3.3.2-3.3.3.254"),
            [
                "3.3.3.2/31",
                "3.3.3.4/30",
                "3.3.3.8/29",
                "3.3.3.16/28",
                "3.3.3.32/27",
                "3.3.3.64/26",
                "3.3.3.128/26",
                "3.3.3.192/27",
                "3.3.3.224/28",
                "3.3.3.240/29",
                "3.3.3.248/30",
                "3.3.3.252/31",
                "3.3.3.254/32",
            ]
        );
        assert_eq!(nets("10.0.0.0-10.0.0.255"), ["10.0.0.0/24"]);
        assert_eq!(nets("10.0.0.7 - 10.0.0.7"), ["10.0.0.7/32"]);
        assert_eq!(nets("0.0.0.0-255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(nets("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ["::/0"]);
        assert_eq!(
            nets("2001:db8::1-2001:db8::2"),
            ["2001:db8::1/128", "2001:db8::2/128"]
        );
    }

    #[test]
    fn refuses_bad_entries() {
        for text in [
            "10.0.0.0/33",
            "10.0.0.0",
            " 10.0.0.0/24",
            "10.0.0.0/24 ",
            "2001:db8::/129",
            "x/8",
            "10.0.0.0/+8",
        ] {
            assert!(
                matches!(parse_entry(text), Err(AddressError::Cidr(_))),
                "{text}"
            );
        }
        assert!(matches!(
            parse_entry("10.0.0.9-10.0.0.1"),
            Err(AddressError::RangeReversed { .. })
        ));
        assert!(matches!(
            parse_entry("10.0.0.1-2001:db8::1"),
            Err(AddressError::RangeMixedFamilies { .. })
        ));
        assert!(matches!(
            parse_entry("x-10.0.0.1"),
            Err(AddressError::RangeStart { .. })
        ));
        assert!(matches!(
            parse_entry("10.0.0.1-y"),
            Err(AddressError::RangeEnd { .. })
        ));
    }
}
