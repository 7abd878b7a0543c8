//! The properties of am-dbg-proto's decoders of untrusted bytes, shared by the `cargo fuzz`
//! targets (nightly, coverage-guided) and the stable time-budgeted run in `tests/fuzz.rs`.

/// The server's request-frame decoder: any bytes decode or fail, never panic; a frame that
/// decodes re-encodes to bytes that decode again. An encoded push's batch decodes or fails
/// the same way.
pub fn decode_frame(data: &[u8]) {
    let Ok(frame) = am_dbg_proto::decode_request_frame(data) else { return };
    if let Ok(bytes) = am_dbg_proto::encode_request_frame(&frame) {
        assert!(am_dbg_proto::decode_request_frame(&bytes).is_ok(), "a re-encoded frame must decode");
    }
    if let tarpc::ClientMessage::Request(r) = &frame
        && let am_dbg_proto::DbgServiceRequest::PushEncoded { batch } = &r.message
    {
        let _ = batch.decode();
    }
}

/// The recording reader: any bytes give messages or an error; what it reads summarises
/// without a panic, and every message written as a line reads back the same.
pub fn read_recording(data: &[u8]) {
    let Ok(msgs) = am_dbg_proto::parse_recording(data, "fuzz") else { return };
    let _ = am_dbg_proto::Summary::from_messages(&msgs).to_string();
    for m in &msgs {
        let mut line = Vec::new();
        am_dbg_proto::write_json(m, &mut line);
        let again = am_dbg_proto::parse_recording(&line[..], "again").expect("a written line reads back");
        assert_eq!(again.as_slice(), std::slice::from_ref(m));
    }
}
