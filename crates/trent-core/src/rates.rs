//! Request-rate quotas (<https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html>):
//! a token bucket per account and quota, refilled at the quota's rate per second and
//! holding at most one second of it (at least one request); a request over it is
//! `ThrottlingException` with AWS's message, and nothing is done.
//!
//! The quotas, as AWS publishes them (each configurable in `[quotas.rates]`):
//! - **Cryptographic operations** share a quota per key type: `cryptographic_symmetric`
//!   (symmetric and HMAC keys, and GenerateRandom: 10,000, AWS's base figure; some AWS
//!   Regions have more), `cryptographic_rsa` (500), `cryptographic_ecc` (300, SM2 too),
//!   `cryptographic_ml_dsa` (300: AWS's figure was not found; ECC's is used).
//! - **GenerateDataKeyPair(WithoutPlaintext)** also counts against a quota of its pair's
//!   spec: `generate_data_key_pair_rsa_2048` (1), `_rsa_3072` (0.5), `_rsa_4096` (0.1),
//!   `_ecc_nist_p256` (25), `_ecc_nist_p384` (10), `_ecc_nist_p521` (5),
//!   `_ecc_secg_p256k1` (25); other pair specs have none.
//! - **Every other operation** has a quota of its own, named by the operation
//!   (`CreateKey = 5`, ...), from AWS's table (operations AWS added after it: 5, as its
//!   other management operations).
//!
//! Throttling is by the calling account, as AWS throttles cross-account requests. Each
//! node of a cluster keeps its own buckets: a cluster of N nodes allows up to N times
//! the quota.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

use crate::KmsError;

/// The shared quotas and their default rates (requests per second).
const SHARED: [(&str, f64); 11] = [
    ("cryptographic_symmetric", 10_000.0),
    ("cryptographic_rsa", 500.0),
    ("cryptographic_ecc", 300.0),
    ("cryptographic_ml_dsa", 300.0),
    ("generate_data_key_pair_rsa_2048", 1.0),
    ("generate_data_key_pair_rsa_3072", 0.5),
    ("generate_data_key_pair_rsa_4096", 0.1),
    ("generate_data_key_pair_ecc_nist_p256", 25.0),
    ("generate_data_key_pair_ecc_nist_p384", 10.0),
    ("generate_data_key_pair_ecc_nist_p521", 5.0),
    ("generate_data_key_pair_ecc_secg_p256k1", 25.0),
];

/// The operations with a quota of their own, and its default rate.
const OPERATIONS: [(&str, f64); 41] = [
    ("CancelKeyDeletion", 5.0),
    ("ConnectCustomKeyStore", 5.0),
    ("CreateAlias", 5.0),
    ("CreateCustomKeyStore", 5.0),
    ("CreateGrant", 50.0),
    ("CreateKey", 5.0),
    ("DeleteAlias", 5.0),
    ("DeleteCustomKeyStore", 5.0),
    ("DeleteImportedKeyMaterial", 5.0),
    ("DescribeCustomKeyStores", 5.0),
    ("DescribeKey", 100.0),
    ("DisableKey", 5.0),
    ("DisableKeyRotation", 5.0),
    ("DisconnectCustomKeyStore", 5.0),
    ("EnableKey", 5.0),
    ("EnableKeyRotation", 5.0),
    ("GetKeyPolicy", 30.0),
    ("GetKeyRotationStatus", 30.0),
    ("GetParametersForImport", 0.25),
    ("GetPublicKey", 5.0),
    ("ImportKeyMaterial", 5.0),
    ("ListAliases", 100.0),
    ("ListGrants", 100.0),
    ("ListKeyPolicies", 100.0),
    ("ListKeys", 100.0),
    ("ListResourceTags", 100.0),
    ("ListRetirableGrants", 5.0),
    ("PutKeyPolicy", 5.0),
    ("RetireGrant", 15.0),
    ("RevokeGrant", 15.0),
    ("ScheduleKeyDeletion", 5.0),
    ("TagResource", 5.0),
    ("UntagResource", 5.0),
    ("UpdateAlias", 5.0),
    ("UpdateCustomKeyStore", 5.0),
    ("UpdateKeyDescription", 5.0),
    ("ReplicateKey", 5.0),
    ("UpdatePrimaryRegion", 5.0),
    ("RotateKeyOnDemand", 5.0),
    ("ListKeyRotations", 5.0),
    ("GetKeyLastUsage", 5.0),
];

/// The rate of each quota (requests per second); a quota not in the map has none.
#[derive(Debug, Clone, PartialEq)]
pub struct RateQuotas(HashMap<&'static str, f64>);

impl Default for RateQuotas {
    /// AWS's defaults.
    fn default() -> Self {
        RateQuotas(SHARED.iter().chain(OPERATIONS.iter()).copied().collect())
    }
}

impl RateQuotas {
    /// No rate quota at all.
    pub fn off() -> Self {
        RateQuotas(HashMap::new())
    }

    /// Sets the quota `name` (a shared quota's name or an operation's) to `rate`
    /// requests per second; refuses an unknown name or a rate that is not positive.
    pub fn set(&mut self, name: &str, rate: f64) -> Result<(), String> {
        let known = SHARED
            .iter()
            .chain(OPERATIONS.iter())
            .map(|(n, _)| *n)
            .find(|n| *n == name)
            .ok_or_else(|| format!("unknown request-rate quota {name:?}"))?;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!(
                "{name}: the rate must be a positive number of requests per second"
            ));
        }
        self.0.insert(known, rate);
        Ok(())
    }

    /// Whether no quota is set.
    pub fn is_off(&self) -> bool {
        self.0.is_empty()
    }
}

/// The shared cryptographic quota of a key spec.
pub(crate) fn cryptographic_quota(key_spec: trent_wire::KeySpec) -> &'static str {
    let spec = key_spec.as_str();
    if spec.starts_with("RSA_") {
        "cryptographic_rsa"
    } else if spec.starts_with("ECC_") || spec == "SM2" {
        "cryptographic_ecc"
    } else if spec.starts_with("ML_DSA") {
        "cryptographic_ml_dsa"
    } else {
        "cryptographic_symmetric"
    }
}

/// The quota of a data key pair's spec, if it has one.
pub(crate) fn data_key_pair_quota(pair_spec: &str) -> Option<&'static str> {
    let name = format!("generate_data_key_pair_{}", pair_spec.to_ascii_lowercase());
    SHARED.iter().map(|(n, _)| *n).find(|n| *n == name)
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Each quota set: its rate, and the buckets of the accounts that used it.
pub(crate) struct RateLimiter(HashMap<&'static str, (f64, Buckets)>);

/// One quota's buckets, by account.
type Buckets = Mutex<HashMap<String, Bucket>>;

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quotas", &self.0.len())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    pub(crate) fn new(rates: RateQuotas) -> Self {
        RateLimiter(
            rates
                .0
                .into_iter()
                .map(|(name, rate)| (name, (rate, Mutex::new(HashMap::new()))))
                .collect(),
        )
    }

    /// Whether any quota is set.
    pub(crate) fn is_on(&self) -> bool {
        !self.0.is_empty()
    }

    /// Takes one request of `account` from the quota `name` (none set: always granted).
    pub(crate) fn take(&self, account: &str, name: &str) -> Result<(), KmsError> {
        self.take_at(account, name, Instant::now())
    }

    fn take_at(&self, account: &str, name: &str, now: Instant) -> Result<(), KmsError> {
        let Some((rate, buckets)) = self.0.get(name) else {
            return Ok(());
        };
        let capacity = rate.max(1.0);
        let mut buckets = buckets.lock();
        let bucket = match buckets.get_mut(account) {
            Some(b) => b,
            None => buckets.entry(account.to_owned()).or_insert(Bucket {
                tokens: capacity,
                at: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(KmsError::Throttled)
        }
    }
}

impl crate::KeyService {
    /// Counts a request of `operation` against its own quota (GenerateRandom: the
    /// symmetric cryptographic quota), for the caller's account; `ThrottlingException`
    /// over it. Cryptographic operations are counted when their key is known
    /// (authorization).
    pub fn throttle_operation(
        &self,
        caller: &crate::Caller,
        operation: &str,
    ) -> Result<(), KmsError> {
        if !self.rates.is_on() {
            return Ok(());
        }
        // An operation's own quota is named by the operation (one map lookup; the
        // cryptographic operations have none of their own).
        let quota = if operation == "GenerateRandom" {
            "cryptographic_symmetric"
        } else {
            operation
        };
        self.rates.take(caller.account_id().as_str(), quota)
    }

    /// Counts a GenerateDataKeyPair(WithoutPlaintext) request against its pair spec's
    /// quota.
    pub(crate) fn throttle_data_key_pair(
        &self,
        caller: &crate::Caller,
        pair_spec: &str,
    ) -> Result<(), KmsError> {
        match data_key_pair_quota(pair_spec) {
            Some(q) if self.rates.is_on() => self.rates.take(caller.account_id().as_str(), q),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_one_second_and_refills() {
        let mut rates = RateQuotas::off();
        rates.set("CreateKey", 2.0).unwrap();
        rates.set("GetParametersForImport", 0.25).unwrap();
        let limiter = RateLimiter::new(rates);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        assert!(limiter.take_at("111122223333", "CreateKey", at(0)).is_ok());
        assert!(limiter.take_at("111122223333", "CreateKey", at(0)).is_ok());
        assert!(matches!(
            limiter.take_at("111122223333", "CreateKey", at(0)),
            Err(KmsError::Throttled)
        ));
        // Another account, another bucket; a quota not set, no limit.
        assert!(limiter.take_at("444455556666", "CreateKey", at(0)).is_ok());
        for _ in 0..100 {
            assert!(limiter.take_at("111122223333", "ListKeys", at(0)).is_ok());
        }
        // Half a second refills one request at 2 per second; never more than a second's.
        assert!(limiter
            .take_at("111122223333", "CreateKey", at(499))
            .is_err());
        assert!(limiter
            .take_at("111122223333", "CreateKey", at(1000))
            .is_ok());
        assert!(limiter
            .take_at("111122223333", "CreateKey", at(60_000))
            .is_ok());
        assert!(limiter
            .take_at("111122223333", "CreateKey", at(60_000))
            .is_ok());
        assert!(limiter
            .take_at("111122223333", "CreateKey", at(60_000))
            .is_err());
        // Under one per second: one request, then one every 1/rate seconds.
        assert!(limiter
            .take_at("1", "GetParametersForImport", at(0))
            .is_ok());
        assert!(limiter
            .take_at("1", "GetParametersForImport", at(3_000))
            .is_err());
        assert!(limiter
            .take_at("1", "GetParametersForImport", at(4_001))
            .is_ok());
    }

    #[test]
    fn names_and_rates_are_checked() {
        let mut rates = RateQuotas::default();
        assert!(rates.set("CreateKeys", 1.0).is_err());
        assert!(rates.set("CreateKey", 0.0).is_err());
        assert!(rates.set("CreateKey", f64::NAN).is_err());
        assert!(rates.set("generate_data_key_pair_rsa_4096", 0.2).is_ok());
        assert_eq!(
            data_key_pair_quota("RSA_4096"),
            Some("generate_data_key_pair_rsa_4096")
        );
        assert_eq!(data_key_pair_quota("SM2"), None);
        assert_eq!(
            cryptographic_quota(trent_wire::KeySpec::EccNistP256),
            "cryptographic_ecc"
        );
        assert_eq!(
            cryptographic_quota(trent_wire::KeySpec::Hmac256),
            "cryptographic_symmetric"
        );
    }
}
