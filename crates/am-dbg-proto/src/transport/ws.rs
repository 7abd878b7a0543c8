//! The Go protocol over WebSocket (RFC 6455, feature `go`): the same gob byte stream in
//! binary WebSocket messages, whose boundaries mean nothing, as the Go `am-dbg` serves it at
//! `/dbg.ws` (for browser clients). Both roles:
//!
//! - client ([`connect`]): `ws://host:port/path` addresses of the tracer and `replay`,
//! - server ([`Protocol`]): a connection starting with `GET ` on the server's port is
//!   upgraded at [`DEFAULT_WS_PATH`] and served as a Go client.
//!
//! After the handshake two small bridge tasks turn the socket into a plain byte stream (a
//! [`DuplexStream`]) that gob reads and writes as it does a TCP connection: client frames are
//! masked, pings answered, a close frame ends the stream.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{ServerProtocol, Serving, Sniff, TransportError};
use crate::addr::DEFAULT_WS_PATH;
use crate::server::ConnCtx;

/// The GUID every WebSocket server appends to the client's key (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The longest HTTP head read in a handshake.
const MAX_HEAD: usize = 8192;
/// The largest frame accepted.
const MAX_FRAME: u64 = 64 << 20;

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

/// SHA-1 (FIPS 180-4), for the handshake's `Sec-WebSocket-Accept` only.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// The `Sec-WebSocket-Accept` answering a client's key.
fn accept_key(key: &str) -> String {
    base64(&sha1(format!("{key}{GUID}").as_bytes()))
}

/// Reads an HTTP head (up to the empty line), byte by byte: nothing after it may be consumed.
async fn read_head<R: AsyncRead + Unpin>(r: &mut R) -> Result<String, TransportError> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(TransportError::Protocol("WebSocket handshake: head too long".into()));
        }
        let b = r.read_u8().await.map_err(|e| TransportError::Closed(format!("WebSocket handshake: {e}")))?;
        head.push(b);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// A header's value (names are case-insensitive).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Connects to `host:port`, upgrades `path` to a WebSocket, and returns the byte stream.
pub(crate) async fn connect(addr: &str, path: &str) -> Result<DuplexStream, TransportError> {
    let mut tcp =
        TcpStream::connect(addr).await.map_err(|source| TransportError::Connect { addr: addr.to_string(), source })?;
    let _ = tcp.set_nodelay(true);
    let key = base64(&[random_u64().to_le_bytes(), random_u64().to_le_bytes()].concat());
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.map_err(|e| TransportError::Closed(format!("WebSocket handshake: {e}")))?;
    let head = read_head(&mut tcp).await?;
    let first = head.lines().next().unwrap_or_default().to_string();
    if first.split_whitespace().nth(1) != Some("101") {
        return Err(TransportError::Refused(format!("WebSocket handshake at ws://{addr}{path}: {first}")));
    }
    if header(&head, "Sec-WebSocket-Accept") != Some(accept_key(&key).as_str()) {
        return Err(TransportError::Protocol(format!("WebSocket handshake at ws://{addr}{path}: wrong accept key")));
    }
    Ok(bridge(tcp, true))
}

/// Turns an upgraded socket into a byte stream; `client` masks what it sends.
fn bridge(tcp: TcpStream, client: bool) -> DuplexStream {
    let (rd, wr) = tcp.into_split();
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (their_rd, their_wr) = tokio::io::split(theirs);
    let (ctl_tx, ctl_rx) = mpsc::channel(4);
    tokio::spawn(inbound(rd, their_wr, ctl_tx));
    tokio::spawn(outbound(wr, their_rd, ctl_rx, client));
    ours
}

/// A control frame for the writing side: a pong's payload, or a close to answer.
enum Control {
    Pong(Vec<u8>),
    Close,
}

/// Socket → stream: frame payloads in order; pings and closes go to the writing side.
async fn inbound<R: AsyncRead + Unpin>(
    mut rd: R,
    mut out: tokio::io::WriteHalf<DuplexStream>,
    ctl: mpsc::Sender<Control>,
) -> std::io::Result<()> {
    loop {
        let b0 = rd.read_u8().await?;
        let b1 = rd.read_u8().await?;
        let len = match b1 & 0x7f {
            126 => u64::from(rd.read_u16().await?),
            127 => rd.read_u64().await?,
            n => u64::from(n),
        };
        if len > MAX_FRAME {
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
            8 => {
                let _ = ctl.send(Control::Close).await;
                return out.shutdown().await;
            }
            9 => {
                let _ = ctl.send(Control::Pong(payload)).await;
            }
            _ => {}
        }
    }
}

/// One frame; a client's are masked.
fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let m = if masked { 0x80 } else { 0 };
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n <= usize::from(u16::MAX) => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let mask = (random_u64() as u32).to_be_bytes();
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// Stream → socket: what gob writes, as binary frames; pongs; a close frame when either
/// side ends.
async fn outbound<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut from: tokio::io::ReadHalf<DuplexStream>,
    mut ctl: mpsc::Receiver<Control>,
    client: bool,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        tokio::select! {
            n = from.read(&mut buf) => match n? {
                0 => {
                    let _ = wr.write_all(&frame(8, &[], client)).await;
                    return wr.shutdown().await;
                }
                n => wr.write_all(&frame(2, &buf[..n], client)).await?,
            },
            Some(c) = ctl.recv() => match c {
                Control::Pong(p) => wr.write_all(&frame(10, &p, client)).await?,
                Control::Close => {
                    let _ = wr.write_all(&frame(8, &[], client)).await;
                    return wr.shutdown().await;
                }
            },
        }
    }
}

/// WebSocket clients of the Go protocol, on the server's port.
pub(crate) struct Protocol;

impl ServerProtocol for Protocol {
    fn sniff(&self, first: &[u8]) -> Sniff {
        let n = first.len().min(4);
        if first[..n] != b"GET "[..n] {
            Sniff::No
        } else if n < 4 {
            Sniff::NeedMore
        } else {
            Sniff::Yes
        }
    }

    fn serve(&self, stream: TcpStream, peer: SocketAddr, ctx: Arc<ConnCtx>) -> Serving {
        Box::pin(async move {
            let _ = stream.set_nodelay(true);
            let stream = tokio::time::timeout(Duration::from_secs(10), upgrade(stream))
                .await
                .map_err(|_| "WebSocket handshake timed out".to_string())??;
            super::gob::serve_stream(stream, peer, ctx, "go (net/rpc, gob over WebSocket)").await
        })
    }
}

/// Answers a request that is no upgrade at [`DEFAULT_WS_PATH`] with an HTTP error; returns
/// the reason.
async fn refuse(tcp: &mut TcpStream, status: &str, why: String) -> String {
    let body = format!("{why}\n");
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(resp.as_bytes()).await;
    let _ = tcp.shutdown().await;
    why
}

/// Answers the upgrade request at [`DEFAULT_WS_PATH`]; any other request gets an HTTP error
/// and the connection is closed with the reason.
async fn upgrade(mut tcp: TcpStream) -> Result<DuplexStream, String> {
    let head = read_head(&mut tcp).await.map_err(|e| e.to_string())?;
    let line = head.lines().next().unwrap_or_default().to_string();
    let path = line.split_whitespace().nth(1).unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let upgrade = header(&head, "Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if path != DEFAULT_WS_PATH {
        let why = format!("{line:?}: the debugger accepts WebSocket clients at {DEFAULT_WS_PATH}");
        return Err(refuse(&mut tcp, "404 Not Found", why).await);
    }
    let key = match header(&head, "Sec-WebSocket-Key") {
        Some(k) if upgrade && header(&head, "Sec-WebSocket-Version") == Some("13") => k.to_string(),
        _ => {
            return Err(
                refuse(&mut tcp, "400 Bad Request", format!("{line:?}: not a WebSocket (version 13) upgrade")).await
            );
        }
    };
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    );
    tcp.write_all(resp.as_bytes()).await.map_err(|e| format!("WebSocket handshake: {e}"))?;
    Ok(bridge(tcp, false))
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
    fn accept_key_of_the_rfc_sample() {
        // RFC 6455 §1.3
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        // FIPS 180-2 appendix A samples
        let hex = |b: [u8; 20]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn client_frames_are_masked_with_the_right_lengths() {
        for n in [0usize, 125, 126, 70_000] {
            let f = frame(2, &vec![7u8; n], true);
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
            // a server's are not
            let f = frame(2, &vec![7u8; n], false);
            assert_eq!((f[1] & 0x80, f.len()), (0, header + n));
        }
    }

    #[test]
    fn sniffs_a_get_only() {
        assert_eq!(Protocol.sniff(b"GE"), Sniff::NeedMore);
        assert_eq!(Protocol.sniff(b"GET /dbg.ws HTTP/1.1"), Sniff::Yes);
        assert_eq!(Protocol.sniff(b"POST /"), Sniff::No);
        assert_eq!(Protocol.sniff(b"\x00\x00\x00\x10"), Sniff::No);
    }
}
