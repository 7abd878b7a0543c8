//! Feeds arbitrary bytes to the server's request-frame decoder; it must return, never panic
//! or allocate without bound. A frame that decodes must re-encode and decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = am_dbg_proto::decode_request_frame(data)
        && let Ok(bytes) = am_dbg_proto::encode_request_frame(&frame)
    {
        let again = am_dbg_proto::decode_request_frame(&bytes);
        assert!(again.is_ok(), "a re-encoded frame must decode");
    }
});
