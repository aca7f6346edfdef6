//! Request and response buffers that are zeroized when done with: a KMS request or
//! response body may carry a plaintext, a data key or a private key (base64 in JSON).
//!
//! What is covered: the request body once the server holds it alone, the JSON encoding
//! of a response (every buffer it grew through) and the response body until hyper drops
//! it. What is not: hyper's own socket read and write buffers (a request body arriving in
//! one piece shares hyper's read buffer, which this code cannot reach), the kernel's
//! socket buffers, and the short-lived copies serde makes while decoding a request.

use std::io;

use axum::body::{Body, Bytes};
use zeroize::{Zeroize, Zeroizing};

/// A request body that is zeroized on drop when no one else holds its bytes.
pub(crate) struct RequestBody(Bytes);

impl RequestBody {
    pub(crate) fn new(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl std::ops::Deref for RequestBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        // Only a unique buffer may be written to; a buffer shared with hyper's read
        // buffer is left to hyper.
        if let Ok(mut unique) = std::mem::take(&mut self.0).try_into_mut() {
            unique.zeroize();
        }
    }
}

/// A response body whose buffer is zeroized when hyper drops it (after writing it).
pub(crate) fn response_body(bytes: Vec<u8>) -> Body {
    Body::from(Bytes::from_owner(Zeroizing::new(bytes)))
}

/// An `io::Write` into a `Vec` that zeroizes every buffer it outgrows, so that
/// serializing a response leaves no copy of it in freed memory.
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn new() -> Self {
        Self(Vec::with_capacity(256))
    }

    /// The bytes written; zeroizing them is the caller's job (see [`response_body`]).
    pub(crate) fn into_inner(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

impl io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let needed = self.0.len().saturating_add(buf.len());
        if needed > self.0.capacity() {
            let mut grown = Vec::with_capacity(needed.max(self.0.capacity().saturating_mul(2)));
            grown.extend_from_slice(&self.0);
            let mut old = std::mem::replace(&mut self.0, grown);
            old.zeroize();
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// `serde_json::to_vec` through a [`Writer`].
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut writer = Writer::new();
    serde_json::to_writer(&mut writer, value)?;
    Ok(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn writer_grows_and_keeps_every_byte() {
        let mut w = Writer::new();
        let mut expected = Vec::new();
        for i in 0..2000u32 {
            let chunk = i.to_be_bytes();
            w.write_all(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
        }
        assert_eq!(w.into_inner(), expected);
    }

    #[test]
    fn to_json_matches_serde_json() {
        let value = serde_json::json!({"Plaintext": "aGVsbG8=", "KeyId": "k", "n": [1, 2, 3]});
        assert_eq!(
            to_json(&value).unwrap(),
            serde_json::to_vec(&value).unwrap()
        );
    }

    #[test]
    fn unique_request_body_is_zeroized() {
        // A unique buffer is reclaimed; dropping does not panic for a shared one.
        let shared = Bytes::from(vec![1u8; 64]);
        let other = shared.clone();
        drop(RequestBody::new(shared));
        assert_eq!(&other[..], &[1u8; 64][..]);
        let body = RequestBody::new(Bytes::from(b"secret".to_vec()));
        assert_eq!(&body[..], b"secret");
    }
}
