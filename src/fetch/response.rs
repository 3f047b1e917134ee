//! Judging a response before reading its body: what its status means, and whether its lengths agree with
//! the request and with the file the safetensors header describes.
//!
//! One function decides this for every source, so a browser `fetch`, a file and the native HTTP client
//! are held to the same rules: 200 is the whole file (a server that ignores `Range`; the caller skips to
//! its offset), 206 must carry the range asked, lengths that contradict the header are refused before any
//! data byte is used, 404/416 are final, and 5xx/408/425/429 are worth retrying.

use std::ops::Range;

use crate::fetch::content_range::parse_content_range;
use crate::fetch::error::FetchError;
use crate::fetch::source::ResponseMeta;

/// How an attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Retrying cannot help: stop with this error.
    Fatal(FetchError),
    /// A retry may help.
    Retry(Retry),
}

impl From<FetchError> for Failure {
    fn from(error: FetchError) -> Self {
        Failure::Fatal(error)
    }
}

/// Why a retry may help; becomes the error once the retries are spent.
#[derive(Debug)]
pub(crate) enum Retry {
    /// No response arrived.
    Network(String),
    /// A 5xx, 408, 425 or 429 status.
    Status(u16),
    /// The body ended or broke at file offset `got`, before `expected`.
    Short { expected: u64, got: u64 },
}

/// What an accepted response will deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Served {
    /// Body bytes to discard before the offset asked (a 200 answer to a range request).
    pub skip: u64,
    /// File offset where the body ends, when known.
    pub end: Option<u64>,
    /// The whole file's length as the server states it (`Content-Range` total, or a 200's length).
    pub total: Option<u64>,
    /// Whether `end` is the server's own statement (`Content-Length`, `Content-Range`) rather than the
    /// header's expectation, in which case the body cannot run past it unnoticed.
    pub framed: bool,
}

/// Checks a response to a request for `asked` (`None`: the whole file) of a file whose length is
/// `file_len` when its header is already known.
pub(crate) fn check_response(
    url: &str,
    meta: &ResponseMeta,
    asked: Option<&Range<u64>>,
    file_len: Option<u64>,
) -> Result<Served, Failure> {
    match (meta.status, asked) {
        (200, _) => whole(url, meta, asked, file_len),
        (206, Some(asked)) => match meta.content_range.as_deref() {
            Some(raw) => partial(url, meta, raw, asked, file_len),
            None => partial_unlabelled(url, meta, asked, file_len),
        },
        (404 | 410, _) => Err(FetchError::NotFound { url: url.into() }.into()),
        (416, _) => {
            let asked = asked.cloned().unwrap_or(0..0);
            let (start, end) = (asked.start, asked.end);
            Err(FetchError::RangeNotSatisfiable {
                url: url.into(),
                start,
                end,
            }
            .into())
        }
        (408 | 425 | 429 | 500..=599, _) => Err(Failure::Retry(Retry::Status(meta.status))),
        (status, _) => Err(FetchError::Status {
            url: url.into(),
            status,
            attempts: 1,
        }
        .into()),
    }
}

/// A 200: the whole file, whatever was asked.
fn whole(
    url: &str,
    meta: &ResponseMeta,
    asked: Option<&Range<u64>>,
    file_len: Option<u64>,
) -> Result<Served, Failure> {
    let length = meta.content_length;
    agree(url, file_len, length)?;
    let skip = asked.map_or(0, |r| r.start);
    let end = length.or(file_len);
    if let Some(end) = end.filter(|&end| end < skip) {
        return Err(mismatch(url, skip, end));
    }
    Ok(Served {
        skip,
        end,
        total: length,
        framed: length.is_some(),
    })
}

/// A 206 with a `Content-Range`: it must be the range asked, or that range cut at the end of the file.
fn partial(
    url: &str,
    meta: &ResponseMeta,
    raw: &str,
    asked: &Range<u64>,
    file_len: Option<u64>,
) -> Result<Served, Failure> {
    let bad = || {
        Failure::Fatal(FetchError::BadContentRange {
            url: url.into(),
            start: asked.start,
            end: asked.end,
            content_range: raw.into(),
        })
    };
    let cr = parse_content_range(raw).ok_or_else(bad)?;
    agree(url, file_len, cr.total)?;
    let at_file_end = file_len.or(cr.total) == Some(cr.end) && cr.end < asked.end;
    if cr.start != asked.start || (cr.end != asked.end && !at_file_end) {
        return Err(bad());
    }
    let len = cr.end - cr.start;
    if let Some(got) = meta.content_length.filter(|&got| got != len) {
        return Err(mismatch(url, len, got));
    }
    Ok(Served {
        skip: 0,
        end: Some(cr.end),
        total: cr.total,
        framed: true,
    })
}

/// A 206 without `Content-Range` (a cross-origin response that does not expose it): trusted to hold the
/// range asked, with `Content-Length` checked against it.
fn partial_unlabelled(
    url: &str,
    meta: &ResponseMeta,
    asked: &Range<u64>,
    file_len: Option<u64>,
) -> Result<Served, Failure> {
    let end = file_len.map_or(asked.end, |f| f.min(asked.end));
    let want = end.saturating_sub(asked.start);
    let served = |end| Served {
        skip: 0,
        end,
        total: None,
        framed: meta.content_length.is_some(),
    };
    match meta.content_length {
        Some(got) if got > want || (file_len.is_some() && got != want) => {
            Err(mismatch(url, want, got))
        }
        Some(got) => Ok(served(Some(asked.start + got))),
        None => Ok(served(file_len.map(|_| end))),
    }
}

/// Two lengths, where both are known, must be equal.
fn agree(url: &str, expected: Option<u64>, got: Option<u64>) -> Result<(), Failure> {
    match (expected, got) {
        (Some(expected), Some(got)) if expected != got => Err(mismatch(url, expected, got)),
        _ => Ok(()),
    }
}

/// The error for a length that contradicts the header or the request.
fn mismatch(url: &str, expected: u64, got: u64) -> Failure {
    Failure::Fatal(FetchError::LengthMismatch {
        url: url.into(),
        expected,
        got,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(status: u16, length: Option<u64>, range: Option<&str>) -> ResponseMeta {
        ResponseMeta {
            status,
            content_length: length,
            content_range: range.map(str::to_owned),
            etag: None,
        }
    }

    fn kind(result: Result<Served, Failure>) -> String {
        match result {
            Ok(s) => format!("ok {:?} {:?} {:?} {}", s.skip, s.end, s.total, s.framed),
            Err(Failure::Fatal(e)) => e.kind().to_owned(),
            Err(Failure::Retry(r)) => format!("retry {r:?}"),
        }
    }

    #[test]
    fn statuses_are_classified() {
        let check = |status| {
            kind(check_response(
                "u",
                &meta(status, None, None),
                Some(&(0..8)),
                None,
            ))
        };
        assert_eq!(check(404), "not_found");
        assert_eq!(check(410), "not_found");
        assert_eq!(check(416), "range_not_satisfiable");
        assert_eq!(check(403), "status");
        assert_eq!(check(302), "status");
        for retried in [408, 425, 429, 500, 502, 503, 599] {
            assert_eq!(check(retried), format!("retry Status({retried})"));
        }
        let whole = check_response("u", &meta(206, Some(3), None), None, None);
        assert_eq!(kind(whole), "status", "a 206 to a request without Range");
    }

    #[test]
    fn a_200_is_the_whole_file_and_skips_to_the_offset() {
        let ok = |m, file_len| kind(check_response("u", &m, Some(&(100..200)), file_len));
        assert_eq!(
            ok(meta(200, Some(500), None), Some(500)),
            "ok 100 Some(500) Some(500) true"
        );
        assert_eq!(
            ok(meta(200, None, None), Some(500)),
            "ok 100 Some(500) None false"
        );
        assert_eq!(ok(meta(200, None, None), None), "ok 100 None None false");
        assert_eq!(ok(meta(200, Some(499), None), Some(500)), "length_mismatch");
        assert_eq!(ok(meta(200, Some(50), None), None), "length_mismatch");
    }

    #[test]
    fn a_206_must_carry_the_range_asked() {
        let ok = |cr, length, file_len| {
            kind(check_response(
                "u",
                &meta(206, length, Some(cr)),
                Some(&(100..200)),
                file_len,
            ))
        };
        assert_eq!(
            ok("bytes 100-199/500", Some(100), Some(500)),
            "ok 0 Some(200) Some(500) true"
        );
        assert_eq!(
            ok("bytes 100-199/*", None, None),
            "ok 0 Some(200) None true"
        );
        assert_eq!(
            ok("bytes 100-149/150", Some(50), None),
            "ok 0 Some(150) Some(150) true"
        );
        assert_eq!(ok("bytes 100-149/500", Some(50), None), "bad_content_range");
        assert_eq!(ok("bytes 0-199/500", Some(200), None), "bad_content_range");
        assert_eq!(
            ok("bytes 100-249/500", Some(150), None),
            "bad_content_range"
        );
        assert_eq!(
            ok("bytes 100-199/500", Some(100), Some(501)),
            "length_mismatch"
        );
        assert_eq!(
            ok("bytes 100-199/500", Some(99), Some(500)),
            "length_mismatch"
        );
        assert_eq!(ok("nonsense", Some(100), Some(500)), "bad_content_range");
    }

    #[test]
    fn a_206_without_content_range_is_trusted_by_its_length() {
        let ok = |length, file_len| {
            kind(check_response(
                "u",
                &meta(206, length, None),
                Some(&(100..200)),
                file_len,
            ))
        };
        assert_eq!(ok(Some(100), Some(500)), "ok 0 Some(200) None true");
        assert_eq!(ok(Some(50), Some(150)), "ok 0 Some(150) None true");
        assert_eq!(ok(Some(50), None), "ok 0 Some(150) None true");
        assert_eq!(ok(None, Some(500)), "ok 0 Some(200) None false");
        assert_eq!(ok(None, None), "ok 0 None None false");
        assert_eq!(ok(Some(99), Some(500)), "length_mismatch");
        assert_eq!(ok(Some(101), None), "length_mismatch");
    }
}
