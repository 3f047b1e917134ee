//! Streaming tensor assembly: any chunking delivers the same tensors, pieces respect the limit, whole-tensor
//! buffering refuses oversized tensors, and stream-level errors surface through the sink's error type.
#![cfg(not(target_arch = "wasm32"))]

mod weights_support;

use webvram::weights::{
    Buffered, ChecksumSink, FileStream, TensorInfo, TensorSink, TensorStream, WeightsError,
    WordHash, read_header,
};
use weights_support::{entry, st_file, stream_file, valid_file};

/// Records every call, to check order and piece sizes.
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
    max_piece: usize,
    headers: usize,
}

impl TensorSink for Recorder {
    type Error = WeightsError;
    fn header(&mut self, _: &webvram::weights::Header) -> Result<(), WeightsError> {
        self.headers += 1;
        Ok(())
    }
    fn begin(&mut self, t: &TensorInfo) -> Result<(), WeightsError> {
        self.events.push(format!("begin {}", t.name()));
        Ok(())
    }
    fn chunk(&mut self, t: &TensorInfo, bytes: &[u8]) -> Result<(), WeightsError> {
        self.max_piece = self.max_piece.max(bytes.len());
        self.events
            .push(format!("chunk {} {}", t.name(), bytes.len()));
        Ok(())
    }
    fn end(&mut self, t: &TensorInfo) -> Result<(), WeightsError> {
        self.events.push(format!("end {}", t.name()));
        Ok(())
    }
}

/// A file with three tensors of 40, 0 and 24 bytes.
fn three() -> Vec<u8> {
    let json = format!(
        "{{{},{},{}}}",
        entry("x", "F32", &[10], 0, 40),
        entry("empty", "F32", &[0], 40, 40),
        entry("y", "I64", &[3], 40, 64)
    );
    st_file(&json, &(0..64).collect::<Vec<u8>>())
}

#[test]
fn every_chunking_gives_the_same_checksums() {
    let bytes = three();
    let (_, reference) = stream_file("c", &bytes, None, usize::MAX).expect("valid");
    assert_eq!(
        reference.sums()["x"],
        WordHash::hash(&(0..40).collect::<Vec<u8>>())
    );
    assert_eq!(reference.sums()["empty"], WordHash::hash(&[]));
    for chunk in 1..=bytes.len() {
        let (_, sums) = stream_file("c", &bytes, Some(bytes.len() as u64), chunk).expect("valid");
        assert_eq!(sums.sums(), reference.sums(), "chunk {chunk}");
    }
}

#[test]
fn events_are_ordered_and_pieces_bounded() {
    let bytes = three();
    let (header, at) = read_header("e", &bytes, None).expect("valid");
    let mut stream = TensorStream::new(header).with_piece_len(16);
    let mut rec = Recorder::default();
    stream.feed(&bytes[at..], &mut rec).expect("ok");
    assert_eq!(stream.position(), 64);
    stream.finish(&mut rec).expect("complete");
    assert_eq!(rec.headers, 1);
    assert_eq!(rec.max_piece, 16);
    let want = [
        "begin x",
        "chunk x 16",
        "chunk x 16",
        "chunk x 8",
        "end x",
        "begin empty",
        "end empty",
        "begin y",
        "chunk y 16",
        "chunk y 8",
        "end y",
    ];
    assert_eq!(rec.events, want);
}

#[test]
fn trailing_bytes_are_refused_at_once() {
    let bytes = [valid_file(), vec![1]].concat();
    let err = stream_file("t", &bytes, None, 4).expect_err("trailing");
    assert!(
        matches!(err, WeightsError::TrailingData { ref file, .. } if file == "t"),
        "{err}"
    );
}

#[test]
fn truncated_data_names_the_incomplete_tensor() {
    let bytes = three();
    let err = stream_file("t", &bytes[..bytes.len() - 30], None, 9).expect_err("truncated");
    let WeightsError::TruncatedData {
        tensor,
        expected,
        got,
        ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!((tensor.as_str(), expected - got), ("x", 30));
}

#[test]
fn file_stream_keeps_reporting_a_header_error() {
    let mut stream = FileStream::new("f", None);
    let mut sink = ChecksumSink::default();
    let bad = [u64::MAX.to_le_bytes().to_vec(), vec![0; 4]].concat();
    let first = stream.feed(&bad, &mut sink).expect_err("too large");
    assert_eq!(stream.feed(&[0], &mut sink), Err(first.clone()));
    assert!(stream.header().is_none());
    assert_eq!(stream.finish(&mut sink), Err(first));
}

#[test]
fn file_stream_exposes_header_once_read() {
    let bytes = valid_file();
    let mut stream = FileStream::new("f", None);
    let mut sink = ChecksumSink::default();
    stream
        .feed(&bytes[..bytes.len() - 1], &mut sink)
        .expect("ok");
    assert_eq!(stream.header().map(|h| h.tensors().len()), Some(2));
    assert_eq!(sink.sums().len(), 1, "a is complete, b is not");
}

#[test]
fn buffered_delivers_whole_tensors() {
    let bytes = three();
    let mut seen = Vec::new();
    let mut sink = Buffered::new(
        |t: &TensorInfo, b: &[u8]| -> Result<(), WeightsError> {
            seen.push((t.name().to_owned(), b.to_vec()));
            Ok(())
        },
        40,
    );
    let mut stream = FileStream::new("b", None);
    for piece in bytes.chunks(5) {
        stream.feed(piece, &mut sink).expect("ok");
    }
    stream.finish(&mut sink).expect("ok");
    drop(sink);
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].1, (0..40).collect::<Vec<u8>>());
    assert_eq!(seen[2].1, (40..64).collect::<Vec<u8>>());
}

#[test]
fn buffered_refuses_tensors_over_its_limit() {
    let bytes = three();
    let mut sink = Buffered::new(
        |_: &TensorInfo, _: &[u8]| -> Result<(), WeightsError> { Ok(()) },
        39,
    );
    let mut stream = FileStream::new("big", None);
    let err = stream.feed(&bytes, &mut sink).expect_err("x is 40 bytes");
    assert_eq!(
        err,
        WeightsError::TensorTooLarge {
            file: "big".into(),
            tensor: "x".into(),
            len: 40,
            limit: 39
        }
    );
    assert_eq!(err.code(), "tensor_too_large");
}

/// A sink with its own error type that absorbs stream errors.
#[derive(Debug, PartialEq)]
enum UploadError {
    Gpu(&'static str),
    Weights(WeightsError),
}

impl From<WeightsError> for UploadError {
    fn from(e: WeightsError) -> Self {
        UploadError::Weights(e)
    }
}

struct FailingUpload;

impl TensorSink for FailingUpload {
    type Error = UploadError;
    fn begin(&mut self, _: &TensorInfo) -> Result<(), UploadError> {
        Ok(())
    }
    fn chunk(&mut self, t: &TensorInfo, _: &[u8]) -> Result<(), UploadError> {
        if t.name() == "y" {
            Err(UploadError::Gpu("out of memory"))
        } else {
            Ok(())
        }
    }
    fn end(&mut self, _: &TensorInfo) -> Result<(), UploadError> {
        Ok(())
    }
}

#[test]
fn sink_errors_and_stream_errors_share_the_sink_error_type() {
    let bytes = three();
    let mut stream = FileStream::new("u", None);
    assert_eq!(
        stream.feed(&bytes, &mut FailingUpload),
        Err(UploadError::Gpu("out of memory"))
    );
    let mut stream = FileStream::new("u", None);
    let err = stream
        .feed(&[1, 2, 3], &mut FailingUpload)
        .and_then(|()| stream.finish(&mut FailingUpload));
    assert!(matches!(
        err,
        Err(UploadError::Weights(WeightsError::TruncatedLength {
            got: 3,
            ..
        }))
    ));
}

#[test]
fn sha256_sink_matches_known_digest() {
    let bytes = st_file(&format!("{{{}}}", entry("abc", "U8", &[3], 0, 3)), b"abc");
    let mut sink = webvram::weights::Sha256Sink::default();
    let mut stream = FileStream::new("s", None);
    stream.feed(&bytes, &mut sink).expect("ok");
    stream.finish(&mut sink).expect("ok");
    let hex: String = sink.sums()["abc"]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn word_hash_is_independent_of_how_the_input_is_split() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let whole = WordHash::hash(&bytes);
    for cut in [1, 3, 7, 8, 9, 500, 999] {
        let mut h = WordHash::new();
        for piece in bytes.chunks(cut) {
            h.update(piece);
        }
        assert_eq!(h.finish(), whole, "pieces of {cut}");
    }
    // Words, then the tail byte by byte: a different input order must give a different sum.
    assert_ne!(WordHash::hash(&bytes[..9]), WordHash::hash(&bytes[1..10]));
    assert_ne!(WordHash::hash(&[]), WordHash::hash(&[0]));
}
