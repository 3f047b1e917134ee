//! The module's static constructors, run once in wasm.
//!
//! burn's GPU stack registers types through `inventory` (cubecl's IR casts to trait objects through
//! that registry), whose constructors wasm-ld collects into `__wasm_call_ctors`. With no explicit
//! call to it anywhere, wasm-ld treats the module as a command and wraps *every* export in a call:
//! each JS → wasm call (every method, every externref-table helper) re-ran them — about 75% of a
//! 2-token embed on the CPU path (28 ms → 7.5 ms without). Referencing it here stops the wrapping;
//! so the registry must then be filled before the GPU is first used, whoever instantiated the
//! module (the package's init, or a test runner that skips start functions).

/// Runs the static constructors the first time it is called; later calls do nothing.
pub(crate) fn run_static_constructors() {
    #[cfg(target_arch = "wasm32")]
    {
        unsafe extern "C" {
            fn __wasm_call_ctors();
        }
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: the linker's constructor list, run once (the `Once`); the constructors only
        // register statics.
        ONCE.call_once(|| unsafe { __wasm_call_ctors() });
    }
}
