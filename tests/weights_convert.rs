//! dtype conversion: OFP8 tables written from the spec, half-precision and f64 widening, and chunk
//! boundaries anywhere (including inside an element).
#![cfg(not(target_arch = "wasm32"))]

use half::{bf16, f16};
use webvram::weights::{
    ConvertTarget, Converter, Dtype, WeightsError, e4m3fn_to_f32, e5m2_to_f32, to_f32_vec,
};

/// (byte, value) for OFP8 E4M3FN: bias 7, 3 mantissa bits, no infinities, NaN only at S.1111.111.
const E4M3FN: &[(u8, f32)] = &[
    (0x00, 0.0),
    (0x01, 1.0 / 512.0), // min subnormal 2^-9
    (0x07, 7.0 / 512.0), // max subnormal 7 × 2^-9
    (0x08, 1.0 / 64.0),  // min normal 2^-6
    (0x30, 0.5),
    (0x38, 1.0),
    (0x3c, 1.5),
    (0x40, 2.0),
    (0x78, 256.0), // exponent 1111 is still finite in E4M3FN
    (0x7d, 416.0),
    (0x7e, 448.0), // max normal
    (0x81, -1.0 / 512.0),
    (0xb8, -1.0),
    (0xfe, -448.0),
];

/// (byte, value) for OFP8 E5M2: bias 15, 2 mantissa bits, IEEE infinities and NaNs.
const E5M2: &[(u8, f32)] = &[
    (0x00, 0.0),
    (0x01, 1.0 / 65_536.0), // min subnormal 2^-16
    (0x03, 3.0 / 65_536.0), // max subnormal 3 × 2^-16
    (0x04, 1.0 / 16_384.0), // min normal 2^-14
    (0x3c, 1.0),
    (0x3e, 1.5),
    (0x40, 2.0),
    (0x7b, 57_344.0), // max normal
    (0x7c, f32::INFINITY),
    (0xc0, -2.0),
    (0xfb, -57_344.0),
    (0xfc, f32::NEG_INFINITY),
];

#[test]
fn e4m3fn_matches_the_spec_table() {
    for &(byte, want) in E4M3FN {
        assert_eq!(
            e4m3fn_to_f32(byte).to_bits(),
            want.to_bits(),
            "0x{byte:02x}"
        );
    }
    assert_eq!(e4m3fn_to_f32(0x80).to_bits(), (-0.0f32).to_bits());
    assert!(e4m3fn_to_f32(0x7f).is_nan() && e4m3fn_to_f32(0xff).is_nan());
    let nans = (0..=255u8).filter(|&b| e4m3fn_to_f32(b).is_nan()).count();
    let infs = (0..=255u8)
        .filter(|&b| e4m3fn_to_f32(b).is_infinite())
        .count();
    assert_eq!((nans, infs), (2, 0));
    let max = (0..=255u8)
        .map(e4m3fn_to_f32)
        .filter(|x| x.is_finite())
        .fold(0.0f32, f32::max);
    assert_eq!(max, 448.0);
}

#[test]
fn e5m2_matches_the_spec_table() {
    for &(byte, want) in E5M2 {
        assert_eq!(e5m2_to_f32(byte).to_bits(), want.to_bits(), "0x{byte:02x}");
    }
    assert_eq!(e5m2_to_f32(0x80).to_bits(), (-0.0f32).to_bits());
    for nan in [0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff] {
        assert!(e5m2_to_f32(nan).is_nan(), "0x{nan:02x}");
    }
    let nans = (0..=255u8).filter(|&b| e5m2_to_f32(b).is_nan()).count();
    assert_eq!(nans, 6);
}

#[test]
fn f8_values_are_monotonic_over_positive_codes() {
    for decode in [e4m3fn_to_f32 as fn(u8) -> f32, e5m2_to_f32] {
        let finite: Vec<f32> = (0..0x7fu8).map(decode).filter(|x| x.is_finite()).collect();
        assert!(finite.windows(2).all(|w| w[0] < w[1]));
    }
}

#[test]
fn whole_tensor_conversion_of_every_float_dtype() {
    let values = [0.0f32, 1.0, -2.5, 0.333_333_34, 65_504.0];
    let f32s: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(to_f32_vec("t", Dtype::F32, &f32s), Ok(values.to_vec()));
    let f64s: Vec<u8> = values
        .iter()
        .flat_map(|&v| f64::from(v).to_le_bytes())
        .collect();
    assert_eq!(to_f32_vec("t", Dtype::F64, &f64s), Ok(values.to_vec()));
    let f16s: Vec<u8> = values
        .iter()
        .flat_map(|&v| f16::from_f32(v).to_le_bytes())
        .collect();
    let want: Vec<f32> = values.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
    assert_eq!(to_f32_vec("t", Dtype::F16, &f16s), Ok(want));
    let bf16s: Vec<u8> = values
        .iter()
        .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
        .collect();
    let want: Vec<f32> = values.iter().map(|&v| bf16::from_f32(v).to_f32()).collect();
    assert_eq!(to_f32_vec("t", Dtype::BF16, &bf16s), Ok(want));
    assert_eq!(
        to_f32_vec("t", Dtype::F8_E4M3, &[0x38, 0xfe]),
        Ok(vec![1.0, -448.0])
    );
    assert_eq!(
        to_f32_vec("t", Dtype::F8_E5M2, &[0x3c, 0x7b]),
        Ok(vec![1.0, 57_344.0])
    );
}

#[test]
fn f64_overflow_becomes_infinity() {
    let bytes = [1e300f64, -1e300]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect::<Vec<_>>();
    assert_eq!(
        to_f32_vec("t", Dtype::F64, &bytes),
        Ok(vec![f32::INFINITY, f32::NEG_INFINITY])
    );
}

/// Converts `input` split at every pair of cut points and checks the output never changes.
fn check_all_splits(dtype: Dtype, target: ConvertTarget, input: &[u8]) {
    let mut reference = Vec::new();
    let mut c = Converter::new("t", dtype, target).expect("float");
    c.push(input, &mut reference);
    c.finish().expect("whole elements");
    for a in 0..=input.len() {
        for b in a..=input.len() {
            let mut out = Vec::new();
            let mut c = Converter::new("t", dtype, target).expect("float");
            for part in [&input[..a], &input[a..b], &input[b..]] {
                c.push(part, &mut out);
            }
            c.finish().expect("whole elements");
            assert_eq!(out, reference, "{dtype} split at {a},{b}");
        }
    }
}

#[test]
fn chunk_boundaries_inside_elements_do_not_matter() {
    let bytes: Vec<u8> = (0..24u8).map(|i| i.wrapping_mul(37)).collect();
    for dtype in [
        Dtype::F64,
        Dtype::F32,
        Dtype::F16,
        Dtype::BF16,
        Dtype::F8_E4M3,
        Dtype::F8_E5M2,
    ] {
        check_all_splits(dtype, ConvertTarget::F32, &bytes);
        check_all_splits(dtype, ConvertTarget::F16, &bytes);
    }
}

#[test]
fn f16_target_passes_f16_through_and_rounds_the_rest() {
    let f16_bits: Vec<u8> = vec![0x01, 0x7e, 0xff, 0x7f, 0x00, 0x3c]; // a NaN payload, NaN, 1.0
    let mut out = Vec::new();
    let mut c = Converter::new("t", Dtype::F16, ConvertTarget::F16).expect("float");
    c.push(&f16_bits, &mut out);
    assert_eq!(out, f16_bits, "byte-for-byte pass-through");
    let mut out = Vec::new();
    let mut c = Converter::new("t", Dtype::F32, ConvertTarget::F16).expect("float");
    c.push(
        &[1.0f32, 1e6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>(),
        &mut out,
    );
    assert_eq!(out, [0x00, 0x3c, 0x00, 0x7c], "1.0, then +inf on overflow");
    let mut out = Vec::new();
    let mut c = Converter::new("t", Dtype::F8_E4M3, ConvertTarget::F16).expect("float");
    c.push(&[0x7e], &mut out);
    assert_eq!(f16::from_le_bytes([out[0], out[1]]).to_f32(), 448.0);
}

#[test]
fn integer_dtypes_are_refused() {
    for dtype in [
        Dtype::I64,
        Dtype::I32,
        Dtype::I16,
        Dtype::I8,
        Dtype::U8,
        Dtype::BOOL,
    ] {
        let err = Converter::new("ids", dtype, ConvertTarget::F32).expect_err("not a float");
        assert_eq!(
            err,
            WeightsError::NotAFloat {
                tensor: "ids".into(),
                dtype
            }
        );
        assert_eq!(err.code(), "not_a_float");
    }
}

#[test]
fn a_partial_trailing_element_is_an_error() {
    let mut c = Converter::new("w", Dtype::BF16, ConvertTarget::F32).expect("float");
    let mut out = Vec::new();
    c.push(&[0, 0x3f, 0x80], &mut out);
    assert_eq!(out, 0.5f32.to_le_bytes());
    let err = c.finish().expect_err("one byte left");
    assert_eq!(
        err,
        WeightsError::PartialElement {
            tensor: "w".into(),
            dtype: Dtype::BF16,
            leftover: 1
        }
    );
    assert_eq!(
        to_f32_vec("w", Dtype::F32, &[0; 6]).map_err(|e| e.code()),
        Err("partial_element")
    );
}
