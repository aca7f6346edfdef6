//! The `pkcs11` root key provider against a real SoftHSM2 token.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once, at the process's first `C_Initialize`: this test
//! binary sets up one token directory (a `Once`, before any test touches the module)
//! holding one token per test, each test using its own token label, so tests in parallel
//! never share a token or its login state. Without SoftHSM2 these tests FAIL (`.ci/run`
//! installs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use trent_crypto::{
    parse_blob, BlobHeader, CryptoError, FileRootKey, KeyCreation, Pkcs11Config, Pkcs11Refusal,
    Pkcs11RootKey, RootKeyError, RootKeyProvider, SecretBytes, TokenError, TokenKeyAttributes,
    TokenKeyStore, XksMasterKey, PKCS11_SEALED_VERSION, PKCS11_WRAPPED_VERSION,
};
use trent_testkit::softhsm;
use zeroize::Zeroizing;

const SO_PIN: &str = "so-pin-4321";
const PIN: &str = "user-pin-1234";
const KEY_LABEL: &str = "trent-root-key";

/// One token per test.
const TOKENS: &[&str] = &[
    "rt-roundtrip",
    "rt-aad",
    "rt-tamper",
    "rt-file-blob",
    "rt-attributes",
    "rt-wrong-pin",
    "rt-missing-key",
    "rt-extractable",
    "rt-concurrent",
    "rt-reopen",
    "rt-debug",
    "ks-keys",
    "ks-shared",
    "ks-other",
    "ks-root",
    "rt-xks",
];

struct SoftHsm {
    module: PathBuf,
    _dir: tempfile::TempDir,
}

fn softhsm() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let tokens = softhsm::Tokens::new(dir.path());
        for label in TOKENS {
            tokens.init_token(label, SO_PIN, PIN);
        }
        let (conf, module) = (tokens.conf, tokens.module);
        // Before any test loads the module (every test comes through here first).
        std::env::set_var("SOFTHSM2_CONF", &conf);
        SoftHsm { module, _dir: dir }
    })
}

fn config(token: &str, pin: &str, pool_size: usize) -> Pkcs11Config {
    Pkcs11Config {
        module: softhsm().module.clone(),
        token_label: token.to_owned(),
        key_label: KEY_LABEL.to_owned(),
        pin: Zeroizing::new(pin.to_owned()),
        pool_size,
    }
}

fn open(token: &str) -> Pkcs11RootKey {
    Pkcs11RootKey::open(config(token, PIN, 4), KeyCreation::CreateIfMissing).unwrap()
}

fn refusal_of(result: Result<Pkcs11RootKey, RootKeyError>) -> (Pkcs11Refusal, String) {
    match result {
        Err(RootKeyError::Pkcs11 { refusal, message }) => (refusal, message),
        other => panic!("expected a pkcs11 refusal, got {other:?}"),
    }
}

/// `pkcs11-tool` (OpenSC) on `token`, logged in: a second process, as an operator
/// would inspect or prepare the token (the provider's own process never touches the
/// module from outside the provider).
fn pkcs11_tool(token: &str, args: &[&str]) -> String {
    let out = Command::new("pkcs11-tool")
        .arg("--module")
        .arg(&softhsm().module)
        .args(["--token-label", token, "--login", "--pin", PIN])
        .args(args)
        .output()
        .expect("pkcs11-tool runs (apt-get install opensc)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pkcs11-tool {args:?}: {text}");
    text
}

#[test]
fn seal_unseal_round_trip() {
    let key = open("rt-roundtrip");
    assert!(key.created());
    assert_eq!(key.kind(), "pkcs11");
    for len in [0, 1, 32, 1000] {
        let pt = vec![0x5a; len];
        let sealed = key.seal(b"arn|m1", &pt).unwrap();
        assert_eq!(sealed.len(), len + 1 + 12 + 16);
        assert_eq!(sealed[0], PKCS11_SEALED_VERSION);
        assert_eq!(key.unseal(b"arn|m1", &sealed).unwrap().expose(), &pt[..]);
    }
    assert_ne!(key.seal(b"a", b"x").unwrap(), key.seal(b"a", b"x").unwrap());
}

#[test]
fn the_key_survives_a_reopen_and_is_not_created_twice() {
    let first = open("rt-reopen");
    assert!(first.created());
    let sealed = first.seal(b"aad", b"material").unwrap();
    drop(first);
    let again = Pkcs11RootKey::open(config("rt-reopen", PIN, 2), KeyCreation::MustExist).unwrap();
    assert!(!again.created());
    assert_eq!(again.unseal(b"aad", &sealed).unwrap().expose(), b"material");
    let third = open("rt-reopen");
    assert!(!third.created());
    assert_eq!(third.unseal(b"aad", &sealed).unwrap().expose(), b"material");
}

#[test]
fn wrong_aad_fails() {
    let key = open("rt-aad");
    let sealed = key.seal(b"aad", b"material").unwrap();
    for aad in [&b"aae"[..], b"", b"aad\0"] {
        assert!(matches!(
            key.unseal(aad, &sealed),
            Err(CryptoError::UnsealFailure)
        ));
    }
    // The session pool survives the refusals.
    assert_eq!(key.unseal(b"aad", &sealed).unwrap().expose(), b"material");
}

#[test]
fn tampered_blobs_fail() {
    let key = open("rt-tamper");
    let sealed = key.seal(b"aad", b"secret material").unwrap();
    for i in 0..sealed.len() * 8 {
        let mut s = sealed.clone();
        s[i / 8] ^= 1 << (i % 8);
        assert!(
            matches!(key.unseal(b"aad", &s), Err(CryptoError::UnsealFailure)),
            "bit {i}"
        );
    }
    for len in 0..sealed.len() {
        assert!(
            matches!(
                key.unseal(b"aad", &sealed[..len]),
                Err(CryptoError::UnsealFailure)
            ),
            "truncated to {len}"
        );
    }
    let mut extended = sealed.clone();
    extended.push(0);
    assert!(matches!(
        key.unseal(b"aad", &extended),
        Err(CryptoError::UnsealFailure)
    ));
    assert_eq!(
        key.unseal(b"aad", &sealed).unwrap().expose(),
        b"secret material"
    );
}

#[test]
fn blobs_of_the_file_provider_are_refused_and_vice_versa() {
    let key = open("rt-file-blob");
    let dir = tempfile::tempdir().unwrap();
    let file = FileRootKey::create(&dir.path().join("root.key")).unwrap();
    let from_file = file.seal(b"aad", b"material").unwrap();
    assert_eq!(from_file[0], 1);
    assert!(matches!(
        key.unseal(b"aad", &from_file),
        Err(CryptoError::UnsealFailure)
    ));
    // Even relabelled with version 2, a file-provider blob does not authenticate.
    let mut relabelled = from_file.clone();
    relabelled[0] = PKCS11_SEALED_VERSION;
    assert!(matches!(
        key.unseal(b"aad", &relabelled),
        Err(CryptoError::UnsealFailure)
    ));
    let from_token = key.seal(b"aad", b"material").unwrap();
    assert!(matches!(
        file.unseal(b"aad", &from_token),
        Err(CryptoError::UnsealFailure)
    ));
}

#[test]
fn the_generated_key_is_sensitive_and_not_extractable() {
    let key = open("rt-attributes");
    assert!(key.created());
    drop(key);
    let listing = pkcs11_tool("rt-attributes", &["--list-objects", "--type", "secrkey"]);
    assert!(listing.contains(KEY_LABEL), "{listing}");
    let object = listing
        .split("Secret Key Object")
        .find(|o| o.contains(KEY_LABEL))
        .unwrap();
    assert!(object.contains("AES length 32"), "{object}");
    // OpenSC prints CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE as the
    // object's access flags, and "extractable" when CKA_EXTRACTABLE is true.
    let access = object
        .lines()
        .find(|l| l.trim_start().starts_with("Access:"))
        .unwrap();
    assert!(access.contains("sensitive"), "{access}");
    assert!(access.contains("never extractable"), "{access}");
    assert!(
        !access
            .replace("never extractable", "")
            .contains("extractable"),
        "{access}"
    );
}

#[test]
fn a_wrong_pin_is_refused_without_the_pin() {
    let (refusal, message) = refusal_of(Pkcs11RootKey::open(
        config("rt-wrong-pin", "not-the-pin-9999", 4),
        KeyCreation::CreateIfMissing,
    ));
    assert_eq!(refusal, Pkcs11Refusal::PinIncorrect, "{message}");
    assert!(message.contains("CKR_PIN_INCORRECT"), "{message}");
    assert!(!message.contains("not-the-pin-9999"), "{message}");
    // Nothing was generated with the wrong PIN: the right one finds no key yet.
    let (refusal, _) = refusal_of(Pkcs11RootKey::open(
        config("rt-wrong-pin", PIN, 4),
        KeyCreation::MustExist,
    ));
    assert_eq!(refusal, Pkcs11Refusal::KeyNotFound);
}

#[test]
fn a_missing_token_key_or_module_is_refused() {
    let (refusal, message) = refusal_of(Pkcs11RootKey::open(
        config("rt-no-such-token", PIN, 4),
        KeyCreation::CreateIfMissing,
    ));
    assert_eq!(refusal, Pkcs11Refusal::TokenNotFound);
    assert!(message.contains("rt-no-such-token"), "{message}");

    let (refusal, message) = refusal_of(Pkcs11RootKey::open(
        config("rt-missing-key", PIN, 4),
        KeyCreation::MustExist,
    ));
    assert_eq!(refusal, Pkcs11Refusal::KeyNotFound);
    assert!(message.contains(KEY_LABEL), "{message}");

    let mut c = config("rt-missing-key", PIN, 4);
    c.module = PathBuf::from("/nonexistent/libnothing.so");
    let (refusal, message) = refusal_of(Pkcs11RootKey::open(c, KeyCreation::CreateIfMissing));
    assert_eq!(refusal, Pkcs11Refusal::Module);
    assert!(message.contains("/nonexistent/libnothing.so"), "{message}");
}

#[test]
fn an_extractable_or_non_sensitive_key_is_refused() {
    pkcs11_tool(
        "rt-extractable",
        &[
            "--keygen",
            "--key-type",
            "AES:32",
            "--label",
            KEY_LABEL,
            "--extractable",
        ],
    );
    let (refusal, message) = refusal_of(Pkcs11RootKey::open(
        config("rt-extractable", PIN, 4),
        KeyCreation::CreateIfMissing,
    ));
    assert_eq!(refusal, Pkcs11Refusal::KeyNotProtected);
    assert!(message.contains("CKA_EXTRACTABLE"), "{message}");
}

#[test]
fn sixteen_threads_share_a_pool_of_two() {
    let key = Arc::new(
        Pkcs11RootKey::open(
            config("rt-concurrent", PIN, 2),
            KeyCreation::CreateIfMissing,
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let key = key.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let aad = format!("thread {t} item {i}");
                    let pt = format!("material {t}/{i}");
                    let sealed = key.seal(aad.as_bytes(), pt.as_bytes()).unwrap();
                    assert!(key.open_sessions() <= 2);
                    assert_eq!(
                        key.unseal(aad.as_bytes(), &sealed).unwrap().expose(),
                        pt.as_bytes()
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(key.open_sessions() >= 1 && key.open_sessions() <= 2);
}

#[test]
fn debug_shows_labels_never_the_pin() {
    let c = config("rt-debug", PIN, 4);
    let dbg = format!("{c:?}");
    assert!(!dbg.contains(PIN), "{dbg}");
    let key = Pkcs11RootKey::open(c, KeyCreation::CreateIfMissing).unwrap();
    let dbg = format!("{key:?} {key:#?}");
    assert!(dbg.contains("rt-debug") && dbg.contains(KEY_LABEL), "{dbg}");
    assert!(dbg.contains("libsofthsm2"), "{dbg}");
    assert!(!dbg.contains(PIN), "{dbg}");
}

/// The keys of an AWS_CLOUDHSM custom key store: generated in the token, sensitive and
/// never extractable, found by their id, used in the token, destroyed.
#[test]
fn token_keys_are_made_used_and_destroyed_inside_the_token() {
    let module = softhsm().module.clone();
    let wrong = TokenKeyStore::connect(&module, "ks-keys", "not-the-pin");
    assert!(matches!(
        wrong,
        Err(RootKeyError::Pkcs11 {
            refusal: Pkcs11Refusal::PinIncorrect,
            ..
        })
    ));
    let missing = TokenKeyStore::connect(&module, "no-such-token", PIN);
    assert!(
        matches!(
            missing,
            Err(RootKeyError::Pkcs11 {
                refusal: Pkcs11Refusal::TokenNotFound,
                ..
            })
        ),
        "{:?}",
        missing.err()
    );
    let token = TokenKeyStore::connect(&module, "ks-keys", PIN).unwrap();
    assert!(!format!("{token:?}").contains(PIN));
    let id = token
        .generate_key("1234abcd-12ab-34cd-56ef-1234567890ab")
        .unwrap();
    assert_eq!(
        token.key_attributes(&id).unwrap(),
        TokenKeyAttributes {
            extractable: false,
            sensitive: true,
            value_len: 32,
        }
    );
    let listed = pkcs11_tool("ks-keys", &["--list-objects"]);
    assert!(
        listed.contains("1234abcd-12ab-34cd-56ef-1234567890ab"),
        "{listed}"
    );

    let header = BlobHeader {
        key_id: [7; 16],
        material_id: [9; 32],
    };
    let blob = token.encrypt_blob(&id, &header, b"ctx", b"secret").unwrap();
    let parsed = parse_blob(&blob).unwrap();
    assert_eq!(parsed.header, header);
    assert_eq!(parsed.plaintext_len(), 6);
    assert_eq!(
        token.decrypt_blob(&id, &parsed, b"ctx").unwrap().expose(),
        b"secret"
    );
    assert!(matches!(
        token.decrypt_blob(&id, &parsed, b"other"),
        Err(TokenError::Crypto(CryptoError::InvalidCiphertext))
    ));
    let mut tampered = blob.clone();
    tampered[60] ^= 1;
    assert!(matches!(
        token.decrypt_blob(&id, &parse_blob(&tampered).unwrap(), b"ctx"),
        Err(TokenError::Crypto(CryptoError::InvalidCiphertext))
    ));
    // The same bytes under another key of the token do not open.
    let other = token.generate_key("other").unwrap();
    assert!(matches!(
        token.decrypt_blob(&other, &parsed, b"ctx"),
        Err(TokenError::Crypto(CryptoError::InvalidCiphertext))
    ));
    assert_eq!(token.random(64).unwrap().len(), 64);

    assert!(token.destroy_key(&id).unwrap());
    assert!(!token.destroy_key(&id).unwrap());
    assert!(matches!(
        token.encrypt_blob(&id, &header, b"", b"x"),
        Err(TokenError::KeyNotFound)
    ));
    // The other key is untouched, and a fresh connection finds it by its id.
    drop(token);
    let again = TokenKeyStore::connect(&module, "ks-keys", PIN).unwrap();
    let blob = again.encrypt_blob(&other, &header, b"", b"y").unwrap();
    assert_eq!(
        again
            .decrypt_blob(&other, &parse_blob(&blob).unwrap(), b"")
            .unwrap()
            .expose(),
        b"y"
    );
}

/// Two connections to one module (two custom key stores on one SoftHSM2 library, or a
/// store and the root key): closing one leaves the other working (the module is never
/// finalized).
#[test]
fn closing_one_token_connection_leaves_the_others_working() {
    let module = softhsm().module.clone();
    let first = TokenKeyStore::connect(&module, "ks-shared", PIN).unwrap();
    let root = open("ks-root");
    let id = first.generate_key("shared").unwrap();
    let sealed = root.seal(b"aad", b"root secret").unwrap();
    let second = TokenKeyStore::connect(&module, "ks-other", PIN).unwrap();
    drop(second);
    let header = BlobHeader {
        key_id: [1; 16],
        material_id: [2; 32],
    };
    let blob = first.encrypt_blob(&id, &header, b"", b"z").unwrap();
    assert_eq!(
        first
            .decrypt_blob(&id, &parse_blob(&blob).unwrap(), b"")
            .unwrap()
            .expose(),
        b"z"
    );
    assert_eq!(
        root.unseal(b"aad", &sealed).unwrap().expose(),
        b"root secret"
    );
}

/// The XKS proxy's master key under a `pkcs11` root key: stored wrapped with the root key
/// (bound to its associated data), unwrapped into the token as a sensitive,
/// non-extractable object, and every key derived from it made and used inside the token,
/// with the same derivation as in process (so a migration between root keys keeps every
/// XKS key). No token object is left behind.
#[test]
fn the_xks_master_key_is_wrapped_and_its_keys_are_derived_inside_the_token() {
    const AAD: &[u8] = b"trent:meta:xks_master_key:v2";
    let root = open("rt-xks");
    // A known value, as a migration from a software root key brings it.
    let material = SecretBytes::new((100u8..132).collect());
    let sealed = root.seal_derivation_key(AAD, Some(&material)).unwrap();
    assert_eq!(sealed[0], PKCS11_WRAPPED_VERSION);
    assert!(!sealed.windows(32).any(|w| w == material.expose()));

    let in_token = root.open_derivation_key(AAD, &sealed).unwrap();
    assert!(in_token.is_in_token());
    assert_eq!(format!("{in_token:?}"), "XksMasterKey(in the token)");
    let master_protection = in_token.token_attributes().unwrap();
    assert!(master_protection.sensitive && !master_protection.extractable);
    let in_process = XksMasterKey::in_process(&material).unwrap();
    let info: &[&[u8]] = &[b"trent xks key v2", b"/ks", b"foo"];
    let token_key = in_token.derive(info).unwrap();
    let protection = token_key.token_attributes().unwrap();
    assert!(protection.sensitive, "{protection:?}");
    assert!(!protection.extractable, "{protection:?}");
    assert_eq!(protection.value_len, 32);
    let process_key = in_process.derive(info).unwrap();
    assert!(process_key.token_attributes().is_none());

    let c = token_key.encrypt(b"aad", b"made in the token").unwrap();
    let p = process_key
        .decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag)
        .unwrap();
    assert_eq!(p.expose(), b"made in the token");
    let c = process_key.encrypt(b"aad", b"made in process").unwrap();
    let p = token_key
        .decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag)
        .unwrap();
    assert_eq!(p.expose(), b"made in process");
    // A refusal of the data inside the token is a refusal of the ciphertext.
    let mut tag = c.tag;
    tag[0] ^= 1;
    assert!(matches!(
        token_key.decrypt(&c.iv, b"aad", &c.ciphertext, &tag),
        Err(CryptoError::InvalidCiphertext)
    ));
    assert!(matches!(
        token_key.decrypt(&c.iv, b"aaD", &c.ciphertext, &c.tag),
        Err(CryptoError::InvalidCiphertext)
    ));
    let other = in_token
        .derive(&[b"trent xks key v2", b"/ks", b"bar"])
        .unwrap();
    assert!(other.decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag).is_err());

    // Out of the token only for a migration: the value comes back.
    let exported = root.export_derivation_key(AAD, &sealed).unwrap();
    assert_eq!(exported.expose(), material.expose());
    // Bound to its record; tampering, truncation and another provider's form refused.
    assert!(matches!(
        root.open_derivation_key(b"another record", &sealed),
        Err(CryptoError::UnsealFailure)
    ));
    assert!(root
        .export_derivation_key(b"another record", &sealed)
        .is_err());
    for i in [1, 20, 45, sealed.len() - 1] {
        let mut tampered = sealed.clone();
        tampered[i] ^= 1;
        assert!(root.open_derivation_key(AAD, &tampered).is_err(), "{i}");
    }
    assert!(root.open_derivation_key(AAD, &sealed[..41]).is_err());
    let dir = tempfile::tempdir().unwrap();
    let file = FileRootKey::create(&dir.path().join("root.key")).unwrap();
    let soft = file.seal_derivation_key(AAD, Some(&material)).unwrap();
    assert!(root.open_derivation_key(AAD, &soft).is_err());
    assert!(file.open_derivation_key(AAD, &sealed).is_err());
    let from_file = file.export_derivation_key(AAD, &soft).unwrap();
    assert_eq!(from_file.expose(), material.expose());

    // A fresh key is made in the token.
    let fresh = root.seal_derivation_key(AAD, None).unwrap();
    assert_eq!(root.export_derivation_key(AAD, &fresh).unwrap().len(), 32);
    assert_ne!(fresh, sealed);

    // Session objects only: the token holds the root key and nothing else.
    drop((token_key, other, in_token));
    let listing = pkcs11_tool("rt-xks", &["--list-objects", "--type", "secrkey"]);
    assert_eq!(listing.matches("Secret Key Object").count(), 1, "{listing}");
}
