//! Writes a deterministic synthetic sharded checkpoint to disk.
//!
//! ```text
//! cargo run --release --example synth_checkpoint -- \
//!     --out /tmp/synth --layers 32 --layer-mib 16 --dtype f32 --shard-mib 200 --seed 1
//! ```
//!
//! Every element is `webvram::weights::synth::synth_value(seed, tensor, index)`, so a test can check any
//! value it loads without keeping the files.

// A native tool: it writes files. The wasm build of the examples (wasm-pack test builds them)
// gets an empty main.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
pub use native::main;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::path::Path;
    use std::process::ExitCode;

    use webvram::weights::synth::{SynthSpec, write_checkpoint};

    pub fn main() -> ExitCode {
        let (out, spec) = match SynthSpec::from_args(std::env::args().skip(1)) {
            Ok(parsed) => parsed,
            Err(message) => {
                eprintln!("synth_checkpoint: {message}");
                return ExitCode::from(2);
            }
        };
        match write_checkpoint(Path::new(&out), &spec) {
            Ok(checkpoint) => {
                for shard in checkpoint.shards() {
                    println!("{}\t{} bytes", shard.name(), shard.len());
                }
                if checkpoint.index_json().is_some() {
                    println!("model.safetensors.index.json");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("synth_checkpoint: writing {out}: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
