//! A throw-away PKI for registry tests: a CA, a server certificate for `127.0.0.1` /
//! `localhost`, a client certificate, and a separate token-signing key and certificate.
//!
//! Owns: [`TestPki`]. Everything is generated with OpenSSL at test time (nothing is checked
//! in, nothing expires during a run) and written as PEM files named the way docker's
//! `certs.d/<host>/` expects (`ca.crt`, `client.cert`, `client.key`), so the same directory
//! serves the registry (server side), reqwest or kasane (client side) and the token server.
//!
//! Keys: EC P-256 for the CA, server and client (fast to generate; accepted by Go's TLS stack
//! and by rustls); RSA 2048 for the token key, because the tokens are signed RS256 (the
//! algorithm every token server uses, and one docker-registry 2.8's libtrust verifies).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder};

/// Converts an OpenSSL error into an `io::Error` (the error type of this harness).
pub(crate) fn ossl(e: ErrorStack) -> io::Error {
    io::Error::other(e)
}

/// The certificates and keys of one test run, as files in one directory plus the bytes tests
/// most often need. Cheap to clone (paths and a few KiB of PEM).
#[derive(Clone, Debug)]
pub struct TestPki {
    dir: PathBuf,
    ca_pem: Vec<u8>,
    client_cert_pem: Vec<u8>,
    client_key_pem: Vec<u8>,
    token_cert_pem: Vec<u8>,
    token_cert_der: Vec<u8>,
    token_key_pem: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Kind {
    Ca,
    Server,
    Client,
    /// Self-signed signing certificate: its own root in `rootcertbundle`.
    Token,
}

impl TestPki {
    /// Generates a fresh PKI and writes `ca.crt`, `server.crt`, `server.key`, `client.cert`,
    /// `client.key`, `token.crt` and `token.key` into `dir` (created if missing).
    pub fn generate(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let ca_key = ec_key().map_err(ossl)?;
        let ca = build_cert("kasane test CA", &ca_key, None, Kind::Ca).map_err(ossl)?;
        let server_key = ec_key().map_err(ossl)?;
        let server = build_cert("localhost", &server_key, Some((&ca, &ca_key)), Kind::Server)
            .map_err(ossl)?;
        let client_key = ec_key().map_err(ossl)?;
        let client = build_cert(
            "kasane test client",
            &client_key,
            Some((&ca, &ca_key)),
            Kind::Client,
        )
        .map_err(ossl)?;
        let token_key = PKey::from_rsa(Rsa::generate(2048).map_err(ossl)?).map_err(ossl)?;
        let token =
            build_cert("kasane test token signer", &token_key, None, Kind::Token).map_err(ossl)?;

        let pem = |c: &X509| c.to_pem().map_err(ossl);
        let key_pem = |k: &PKey<Private>| k.private_key_to_pem_pkcs8().map_err(ossl);
        let pki = Self {
            dir: dir.to_path_buf(),
            ca_pem: pem(&ca)?,
            client_cert_pem: pem(&client)?,
            client_key_pem: key_pem(&client_key)?,
            token_cert_pem: pem(&token)?,
            token_cert_der: token.to_der().map_err(ossl)?,
            token_key_pem: key_pem(&token_key)?,
        };
        fs::write(pki.ca_cert(), &pki.ca_pem)?;
        fs::write(pki.server_cert(), pem(&server)?)?;
        write_private(&pki.server_key(), &key_pem(&server_key)?)?;
        fs::write(pki.client_cert(), &pki.client_cert_pem)?;
        write_private(&pki.client_key(), &pki.client_key_pem)?;
        fs::write(pki.token_cert(), &pki.token_cert_pem)?;
        write_private(&pki.token_key(), &pki.token_key_pem)?;
        Ok(pki)
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ca.crt`: the CA certificate clients must trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// `server.crt`: the registry's certificate (SAN `IP:127.0.0.1`, `DNS:localhost`).
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// `server.key`: the registry's private key (PKCS#8 PEM).
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// `client.cert`: a client certificate (clientAuth) for mutual-TLS tests.
    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.cert")
    }

    /// `client.key`: the client certificate's private key (PKCS#8 PEM).
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// `token.crt`: the self-signed token-signing certificate (the registry's
    /// `auth.token.rootcertbundle`).
    pub fn token_cert(&self) -> PathBuf {
        self.dir.join("token.crt")
    }

    /// `token.key`: the token-signing RSA key (PKCS#8 PEM).
    pub fn token_key(&self) -> PathBuf {
        self.dir.join("token.key")
    }

    /// The CA certificate as PEM bytes (for `reqwest::Certificate::from_pem` and the like).
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    /// The client certificate followed by its key, as one PEM (what
    /// `reqwest::Identity::from_pem` takes).
    pub fn client_identity_pem(&self) -> Vec<u8> {
        let mut v = self.client_cert_pem.clone();
        v.extend_from_slice(&self.client_key_pem);
        v
    }

    /// The token-signing certificate in DER (what a token's `x5c` header carries).
    pub fn token_cert_der(&self) -> &[u8] {
        &self.token_cert_der
    }

    /// The token-signing key, loaded for signing.
    pub(crate) fn token_signing_key(&self) -> io::Result<PKey<Private>> {
        PKey::private_key_from_pem(&self.token_key_pem).map_err(ossl)
    }

    /// Lays out docker's per-registry TLS directory, `<certs_d>/<host>/{ca.crt, client.cert,
    /// client.key}` (host as in the image reference, e.g. `127.0.0.1:5000`), and returns it.
    pub fn install_certs_d(&self, certs_d: &Path, host: &str) -> io::Result<PathBuf> {
        let dir = certs_d.join(host);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("ca.crt"), &self.ca_pem)?;
        fs::write(dir.join("client.cert"), &self.client_cert_pem)?;
        write_private(&dir.join("client.key"), &self.client_key_pem)?;
        Ok(dir)
    }
}

fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, data)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

fn ec_key() -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn build_cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    kind: Kind,
) -> Result<X509, ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "kasane tests")?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    let name = name.build();

    let mut b = X509Builder::new()?;
    b.set_version(2)?; // X.509 v3: rustls rejects v1 certificates.
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?; // positive, as Go requires
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))?;
    b.set_pubkey(key)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let not_before = Asn1Time::from_unix(now - 3600)?;
    let not_after = Asn1Time::days_from_now(3650)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;

    match kind {
        Kind::Ca | Kind::Token => {
            b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .digital_signature()
                    .build()?,
            )?;
        }
        Kind::Server => {
            b.append_extension(BasicConstraints::new().critical().build()?)?;
            b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
            b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
            let san = SubjectAlternativeName::new()
                .ip("127.0.0.1")
                .dns("localhost")
                .build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None))?;
            b.append_extension(san)?;
        }
        Kind::Client => {
            b.append_extension(BasicConstraints::new().critical().build()?)?;
            b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
            b.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
        }
    }
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    if let Some((issuer_cert, _)) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&b.x509v3_context(Some(issuer_cert), None))?;
        b.append_extension(aki)?;
    }
    let signer = issuer.map_or(key, |(_, k)| k);
    b.sign(signer, MessageDigest::sha256())?;
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::{X509StoreContext, X509VerifyResult};

    fn verifies(ca: &X509, leaf: &X509) -> bool {
        let mut store = X509StoreBuilder::new().unwrap();
        store.add_cert(ca.clone()).unwrap();
        let store = store.build();
        let mut ctx = X509StoreContext::new().unwrap();
        ctx.init(&store, leaf, &Stack::new().unwrap(), |c| {
            let ok = c.verify_cert()?;
            Ok(ok && c.error() == X509VerifyResult::OK)
        })
        .unwrap()
    }

    #[test]
    fn generates_a_consistent_pki() {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate(dir.path()).unwrap();
        for f in [
            "ca.crt",
            "server.crt",
            "server.key",
            "client.cert",
            "client.key",
            "token.crt",
            "token.key",
        ] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        let ca = X509::from_pem(pki.ca_pem()).unwrap();
        let server = X509::from_pem(&fs::read(pki.server_cert()).unwrap()).unwrap();
        let client = X509::from_pem(&fs::read(pki.client_cert()).unwrap()).unwrap();
        assert!(verifies(&ca, &server));
        assert!(verifies(&ca, &client));
        let token = X509::from_der(pki.token_cert_der()).unwrap();
        assert!(verifies(&token, &token));
        assert!(!verifies(&ca, &token));

        let sans: Vec<String> = server
            .subject_alt_names()
            .unwrap()
            .iter()
            .map(|n| match (n.dnsname(), n.ipaddress()) {
                (Some(d), _) => format!("DNS:{d}"),
                (_, Some(ip)) => format!("IP:{ip:?}"),
                _ => String::new(),
            })
            .collect();
        assert_eq!(sans, ["IP:[127, 0, 0, 1]", "DNS:localhost"]);

        // The server key matches the server certificate.
        let key = PKey::private_key_from_pem(&fs::read(pki.server_key()).unwrap()).unwrap();
        assert!(server.public_key().unwrap().public_eq(&key));
        let tkey = pki.token_signing_key().unwrap();
        assert!(token.public_key().unwrap().public_eq(&tkey));

        let certs_d = dir.path().join("certs.d");
        let host_dir = pki.install_certs_d(&certs_d, "127.0.0.1:5000").unwrap();
        assert_eq!(fs::read(host_dir.join("ca.crt")).unwrap(), pki.ca_pem());
        assert!(host_dir.join("client.key").is_file());
        assert!(
            String::from_utf8(pki.client_identity_pem())
                .unwrap()
                .contains("PRIVATE KEY")
        );
    }
}
