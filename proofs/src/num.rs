//! Numbers in taglog's text formats: decimal ASCII, no sign, no leading zeros, at most 2⁶³−1.

/// The largest number any taglog text format carries (2⁶³−1).
pub const MAX_TEXT_NUMBER: u64 = i64::MAX as u64;

/// Parses a canonical decimal number.
///
/// # Errors
/// Returns `None` for an empty string, a sign, any non-digit, a leading zero (other than `0`
/// itself) or a value above [`MAX_TEXT_NUMBER`].
pub fn parse_decimal(s: &str) -> Option<u64> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > 19 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes.first() == Some(&b'0') {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    (v <= MAX_TEXT_NUMBER).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_numbers() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("7"), Some(7));
        assert_eq!(parse_decimal("9223372036854775807"), Some(MAX_TEXT_NUMBER));
        for bad in [
            "",
            "07",
            "+7",
            "-1",
            "9223372036854775808",
            "18446744073709551616",
            " 1",
            "1 ",
            "1_0",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
