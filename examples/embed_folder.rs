//! The reference for `bench/bigmodel.mjs`: a sentence-embedding folder loaded natively on the CPU
//! path with no host cap (every layer in memory at once, which a native process can hold past
//! wasm32's 4 GiB), its embeddings printed as JSON (`{"vectors": [[...], ...]}`).
//!
//! ```sh
//! cargo run --example embed_folder -- target/tmp/bigmodel "first text" "second text"
//! ```

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use pollster::block_on;
    use webvram::fetch::{FileSource, LoadOptions};
    use webvram::policy::{Options, VramMode, WeightDtype};
    use webvram::{Runtime, RuntimeOptions};

    let mut args = std::env::args().skip(1);
    let folder = args.next().expect("usage: embed_folder FOLDER TEXT...");
    let texts: Vec<String> = args.collect();
    let options = RuntimeOptions {
        policy: Options {
            vram: VramMode::Cpu,
            host_budget: Some(u64::MAX / 2),
            weight_dtype: WeightDtype::F32,
            ..Options::default()
        },
        ..RuntimeOptions::default()
    };
    let mut rt = block_on(Runtime::create(options)).expect("runtime");
    let source = FileSource::new();
    let info =
        block_on(rt.load_model(&source, &folder, &LoadOptions::default(), |_| {})).expect("load");
    let report = block_on(rt.embed(info.id, &texts)).expect("embed");
    let vectors = serde_json::to_string(&report.vectors).expect("json");
    println!(r#"{{"vectors":{vectors}}}"#);
}
