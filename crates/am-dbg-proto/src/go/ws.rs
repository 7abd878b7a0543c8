//! The WebSocket variant of the Go protocol (`ws://host:port/dbg.ws`, spec §2.3): the same
//! gob byte stream in binary WebSocket messages, whose boundaries mean nothing. A client
//! handshake (RFC 6455), then two small bridge tasks turn the socket into a plain byte
//! stream (a [`DuplexStream`]) that the gob client reads and writes as it does a TCP
//! connection: client frames are masked, pings answered, a close frame ends the stream.

use std::hash::{BuildHasher, Hasher};

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::error::Error;

/// A few random bytes (handshake key, frame masks), without a random-number crate.
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Connects to `host:port`, upgrades `path` to a WebSocket, and returns the byte stream.
pub(crate) async fn connect(addr: &str, path: &str) -> Result<DuplexStream, Error> {
    let mut tcp = TcpStream::connect(addr).await.map_err(|e| Error::io(format!("connect to {addr}"), e))?;
    let _ = tcp.set_nodelay(true);
    let key = base64(&[random_u64().to_le_bytes(), random_u64().to_le_bytes()].concat());
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.map_err(|e| Error::io("WebSocket handshake", e))?;
    // the response head, byte by byte (it is short, and nothing after it may be consumed)
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            return Err(Error::Rpc("WebSocket handshake: response head too long".into()));
        }
        let b = tcp.read_u8().await.map_err(|e| Error::io("WebSocket handshake", e))?;
        head.push(b);
    }
    let status = String::from_utf8_lossy(&head);
    let first = status.lines().next().unwrap_or_default().to_string();
    if first.split_whitespace().nth(1) != Some("101") {
        return Err(Error::Rpc(format!("WebSocket handshake refused at ws://{addr}{path}: {first}")));
    }
    let (rd, wr) = tcp.into_split();
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (their_rd, their_wr) = tokio::io::split(theirs);
    let (pong_tx, pong_rx) = mpsc::channel(4);
    tokio::spawn(inbound(rd, their_wr, pong_tx));
    tokio::spawn(outbound(wr, their_rd, pong_rx));
    Ok(ours)
}

/// Socket → stream: frame payloads in order; answers pings through `pong`.
async fn inbound(
    mut rd: OwnedReadHalf,
    mut out: tokio::io::WriteHalf<DuplexStream>,
    pong: mpsc::Sender<Vec<u8>>,
) -> std::io::Result<()> {
    loop {
        let b0 = rd.read_u8().await?;
        let b1 = rd.read_u8().await?;
        let len = match b1 & 0x7f {
            126 => u64::from(rd.read_u16().await?),
            127 => rd.read_u64().await?,
            n => u64::from(n),
        };
        if len > (64 << 20) {
            return Err(std::io::Error::other("WebSocket frame over 64 MiB"));
        }
        let mask = if b1 & 0x80 != 0 { Some(rd.read_u32().await?.to_be_bytes()) } else { None };
        let mut payload = vec![0u8; len as usize];
        rd.read_exact(&mut payload).await?;
        if let Some(m) = mask {
            payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= m[i % 4]);
        }
        match b0 & 0x0f {
            0..=2 => out.write_all(&payload).await?,
            8 => return out.shutdown().await,
            9 => {
                let _ = pong.send(payload).await;
            }
            _ => {}
        }
    }
}

fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = (random_u64() as u32).to_be_bytes();
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Stream → socket: what the gob client writes, as masked binary frames; pongs; a close
/// frame when the client side ends.
async fn outbound(
    mut wr: OwnedWriteHalf,
    mut from: tokio::io::ReadHalf<DuplexStream>,
    mut pongs: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        tokio::select! {
            n = from.read(&mut buf) => match n? {
                0 => {
                    let _ = wr.write_all(&frame(8, &[])).await;
                    return wr.shutdown().await;
                }
                n => wr.write_all(&frame(2, &buf[..n])).await?,
            },
            Some(p) = pongs.recv() => wr.write_all(&frame(10, &p)).await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_the_rfc_sample_key() {
        // RFC 6455 §1.3: the key "the sample nonce"
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn client_frames_are_masked_with_the_right_lengths() {
        for n in [0usize, 125, 126, 70_000] {
            let f = frame(2, &vec![7u8; n]);
            assert_eq!(f[0], 0x82);
            assert_eq!(f[1] & 0x80, 0x80, "masked");
            let header = match n {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            };
            assert_eq!(f.len(), header + 4 + n);
            let mask = &f[header..header + 4];
            assert!(f[header + 4..].iter().enumerate().all(|(i, b)| b ^ mask[i % 4] == 7));
        }
    }
}
