//! Feeds arbitrary bytes to the recording reader (see `../props.rs`).
#![no_main]

#[path = "../props.rs"]
mod props;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| props::read_recording(data));
