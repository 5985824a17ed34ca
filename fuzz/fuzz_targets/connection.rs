//! Fuzzes `eddy_http::fuzzing::connection`: arbitrary bytes, never a panic, split-invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    eddy_http::fuzzing::connection(data);
});
