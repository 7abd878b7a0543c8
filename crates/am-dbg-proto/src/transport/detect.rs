//! `host:port` addresses (feature `go`): the native protocol, or the Go one for a peer that
//! speaks only that. Go's docs tell users `AM_DBG_ADDR=1`; our debugger serves both
//! protocols on one port, the Go `am-dbg` only gob. A Go net/rpc server closes a native
//! handshake at once (its first bytes are no gob), so when the native handshake breaks off
//! after the connection was made, a probe call in gob (a method no server has, answered
//! "can't find method" by any net/rpc server) tells whether the peer is Go's. Then this
//! tracer speaks gob to the address from then on, said once in the log.

use super::{ClientTransport, Failed, Link, Sent, TransportError, gob, native};
use crate::messages::DbgMsg;
use crate::service::EncodedBatch;

/// Which protocol the peer turned out to speak.
enum Speaking {
    Native,
    Gob(Box<gob::Client>),
}

/// The client side for `host:port`.
pub(crate) struct Client {
    link: Link,
    native: native::Client,
    speaking: Speaking,
}

impl Client {
    pub(crate) fn new(link: Link) -> Self {
        Client { native: native::Client::new(link.clone()), link, speaking: Speaking::Native }
    }
}

impl ClientTransport for Client {
    async fn connect(&mut self) -> Result<(), TransportError> {
        if let Speaking::Gob(g) = &mut self.speaking {
            return g.connect().await;
        }
        let e = match self.native.connect().await {
            Ok(()) => return Ok(()),
            Err(e) if e.after_connect() => e,
            Err(e) => return Err(e),
        };
        let mut g = gob::Client::probing(self.link.clone());
        if g.connect().await.is_err() {
            return Err(e);
        }
        tracing::info!(
            target: "am_dbg_proto",
            addr = %self.link.addr,
            "am-dbg: {} speaks only the Go am-dbg protocol (the native handshake ended with {e}); sending it gob, as to gob://{}",
            self.link.addr,
            self.link.addr.authority()
        );
        self.speaking = Speaking::Gob(Box::new(g));
        Ok(())
    }

    async fn send(&mut self, batch: Vec<DbgMsg>) -> Result<Sent, Failed> {
        match &mut self.speaking {
            Speaking::Native => self.native.send(batch).await,
            Speaking::Gob(g) => g.send(batch).await,
        }
    }

    fn takes_encoded(&self) -> bool {
        matches!(self.speaking, Speaking::Native) && self.native.takes_encoded()
    }

    async fn send_encoded(&mut self, batch: EncodedBatch) -> Result<Sent, Failed> {
        self.native.send_encoded(batch).await
    }

    fn connections(&self) -> u64 {
        self.native.connections()
            + match &self.speaking {
                Speaking::Native => 0,
                Speaking::Gob(g) => g.connections(),
            }
    }
}
