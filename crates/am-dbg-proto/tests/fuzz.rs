//! Stable-toolchain fuzzing of every decoder that reads untrusted bytes: request frames (also
//! mutated from valid ones), recordings, and `AM_DBG_ADDR`. The properties are the `cargo
//! fuzz` targets' (`fuzz/props.rs`); `AM_FUZZ_MS` sets the budget of each.

#[path = "../fuzz/props.rs"]
mod props;

use am_dbg_proto::{Batch, DbgMsg, DbgMsgTx, DbgServiceRequest, EncodedBatch, encode_request_frame};

#[test]
fn fuzz_frame_decoder() {
    let batch = Batch {
        messages: vec![DbgMsg::Tx(DbgMsgTx { machine_id: "m".into(), clocks: vec![1, 2], ..Default::default() })],
    };
    let frame = |message| {
        encode_request_frame(&tarpc::ClientMessage::Request(tarpc::Request {
            context: tarpc::context::current(),
            id: 7,
            message,
        }))
        .expect("encodes")
    };
    // a plain push, and the same batch as an encoded push (bincode inside bincode)
    let encoded = {
        use tarpc::tokio_serde::Serializer;
        let mut codec = tarpc::tokio_serde::formats::Bincode::<(), Batch>::default();
        EncodedBatch(std::pin::Pin::new(&mut codec).serialize(&batch).expect("encodes").to_vec())
    };
    assert_eq!(encoded.decode().expect("decodes"), batch);
    let valid = [frame(DbgServiceRequest::Push { batch }), frame(DbgServiceRequest::PushEncoded { batch: encoded })];
    am_testkit::fuzz("dbg frame decoder", |u| {
        let bytes: Vec<u8> = if u.ratio(1, 3)? {
            u.arbitrary()?
        } else {
            // a valid frame with some bytes flipped, cut, or grown
            let mut b = u.choose(&valid)?.clone();
            for _ in 0..u.int_in_range(1..=4)? {
                let i = u.choose_index(b.len())?;
                b[i] = u.arbitrary()?;
            }
            b.truncate(u.int_in_range(0..=b.len())?);
            b.extend(u.arbitrary::<Vec<u8>>()?);
            b
        };
        props::decode_frame(&bytes);
        Ok(())
    });
}

#[test]
fn fuzz_recording_reader() {
    const LINES: &[&str] = &[
        r#"{"Schema":{"ID":"m","StatesIndex":["A","Exception"],"States":{}}}"#,
        r#"{"Tx":{"MachineID":"m","Clocks":[1,0],"Seq":1}}"#,
        r#"{"Tx":{"MachineID":"m","Clocks":[3,9999999999],"Seq":9,"IsQueued":true}}"#,
        r#"{"Dropped":{"MachineID":"m","Count":5}}"#,
    ];
    am_testkit::fuzz("dbg recording reader", |u| {
        let mut data = Vec::new();
        for _ in 0..u.int_in_range(0..=6)? {
            if u.ratio(2, 3)? {
                let mut line = u.choose(LINES)?.as_bytes().to_vec();
                if u.ratio(1, 2)? && !line.is_empty() {
                    let i = u.choose_index(line.len())?;
                    line[i] = u.arbitrary()?;
                }
                data.extend(line);
            } else {
                data.extend(u.arbitrary::<Vec<u8>>()?);
            }
            data.push(b'\n');
        }
        props::read_recording(&data);
        Ok(())
    });
}

#[test]
fn fuzz_dbg_addr() {
    am_testkit::fuzz("AM_DBG_ADDR", |u| {
        let v: String = u.arbitrary()?;
        if let Ok(Some(addr)) = am_dbg_proto::expand_addr(&v) {
            assert_eq!(am_dbg_proto::expand_addr(&addr).ok().flatten().as_deref(), Some(addr.as_str()));
        }
        Ok(())
    });
}
