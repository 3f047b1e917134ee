//! The synthetic checkpoint generator: deterministic, valid under our own parser, sharded like Hugging
//! Face, random-access consistent, and every element recomputable from (seed, name, index).
#![cfg(not(target_arch = "wasm32"))]

mod weights_support;

use std::collections::BTreeMap;

use webvram::weights::synth::{SynthSpec, synth_value, write_checkpoint};
use webvram::weights::{
    Buffered, Dtype, FileStream, Index, ShardPolicy, TensorInfo, WeightsError, to_f32_vec,
};

fn spec(dtype: Dtype) -> SynthSpec {
    // 5 layers of a [7, 16] weight + [16] bias; shards of at most 3 tensors' worth of F32 data.
    SynthSpec {
        layers: 5,
        layer_tensors: vec![("weight".into(), vec![7, 16]), ("bias".into(), vec![16])],
        dtype,
        max_shard_bytes: 1200,
        seed: 7,
    }
}

#[test]
fn values_are_exact_multiples_of_a_256th_in_range() {
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..10_000 {
        let v = synth_value(1, "t", i);
        assert!(
            (-1.0..1.0).contains(&v) && (v * 256.0).fract() == 0.0,
            "{v}"
        );
        assert_eq!(half::bf16::from_f32(v).to_f32(), v);
        assert_eq!(half::f16::from_f32(v).to_f32(), v);
        seen.insert((v * 256.0) as i32);
    }
    assert!(seen.len() > 500, "uses the whole range");
}

#[test]
fn every_element_streams_back_as_recomputed() {
    for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16] {
        let checkpoint = spec(dtype).plan().expect("valid spec");
        for shard in checkpoint.shards() {
            let bytes = shard.to_bytes();
            assert_eq!(bytes.len() as u64, shard.len());
            assert_eq!((8 + shard.header_len()) % 8, 0, "data is 8-byte aligned");
            let mut checked = 0;
            let mut sink = Buffered::new(
                |t: &TensorInfo, b: &[u8]| -> Result<(), WeightsError> {
                    let values = to_f32_vec(t.name(), t.dtype(), b)?;
                    for (i, v) in values.iter().enumerate() {
                        assert_eq!(*v, synth_value(7, t.name(), i as u64), "{} [{i}]", t.name());
                    }
                    checked += 1;
                    Ok(())
                },
                1 << 20,
            );
            let mut stream = FileStream::new(shard.name(), Some(shard.len()));
            for piece in bytes.chunks(13) {
                stream.feed(piece, &mut sink).expect("valid shard");
            }
            let header = stream.finish(&mut sink).expect("complete");
            drop(sink);
            assert_eq!(checked, header.tensors().len());
            assert!(header.tensors().iter().all(|t| t.dtype() == dtype));
            assert_eq!(header.metadata()["seed"], "7");
        }
    }
}

#[test]
fn shards_and_index_agree_and_cross_check() {
    let checkpoint = spec(Dtype::F32).plan().expect("valid");
    let names: Vec<_> = checkpoint
        .shards()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    let n = names.len();
    assert!(n > 1, "sharded");
    assert_eq!(names[0], format!("model-00001-of-{n:05}.safetensors"));
    for shard in checkpoint.shards() {
        assert!(shard.data_len() <= 1200 && !shard.is_empty());
    }
    let json = checkpoint.index_json().expect("sharded → index");
    let index = Index::parse(
        "http://127.0.0.1/m/model.safetensors.index.json",
        json.as_bytes(),
        ShardPolicy::default(),
    )
    .expect("valid index");
    assert_eq!(index.tensors().count(), 10);
    let total: u64 = checkpoint.shards().iter().map(|s| s.data_len()).sum();
    assert_eq!(index.total_size(), Some(total));
    let mut headers = BTreeMap::new();
    for shard in checkpoint.shards() {
        let bytes = shard.to_bytes();
        let (header, _) =
            webvram::weights::read_header(shard.name(), &bytes, Some(shard.len())).expect("valid");
        headers.insert(shard.name().to_owned(), header);
    }
    assert_eq!(index.cross_check(|s| headers.get(s.name())), Ok(()));
    assert_eq!(
        index.shards()[0].url(),
        format!("http://127.0.0.1/m/{}", names[0])
    );
}

#[test]
fn read_at_is_consistent_for_any_range() {
    let checkpoint = spec(Dtype::BF16).plan().expect("valid");
    let shard = &checkpoint.shards()[1];
    let whole = shard.to_bytes();
    for start in (0..whole.len()).step_by(7) {
        for len in [1, 2, 3, 5, 64] {
            let mut buf = vec![0u8; len];
            let n = shard.read_at(start as u64, &mut buf);
            let end = (start + len).min(whole.len());
            assert_eq!(&buf[..n], &whole[start..end], "{start}+{len}");
        }
    }
    assert_eq!(shard.read_at(shard.len(), &mut [0u8; 4]), 0);
    assert_eq!(shard.read_at(u64::MAX, &mut [0u8; 4]), 0);
}

#[test]
fn generation_is_deterministic_and_seed_sensitive() {
    let a = spec(Dtype::F16).plan().expect("valid");
    let b = spec(Dtype::F16).plan().expect("valid");
    let bytes = |c: &webvram::weights::synth::SynthCheckpoint| -> Vec<Vec<u8>> {
        c.shards().iter().map(|s| s.to_bytes()).collect()
    };
    assert_eq!(bytes(&a), bytes(&b));
    let c = SynthSpec {
        seed: 8,
        ..spec(Dtype::F16)
    }
    .plan()
    .expect("valid");
    assert_ne!(bytes(&a), bytes(&c));
}

#[test]
fn one_shard_means_no_index() {
    let checkpoint = SynthSpec::uniform(2, 4096, Dtype::F32, 1 << 30, 1)
        .plan()
        .expect("valid");
    assert_eq!(checkpoint.shards().len(), 1);
    assert_eq!(checkpoint.shards()[0].name(), "model.safetensors");
    assert!(checkpoint.index_json().is_none());
}

#[test]
fn uniform_layers_have_about_the_asked_size() {
    let s = SynthSpec::uniform(32, 16 << 20, Dtype::F32, 200 << 20, 1);
    assert_eq!(
        s.layer_tensors,
        vec![
            ("weight".into(), vec![2047, 2048]),
            ("bias".into(), vec![2048])
        ]
    );
    let checkpoint = s.plan().expect("valid");
    assert_eq!(
        checkpoint.shards().len(),
        3,
        "12 layers of 16 MiB per 200 MiB shard"
    );
    assert!(
        checkpoint.total_file_len() > 512 << 20,
        "planning a 512 MiB checkpoint allocates nothing big"
    );
}

#[test]
fn bad_specs_are_refused() {
    let bad = [
        SynthSpec {
            dtype: Dtype::I32,
            ..spec(Dtype::F32)
        },
        SynthSpec {
            layers: 0,
            ..spec(Dtype::F32)
        },
        SynthSpec {
            max_shard_bytes: 0,
            ..spec(Dtype::F32)
        },
        SynthSpec {
            layer_tensors: vec![("w".into(), vec![1]), ("w".into(), vec![2])],
            ..spec(Dtype::F32)
        },
        SynthSpec {
            layer_tensors: vec![("w".into(), vec![u64::MAX, 2])],
            ..spec(Dtype::F32)
        },
    ];
    for spec in bad {
        let err = spec.plan().expect_err("bad spec");
        assert_eq!(err.code(), "bad_synth_spec", "{err}");
    }
}

#[test]
fn cli_arguments_parse() {
    let args = "--out /tmp/x --layers 32 --layer-mib 16 --dtype bf16 --shard-mib 200 --seed 3";
    let (out, s) = SynthSpec::from_args(args.split(' ').map(String::from)).expect("valid");
    assert_eq!(
        (out.as_str(), s.layers, s.dtype, s.max_shard_bytes, s.seed),
        ("/tmp/x", 32, Dtype::BF16, 200 << 20, 3)
    );
    // --width gives the synthetic MLP's square layers, matching its own checkpoint spec.
    let args = "--out d --layers 5 --width 64 --seed 9";
    let (_, s) = SynthSpec::from_args(args.split(' ').map(String::from)).expect("valid");
    let mlp = webvram::exec::SynthMlp {
        layers: 5,
        width: 64,
        seed: 9,
    };
    let expected = mlp.checkpoint(Dtype::F32, 64 << 20);
    assert_eq!(
        (s.layers, &s.layer_tensors, s.seed),
        (5, &expected.layer_tensors, 9)
    );
    for bad in [
        "--out d --width 0",
        "--layers 3",
        "--out",
        "--out d --layers x",
        "--out d --dtype q8",
        "--out d --bogus 1",
        "--out d --layer-mib -1",
    ] {
        assert!(
            SynthSpec::from_args(bad.split(' ').map(String::from)).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn write_checkpoint_writes_files_that_match_the_plan() {
    let dir = std::env::temp_dir().join(format!("webvram-synth-test-{}", std::process::id()));
    let checkpoint = write_checkpoint(&dir, &spec(Dtype::F32)).expect("written");
    for shard in checkpoint.shards() {
        assert_eq!(
            std::fs::read(dir.join(shard.name())).expect("file"),
            shard.to_bytes()
        );
    }
    let index = std::fs::read_to_string(dir.join("model.safetensors.index.json")).expect("index");
    assert_eq!(Some(index.as_str()), checkpoint.index_json());
    let bad = SynthSpec {
        layers: 0,
        ..spec(Dtype::F32)
    };
    assert_eq!(
        write_checkpoint(&dir, &bad).map(drop).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::InvalidInput)
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
