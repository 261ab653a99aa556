//! Secret values blanked out of every text that reaches stderr: a server can echo a secret
//! (a login error quoting the request's headers, a 403 quoting the token), so each one the
//! process holds is registered here as it is wrapped (see `api::auth::Secret`).

use std::borrow::Cow;
use std::sync::Mutex;

/// Every secret value the process holds, for [`redact`].
static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Values shorter than this are not blanked: they would match ordinary words.
const MIN_REDACTED: usize = 4;

/// The text with every secret value held (client secret, its Basic form, tokens) replaced
/// by `<redacted>`, whatever the server put around it.
pub fn redact(text: &str) -> Cow<'_, str> {
    let held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for value in held.iter() {
        if out.contains(value.as_str()) {
            out = Cow::Owned(out.replace(value.as_str(), "<redacted>"));
        }
    }
    out
}

/// Registers `value` for [`redact`].
pub fn hold(value: &str) {
    if value.len() >= MIN_REDACTED {
        let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !held.iter().any(|v| v == value) {
            // Longest first, so a value containing another is blanked whole.
            let at = held.partition_point(|v| v.len() >= value.len());
            held.insert(at, value.to_owned());
        }
    }
}
