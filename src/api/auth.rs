//! OAuth client credentials and the access token they buy.
//!
//! The secret and the token live in [`Secret`]s, whose `Debug` prints `<redacted>` and which
//! have no `Display`: neither can reach a log line or an error message by accident. A server
//! can still echo them (a login error quoting the request's headers, a 403 quoting the
//! token), so every value a `Secret` holds is also registered, and [`redact::redact`] blanks them
//! in whatever text reaches stderr. The
//! token is shared by every worker thread and reused until shortly before it expires; a
//! 401 invalidates it, and the next caller fetches a new one.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;

use crate::exit::ApiFailure;
use crate::redact;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value, registering it for [`redact::redact`].
    pub fn new(value: String) -> Secret {
        redact::hold(&value);
        Secret(value)
    }

    /// The value itself, for the one header that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The OAuth client's id and secret.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The client id (not secret: it shows in the Genesys admin UI).
    pub client_id: String,
    /// The client secret.
    pub secret: Secret,
}

impl Credentials {
    /// `Basic base64(id:secret)` for the token request.
    pub fn basic_header(&self) -> Secret {
        let pair = format!("{}:{}", self.client_id, self.secret.expose());
        let encoded = Secret::new(base64::engine::general_purpose::STANDARD.encode(pair));
        Secret::new(format!("Basic {}", encoded.expose()))
    }
}

/// The longest token lifetime an OAuth client can be given, in seconds (48 hours).
const MAX_LIFETIME: u64 = 172_800;

/// A token and when to stop using it.
struct Token {
    value: Secret,
    renew_at: Instant,
}

/// The shared access token.
#[derive(Default)]
pub struct TokenCache {
    current: Mutex<Option<Token>>,
}

impl TokenCache {
    /// The current token, or a new one from `fetch` (`(token, expires_in seconds)`).
    /// The lock is held while fetching, so concurrent workers ask for one token, not many.
    pub fn get(&self, fetch: impl FnOnce() -> anyhow::Result<(Secret, u64)>) -> anyhow::Result<Secret> {
        let mut current = self.lock();
        if let Some(token) = current.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.value.clone());
        }
        let (value, expires_in) = fetch()?;
        // No token lives longer than the longest lifetime an OAuth client can have; a larger
        // `expires_in` (2^63-1, 2^64-1) would overflow the clock.
        let expires_in = expires_in.min(MAX_LIFETIME);
        // Renew a tenth of the lifetime early (at most a minute), so a token never expires
        // between the check and the request, or during a long page.
        let margin = (expires_in / 10).min(60);
        let renew_at = Instant::now() + Duration::from_secs(expires_in.saturating_sub(margin));
        *current = Some(Token {
            value: value.clone(),
            renew_at,
        });
        Ok(value)
    }

    /// Forgets `used` after the API refused it, unless another worker already replaced it.
    pub fn invalidate(&self, used: &Secret) {
        let mut current = self.lock();
        if current.as_ref().is_some_and(|t| &t.value == used) {
            *current = None;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Token>> {
        // A worker that panicked while holding the lock left at worst a stale token behind.
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Reads the token and its lifetime from the token endpoint's answer.
pub fn parse_token(body: &str) -> anyhow::Result<(Secret, u64)> {
    // The parse error would quote the body, token included: say only what is wrong.
    let answer: TokenAnswer = serde_json::from_str(body)
        .map_err(|_| anyhow::Error::new(ApiFailure("the token endpoint's answer has no access_token".into())))?;
    // The shortest lifetime an OAuth client can have, if the answer does not say.
    Ok((Secret::new(answer.access_token), answer.expires_in.unwrap_or(300)))
}

/// The token endpoint's error body.
#[derive(Deserialize, Default)]
struct LoginError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    description: String,
}

/// `error: description` of a token endpoint error body, or its start if it is not JSON.
pub fn describe_login_error(body: &str) -> String {
    let Ok(e) = serde_json::from_str::<LoginError>(body) else {
        return super::excerpt(body);
    };
    let description = if e.error_description.is_empty() {
        e.description
    } else {
        e.error_description
    };
    let hint = match e.error.as_str() {
        "invalid_client" => "; check the client id and secret, and the region",
        "unauthorized_client" => "; the OAuth client must use the Client Credentials grant",
        _ => "",
    };
    format!("{}: {description}{hint}", e.error)
}

/// Whether a token endpoint error is its rate limit (a 400, not a 429).
pub fn is_login_rate_limit(status: u16, body: &str) -> bool {
    status == 400 && body.to_ascii_lowercase().contains("rate limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let creds = Credentials {
            client_id: "id".into(),
            secret: Secret::new("hunter2".into()),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
        assert_eq!(creds.basic_header().expose(), "Basic aWQ6aHVudGVyMg==");
        assert!(parse_token("{\"access_token\": 5, \"x\": \"t0k3n\"}").is_err());
        let err = parse_token("{\"access_token\":\"t0k3n\" garbage").unwrap_err();
        assert!(!format!("{err:#}").contains("t0k3n"));
    }

    #[test]
    fn token_is_reused_then_replaced_after_invalidation() {
        let cache = TokenCache::default();
        let a = cache.get(|| Ok((Secret::new("a".into()), 3600))).unwrap();
        let again = cache.get(|| panic!("the token is still fresh")).unwrap();
        assert_eq!(a, again);
        cache.invalidate(&Secret::new("other".into()));
        assert_eq!(cache.get(|| panic!("not invalidated")).unwrap(), a);
        cache.invalidate(&a);
        assert_eq!(cache.get(|| Ok((Secret::new("b".into()), 0))).unwrap().expose(), "b");
        // A token that expires at once is never reused.
        assert_eq!(cache.get(|| Ok((Secret::new("c".into()), 0))).unwrap().expose(), "c");
        // Lifetimes beyond any clock are clamped, and the token reused.
        let cache = TokenCache::default();
        cache.get(|| Ok((Secret::new("d".into()), u64::MAX))).unwrap();
        assert_eq!(cache.get(|| panic!("still fresh")).unwrap().expose(), "d");
    }

    #[test]
    fn describes_login_errors() {
        assert_eq!(
            describe_login_error(r#"{"error":"invalid_client","description":"client not found"}"#),
            "invalid_client: client not found; check the client id and secret, and the region"
        );
        assert!(is_login_rate_limit(
            400,
            r#"{"error":"invalid_request","error_description":"Rate limit exceeded"}"#
        ));
    }
}
