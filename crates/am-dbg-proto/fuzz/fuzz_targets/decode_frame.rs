//! Feeds arbitrary bytes to the server's request-frame decoder; it must return, never panic
//! or allocate without bound. A frame that decodes must re-encode and decode to the same value.
#![no_main]

#[path = "../props.rs"]
mod props;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| props::decode_frame(data));
