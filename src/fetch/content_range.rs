//! Parsing a `Content-Range` response header (RFC 9110 §14.4), strictly.

/// A parsed `Content-Range: bytes first-last/complete` with `end = last + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    /// First byte served.
    pub start: u64,
    /// One past the last byte served.
    pub end: u64,
    /// The complete length of the file, `None` for `*`.
    pub total: Option<u64>,
}

/// Parses `bytes first-last/complete` (or `/*`). Returns `None` for anything else, including the 416 form
/// `bytes */complete`, `last < first`, `last >= complete`, signs and overflow: a malformed header is never
/// half-trusted.
pub(crate) fn parse_content_range(value: &str) -> Option<ContentRange> {
    let value = value.trim();
    let (unit, rest) = value.split_once(' ')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (span, total) = rest.trim_start().split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let (start, last) = (digits(first)?, digits(last)?);
    let total = match total {
        "*" => None,
        t => Some(digits(t)?),
    };
    let end = last.checked_add(1)?;
    let fits = total.is_none_or(|t| end <= t);
    (start <= last && fits).then_some(ContentRange { start, end, total })
}

/// A non-empty run of ASCII digits as a `u64` (Rust's parser would also take a leading `+`).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_forms() {
        let cr = |start, end, total| Some(ContentRange { start, end, total });
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            cr(0, 100, Some(1000))
        );
        assert_eq!(parse_content_range(" Bytes 5-5/*"), cr(5, 6, None));
        assert_eq!(
            parse_content_range("bytes 0-999/1000"),
            cr(0, 1000, Some(1000))
        );
    }

    #[test]
    fn refuses_malformed_forms() {
        for bad in [
            "",
            "bytes",
            "bytes */1000",
            "items 0-1/2",
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes +0-1/2",
            "bytes 0-1/-2",
            "bytes 0-18446744073709551615/*",
            "bytes 0-1",
            "bytes a-b/c",
            "bytes -1/2",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }
}
