//! TLS settings every exporter reads the same way: a CA to trust besides the system's, and a
//! client certificate for mutual TLS, as PEM read from files named by variables (or given
//! to a builder's `.tls(..)`). Plain data, no TLS library: the HTTP client factory
//! ([`http::client`](super::http::client), feature `exporter-http`) and am-otel's gRPC
//! transport turn it into their own config.
//!
//! Precedence, per exporter (written once, in [`TlsSettings::from_env`]):
//! 1. the builder's `.tls(..)`;
//! 2. the exporter's own variables (`AM_LOKI_CERTIFICATE`, …, or OTel's per-signal and
//!    generic `OTEL_EXPORTER_OTLP_*CERTIFICATE`);
//! 3. the shared `AM_TLS_*` variables (not for OTLP: its standard variables are complete);
//! 4. none: the system's trust store, no client certificate.

use crate::env::{EnvError, value};

/// The CA certificate (PEM) every am exporter trusts besides the system's roots, unless
/// its own variable says otherwise.
pub const AM_TLS_CERTIFICATE: &str = "AM_TLS_CERTIFICATE";
/// The client certificate (PEM) every am exporter presents for mutual TLS, with
/// [`AM_TLS_CLIENT_KEY`].
pub const AM_TLS_CLIENT_CERTIFICATE: &str = "AM_TLS_CLIENT_CERTIFICATE";
/// The private key (PEM) of [`AM_TLS_CLIENT_CERTIFICATE`].
pub const AM_TLS_CLIENT_KEY: &str = "AM_TLS_CLIENT_KEY";

/// The shared variables, as a [`TlsVars`] fallback.
pub const SHARED_VARS: TlsVars = TlsVars {
    certificate: AM_TLS_CERTIFICATE,
    client_certificate: AM_TLS_CLIENT_CERTIFICATE,
    client_key: AM_TLS_CLIENT_KEY,
};

/// The three variables naming an exporter's TLS files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsVars {
    /// A CA certificate (PEM) to trust besides the system's roots.
    pub certificate: &'static str,
    /// A client certificate (PEM) for mutual TLS.
    pub client_certificate: &'static str,
    /// The client certificate's private key (PEM).
    pub client_key: &'static str,
}

impl TlsVars {
    /// The three names, in order.
    pub fn names(&self) -> [&'static str; 3] {
        [self.certificate, self.client_certificate, self.client_key]
    }
}

/// What an exporter's TLS client trusts and presents. The default trusts the system's roots
/// and presents nothing, which is what a hosted collector or Loki behind a public
/// certificate needs.
///
/// ```
/// use am_core::exporter::TlsSettings;
/// let dir = std::env::temp_dir().join(format!("am-tls-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")?;
/// let tls = TlsSettings::default().ca_file(dir.join("ca.pem"))?;
/// assert!(tls.ca_pem.is_some() && !tls.is_default());
/// assert!(TlsSettings::default().ca_file(dir.join("missing.pem")).is_err());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA certificates (PEM, one or more) trusted besides the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The client certificate chain and its private key (PEM), for mutual TLS.
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the key
        f.debug_struct("TlsSettings")
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| format!("{} bytes", p.len())))
            .field("identity_pem", &self.identity_pem.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Why TLS settings cannot be used: a file that cannot be read or holds no PEM, a client
/// certificate without its key, or TLS asked for without the feature that brings it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A variable's file (the variable, its value, why).
    Env(EnvError),
    /// A file given to a builder.
    File {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A client certificate without its key, or a key without its certificate.
    HalfIdentity,
    /// TLS (an `https://` URL, a CA or a client certificate) without the `tls` feature.
    NoTls {
        /// What asked for it: a variable or a builder option.
        what: String,
    },
    /// The TLS library refused the settings (a malformed certificate or key).
    Invalid(String),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Env(e) => write!(f, "{e}"),
            TlsError::File { path, reason } => write!(f, "TLS file {path}: {reason}"),
            TlsError::HalfIdentity => f.write_str("a client certificate needs its key, and a key its certificate"),
            TlsError::NoTls { what } => write!(
                f,
                "{what} needs TLS, which this build lacks: enable the exporter crate's cargo feature `tls` \
                 (am-telemetry's `tls`)"
            ),
            TlsError::Invalid(why) => write!(f, "TLS settings refused: {why}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Env(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads a PEM file: it must exist and hold at least one `-----BEGIN` block.
fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err("no PEM block in it (-----BEGIN ...)".into());
    }
    Ok(bytes)
}

impl TlsSettings {
    /// Whether nothing is set (the system's roots, no client certificate).
    pub fn is_default(&self) -> bool {
        self.ca_pem.is_none() && self.identity_pem.is_none()
    }

    /// Also trusts the CA certificates in this PEM file.
    pub fn ca_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, TlsError> {
        let p = path.as_ref();
        self.ca_pem = Some(read_pem(p).map_err(|reason| TlsError::File { path: p.display().to_string(), reason })?);
        Ok(self)
    }

    /// Presents this client certificate (PEM chain) and key (PEM) for mutual TLS.
    pub fn identity_files(
        mut self,
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self, TlsError> {
        let read = |p: &std::path::Path| {
            read_pem(p).map_err(|reason| TlsError::File { path: p.display().to_string(), reason })
        };
        self.identity_pem = Some((read(cert.as_ref())?, read(key.as_ref())?));
        Ok(self)
    }

    /// The settings the variables name: for each of the three, the first of `vars` that is
    /// set wins (list an exporter's own variables before [`SHARED_VARS`]). Unset: the
    /// default. A file that cannot be read, or a certificate without its key, is an error
    /// naming the variable.
    ///
    /// ```
    /// use am_core::exporter::{SHARED_VARS, TlsSettings};
    /// // none of the variables is set here
    /// assert!(TlsSettings::from_env(&[SHARED_VARS])?.is_default());
    /// # Ok::<(), am_core::exporter::TlsError>(())
    /// ```
    pub fn from_env(vars: &[TlsVars]) -> Result<Self, TlsError> {
        let first = |pick: fn(&TlsVars) -> &'static str| vars.iter().map(pick).find_map(|n| Some((n, value(n)?)));
        let read = |(name, path): (&'static str, String)| {
            read_pem(std::path::Path::new(path.trim()))
                .map_err(|reason| TlsError::Env(EnvError::new(name, &path, reason)))
        };
        let ca_pem = first(|v| v.certificate).map(read).transpose()?;
        let cert = first(|v| v.client_certificate);
        let key = first(|v| v.client_key);
        let identity_pem = match (cert, key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            (None, None) => None,
            (Some((name, v)), None) | (None, Some((name, v))) => {
                // the sibling of the same family (a client key names its certificate)
                let other = vars
                    .iter()
                    .find_map(|t| {
                        (name == t.client_key)
                            .then_some(t.client_certificate)
                            .or((name == t.client_certificate).then_some(t.client_key))
                    })
                    .unwrap_or("the other one");
                return Err(TlsError::Env(EnvError::new(
                    name,
                    &v,
                    format!("needs {other} too (mutual TLS takes both)"),
                )));
            }
        };
        Ok(TlsSettings { ca_pem, identity_pem })
    }

    /// Errs when TLS is asked for (an `https` URL, or any setting) in a build without the
    /// `tls` feature; `what` names the variable or option in the error.
    pub fn check_available(&self, url: Option<&str>, what: &str) -> Result<(), TlsError> {
        let https = url.is_some_and(|u| u.trim_start().get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")));
        if !cfg!(feature = "exporter-tls") && (https || !self.is_default()) {
            return Err(TlsError::NoTls { what: what.to_string() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let t = TlsSettings { ca_pem: Some(vec![0; 3]), identity_pem: Some((b"c".to_vec(), b"SECRETKEY".to_vec())) };
        let d = format!("{t:?}");
        assert!(!d.contains("SECRETKEY") && d.contains("3 bytes"), "{d}");
    }

    #[test]
    fn https_without_the_feature_is_an_error() {
        let plain = TlsSettings::default();
        assert!(plain.check_available(Some("http://x:1"), "AM_LOKI_ADDR").is_ok());
        let r = plain.check_available(Some("HTTPS://x:1"), "AM_LOKI_ADDR");
        assert_eq!(r.is_err(), !cfg!(feature = "exporter-tls"));
        if let Err(e) = r {
            assert!(e.to_string().contains("AM_LOKI_ADDR needs TLS") && e.to_string().contains("`tls`"), "{e}");
        }
    }

    #[test]
    fn files_must_hold_pem() {
        let dir = std::env::temp_dir().join(format!("am-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.txt"), "not pem").unwrap();
        let e = TlsSettings::default().ca_file(dir.join("x.txt")).unwrap_err().to_string();
        assert!(e.contains("no PEM block"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
