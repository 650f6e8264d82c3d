//! A lasting identity: one DTLS certificate per profile, used for every
//! connection, whose fingerprint is who this Parlor is.
//!
//! webrtc-rs makes a fresh certificate for every connection unless it is
//! given one. A fresh one each time would leave nothing for a person to
//! recognise across rooms and restarts; a stored one makes the fingerprint a
//! name that only its owner can use (DTLS proves possession of the key), so
//! it can be verified once and remembered.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rtc::crypto::{SignatureScheme, default_provider};
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};

/// Why an identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file exists but cannot be read.
    #[error("cannot read the identity file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file is not an identity (damaged, or something else). It is left
    /// as it is: replacing it would silently change who this Parlor is.
    #[error(
        "the identity file {path} is not a Parlor identity ({reason}); move it aside to make a new one"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A new identity could not be written.
    #[error("cannot write the identity file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The crypto library could not make or read a certificate.
    #[error("cannot make a DTLS certificate: {0}")]
    Crypto(String),
}

/// This Parlor's certificate and its fingerprint.
#[derive(Clone)]
pub struct Identity {
    certificate: RTCCertificate,
    fingerprint: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Reads the identity stored at `path`, or makes one and stores it there
    /// (readable by its owner only) if there is no file yet.
    pub fn load_or_create(path: &Path) -> Result<Self, IdentityError> {
        match fs::read_to_string(path) {
            Ok(text) => Self::from_pem(&text).map_err(|reason| IdentityError::Corrupt {
                path: path.to_owned(),
                reason,
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let identity = Self::generate()?;
                identity.store(path)?;
                Ok(identity)
            }
            Err(source) => Err(IdentityError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// A new identity, not stored anywhere (one per process).
    pub fn generate() -> Result<Self, IdentityError> {
        let provider = default_provider().map_err(|e| IdentityError::Crypto(e.to_string()))?;
        let params = CertificateParams::new(vec!["parlor".to_owned()])
            .map_err(|e| IdentityError::Crypto(e.to_string()))?;
        let certificate =
            RTCCertificate::generate(provider.crypto(), SignatureScheme::EcdsaP256Sha256, params)
                .map_err(|e| IdentityError::Crypto(e.to_string()))?;
        Self::from_certificate(certificate).map_err(IdentityError::Crypto)
    }

    /// The SHA-256 fingerprint of the certificate, as SDP carries it
    /// (`ab:cd:…`, lower case): who this Parlor is.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificate, for a peer connection's configuration.
    pub(crate) fn certificate(&self) -> RTCCertificate {
        self.certificate.clone()
    }

    fn from_certificate(certificate: RTCCertificate) -> Result<Self, String> {
        let provider = default_provider().map_err(|e| e.to_string())?;
        let fingerprint = certificate
            .get_fingerprints(provider.crypto())
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or("the certificate has no fingerprint")?
            .value
            .to_ascii_lowercase();
        Ok(Self {
            certificate,
            fingerprint,
        })
    }

    /// Reads what [`Self::store`] wrote. The first PEM block is checked here:
    /// webrtc-rs reads its first 8 bytes without looking at its length.
    fn from_pem(text: &str) -> Result<Self, String> {
        let first = text.split("\n\n").next().unwrap_or_default();
        let block = pem::parse(first).map_err(|e| format!("not PEM: {e}"))?;
        if block.tag() != "EXPIRES" || block.contents().len() != 8 {
            return Err("its first block is not the certificate's expiry".into());
        }
        let provider = default_provider().map_err(|e| e.to_string())?;
        let certificate =
            RTCCertificate::from_pem(text, provider.crypto()).map_err(|e| e.to_string())?;
        Self::from_certificate(certificate)
    }

    fn store(&self, path: &Path) -> Result<(), IdentityError> {
        let write_error = |source| IdentityError::Write {
            path: path.to_owned(),
            source,
        };
        let text = self
            .certificate
            .serialize_pem()
            .map_err(|e| IdentityError::Crypto(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(write_error)?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(write_error)?;
        file.write_all(text.as_bytes()).map_err(write_error)?;
        file.sync_all().map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("parlor-identity-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir.join("identity.pem")
    }

    #[test]
    fn an_identity_is_made_once_and_read_back_with_the_same_fingerprint() {
        let path = scratch("same");
        let made = Identity::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        let read = Identity::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(made.fingerprint(), read.fingerprint());
        assert_eq!(
            made.fingerprint().len(),
            32 * 3 - 1,
            "{}",
            made.fingerprint()
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_identity_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let path = scratch("mode");
        Identity::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        let mode = fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_file_that_is_not_an_identity_is_an_error_and_left_alone() {
        let path = scratch("corrupt");
        fs::create_dir_all(path.parent().unwrap_or(&path)).unwrap_or_else(|e| panic!("{e}"));
        for garbage in [
            "hello",
            "-----BEGIN EXPIRES-----\nAA==\n-----END EXPIRES-----\n",
            "-----BEGIN EXPIRES-----\nAAAAAAAAAAA=\n-----END EXPIRES-----\n\nnot a certificate",
        ] {
            fs::write(&path, garbage).unwrap_or_else(|e| panic!("{e}"));
            let error = Identity::load_or_create(&path).map(|_| ());
            assert!(
                matches!(error, Err(IdentityError::Corrupt { .. })),
                "{garbage:?}: {error:?}"
            );
            assert_eq!(fs::read_to_string(&path).unwrap_or_default(), garbage);
        }
    }

    #[test]
    fn two_identities_have_different_fingerprints() {
        let a = Identity::generate().unwrap_or_else(|e| panic!("{e}"));
        let b = Identity::generate().unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
