//! Writes a tiny BERT sentence encoder (all-MiniLM-L6-v2's tokenizer, small pseudo-random
//! weights) for tests that run thousands of operations, such as the browser chaos test.
//!
//! ```sh
//! cargo run --example tiny_bert -- --out target/tmp/tiny-bert --hidden 32 --layers 4 --seed 1
//! ```
//!
//! `--shard-mib N` writes an index and shards of at most N MiB (`bench/bigmodel.mjs`: 6 GiB).

#[path = "../tests/support/tiny_bert.rs"]
mod tiny_bert;

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out = PathBuf::from("target/tmp/tiny-bert");
    let mut shard_mib = None;
    let mut minilm = PathBuf::from("www/models/all-MiniLM-L6-v2");
    let mut model = tiny_bert::TinyBert {
        hidden: 32,
        layers: 4,
        heads: 4,
        intermediate: 64,
        seed: 1,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || {
            value
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("{flag}: {value}"))
        };
        match flag.as_str() {
            "--out" => out = PathBuf::from(&value),
            "--minilm" => minilm = PathBuf::from(&value),
            "--hidden" => model.hidden = number(),
            "--layers" => model.layers = number(),
            "--heads" => model.heads = number(),
            "--intermediate" => model.intermediate = number(),
            "--seed" => model.seed = number() as u64,
            "--shard-mib" => shard_mib = Some(number() as u64),
            other => panic!("unknown flag {other}"),
        }
    }
    match shard_mib {
        Some(mib) => model.write_sharded(&minilm, &out, mib << 20),
        None => model.write(&minilm, &out),
    }
    println!("{}", out.display());
}
