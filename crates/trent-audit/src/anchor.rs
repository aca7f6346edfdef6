//! Anchors: what is left of a chain's beginning once its oldest segments were archived
//! and pruned (`trent audit archive`). An anchor names the last entry pruned (its sequence
//! number and hash) and the last digest at or before it (its sequence number and
//! signature, which the next digest carries), signed with the chain's audit signing key:
//! verification then proves the remaining chain continuous from the anchor, as it proves
//! a whole chain continuous from its genesis. It lives beside the segments as
//! `<chain>.anchor.json`; an archive replaces it with a later one.

use std::path::Path;

use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::signing::Signer;
use crate::AuditError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    pub chain: String,
    /// The last sequence number pruned: the remaining chain starts at `seq + 1`.
    pub seq: u64,
    /// Hash of entry `seq` (hex): what entry `seq + 1` links to.
    pub hash: String,
    /// Sequence number of the last digest entry at or before `seq` (0: none).
    pub digest_seq: u64,
    /// That digest's signature (base64): the next digest's previous signature.
    pub digest_signature: Option<String>,
    /// SHA-256 of the signing public key (hex).
    pub public_key_fingerprint: String,
    /// When the archive was made (UTC, `Z`).
    pub anchor_time: String,
    /// Ed25519 over [`Anchor::signed_message`] (base64).
    pub signature: String,
}

impl Anchor {
    pub fn signed_message(&self) -> Vec<u8> {
        format!(
            "trent-audit-anchor-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.chain,
            self.seq,
            self.hash,
            self.digest_seq,
            self.digest_signature.as_deref().unwrap_or("-"),
            self.public_key_fingerprint,
            self.anchor_time
        )
        .into_bytes()
    }

    /// Signs the anchor in place.
    pub fn sign(&mut self, signer: &Signer) {
        self.public_key_fingerprint = hex::encode(crate::chain::sha256(&signer.public_key()));
        self.signature = base64::engine::general_purpose::STANDARD
            .encode(signer.sign_bytes(&self.signed_message()));
    }

    /// Whether the signature holds with `public_key`.
    pub fn verifies(&self, public_key: &[u8; 32]) -> bool {
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(&self.signature)
        else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&self.signed_message(), &signature)
            .is_ok()
    }
}

/// The file of `chain`'s anchor in a segment directory.
pub fn anchor_file_name(chain: &str) -> String {
    format!("{}.anchor.json", crate::store::sanitize(chain))
}

/// Every anchor in a segment directory. An anchor file that cannot be read is an error:
/// without it the remaining chain would look cut.
pub fn read_anchors(dir: &Path) -> Result<Vec<Anchor>, AuditError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".anchor.json"))
        })
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read(&path)?;
        let anchor: Anchor = serde_json::from_slice(&text)
            .map_err(|e| AuditError::Io(format!("{}: not an audit anchor: {e}", path.display())))?;
        out.push(anchor);
    }
    Ok(out)
}

/// Writes `anchor` into `dir` (replacing the chain's previous one), durably.
pub fn write_anchor(dir: &Path, anchor: &Anchor) -> Result<(), AuditError> {
    let name = anchor_file_name(&anchor.chain);
    let json = serde_json::to_vec_pretty(anchor).map_err(|_| AuditError::Encode)?;
    let partial = dir.join(format!(".{name}.partial"));
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&partial)?;
        file.write_all(&json)?;
        file.sync_all()?;
    }
    std::fs::rename(&partial, dir.join(&name))?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_verify_with_their_chain_s_key_only() {
        let (signer, _) = Signer::generate().unwrap();
        let mut a = Anchor {
            chain: "node-1".into(),
            seq: 41,
            hash: "ab".repeat(32),
            digest_seq: 40,
            digest_signature: Some("c2ln".into()),
            public_key_fingerprint: String::new(),
            anchor_time: "2026-01-01T00:00:00Z".into(),
            signature: String::new(),
        };
        a.sign(&signer);
        assert!(a.verifies(&signer.public_key()));
        let (other, _) = Signer::generate().unwrap();
        assert!(!a.verifies(&other.public_key()));
        for changed in [
            Anchor {
                seq: 40,
                ..a.clone()
            },
            Anchor {
                hash: "cd".repeat(32),
                ..a.clone()
            },
            Anchor {
                chain: "node-2".into(),
                ..a.clone()
            },
            Anchor {
                digest_signature: None,
                ..a.clone()
            },
        ] {
            assert!(!changed.verifies(&signer.public_key()));
        }
        let dir = tempfile::tempdir().unwrap();
        write_anchor(dir.path(), &a).unwrap();
        assert_eq!(read_anchors(dir.path()).unwrap(), vec![a]);
    }
}
