//! Fuzzes the safetensors header reader, the streaming assembler, the index parser and shard-name
//! resolution with the same input, checking invariants whenever an input is accepted:
//! - a streamed file we accept is accepted by the `safetensors` crate with the same tensors and bytes;
//! - the result does not depend on how the stream is chunked;
//! - a shard resolved under the strict policy stays in the index's folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webvram::weights::{ChecksumSink, FileStream, Header, Index, ShardPolicy, WeightsError, resolve_shard};

/// Streams `data` in chunks of `chunk` bytes.
fn stream(data: &[u8], chunk: usize, file_len: Option<u64>) -> Result<(Header, ChecksumSink), WeightsError> {
    let mut sink = ChecksumSink::default();
    let mut stream = FileStream::new("fuzz", file_len);
    for piece in data.chunks(chunk) {
        stream.feed(piece, &mut sink)?;
    }
    Ok((stream.finish(&mut sink)?, sink))
}

fuzz_target!(|data: &[u8]| {
    let chunk = data.len() % 17 + 1;
    let one = stream(data, chunk, None);
    let other = stream(data, usize::MAX, Some(data.len() as u64));
    match (&one, &other) {
        (Ok((header, sums)), Ok((header2, sums2))) => {
            assert_eq!(header, header2);
            assert_eq!(sums.sums(), sums2.sums());
            let theirs = safetensors::SafeTensors::deserialize(data).expect("safetensors refuses what we accept");
            assert_eq!(theirs.len(), header.tensors().len());
            for t in header.tensors() {
                let view = theirs.tensor(t.name()).expect("same names");
                let range = header.file_range(t.name()).expect("range");
                assert_eq!(&data[range.start as usize..range.end as usize], view.data());
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.code(), b.code()),
        _ => panic!("chunking changed the outcome: {one:?} vs {other:?}"),
    }
    let _ = Header::parse("fuzz", data, None);
    if let Ok(index) = Index::parse("https://h/m/model.safetensors.index.json", data, ShardPolicy::default()) {
        for shard in index.shards() {
            assert!(shard.url().starts_with("https://h/m/"));
            assert!(!shard.url()["https://h/m/".len()..].split('/').any(|s| s.is_empty() || s == ".."));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = resolve_shard("https://h/m/i.json", text, ShardPolicy { allow_external: true });
    }
});
