//! Valid headers parse into the right `Header`, incrementally and in one go, and agree with the
//! `safetensors` crate on files it writes.
#![cfg(not(target_arch = "wasm32"))]

mod weights_support;

use safetensors::tensor::TensorView;
use webvram::weights::{
    Dtype, Header, HeaderReader, HeaderStep, MAX_HEADER_LEN, WeightsError, header_len, read_header,
};
use weights_support::{entry, st_file, stream_file, valid_file};

#[test]
fn valid_file_parses_with_every_accessor() {
    let bytes = valid_file();
    let (header, data_at) =
        read_header("v.safetensors", &bytes, Some(bytes.len() as u64)).expect("valid");
    assert_eq!(data_at as u64, header.data_start());
    assert_eq!(header.file(), "v.safetensors");
    assert_eq!(header.header_len() + 8, header.data_start());
    assert_eq!(header.data_len(), 14);
    assert_eq!(header.file_len(), bytes.len() as u64);
    assert_eq!(
        header.metadata().get("format").map(String::as_str),
        Some("pt")
    );
    let names: Vec<_> = header.tensors().iter().map(|t| t.name()).collect();
    assert_eq!(names, ["a", "b"]);
    let b = header.tensor("b").expect("b exists");
    assert_eq!(
        (b.dtype(), b.shape(), b.numel(), b.byte_len()),
        (Dtype::BF16, &[3u64][..], 3, 6)
    );
    assert_eq!(b.data_range(), 8..14);
    assert_eq!(
        header.file_range("b"),
        Some(header.data_start() + 8..header.data_start() + 14)
    );
    assert!(header.tensor("c").is_none() && header.file_range("c").is_none());
}

#[test]
fn json_order_need_not_match_offset_order() {
    let json = format!(
        "{{{},{}}}",
        entry("late", "F32", &[1], 4, 8),
        entry("early", "I32", &[1], 0, 4)
    );
    let bytes = st_file(&json, &[0; 8]);
    let (header, _) = read_header("u", &bytes, None).expect("unsorted JSON is valid");
    let names: Vec<_> = header.tensors().iter().map(|t| t.name()).collect();
    assert_eq!(names, ["early", "late"]);
}

#[test]
fn empty_and_zero_length_tensors_are_valid() {
    let (header, _) = read_header("e", &st_file("{}", &[]), Some(10)).expect("no tensors");
    assert!(header.tensors().is_empty() && header.data_len() == 0);
    let json = format!(
        "{{{},{},{}}}",
        entry("z1", "F32", &[0, 4], 0, 0),
        entry("x", "U8", &[2], 0, 2),
        entry("z2", "F16", &[3, 0], 2, 2)
    );
    let bytes = st_file(&json, &[1, 2]);
    let (header, sums) =
        stream_file("z", &bytes, Some(bytes.len() as u64), 1).expect("zero-length ok");
    assert_eq!(header.tensors().len(), 3);
    assert_eq!(
        sums.sums().len(),
        3,
        "zero-length tensors are delivered too"
    );
}

#[test]
fn scalars_padding_and_unknown_entry_keys_are_accepted() {
    let json =
        r#"{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8],"note":[1,{"x":2}]}}        "#;
    let (header, _) = read_header("s", &st_file(json, &[0; 8]), None).expect("valid");
    assert_eq!(header.tensor("s").map(|t| t.numel()), Some(1));
}

#[test]
fn every_supported_dtype_parses() {
    for dtype in Dtype::ALL {
        let size = dtype.size();
        let json = format!("{{{}}}", entry("t", dtype.name(), &[3], 0, 3 * size));
        let bytes = st_file(&json, &vec![0; 3 * size as usize]);
        let (header, _) = read_header("d", &bytes, Some(bytes.len() as u64)).expect("supported");
        assert_eq!(header.tensor("t").map(|t| t.dtype()), Some(dtype));
    }
}

#[test]
fn header_reader_works_byte_by_byte_and_reports_needs() {
    let bytes = valid_file();
    let mut reader = HeaderReader::new("b").with_file_len(Some(bytes.len() as u64));
    assert_eq!(reader.bytes_needed(), 8);
    for (i, byte) in bytes.iter().enumerate() {
        reader = match reader.push(std::slice::from_ref(byte)).expect("valid") {
            HeaderStep::NeedMore(r) => r,
            HeaderStep::Done { header, consumed } => {
                assert_eq!((i as u64 + 1, consumed), (header.data_start(), 1));
                return;
            }
        };
        if i == 7 {
            assert_eq!(reader.header_len(), Some(bytes.len() as u64 - 8 - 14));
        }
    }
    panic!("header never completed");
}

#[test]
fn header_reader_returns_leftover_data_position() {
    let bytes = valid_file();
    let (first, second) = bytes.split_at(5);
    let HeaderStep::NeedMore(reader) = HeaderReader::new("l").push(first).expect("ok") else {
        panic!()
    };
    let HeaderStep::Done { header, consumed } = reader.push(second).expect("ok") else {
        panic!()
    };
    assert_eq!(&second[consumed..], &bytes[header.data_start() as usize..]);
}

#[test]
fn header_len_reads_prefix_and_enforces_cap() {
    assert_eq!(header_len("p", 42u64.to_le_bytes(), None), Ok(42));
    assert_eq!(
        header_len("p", MAX_HEADER_LEN.to_le_bytes(), None),
        Ok(MAX_HEADER_LEN)
    );
    let err = header_len("p", (MAX_HEADER_LEN + 1).to_le_bytes(), None).expect_err("over cap");
    assert!(matches!(err, WeightsError::HeaderTooLarge { len, limit, .. } if len == limit + 1));
    let err = header_len("p", 42u64.to_le_bytes(), Some(49)).expect_err("file too short");
    assert!(matches!(
        err,
        WeightsError::TruncatedHeader {
            expected: 42,
            got: 41,
            ..
        }
    ));
}

#[test]
fn header_parse_rejects_oversized_json_directly() {
    let json = vec![b' '; MAX_HEADER_LEN as usize + 1];
    let err = Header::parse("big", &json, None).expect_err("over cap");
    assert_eq!(err.code(), "header_too_large");
}

#[test]
fn agrees_with_the_safetensors_crate_on_its_own_files() {
    let data: Vec<u8> = (0..=255).collect();
    let views = vec![
        (
            "w.f32",
            TensorView::new(safetensors::Dtype::F32, vec![4, 2], &data[..32]).expect("view"),
        ),
        (
            "w.bf16",
            TensorView::new(safetensors::Dtype::BF16, vec![3], &data[32..38]).expect("view"),
        ),
        (
            "w.e4m3",
            TensorView::new(safetensors::Dtype::F8_E4M3, vec![5, 1], &data[38..43]).expect("view"),
        ),
        (
            "w.bool",
            TensorView::new(safetensors::Dtype::BOOL, vec![0], &[]).expect("view"),
        ),
        (
            "w.i64",
            TensorView::new(safetensors::Dtype::I64, vec![1, 1, 2], &data[48..64]).expect("view"),
        ),
    ];
    let bytes = safetensors::serialize(views, None).expect("serialize");
    let theirs = safetensors::SafeTensors::deserialize(&bytes).expect("theirs");
    let (header, sums) = stream_file("st", &bytes, Some(bytes.len() as u64), 7).expect("ours");
    assert_eq!(header.tensors().len(), theirs.len());
    for (name, view) in theirs.tensors() {
        let t = header.tensor(&name).expect("same names");
        assert_eq!(safetensors::Dtype::from(t.dtype()), view.dtype());
        assert_eq!(
            t.shape().iter().map(|&d| d as usize).collect::<Vec<_>>(),
            view.shape()
        );
        let range = header.file_range(&name).expect("range");
        assert_eq!(
            &bytes[range.start as usize..range.end as usize],
            view.data()
        );
        assert_eq!(
            sums.sums()[&name],
            webvram::weights::WordHash::hash(view.data())
        );
    }
}
