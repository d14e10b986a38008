//! Request/response over `turmoil::net` TCP: one connection per request,
//! as an HTTP client without keep-alive behaves.
//!
//! Every call has a timeout that covers the connect too: turmoil has no
//! retransmission (a segment lost to a partition stalls the stream forever)
//! and a connect to a crashed host hangs (turmoil-notes section 2). A server
//! handles each request in its own task, which runs to completion even if
//! the client hangs up, like omicron's detached HTTP handlers.
//!
//! Late delivery. A link turmoil holds queues the SYN of a new connection;
//! a caller that times out drops its connect, so on release the listener
//! finds the SYN's answer channel closed and skips it: the request never
//! reaches the server. That is TCP for a connection still in SYN_SENT. But
//! omicron's clients (progenitor over reqwest) keep connections alive, and
//! Nexus talks to every sled agent every watcher period, so a request sent
//! during a hold usually sits in the client kernel's send buffer on an open
//! connection and is retransmitted until the network heals, after the
//! client gave up (reqwest's timeout only closes the socket; a graceful
//! close sends what is buffered, then FIN). While the observer says a link
//! delivers late ([`probe::delivers_late`]), a call on it hands its
//! connection to a task of its own that outlives the caller's timeout, so
//! the request reaches the server when the hold is released and the server
//! acts on it; its answer goes nowhere.

use crate::ids::HostId;
use crate::probe;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

/// Well-known ports.
pub mod port {
    pub const DB: u16 = 5432;
    pub const NEXUS_EXTERNAL: u16 = 80;
    pub const NEXUS_INTERNAL: u16 = 12221;
    pub const SLED_AGENT: u16 = 12345;
    pub const MGS: u16 = 12225;
}

/// Why a call got no answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RpcError {
    /// The peer refused the connection (no listener, or the SYN was
    /// dropped by a partition).
    Refused,
    /// The connection closed before the response: the peer crashed, or the
    /// link broke. The request may or may not have taken effect.
    Closed,
    /// No response within the timeout. The request may or may not have
    /// taken effect.
    Timeout,
}

impl RpcError {
    /// `true` when the request never reached the server, so it certainly
    /// did not take effect.
    pub fn certainly_not_sent(self) -> bool {
        self == RpcError::Refused
    }
}

/// The largest message this protocol accepts; guards against a corrupt
/// length prefix allocating without bound.
const MAX_FRAME: u32 = 1 << 24;

/// `msg` as one length-prefixed frame.
fn frame<T: Serialize>(msg: &T) -> std::io::Result<Vec<u8>> {
    let body = bincode::serialize(msg).map_err(std::io::Error::other)?;
    let mut buf = Vec::with_capacity(body.len() + 4);
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    Ok(buf)
}

async fn write_frame<T: Serialize>(s: &mut TcpStream, msg: &T) -> std::io::Result<()> {
    s.write_all(&frame(msg)?).await
}

async fn read_body(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = s.read_u32().await?;
    if len > MAX_FRAME {
        return Err(std::io::Error::other("frame too large"));
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body).await?;
    Ok(body)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> std::io::Result<T> {
    bincode::deserialize(body).map_err(std::io::Error::other)
}

async fn read_frame<T: DeserializeOwned>(s: &mut TcpStream) -> std::io::Result<T> {
    decode(&read_body(s).await?)
}

/// One exchange on a new connection: connect, send `request` (a frame),
/// read the answer's body.
async fn exchange(
    from: HostId,
    to: HostId,
    port: u16,
    request: &[u8],
) -> Result<Vec<u8>, RpcError> {
    let mut stream = TcpStream::connect((to.name(), port))
        .await
        .map_err(|_| RpcError::Refused)?;
    if probe::is_halted(from) {
        std::future::pending::<()>().await;
    }
    stream
        .write_all(request)
        .await
        .map_err(|_| RpcError::Closed)?;
    read_body(&mut stream).await.map_err(|_| RpcError::Closed)
}

/// Sends `req` from `from` to `to:port` and waits for the response.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    from: HostId,
    to: HostId,
    port: u16,
    req: &Req,
    timeout: Duration,
) -> Result<Resp, RpcError> {
    let request = frame(req).map_err(|_| RpcError::Closed)?;
    let answer = if probe::delivers_late(from, to) {
        // The connection outlives the caller: see the module doc.
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::task::spawn_local(async move {
            let _ = tx.send(exchange(from, to, port, &request).await);
        });
        turmoil::time::timeout(timeout, async { rx.await.unwrap_or(Err(RpcError::Closed)) }).await
    } else {
        turmoil::time::timeout(timeout, exchange(from, to, port, &request)).await
    };
    match answer {
        Ok(body) => decode(&body?).map_err(|_| RpcError::Closed),
        Err(_) => Err(RpcError::Timeout),
    }
}

/// Serves requests on `port` forever, each in its own local task.
pub async fn serve<Req, Resp, H, F>(host: HostId, port: u16, handler: H) -> std::io::Result<()>
where
    Req: DeserializeOwned + 'static,
    Resp: Serialize + 'static,
    H: Fn(Req) -> F + Clone + 'static,
    F: Future<Output = Resp> + 'static,
{
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        let handler = handler.clone();
        tokio::task::spawn_local(async move {
            let Ok(req) = read_frame::<Req>(&mut stream).await else {
                return;
            };
            let resp = handler(req).await;
            if probe::is_halted(host) {
                std::future::pending::<()>().await;
            }
            // The client may have hung up; the handler's work stands anyway.
            let _ = write_frame(&mut stream, &resp).await;
        });
    }
}
