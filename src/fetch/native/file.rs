//! Local files as a [`ByteSource`], answering the way an HTTP server would.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::time::UNIX_EPOCH;

use crate::fetch::source::{Body, ByteSource, ResponseMeta, SourceError};

/// Reads local files: `url` is a path (a `file://` prefix is stripped). Answers like a well-behaved HTTP
/// server — 200 with `Content-Length` for a whole file, 206 with `Content-Range` for a range (cut at the end
/// of the file), 416 for a range starting past the end, 404 for a missing file — and derives an `ETag`
/// from the file's length and modification time, so a file rewritten during a load is noticed.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSource;

impl FileSource {
    /// A file source.
    pub fn new() -> Self {
        FileSource
    }
}

/// The body of a [`FileSource`] response: the file, positioned and limited to the bytes served.
#[derive(Debug)]
pub struct FileBody {
    meta: ResponseMeta,
    file: Option<io::Take<File>>,
}

impl FileBody {
    /// A body-less answer with this status.
    fn status(status: u16, content_range: Option<String>) -> Self {
        let meta = ResponseMeta {
            status,
            content_length: Some(0),
            content_range,
            etag: None,
        };
        FileBody { meta, file: None }
    }
}

impl ByteSource for FileSource {
    type Body = FileBody;

    async fn open(&self, url: &str, range: Option<Range<u64>>) -> Result<FileBody, SourceError> {
        let path = url.strip_prefix("file://").unwrap_or(url);
        let refused = |e: io::Error| SourceError::Refused(format!("{path}: {e}"));
        let mut file = match File::open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(FileBody::status(404, None));
            }
            other => other.map_err(refused)?,
        };
        let stat = file.metadata().map_err(refused)?;
        if stat.is_dir() {
            return Ok(FileBody::status(404, None));
        }
        let len = stat.len();
        let modified = stat
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let etag = Some(format!(
            "\"{len:x}-{:x}\"",
            modified.map_or(0, |d| d.as_nanos())
        ));
        let (status, span, content_range) = match range {
            None => (200, 0..len, None),
            Some(r) if r.start >= len || r.start >= r.end => {
                return Ok(FileBody::status(416, Some(format!("bytes */{len}"))));
            }
            Some(r) => {
                let end = r.end.min(len);
                let served = format!("bytes {}-{}/{len}", r.start, end - 1);
                (206, r.start..end, Some(served))
            }
        };
        file.seek(SeekFrom::Start(span.start))
            .map_err(|e| SourceError::Network(format!("{path}: {e}")))?;
        let meta = ResponseMeta {
            status,
            content_length: Some(span.end - span.start),
            content_range,
            etag,
        };
        let file = Some(file.take(span.end - span.start));
        Ok(FileBody { meta, file })
    }
}

impl Body for FileBody {
    fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        loop {
            match file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other.map_err(|e| SourceError::Network(e.to_string())),
            }
        }
    }
}
