//! AES-256-GCM over aws-lc-rs, in the two shapes Trent needs: seal into a
//! caller-laid-out buffer, open into a zeroizing buffer.
//!
//! Nonces are random 96-bit values, as recommended by
//! [NIST SP 800-38D §8.2.2](https://nvlpubs.nist.gov/nistpubs/Legacy/SP/nistspecialpublication800-38d.pdf);
//! that bounds one key to 2^32 seals. Ciphertext blobs therefore seal under a key
//! derived per ciphertext (see `blob.rs`), never directly under a KMS key's material;
//! the root key seals only stored secrets (one per key creation, rotation or import).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use crate::{random_array, CryptoError, SecretBytes};

/// Key length of AES-256 in bytes.
pub const KEY_LEN: usize = 32;
/// GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// GCM tag length in bytes.
pub const TAG_LEN: usize = 16;

/// A prepared AES-256-GCM key: the key schedule is computed once.
pub(crate) struct AesGcm256(LessSafeKey);

impl AesGcm256 {
    pub(crate) fn new(material: &[u8]) -> Result<Self, CryptoError> {
        if material.len() != KEY_LEN {
            return Err(CryptoError::InvalidKeyLength {
                expected: KEY_LEN,
                actual: material.len(),
            });
        }
        let unbound =
            UnboundKey::new(&AES_256_GCM, material).map_err(|_| CryptoError::InvalidKeyLength {
                expected: KEY_LEN,
                actual: material.len(),
            })?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// A fresh random nonce.
    pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN], CryptoError> {
        random_array::<NONCE_LEN>()
    }

    /// Encrypts `plaintext` into `out`, which must be exactly
    /// `plaintext.len() + TAG_LEN` bytes: ciphertext then tag. The plaintext is
    /// never copied, so a failure leaves no plaintext in `out`.
    pub(crate) fn seal_into(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<(), ()> {
        if out.len() != plaintext.len() + TAG_LEN {
            return Err(());
        }
        let (ct, tag) = out.split_at_mut(plaintext.len());
        self.0
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                plaintext,
                ct,
                &[],
                tag,
            )
            .map_err(|_| ())
    }

    /// Authenticates and decrypts `ciphertext_and_tag`. Any failure is `Err(())`,
    /// the caller picks the error it reports.
    pub(crate) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, ()> {
        let ct_len = ciphertext_and_tag.len().checked_sub(TAG_LEN).ok_or(())?;
        let (ct, tag) = ciphertext_and_tag.split_at(ct_len);
        // Zeroizing from the start: on failure the buffer may hold garbage
        // derived from the keystream, on success it holds the plaintext.
        let mut out = SecretBytes::zeroed(ct_len);
        self.0
            .open_separate_gather(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                ct,
                tag,
                out.expose_mut(),
            )
            .map_err(|_| ())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    struct Vector {
        key: &'static str,
        iv: &'static str,
        pt: &'static str,
        aad: &'static str,
        ct: &'static str,
        tag: &'static str,
    }

    /// AES-256 test cases 13–16 of McGrew & Viega, "The Galois/Counter Mode of
    /// Operation (GCM)", the vectors NIST's GCM validation builds on.
    const VECTORS: &[Vector] = &[
        Vector {
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            iv: "000000000000000000000000",
            pt: "",
            aad: "",
            ct: "",
            tag: "530f8afbc74536b9a963b4f1c4cb738b",
        },
        Vector {
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            iv: "000000000000000000000000",
            pt: "00000000000000000000000000000000",
            aad: "",
            ct: "cea7403d4d606b6e074ec5d3baf39d18",
            tag: "d0d1c8a799996bf0265b98b5d48ab919",
        },
        Vector {
            key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            iv: "cafebabefacedbaddecaf888",
            pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
            aad: "",
            ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
            tag: "b094dac5d93471bdec1a502270e3cc6c",
        },
        Vector {
            key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            iv: "cafebabefacedbaddecaf888",
            pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            tag: "76fc6ece0f4e1768cddf8853bb2d551b",
        },
    ];

    #[test]
    fn known_answers() {
        for (i, v) in VECTORS.iter().enumerate() {
            let key = AesGcm256::new(&unhex(v.key)).unwrap();
            let nonce: [u8; NONCE_LEN] = unhex(v.iv).try_into().unwrap();
            let pt = unhex(v.pt);
            let aad = unhex(v.aad);
            let mut out = vec![0; pt.len() + TAG_LEN];
            key.seal_into(nonce, &aad, &pt, &mut out).unwrap();
            let expected = [unhex(v.ct), unhex(v.tag)].concat();
            assert_eq!(hex::encode(&out), hex::encode(&expected), "vector {i}");
            let opened = key.open(nonce, &aad, &expected).unwrap();
            assert_eq!(opened.expose(), &pt[..], "vector {i}");
        }
    }

    #[test]
    fn rejects_wrong_key_length() {
        for len in [0, 16, 24, 31, 33, 64] {
            assert!(matches!(
                AesGcm256::new(&vec![0; len]),
                Err(CryptoError::InvalidKeyLength { expected: 32, actual }) if actual == len
            ));
        }
    }

    #[test]
    fn seal_into_checks_output_length() {
        let key = AesGcm256::new(&[7; KEY_LEN]).unwrap();
        let mut out = vec![0; 3 + TAG_LEN + 1];
        assert!(key
            .seal_into([0; NONCE_LEN], b"", b"abc", &mut out)
            .is_err());
    }

    #[test]
    fn open_rejects_short_input() {
        let key = AesGcm256::new(&[7; KEY_LEN]).unwrap();
        assert!(key.open([0; NONCE_LEN], b"", &[0; TAG_LEN - 1]).is_err());
    }
}
