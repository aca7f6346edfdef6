//! The console's sessions, held by the server: the browser holds only an opaque token in
//! an `HttpOnly`, `Secure`, `SameSite=Strict` cookie, never a secret of the principal's.
//!
//! Why server-side and not request signing in the page: a secret access key in the page
//! would be readable by any script that ever ran there, and would have to be kept
//! somewhere between page loads (browser storage, which the issue rules out) or typed
//! again on every one. Here the secret (or the role session's temporary credentials) stays
//! in this process's memory, zeroized when the session ends; a stolen cookie is worth only
//! as long as the session's idle timeout, and cannot be read by script at all.
//!
//! A session is found by the SHA-256 of its token (the map never holds a token a lookup
//! could be timed against), and every state-changing form carries the session's CSRF
//! token, compared in constant time.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use parking_lot::Mutex;
use subtle::ConstantTimeEq as _;

/// The session cookie. `__Host-`: the browser accepts it only if `Secure`, with `Path=/`
/// and no `Domain`, so no other host or path can plant or read it.
pub const COOKIE: &str = "__Host-trent-console";
/// The sign-in form's token cookie (login CSRF: a form posted from elsewhere has no
/// matching cookie).
pub const SIGN_IN_COOKIE: &str = "__Host-trent-sign-in";

/// How long a session lasts without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a session lasts at most, however busy (AWS's console: 12 hours).
pub const MAX_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions held at most; the oldest idle one makes room. Only a principal that signed in
/// makes one, but memory is bounded all the same.
const MAX_SESSIONS: usize = 10_000;

/// Who a session acts as, and what its calls are signed with.
#[derive(Clone)]
pub struct Principal {
    /// Who the console acts as (a user, or an assumed role's session).
    pub arn: String,
    pub account: String,
    /// The region the console's requests are signed for.
    pub region: String,
    /// The credentials the console signs with. The secret's `Debug` is redacted and it is
    /// zeroized on drop.
    pub credentials: std::sync::Arc<trent_sigv4::Credentials>,
    /// The user who signed in, when the session acts as a role they assumed.
    pub signed_in_as: Option<String>,
}

/// A signed-in principal's session.
pub struct Session {
    pub principal: Principal,
    /// The token every form that changes something must carry.
    pub csrf: String,
    created: SystemTime,
    last_seen: SystemTime,
    /// Temporary credentials expire: the session with them.
    expires: Option<SystemTime>,
    /// One message for the next page (after a redirect).
    pub flash: Option<Flash>,
}

/// A message shown once, on the page a form redirects to.
#[derive(Clone)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("principal_arn", &self.principal.arn)
            .field("region", &self.principal.region)
            .finish_non_exhaustive()
    }
}

/// What a new session is made of.
pub struct NewSession {
    pub principal: Principal,
    /// When its (temporary) credentials expire.
    pub expires: Option<SystemTime>,
}

/// The sessions of this server.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

/// A copy of what a request needs of its session (the lock is not held across requests).
#[derive(Clone)]
pub struct Current {
    pub principal: Principal,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The token's hash: the session's key.
    id: [u8; 32],
}

impl Sessions {
    /// Starts a session; returns its token (for the cookie). `None` if no randomness.
    pub fn create(&self, new: NewSession, now: SystemTime) -> Option<String> {
        let token = random_token()?;
        let csrf = random_token()?;
        let session = Session {
            principal: new.principal,
            csrf,
            created: now,
            last_seen: now,
            expires: new.expires,
            flash: None,
        };
        let mut map = self.map.lock();
        map.retain(|_, s| s.live(now));
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(id, _)| *id)
            {
                map.remove(&oldest);
            }
        }
        map.insert(hash(&token), session);
        Some(token)
    }

    /// The live session of this token, its idle clock restarted; its flash taken. An
    /// expired session is removed.
    pub fn touch(&self, token: &str, now: SystemTime) -> Option<Current> {
        let id = hash(token);
        let mut map = self.map.lock();
        let session = map.get_mut(&id)?;
        if !session.live(now) {
            map.remove(&id);
            return None;
        }
        session.last_seen = now;
        Some(Current {
            principal: session.principal.clone(),
            csrf: session.csrf.clone(),
            flash: session.flash.take(),
            id,
        })
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, current: &Current, flash: Flash) {
        if let Some(s) = self.map.lock().get_mut(&current.id) {
            s.flash = Some(flash);
        }
    }

    /// Signs the session's next calls for another region.
    pub fn set_region(&self, current: &Current, region: &str) {
        if let Some(s) = self.map.lock().get_mut(&current.id) {
            s.principal.region = region.to_owned();
        }
    }

    /// Ends a session (sign-out).
    pub fn end(&self, current: &Current) {
        self.map.lock().remove(&current.id);
    }

    /// Sessions held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Session {
    fn live(&self, now: SystemTime) -> bool {
        // A clock that went back cannot tell how long the session has been idle: ended,
        // never kept alive longer.
        let idle = now.duration_since(self.last_seen).unwrap_or(Duration::MAX);
        let age = now.duration_since(self.created).unwrap_or(Duration::MAX);
        idle < IDLE_TIMEOUT && age < MAX_LIFETIME && self.expires.is_none_or(|e| now < e)
    }
}

impl Current {
    /// Whether a form's token is this session's (constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        csrf_equal(&self.csrf, given)
    }
}

/// Two tokens compared in constant time (in their length too, as both are hashed first).
pub fn csrf_equal(a: &str, b: &str) -> bool {
    hash(a).ct_eq(&hash(b)).into()
}

/// 256 random bits, base64url.
pub fn random_token() -> Option<String> {
    let bytes = trent_crypto::random_array::<32>().ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn hash(token: &str) -> [u8; 32] {
    trent_crypto::sha256(&[token.as_bytes()])
}

/// The value of a cookie in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for a `__Host-` cookie, session-long (no `Max-Age`).
pub fn set_cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// A `Set-Cookie` value that removes a cookie.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn new_session(expires: Option<SystemTime>) -> NewSession {
        NewSession {
            principal: Principal {
                arn: "arn:aws:iam::111122223333:user/alice".into(),
                account: "111122223333".into(),
                region: "us-east-1".into(),
                credentials: std::sync::Arc::new(trent_sigv4::Credentials {
                    access_key_id: "AKIA".into(),
                    secret_access_key: trent_sigv4::SecretKey::new("s3cret"),
                    session_token: None,
                }),
                signed_in_as: None,
            },
            expires,
        }
    }

    #[test]
    fn a_session_ends_when_idle_too_long_or_too_old_or_its_credentials_expire() {
        let sessions = Sessions::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let token = sessions.create(new_session(None), t0).unwrap();
        assert!(sessions.touch("not-a-token", t0).is_none());
        let minute = Duration::from_secs(60);
        // Kept alive by use, up to the maximum lifetime.
        let mut t = t0;
        while t + IDLE_TIMEOUT - minute < t0 + MAX_LIFETIME {
            t += IDLE_TIMEOUT - minute;
            assert!(sessions.touch(&token, t).is_some());
        }
        assert!(sessions.touch(&token, t0 + MAX_LIFETIME).is_none());
        assert!(sessions.is_empty(), "an expired session is removed");

        let token = sessions.create(new_session(None), t0).unwrap();
        assert!(sessions.touch(&token, t0 + IDLE_TIMEOUT).is_none());

        // A clock that went back ends the session.
        let token = sessions.create(new_session(None), t0).unwrap();
        assert!(sessions.touch(&token, t0 - minute).is_none());

        let token = sessions.create(new_session(Some(t0 + minute)), t0).unwrap();
        assert!(sessions.touch(&token, t0 + minute / 2).is_some());
        assert!(sessions.touch(&token, t0 + minute).is_none());
    }

    #[test]
    fn flash_is_shown_once_and_sign_out_ends_the_session() {
        let sessions = Sessions::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let token = sessions.create(new_session(None), t0).unwrap();
        let current = sessions.touch(&token, t0).unwrap();
        assert!(current.csrf_matches(&current.csrf.clone()));
        assert!(!current.csrf_matches("forged"));
        sessions.flash(
            &current,
            Flash {
                ok: true,
                text: "done".into(),
            },
        );
        assert_eq!(
            sessions.touch(&token, t0).unwrap().flash.unwrap().text,
            "done"
        );
        assert!(sessions.touch(&token, t0).unwrap().flash.is_none());
        sessions.end(&current);
        assert!(sessions.touch(&token, t0).is_none());
    }

    #[test]
    fn cookies_are_read_by_exact_name_and_set_host_only() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            "a=1; __Host-trent-console-x=2".parse().unwrap(),
        );
        headers.append(
            http::header::COOKIE,
            "__Host-trent-console=tok".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "b"), None);
        let set = set_cookie(COOKIE, "v");
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(!set.contains("Domain"));
    }

    #[test]
    fn debug_shows_no_secret() {
        let sessions = Sessions::default();
        let t0 = SystemTime::UNIX_EPOCH;
        sessions.create(new_session(None), t0).unwrap();
        let text = format!("{:?}", sessions.map.lock().values().next().unwrap());
        assert!(!text.contains("s3cret") && !text.contains("AKIA"), "{text}");
    }
}
