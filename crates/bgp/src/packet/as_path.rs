//! AS_PATH and AS4_PATH (RFC 4271 §4.3 and §5.1.2, RFC 6793 §3, confederation segments from
//! RFC 5065 §3), AGGREGATOR and AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793 §3).
//!
//! An AS path is a sequence of segments:
//!
//! ```text
//! +-----------------+-----------------+------------------------------+
//! | Segment Type    | Segment Length  | Segment Value                |
//! | (1 octet)       | (1 octet, the   | (Segment Length AS numbers,  |
//! |                 |  number of ASes)|  2 or 4 octets each)         |
//! +-----------------+-----------------+------------------------------+
//! ```
//!
//! AS numbers take two octets in AS_PATH unless both speakers advertised the 4-octet AS
//! capability, and always four in AS4_PATH. Aggregator:
//!
//! ```text
//! +---------------------------------------+--------------------------+
//! | Last AS (2 octets, or 4 when 4-octet  | IP address (4 octets)    |
//! | AS is negotiated; AS4_AGGREGATOR: 4)  |                          |
//! +---------------------------------------+--------------------------+
//! ```

use std::fmt;
use std::net::Ipv4Addr;

use super::two_octet_as;
use super::wire::Reader;

/// Segment types (IANA "BGP AS_PATH Segment Types"). An unknown type makes the AS_PATH
/// malformed (RFC 7606 §7.2), so this registry is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentType {
    /// AS_SET (1): unordered, counts as one AS in the path length.
    Set,
    /// AS_SEQUENCE (2): ordered, nearest AS first.
    Sequence,
    /// AS_CONFED_SEQUENCE (3, RFC 5065).
    ConfederationSequence,
    /// AS_CONFED_SET (4, RFC 5065).
    ConfederationSet,
}

impl SegmentType {
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(SegmentType::Set),
            2 => Some(SegmentType::Sequence),
            3 => Some(SegmentType::ConfederationSequence),
            4 => Some(SegmentType::ConfederationSet),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            SegmentType::Set => 1,
            SegmentType::Sequence => 2,
            SegmentType::ConfederationSequence => 3,
            SegmentType::ConfederationSet => 4,
        }
    }

    pub fn is_confederation(self) -> bool {
        matches!(
            self,
            SegmentType::ConfederationSequence | SegmentType::ConfederationSet
        )
    }
}

/// One segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsPathSegment {
    pub segment_type: SegmentType,
    pub as_numbers: Vec<u32>,
}

/// An AS_PATH or AS4_PATH value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsPath {
    pub segments: Vec<AsPathSegment>,
}

/// Most AS numbers one segment can hold (the length field is one octet).
const SEGMENT_MAXIMUM: usize = u8::MAX as usize;

impl AsPath {
    /// The empty path (what a speaker sends to internal peers for its own routes).
    pub fn empty() -> Self {
        AsPath::default()
    }

    /// One AS_SEQUENCE (what a speaker sends to external peers: its own AS).
    pub fn sequence(as_numbers: impl Into<Vec<u32>>) -> Self {
        AsPath {
            segments: vec![AsPathSegment {
                segment_type: SegmentType::Sequence,
                as_numbers: as_numbers.into(),
            }],
        }
    }

    /// Path length for route selection (RFC 4271 §9.1.2.2 a): an AS_SET counts as one,
    /// confederation segments count as none (RFC 5065 §5.3).
    pub fn length(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| match segment.segment_type {
                SegmentType::Sequence => segment.as_numbers.len(),
                SegmentType::Set => 1,
                SegmentType::ConfederationSequence | SegmentType::ConfederationSet => 0,
            })
            .sum()
    }

    pub fn contains(&self, as_number: u32) -> bool {
        self.segments
            .iter()
            .any(|segment| segment.as_numbers.contains(&as_number))
    }

    /// The leftmost AS of a leading AS_SEQUENCE: the neighbor AS that RFC 4271 §6.3 lets a
    /// receiver compare with the external peer's AS.
    pub fn first_as(&self) -> Option<u32> {
        let first = self.segments.first()?;
        if first.segment_type != SegmentType::Sequence {
            return None;
        }
        first.as_numbers.first().copied()
    }

    pub fn has_confederation_segments(&self) -> bool {
        self.segments
            .iter()
            .any(|segment| segment.segment_type.is_confederation())
    }

    /// Writes the value. With two-octet AS numbers, those above 65535 are written as AS_TRANS
    /// (the caller adds the AS4_PATH RFC 6793 §4.2.2 asks for). Segments of more than 255 ASes
    /// are split into several of the same type; empty segments are skipped.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>, four_octet: bool) {
        for segment in &self.segments {
            for chunk in segment.as_numbers.chunks(SEGMENT_MAXIMUM) {
                buf.push(segment.segment_type.code());
                buf.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                for &as_number in chunk {
                    if four_octet {
                        buf.extend_from_slice(&as_number.to_be_bytes());
                    } else {
                        buf.extend_from_slice(&two_octet_as(as_number).to_be_bytes());
                    }
                }
            }
        }
    }

    /// Reads a value. Malformed (RFC 7606 §7.2): an unknown segment type, a segment that
    /// overruns the attribute, a single octet left over, or a segment of length zero.
    pub(crate) fn decode(bytes: &[u8], four_octet: bool) -> Result<Self, &'static str> {
        let width = if four_octet { 4 } else { 2 };
        let mut reader = Reader::new(bytes);
        let mut segments = Vec::new();
        while !reader.is_empty() {
            let (Some(type_code), Some(count)) = (reader.u8(), reader.u8()) else {
                return Err("one octet left after the last segment");
            };
            let segment_type = SegmentType::from_code(type_code).ok_or("unknown segment type")?;
            if count == 0 {
                return Err("segment of length zero");
            }
            let value = reader
                .take(usize::from(count) * width)
                .ok_or("segment overruns the attribute")?;
            let mut values = Reader::new(value);
            let mut as_numbers = Vec::with_capacity(usize::from(count));
            while !values.is_empty() {
                let as_number = if four_octet {
                    values.u32()
                } else {
                    values.u16().map(u32::from)
                };
                as_numbers.extend(as_number);
            }
            segments.push(AsPathSegment {
                segment_type,
                as_numbers,
            });
        }
        Ok(AsPath { segments })
    }
}

impl fmt::Display for AsPath {
    /// The usual notation: `65001 65002 {65003,65004} (65005)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for segment in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let numbers: Vec<String> = segment.as_numbers.iter().map(u32::to_string).collect();
            match segment.segment_type {
                SegmentType::Sequence => f.write_str(&numbers.join(" "))?,
                SegmentType::Set => write!(f, "{{{}}}", numbers.join(","))?,
                SegmentType::ConfederationSequence => write!(f, "({})", numbers.join(" "))?,
                SegmentType::ConfederationSet => write!(f, "[{}]", numbers.join(","))?,
            }
        }
        Ok(())
    }
}

/// AGGREGATOR or AS4_AGGREGATOR: the AS and BGP identifier of the speaker that aggregated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aggregator {
    pub as_number: u32,
    pub address: Ipv4Addr,
}

impl Aggregator {
    /// Writes the value; with two-octet AS numbers one above 65535 is written as AS_TRANS.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>, four_octet: bool) {
        if four_octet {
            buf.extend_from_slice(&self.as_number.to_be_bytes());
        } else {
            buf.extend_from_slice(&two_octet_as(self.as_number).to_be_bytes());
        }
        buf.extend_from_slice(&self.address.octets());
    }

    /// Reads a value of exactly 6 (two-octet AS) or 8 (four-octet AS) octets.
    pub(crate) fn decode(bytes: &[u8], four_octet: bool) -> Option<Self> {
        let mut reader = Reader::new(bytes);
        let as_number = if four_octet {
            reader.u32()?
        } else {
            u32::from(reader.u16()?)
        };
        let address = Ipv4Addr::from(reader.array::<4>()?);
        reader
            .is_empty()
            .then_some(Aggregator { as_number, address })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_octet_paths_write_as_trans_for_large_numbers() {
        let path = AsPath::sequence([65001, 4_200_000_000]);
        let mut buf = Vec::new();
        path.encode(&mut buf, false);
        assert_eq!(buf, [2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
        let mut buf = Vec::new();
        path.encode(&mut buf, true);
        assert_eq!(buf, [2, 2, 0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x00]);
        assert_eq!(AsPath::decode(&buf, true).unwrap(), path);
    }

    #[test]
    fn long_segments_are_split() {
        let path = AsPath::sequence((1..=300).collect::<Vec<u32>>());
        let mut buf = Vec::new();
        path.encode(&mut buf, true);
        let decoded = AsPath::decode(&buf, true).unwrap();
        assert_eq!(decoded.segments.len(), 2);
        assert_eq!(decoded.length(), 300);
    }

    #[test]
    fn malformed_paths_are_refused() {
        assert!(AsPath::decode(&[2], false).is_err(), "a single octet left");
        assert!(AsPath::decode(&[2, 0], false).is_err(), "length zero");
        assert!(
            AsPath::decode(&[5, 1, 0, 1], false).is_err(),
            "unknown type"
        );
        assert!(AsPath::decode(&[2, 2, 0, 1], false).is_err(), "overrun");
        assert!(AsPath::decode(&[], false).unwrap().segments.is_empty());
    }

    #[test]
    fn length_and_display_follow_the_segment_types() {
        let path = AsPath {
            segments: vec![
                AsPathSegment {
                    segment_type: SegmentType::ConfederationSequence,
                    as_numbers: vec![64512],
                },
                AsPathSegment {
                    segment_type: SegmentType::Sequence,
                    as_numbers: vec![65001, 65002],
                },
                AsPathSegment {
                    segment_type: SegmentType::Set,
                    as_numbers: vec![65003, 65004],
                },
            ],
        };
        assert_eq!(path.length(), 3);
        assert_eq!(path.to_string(), "(64512) 65001 65002 {65003,65004}");
        assert_eq!(path.first_as(), None);
        assert!(path.has_confederation_segments());
    }
}
