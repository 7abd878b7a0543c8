//! gob streams over tokio I/O: length-prefixed messages in, decoded values out (type
//! definitions are consumed on the way), and one encoder per connection, as Go's net/rpc
//! keeps one per side.

use gobwire::{Decode, Decoder, Encode, Encoder, Progress};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::Error;

/// The largest gob message accepted: a schema or transition is far below it; anything
/// bigger is a broken or hostile peer.
pub(crate) const MAX_MESSAGE: usize = 64 << 20;

fn gob_err(context: &str, e: gobwire::Error) -> Error {
    Error::Decode(format!("gob {context}: {e}"))
}

/// Reads one gob message body (after its length prefix); `None` at a clean end of stream.
pub(crate) async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, Error> {
    let mut first = [0u8; 1];
    match r.read(&mut first).await {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(Error::io("gob read", e)),
    }
    let len = if first[0] < 0x80 {
        u64::from(first[0])
    } else {
        // a negated byte count, then that many big-endian bytes
        let n = (first[0] as i8).unsigned_abs() as usize;
        if n > 8 {
            return Err(Error::Decode("gob: message length out of range".into()));
        }
        let mut buf = [0u8; 8];
        r.read_exact(&mut buf[8 - n..]).await.map_err(|e| Error::io("gob read", e))?;
        u64::from_be_bytes(buf)
    };
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len == 0 || len > MAX_MESSAGE {
        return Err(Error::Decode(format!("gob: message of {len} bytes refused")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await.map_err(|e| Error::io("gob read", e))?;
    Ok(Some(body))
}

/// The receiving side of a gob stream.
#[derive(Default)]
pub(crate) struct GobReader {
    decoder: Decoder,
}

impl GobReader {
    /// Reads messages until a value is complete; `None` at a clean end of stream before one.
    async fn ready<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<bool, Error> {
        loop {
            let Some(body) = read_message(r).await? else { return Ok(false) };
            if self.decoder.push_message(&body).map_err(|e| gob_err("decode", e))? == Progress::Ready {
                return Ok(true);
            }
        }
    }

    /// The next value, decoded as `T`.
    pub(crate) async fn next<T: Decode + Default, R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Option<T>, Error> {
        if !self.ready(r).await? {
            return Ok(None);
        }
        self.decoder.decode().map(Some).map_err(|e| gob_err("decode", e))
    }

    /// Skips the next value, whatever its type; false at a clean end of stream.
    pub(crate) async fn skip<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<bool, Error> {
        if !self.ready(r).await? {
            return Ok(false);
        }
        self.decoder.discard().map_err(|e| gob_err("decode", e))?;
        Ok(true)
    }
}

/// The sending side of a gob stream: values are encoded into a buffer (type definitions
/// first, once per stream) and written with [`flush`](Self::flush).
#[derive(Default)]
pub(crate) struct GobWriter {
    encoder: Encoder,
    buf: Vec<u8>,
}

impl GobWriter {
    /// Encodes `value` into the buffer.
    pub(crate) fn push<T: Encode + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.encoder.encode_into(value, &mut self.buf).map_err(|e| gob_err("encode", e))
    }

    /// Writes what was pushed.
    pub(crate) async fn flush<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> Result<(), Error> {
        w.write_all(&self.buf).await.map_err(|e| Error::io("gob write", e))?;
        self.buf.clear();
        w.flush().await.map_err(|e| Error::io("gob write", e))
    }
}
