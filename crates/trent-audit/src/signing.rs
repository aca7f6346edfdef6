//! The audit signing key and the signed digests.
//!
//! Like CloudTrail's digest files
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html>),
//! a digest names the range of the chain it covers, the hash of the range's last entry
//! and the signature of the previous digest, and is signed with Trent's own key
//! (Ed25519). The private key is handed to this crate as PKCS#8 bytes that the caller
//! keeps sealed under the root key; this crate never writes it anywhere.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::AuditError;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// First and last sequence number covered (inclusive).
    pub start_seq: u64,
    pub end_seq: u64,
    /// Hash of entry `end_seq` (hex).
    pub last_hash: String,
    /// The signature of the chain's previous digest (base64), `None` for the first.
    pub previous_digest_signature: Option<String>,
    /// SHA-256 of the signing public key (hex).
    pub public_key_fingerprint: String,
    /// UTC, `Z`.
    pub digest_time: String,
    /// Ed25519 over [`Digest::signed_message`] (base64).
    pub signature: String,
}

impl Digest {
    pub fn signed_message(&self, chain: &str) -> Vec<u8> {
        format!(
            "trent-audit-digest-v1\n{chain}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.start_seq,
            self.end_seq,
            self.last_hash,
            self.previous_digest_signature.as_deref().unwrap_or("-"),
            self.public_key_fingerprint,
            self.digest_time
        )
        .into_bytes()
    }
}

/// Trent's audit signing key.
pub struct Signer {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A new key: the signer and its PKCS#8 document (to seal and store).
    pub fn generate() -> Result<(Signer, Zeroizing<Vec<u8>>), AuditError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| AuditError::Key)?;
        let pkcs8 = Zeroizing::new(doc.as_ref().to_vec());
        Ok((Signer::from_pkcs8(&pkcs8)?, pkcs8))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Signer, AuditError> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|pair| Signer { pair })
            .map_err(|_| AuditError::Key)
    }

    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        let bytes = self.pair.public_key().as_ref();
        if bytes.len() == 32 {
            out.copy_from_slice(bytes);
        }
        out
    }

    pub fn public_key_pem(&self) -> String {
        public_key_pem(&self.public_key())
    }

    /// An Ed25519 signature of `message` (an anchor's).
    pub(crate) fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// Signs a digest in place.
    pub(crate) fn sign(&self, chain: &str, digest: &mut Digest) {
        digest.public_key_fingerprint = hex::encode(crate::chain::sha256(&self.public_key()));
        let signature = self.pair.sign(&digest.signed_message(chain));
        digest.signature = base64::engine::general_purpose::STANDARD.encode(signature.as_ref());
    }
}

pub fn public_key_pem(key: &[u8; 32]) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

/// Reads an Ed25519 public key from its PEM (SubjectPublicKeyInfo).
pub fn parse_public_key_pem(pem: &str) -> Option<[u8; 32]> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let key = der.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    <[u8; 32]>::try_from(key).ok()
}

/// Checks a digest's signature with a public key.
pub fn verify_digest(public_key: &[u8; 32], chain: &str, digest: &Digest) -> bool {
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(&digest.signature) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&digest.signed_message(chain), &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_verify_with_the_published_key_only() {
        let (signer, pkcs8) = Signer::generate().unwrap();
        let again = Signer::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(signer.public_key(), again.public_key());
        let mut d = Digest {
            start_seq: 1,
            end_seq: 9,
            last_hash: "ab".repeat(32),
            previous_digest_signature: None,
            public_key_fingerprint: String::new(),
            digest_time: "2025-01-01T00:00:00Z".into(),
            signature: String::new(),
        };
        signer.sign("node-1", &mut d);
        let pem = signer.public_key_pem();
        let key = parse_public_key_pem(&pem).unwrap();
        assert!(verify_digest(&key, "node-1", &d));
        assert!(!verify_digest(&key, "node-2", &d));
        let mut changed = d.clone();
        changed.end_seq = 8;
        assert!(!verify_digest(&key, "node-1", &changed));
        let (other, _) = Signer::generate().unwrap();
        assert!(!verify_digest(&other.public_key(), "node-1", &d));
        assert!(!format!("{signer:?}").contains(&hex::encode(&pkcs8[..])));
    }
}
