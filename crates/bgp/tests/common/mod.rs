//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// The 16-octet marker, in hex.
pub const MARKER: &str = "ffffffff ffffffff ffffffff ffffffff";

/// Bytes from hex written for people: whitespace is ignored, `#` starts a comment.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    (0..digits.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&digits[index..index + 2], 16).expect("hex digit"))
        .collect()
}

/// A whole message: the marker, then `rest` (length, type, body) in hex.
pub fn message(rest: &str) -> Vec<u8> {
    hex(&format!("{MARKER}\n{rest}"))
}

/// Lowercase hex without spaces, for readable assertion failures.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
