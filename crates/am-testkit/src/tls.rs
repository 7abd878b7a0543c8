//! TLS for the exporters' delivery tests: a CA made per test run ([`TestCa`], rcgen), its
//! server and client certificates as PEM files, and a TLS-terminating proxy ([`TlsProxy`])
//! in front of any of this kit's plain receivers, so every receiver can be reached over
//! `https://` without a TLS server of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::TempDir;

/// A certificate and its key, as DER (for the proxy) and as PEM files (for the clients).
#[derive(Debug)]
pub struct Leaf {
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// The key, PKCS #8 DER.
    pub key: Vec<u8>,
    /// The certificate's PEM file.
    pub cert_file: PathBuf,
    /// The key's PEM file.
    pub key_file: PathBuf,
}

/// A CA of this test run, with a server certificate for `localhost` and `127.0.0.1` and a
/// client certificate, each written as PEM into a temporary directory (removed on drop).
#[derive(Debug)]
pub struct TestCa {
    /// The CA certificate's PEM file: what a client is told to trust.
    pub ca_file: PathBuf,
    /// The CA certificate, DER.
    pub ca_der: CertificateDer<'static>,
    /// The server certificate (`localhost`, `127.0.0.1`).
    pub server: Leaf,
    /// A client certificate (for mutual TLS).
    pub client: Leaf,
    _dir: TempDir,
}

impl TestCa {
    /// Makes the CA and its certificates; `name` tells runs apart in the subject.
    pub fn new(name: &str) -> TestCa {
        let dir = TempDir::new(&format!("tls-{name}"));
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("am test CA {name}"));
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA cert");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write ca.pem");
        let leaf = |file: &str, names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let mut p = CertificateParams::new(names).expect("leaf params");
            p.distinguished_name.push(DnType::CommonName, format!("am test {file}"));
            p.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("leaf key");
            let cert = p.signed_by(&key, &ca).expect("leaf cert");
            let (cert_file, key_file) = (dir.join(format!("{file}.pem")), dir.join(format!("{file}-key.pem")));
            std::fs::write(&cert_file, cert.pem()).expect("write cert");
            std::fs::write(&key_file, key.serialize_pem()).expect("write key");
            Leaf { der: cert.der().clone(), key: key.serialize_der(), cert_file, key_file }
        };
        let server = leaf("server", vec!["localhost".into(), "127.0.0.1".into()], ExtendedKeyUsagePurpose::ServerAuth);
        let client = leaf("client", vec!["am-client".into()], ExtendedKeyUsagePurpose::ClientAuth);
        TestCa { ca_der: ca.der().clone(), ca_file, server, client, _dir: dir }
    }
}

/// What a [`TlsProxy`] offers and asks for.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// ALPN protocols offered: `h2` for gRPC, `http/1.1` for the HTTP receivers.
    pub alpn: Vec<Vec<u8>>,
    /// Refuse clients without a certificate of the CA (mutual TLS).
    pub require_client_cert: bool,
}

impl ProxyOptions {
    /// For gRPC receivers (ALPN `h2`).
    pub fn grpc() -> Self {
        ProxyOptions { alpn: vec![b"h2".to_vec()], require_client_cert: false }
    }
    /// For HTTP/1.1 receivers.
    pub fn http() -> Self {
        ProxyOptions { alpn: vec![b"http/1.1".to_vec()], require_client_cert: false }
    }
    /// The same, asking for a client certificate.
    pub fn mutual(mut self) -> Self {
        self.require_client_cert = true;
        self
    }
}

/// A TLS-terminating TCP proxy on a loopback port, forwarding to a plain receiver; counts
/// the handshakes that worked and those that failed. Stopped when dropped.
pub struct TlsProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for TlsProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsProxy").field("addr", &self.addr).field("handshakes", &self.handshakes()).finish()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl TlsProxy {
    /// Serves `leaf` (with `ca`'s root for client certificates) in front of `backend`.
    pub fn start(backend: SocketAddr, ca: &TestCa, leaf: &Leaf, o: ProxyOptions) -> TlsProxy {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if o.require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.ca_der.clone()).expect("CA root");
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(v)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone()));
        let mut config = builder.with_single_cert(vec![leaf.der.clone()], key).expect("server cert");
        config.alpn_protocols = o.alpn;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (ok2, failed2) = (ok.clone(), failed.clone());
        rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, ok, failed) = (acceptor.clone(), ok2.clone(), failed2.clone());
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(tcp).await {
                        Ok(s) => s,
                        Err(_) => {
                            failed.fetch_add(1, Relaxed);
                            return;
                        }
                    };
                    ok.fetch_add(1, Relaxed);
                    if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        TlsProxy { addr, ok, failed, rt: Some(rt) }
    }

    /// `(completed, failed)` TLS handshakes so far.
    pub fn handshakes(&self) -> (u64, u64) {
        (self.ok.load(Relaxed), self.failed.load(Relaxed))
    }

    /// [`handshakes`](Self::handshakes) once a failed one is counted, or after 5 s. The
    /// proxy counts a handshake the client refused on its own runtime, maybe after the
    /// client gave up on the request: on a loaded machine that task runs later, so a test
    /// reading the count at once can see 0.
    pub fn refused_handshakes(&self) -> (u64, u64) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.failed.load(Relaxed) == 0 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.handshakes()
    }

    /// `https://localhost:PORT`: the name the server certificate carries.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}
