//! Symmetric KMS keys (`SYMMETRIC_DEFAULT`, AES-256-GCM) and Trent's ciphertext
//! blob.
//!
//! Blob format, version 2 (what every encryption writes):
//! `0x02 ‖ key id (16 bytes) ‖ material id (32 bytes) ‖ salt (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
//! The AES-256-GCM key is derived per ciphertext,
//! `HKDF-SHA-256(salt, IKM = key material, info = label ‖ version ‖ key id ‖ material id)`
//! ([RFC 5869](https://www.rfc-editor.org/rfc/rfc5869)), from a fresh random 256-bit
//! salt, as [AWS KMS derives a key per Encrypt](https://docs.aws.amazon.com/kms/latest/cryptographic-details/encrypt-operation.html)
//! from the key's material and a random nonce. So no AES key ever sees more than one
//! random 96-bit GCM nonce, and the 2^32-invocation bound of
//! [NIST SP 800-38D §8.3](https://nvlpubs.nist.gov/nistpubs/Legacy/SP/nistspecialpublication800-38d.pdf)
//! does not limit how often a hot key encrypts (with one key per material, 20k Encrypt/s
//! would pass it in under three days). The info binds the derived key to the key id and
//! material id, so a derived key is never shared between keys or versions.
//! AAD = the 49-byte header ‖ salt ‖ canonical encryption context.
//!
//! Version 3, for keys whose material stays inside a PKCS#11 token (`AWS_CLOUDHSM` custom
//! key stores): `0x03 ‖ key id (16 bytes) ‖ material id (32 bytes) ‖ nonce (12) ‖
//! ciphertext ‖ tag (16)`, AES-256-GCM run by the token directly under the key (no
//! derivation can run inside the token), AAD = the 49-byte header ‖ canonical encryption
//! context. The nonce is random (the token's key sees the 2^32 bound of SP 800-38D, as
//! AWS CloudHSM keys do). [`ParsedBlob::token_parts`] and [`token_blob`] are its two
//! halves; a local key refuses a version-3 blob and a token key refuses the others.
//!
//! Version 1 (written before version 2; still decrypted, never written):
//! `0x01 ‖ key id (16 bytes) ‖ material id (32 bytes) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`,
//! GCM directly under the material, AAD = the 49-byte header ‖ canonical encryption
//! context.
//!
//! The header lets `Decrypt` find the key and the key version without a `KeyId`
//! parameter, as
//! [AWS KMS does for symmetric keys](https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html);
//! authenticating it means a blob cannot be re-attributed to another key or
//! version.
//!
//! The key id bytes are the 16 bytes of the key's UUID, or, for a
//! [multi-Region key](https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html)
//! (`mrk-` + 32 hex digits), the 16 bytes those hex digits spell. A multi-Region
//! key has that one id in every region it is replicated to, and the same material
//! (with the same material ids) in each, so a blob made in one region names, by
//! the same bytes, the key of whichever region it is decrypted in: the key
//! service looks the bytes up in the caller's region. Blobs of single-Region keys
//! are unchanged.

use std::fmt;

use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use crate::aead::{AesGcm256, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::{random_array, random_bytes, CryptoError, SecretBytes};

/// Version byte of the blob format every encryption writes (per-ciphertext keys).
pub const BLOB_VERSION: u8 = 2;
/// Version byte of the first blob format (GCM directly under the material), which
/// still decrypts.
pub const BLOB_VERSION_V1: u8 = 1;
/// Version byte of the blobs of keys inside a PKCS#11 token.
pub const BLOB_VERSION_TOKEN: u8 = 3;
/// Version byte of the blobs of keys in an external key store: the outer layer of their
/// double encryption, made by the XKS proxy (the version-1 layout: a 12-byte IV, the
/// proxy's ciphertext and its 16-byte tag), around a version-2 blob of the key's own
/// material.
pub const BLOB_VERSION_EXTERNAL: u8 = 4;
/// Length of the blob header: version, key id, material id.
pub const BLOB_HEADER_LEN: usize = 1 + 16 + 32;
/// Length of the random HKDF salt of a version-2 blob.
pub const BLOB_SALT_LEN: usize = 32;
/// Bytes a (version-2) blob adds to its plaintext: header, salt, nonce and tag.
pub const BLOB_OVERHEAD: usize = BLOB_HEADER_LEN + BLOB_SALT_LEN + NONCE_LEN + TAG_LEN;
/// Bytes a version-1 blob adds to its plaintext: header, nonce and tag.
pub const BLOB_V1_OVERHEAD: usize = BLOB_HEADER_LEN + NONCE_LEN + TAG_LEN;

/// HKDF info label of the per-ciphertext key: separates it from any other use of
/// HKDF over the same material.
const DERIVATION_LABEL: &[u8] = b"trent symmetric ciphertext key";

/// The authenticated, cleartext header of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlobHeader {
    /// The KMS key's id (the UUID of `key/<uuid>`), as raw bytes.
    pub key_id: [u8; 16],
    /// The key material version (rotation) that encrypted the blob.
    /// 32 bytes: AWS's `KeyMaterialId` is 64 hex digits.
    pub material_id: [u8; 32],
}

impl BlobHeader {
    /// The header's wire form in the current version: version byte ‖ key id ‖
    /// material id.
    pub fn to_bytes(&self) -> [u8; BLOB_HEADER_LEN] {
        self.to_bytes_with_version(BLOB_VERSION)
    }

    fn to_bytes_with_version(self, version: u8) -> [u8; BLOB_HEADER_LEN] {
        let mut out = [0u8; BLOB_HEADER_LEN];
        out[0] = version;
        out[1..17].copy_from_slice(&self.key_id);
        out[17..49].copy_from_slice(&self.material_id);
        out
    }
}

/// A structurally valid blob, not yet authenticated: the header may be trusted
/// for routing (which key, which version) only; [`SymmetricKey::decrypt`] is
/// what proves it genuine.
#[derive(Clone, Copy, Debug)]
pub struct ParsedBlob<'a> {
    /// The blob's header.
    pub header: BlobHeader,
    version: u8,
    /// `Some` in a version-2 blob, `None` in a version-1 or version-3 blob.
    salt: Option<[u8; BLOB_SALT_LEN]>,
    nonce: [u8; NONCE_LEN],
    ciphertext_and_tag: &'a [u8],
}

impl ParsedBlob<'_> {
    /// Length of the plaintext the blob would decrypt to.
    pub fn plaintext_len(&self) -> usize {
        self.ciphertext_and_tag.len() - TAG_LEN
    }

    /// The blob format's version byte ([`BLOB_VERSION`], [`BLOB_VERSION_V1`] or
    /// [`BLOB_VERSION_TOKEN`]).
    pub fn version(&self) -> u8 {
        self.version
    }

    fn header_bytes(&self) -> [u8; BLOB_HEADER_LEN] {
        self.header.to_bytes_with_version(self.version)
    }

    /// What a token needs to open a version-3 blob under `context`: its nonce, the GCM
    /// AAD and the ciphertext with its tag. [`CryptoError::InvalidCiphertext`] for a blob
    /// of another version.
    pub fn token_parts(&self, context: &[u8]) -> Result<TokenBlobParts<'_>, CryptoError> {
        self.direct_parts(BLOB_VERSION_TOKEN, context)
    }

    /// The same parts of a version-4 blob (an external key store's outer layer).
    pub fn external_parts(&self, context: &[u8]) -> Result<TokenBlobParts<'_>, CryptoError> {
        self.direct_parts(BLOB_VERSION_EXTERNAL, context)
    }

    fn direct_parts(&self, version: u8, context: &[u8]) -> Result<TokenBlobParts<'_>, CryptoError> {
        if self.version != version {
            return Err(CryptoError::InvalidCiphertext);
        }
        Ok(TokenBlobParts {
            nonce: self.nonce,
            aad: aad(&self.header_bytes(), None, context),
            ciphertext_and_tag: self.ciphertext_and_tag,
        })
    }
}

/// A version-3 blob's parts (see [`ParsedBlob::token_parts`]).
pub struct TokenBlobParts<'a> {
    pub nonce: [u8; NONCE_LEN],
    pub aad: Vec<u8>,
    pub ciphertext_and_tag: &'a [u8],
}

/// The GCM AAD of a new version-3 blob of `header` under `context`.
pub fn token_blob_aad(header: &BlobHeader, context: &[u8]) -> Vec<u8> {
    direct_blob_aad(BLOB_VERSION_TOKEN, header, context)
}

/// A version-3 blob from what the token produced with [`token_blob_aad`]'s AAD.
pub fn token_blob(
    header: &BlobHeader,
    nonce: &[u8; NONCE_LEN],
    ciphertext_and_tag: &[u8],
) -> Vec<u8> {
    direct_blob(BLOB_VERSION_TOKEN, header, nonce, ciphertext_and_tag)
}

/// The AAD the XKS proxy binds a new version-4 blob of `header` to, under `context`.
pub fn external_blob_aad(header: &BlobHeader, context: &[u8]) -> Vec<u8> {
    direct_blob_aad(BLOB_VERSION_EXTERNAL, header, context)
}

/// A version-4 blob from what the XKS proxy produced with [`external_blob_aad`]'s AAD.
pub fn external_blob(
    header: &BlobHeader,
    nonce: &[u8; NONCE_LEN],
    ciphertext_and_tag: &[u8],
) -> Vec<u8> {
    direct_blob(BLOB_VERSION_EXTERNAL, header, nonce, ciphertext_and_tag)
}

fn direct_blob_aad(version: u8, header: &BlobHeader, context: &[u8]) -> Vec<u8> {
    aad(&header.to_bytes_with_version(version), None, context)
}

fn direct_blob(
    version: u8,
    header: &BlobHeader,
    nonce: &[u8; NONCE_LEN],
    ciphertext_and_tag: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOB_V1_OVERHEAD - TAG_LEN + ciphertext_and_tag.len());
    out.extend_from_slice(&header.to_bytes_with_version(version));
    out.extend_from_slice(nonce);
    out.extend_from_slice(ciphertext_and_tag);
    out
}
/// Parses a blob; [`CryptoError::InvalidCiphertext`] if of an unknown version or
/// too short for its version (< 49 + 32 + 12 + 16 bytes for version 2,
/// < 49 + 12 + 16 for version 1).
pub fn parse_blob(blob: &[u8]) -> Result<ParsedBlob<'_>, CryptoError> {
    let (version, overhead) = match blob.first() {
        Some(&BLOB_VERSION) => (BLOB_VERSION, BLOB_OVERHEAD),
        Some(&BLOB_VERSION_V1) => (BLOB_VERSION_V1, BLOB_V1_OVERHEAD),
        Some(&BLOB_VERSION_TOKEN) => (BLOB_VERSION_TOKEN, BLOB_V1_OVERHEAD),
        Some(&BLOB_VERSION_EXTERNAL) => (BLOB_VERSION_EXTERNAL, BLOB_V1_OVERHEAD),
        _ => return Err(CryptoError::InvalidCiphertext),
    };
    if blob.len() < overhead {
        return Err(CryptoError::InvalidCiphertext);
    }
    let bad = |_| CryptoError::InvalidCiphertext;
    let (header, rest) = blob.split_at(BLOB_HEADER_LEN);
    let (salt, rest) = if version == BLOB_VERSION {
        let (salt, rest) = rest.split_at(BLOB_SALT_LEN);
        (Some(salt.try_into().map_err(bad)?), rest)
    } else {
        (None, rest)
    };
    let (nonce, ciphertext_and_tag) = rest.split_at(NONCE_LEN);
    Ok(ParsedBlob {
        header: BlobHeader {
            key_id: header[1..17].try_into().map_err(bad)?,
            material_id: header[17..49].try_into().map_err(bad)?,
        },
        version,
        salt,
        nonce: nonce.try_into().map_err(bad)?,
        ciphertext_and_tag,
    })
}

/// An AES-256-GCM KMS key version (material is 32 bytes). Keeps the material (for
/// deriving per-ciphertext keys) and the material's own key schedule (for opening
/// version-1 blobs). `Debug` is redacted.
pub struct SymmetricKey {
    material: SecretBytes,
    v1: AesGcm256,
}

/// The HKDF output length: one AES-256 key.
struct DerivedKeyLen;

impl hkdf::KeyType for DerivedKeyLen {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

impl SymmetricKey {
    /// [`CryptoError::InvalidKeyLength`] unless `material` is 32 bytes.
    pub fn from_material(material: &SecretBytes) -> Result<Self, CryptoError> {
        let v1 = AesGcm256::new(material.expose())?;
        Ok(Self {
            material: material.clone(),
            v1,
        })
    }

    /// Fresh random material (32 bytes); returns the key and its material (to
    /// be sealed and stored).
    pub fn generate() -> Result<(Self, SecretBytes), CryptoError> {
        let material = random_bytes(KEY_LEN)?;
        Ok((Self::from_material(&material)?, material))
    }

    /// The AES-256-GCM key of one version-2 blob: HKDF-SHA-256 over the material
    /// with the blob's salt, bound to its header (version, key id, material id).
    fn derive(
        &self,
        header: &[u8; BLOB_HEADER_LEN],
        salt: &[u8; BLOB_SALT_LEN],
    ) -> Result<AesGcm256, ()> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(self.material.expose());
        let info = [DERIVATION_LABEL, &header[..]];
        let okm = prk.expand(&info, DerivedKeyLen).map_err(|_| ())?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        okm.fill(&mut key[..]).map_err(|_| ())?;
        AesGcm256::new(&key[..]).map_err(|_| ())
    }

    /// Encrypts `plaintext` into a version-2 blob (see the module documentation),
    /// under a key derived from a fresh random salt, with a fresh random nonce.
    /// `context` is the output of
    /// [`canonical_encryption_context`](crate::canonical_encryption_context).
    pub fn encrypt(
        &self,
        header: &BlobHeader,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        // Salt and nonce from one draw of the DRBG (each draw costs about a
        // microsecond: its lock and the CPU's entropy source).
        let random = random_array::<{ BLOB_SALT_LEN + NONCE_LEN }>()?;
        let (salt, nonce) = random.split_at(BLOB_SALT_LEN);
        let salt: [u8; BLOB_SALT_LEN] = salt.try_into().map_err(|_| CryptoError::RandomFailure)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::RandomFailure)?;
        self.encrypt_with(header, salt, nonce, context, plaintext)
    }

    /// [`encrypt`](Self::encrypt) with the given salt and nonce (fixed ones only in
    /// known-answer tests).
    fn encrypt_with(
        &self,
        header: &BlobHeader,
        salt: [u8; BLOB_SALT_LEN],
        nonce: [u8; NONCE_LEN],
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let header_bytes = header.to_bytes();
        let derived = self
            .derive(&header_bytes, &salt)
            .map_err(|()| CryptoError::EncryptionFailure)?;
        let aad = aad(&header_bytes, Some(&salt), context);
        let total = plaintext
            .len()
            .checked_add(BLOB_OVERHEAD)
            .ok_or(CryptoError::EncryptionFailure)?;
        let mut out = vec![0u8; total];
        let (head, body) = out.split_at_mut(BLOB_HEADER_LEN + BLOB_SALT_LEN + NONCE_LEN);
        head[..BLOB_HEADER_LEN].copy_from_slice(&header_bytes);
        head[BLOB_HEADER_LEN..BLOB_HEADER_LEN + BLOB_SALT_LEN].copy_from_slice(&salt);
        head[BLOB_HEADER_LEN + BLOB_SALT_LEN..].copy_from_slice(&nonce);
        derived
            .seal_into(nonce, &aad, plaintext, body)
            .map_err(|()| CryptoError::EncryptionFailure)?;
        Ok(out)
    }

    /// Authenticates and decrypts a parsed blob of either version under `context`;
    /// [`CryptoError::InvalidCiphertext`] on any tampering, wrong context or
    /// wrong key.
    pub fn decrypt(
        &self,
        blob: &ParsedBlob<'_>,
        context: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        if matches!(blob.version, BLOB_VERSION_TOKEN | BLOB_VERSION_EXTERNAL) {
            return Err(CryptoError::InvalidCiphertext);
        }
        let header_bytes = blob.header_bytes();
        let aad = aad(&header_bytes, blob.salt.as_ref(), context);
        let opened = match &blob.salt {
            Some(salt) => self
                .derive(&header_bytes, salt)
                .and_then(|key| key.open(blob.nonce, &aad, blob.ciphertext_and_tag)),
            None => self.v1.open(blob.nonce, &aad, blob.ciphertext_and_tag),
        };
        opened.map_err(|()| CryptoError::InvalidCiphertext)
    }
}

fn aad(
    header: &[u8; BLOB_HEADER_LEN],
    salt: Option<&[u8; BLOB_SALT_LEN]>,
    context: &[u8],
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(BLOB_HEADER_LEN + BLOB_SALT_LEN + context.len());
    aad.extend_from_slice(header);
    if let Some(salt) = salt {
        aad.extend_from_slice(salt);
    }
    aad.extend_from_slice(context);
    aad
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymmetricKey")
            .field("algorithm", &"AES_256_GCM")
            .field("material", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical_encryption_context;

    const HEADER: BlobHeader = BlobHeader {
        key_id: [0x11; 16],
        material_id: [0x22; 32],
    };

    fn ctx(pairs: &[(&str, &str)]) -> Vec<u8> {
        canonical_encryption_context(pairs.iter().copied())
    }

    fn parsed_version(blob: &[u8]) -> u8 {
        parse_blob(blob).unwrap().version()
    }

    #[test]
    fn overhead_constant() {
        assert_eq!(BLOB_OVERHEAD, BLOB_HEADER_LEN + 32 + NONCE_LEN + TAG_LEN);
        assert_eq!(BLOB_V1_OVERHEAD, BLOB_HEADER_LEN + NONCE_LEN + TAG_LEN);
    }

    #[test]
    fn round_trip_without_context() {
        let (key, material) = SymmetricKey::generate().unwrap();
        assert_eq!(material.len(), 32);
        for len in [0, 1, 16, 4096] {
            let pt = random_bytes(len).unwrap();
            let blob = key.encrypt(&HEADER, &[], pt.expose()).unwrap();
            assert_eq!(blob.len(), len + BLOB_OVERHEAD);
            assert_eq!(blob[0], BLOB_VERSION);
            assert_eq!(parsed_version(&blob), 2);
            let parsed = parse_blob(&blob).unwrap();
            assert_eq!(parsed.header, HEADER);
            assert_eq!(parsed.plaintext_len(), len);
            assert_eq!(key.decrypt(&parsed, &[]).unwrap(), pt);
            // A key rebuilt from the stored material decrypts too.
            let again = SymmetricKey::from_material(&material).unwrap();
            assert_eq!(again.decrypt(&parsed, &[]).unwrap(), pt);
        }
    }

    #[test]
    fn round_trip_with_context() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let c = ctx(&[("purpose", "test"), ("tenant", "42")]);
        let blob = key.encrypt(&HEADER, &c, b"hello").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        assert_eq!(key.decrypt(&parsed, &c).unwrap().expose(), b"hello");
        // Any order of the same pairs.
        let c2 = ctx(&[("tenant", "42"), ("purpose", "test")]);
        assert_eq!(key.decrypt(&parsed, &c2).unwrap().expose(), b"hello");
    }

    #[test]
    fn header_layout() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let blob = key.encrypt(&HEADER, &[], b"x").unwrap();
        assert_eq!(&blob[..49], &HEADER.to_bytes());
        assert_eq!(&blob[1..17], &[0x11; 16]);
        assert_eq!(&blob[17..49], &[0x22; 32]);
        // Fresh nonces: two encryptions differ.
        assert_ne!(blob, key.encrypt(&HEADER, &[], b"x").unwrap());
    }

    #[test]
    fn wrong_context_fails() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let c = ctx(&[("a", "bc")]);
        let blob = key.encrypt(&HEADER, &c, b"secret").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        for wrong in [
            ctx(&[("ab", "c")]),
            ctx(&[("a", "bd")]),
            ctx(&[("a", "bc"), ("x", "y")]),
            ctx(&[]),
        ] {
            assert!(matches!(
                key.decrypt(&parsed, &wrong),
                Err(CryptoError::InvalidCiphertext)
            ));
        }
        // And a no-context blob does not decrypt with a context.
        let blob = key.encrypt(&HEADER, &[], b"secret").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        assert!(key.decrypt(&parsed, &ctx(&[("a", "bc")])).is_err());
    }

    #[test]
    fn every_bit_flip_fails() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let c = ctx(&[("k", "v")]);
        let blob = key.encrypt(&HEADER, &c, b"some plaintext").unwrap();
        for i in 0..blob.len() * 8 {
            let mut b = blob.clone();
            b[i / 8] ^= 1 << (i % 8);
            let result = parse_blob(&b).and_then(|p| key.decrypt(&p, &c));
            assert!(
                matches!(result, Err(CryptoError::InvalidCiphertext)),
                "bit {i}"
            );
        }
    }

    #[test]
    fn wrong_key_fails() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let (other, _) = SymmetricKey::generate().unwrap();
        let blob = key.encrypt(&HEADER, &[], b"secret").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        assert!(matches!(
            other.decrypt(&parsed, &[]),
            Err(CryptoError::InvalidCiphertext)
        ));
    }

    #[test]
    fn parse_rejects_short_and_unknown_version() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let blob = key.encrypt(&HEADER, &[], b"").unwrap();
        assert_eq!(blob.len(), BLOB_OVERHEAD);
        assert!(parse_blob(&blob).is_ok());
        for len in 0..BLOB_OVERHEAD {
            assert!(matches!(
                parse_blob(&blob[..len]),
                Err(CryptoError::InvalidCiphertext)
            ));
        }
        for version in [0u8, 5, 0xff] {
            let mut b = blob.clone();
            b[0] = version;
            assert!(matches!(
                parse_blob(&b),
                Err(CryptoError::InvalidCiphertext)
            ));
        }
        // Relabelled as a token key's (version 3), it parses but a local key refuses it,
        // and a token key refuses the other versions.
        let mut b = blob.clone();
        b[0] = BLOB_VERSION_TOKEN;
        let parsed = parse_blob(&b).unwrap();
        assert_eq!(parsed.version(), BLOB_VERSION_TOKEN);
        assert!(parsed.token_parts(&[]).is_ok());
        assert!(matches!(
            key.decrypt(&parsed, &[]),
            Err(CryptoError::InvalidCiphertext)
        ));
        assert!(matches!(
            parse_blob(&blob).unwrap().token_parts(&[]),
            Err(CryptoError::InvalidCiphertext)
        ));
        // Relabelled as version 1, a version-2 blob parses (it is long enough) but
        // never decrypts: the version byte is authenticated.
        let mut b = blob.clone();
        b[0] = BLOB_VERSION_V1;
        let parsed = parse_blob(&b).unwrap();
        assert_eq!(parsed.version(), BLOB_VERSION_V1);
        assert!(matches!(
            key.decrypt(&parsed, &[]),
            Err(CryptoError::InvalidCiphertext)
        ));
        // A version-1 blob is shorter: its minimum is 77 bytes.
        for len in 0..BLOB_V1_OVERHEAD {
            let mut b = vec![BLOB_VERSION_V1; len];
            b.truncate(len);
            assert!(parse_blob(&b).is_err());
        }
        assert!(parse_blob(&[BLOB_VERSION_V1; BLOB_V1_OVERHEAD]).is_ok());
        // Truncating a longer blob keeps it parseable but makes it fail to decrypt.
        let blob = key.encrypt(&HEADER, &[], b"0123456789").unwrap();
        for len in BLOB_OVERHEAD..blob.len() {
            let parsed = parse_blob(&blob[..len]).unwrap();
            assert!(key.decrypt(&parsed, &[]).is_err());
        }
    }

    #[test]
    fn material_length_is_checked() {
        for len in [0, 16, 31, 49] {
            assert!(matches!(
                SymmetricKey::from_material(&SecretBytes::new(vec![0; len])),
                Err(CryptoError::InvalidKeyLength { expected: 32, actual }) if actual == len
            ));
        }
    }

    #[test]
    fn debug_does_not_leak_material() {
        let material = SecretBytes::new((0u8..32).collect());
        let key = SymmetricKey::from_material(&material).unwrap();
        let dbg = format!("{key:?} {key:#?}");
        assert!(dbg.contains("[REDACTED]"));
        assert!(!dbg.contains("31"));
        assert!(!dbg.contains("0, 1, 2"));
        let blob = key.encrypt(&HEADER, &[], b"plaintext!").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        let pt = key.decrypt(&parsed, &[]).unwrap();
        assert_eq!(format!("{pt:?}"), "[REDACTED]");
    }

    const VECTOR_MATERIAL: [u8; 32] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
        25, 26, 27, 28, 29, 30, 31,
    ];
    const VECTOR_HEADER: BlobHeader = BlobHeader {
        key_id: *b"0123456789abcdef",
        material_id: [0xa5; 32],
    };

    /// A version-1 blob made by the version-1 code (before per-ciphertext keys)
    /// still decrypts, and only under its own context.
    #[test]
    fn version_1_blob_still_decrypts() {
        let blob = hex::decode(
            "0130313233343536373839616263646566a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5\
             a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a541c280f528dfd84593428a3279dfd6\
             12fc2d3aefd19b2454111cc9d0bc422bf1ab775eae4d924c26094127f05f6300\
             2fe514204d170e107bbe7f6d67d15b15",
        )
        .unwrap();
        let key = SymmetricKey::from_material(&SecretBytes::from_slice(&VECTOR_MATERIAL)).unwrap();
        let parsed = parse_blob(&blob).unwrap();
        assert_eq!(parsed.version(), BLOB_VERSION_V1);
        assert_eq!(parsed.header, VECTOR_HEADER);
        let c = ctx(&[("purpose", "v1 test vector"), ("tenant", "42")]);
        assert_eq!(
            key.decrypt(&parsed, &c).unwrap().expose(),
            b"a blob sealed by the version-1 code"
        );
        assert!(key.decrypt(&parsed, &ctx(&[("tenant", "42")])).is_err());
        let (other, _) = SymmetricKey::generate().unwrap();
        assert!(other.decrypt(&parsed, &c).is_err());
    }

    /// Known answer for version 2, computed independently (Python `cryptography`:
    /// HKDF-SHA-256 then AES-256-GCM) from the layout in the module documentation:
    /// material 00..1f, salt 40..5f, nonce c0..cb.
    #[test]
    fn version_2_known_answer() {
        let expected = "0230313233343536373839616263646566a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5\
             a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5404142434445464748494a4b4c4d4e\
             4f505152535455565758595a5b5c5d5e5fc0c1c2c3c4c5c6c7c8c9cacb9c583b\
             37eed80251403557d3d45b1ecc03f9229d713265fc4b7f358ee022bbb21f012e\
             ee9817e2addc91487d7d53428724ebf2";
        let key = SymmetricKey::from_material(&SecretBytes::from_slice(&VECTOR_MATERIAL)).unwrap();
        let salt: [u8; 32] = std::array::from_fn(|i| 0x40 + i as u8);
        let nonce: [u8; 12] = std::array::from_fn(|i| 0xc0 + i as u8);
        let c = ctx(&[("purpose", "v2 test vector"), ("tenant", "42")]);
        let pt = b"a blob sealed by the version-2 code";
        let blob = key
            .encrypt_with(&VECTOR_HEADER, salt, nonce, &c, pt)
            .unwrap();
        assert_eq!(hex::encode(&blob), expected);
        let parsed = parse_blob(&blob).unwrap();
        assert_eq!(parsed.version(), BLOB_VERSION);
        assert_eq!(key.decrypt(&parsed, &c).unwrap().expose(), pt);
    }

    /// The derived key is not the material: the body is not GCM under the
    /// material itself, and the same salt under another key id or material id
    /// gives another key.
    #[test]
    fn derived_key_is_bound_to_the_header() {
        let key = SymmetricKey::from_material(&SecretBytes::from_slice(&VECTOR_MATERIAL)).unwrap();
        let salt = [7u8; 32];
        let nonce = [9u8; 12];
        let blob = key.encrypt_with(&HEADER, salt, nonce, &[], b"x").unwrap();
        let direct = AesGcm256::new(&VECTOR_MATERIAL).unwrap();
        let mut under_material = vec![0; 1 + TAG_LEN];
        let aad = [&HEADER.to_bytes()[..], &salt].concat();
        direct
            .seal_into(nonce, &aad, b"x", &mut under_material)
            .unwrap();
        assert_ne!(&blob[BLOB_OVERHEAD - TAG_LEN..], &under_material[..]);
        let other_id = BlobHeader {
            key_id: [0x12; 16],
            ..HEADER
        };
        let other_material = BlobHeader {
            material_id: [0x23; 32],
            ..HEADER
        };
        let a = key.derive(&HEADER.to_bytes(), &salt).unwrap();
        for other in [other_id, other_material] {
            let b = key.derive(&other.to_bytes(), &salt).unwrap();
            let mut x = vec![0; 1 + TAG_LEN];
            let mut y = vec![0; 1 + TAG_LEN];
            a.seal_into(nonce, b"", b"x", &mut x).unwrap();
            b.seal_into(nonce, b"", b"x", &mut y).unwrap();
            assert_ne!(x, y);
        }
    }
}
