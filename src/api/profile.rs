//! Named connection profiles: one org's region and OAuth client under a name.
//!
//! People who pull from several orgs (an agency, a group of companies) keep each org's
//! client under a name, as the `gc` CLI and the SDKs do, and pick one with `--profile NAME`
//! or `GCAGG_PROFILE`. The profiles live in one TOML file, `$GCAGG_CONFIG` if set, else
//! `config.toml` in gcagg's folder of the user's configuration directory
//! (`~/.config/gcagg/` on Linux):
//!
//! ```toml
//! [profiles.acme]
//! region = "eu-west-1"
//! client_id = "…"
//! client_secret_env = "ACME_GENESYS_SECRET"   # or client_secret = "…"
//! ```
//!
//! A profile sits between the flags and the environment: a flag wins over it, and it wins
//! over `GENESYS_*` variables, which belong to whatever org the shell was set up for.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::exit::usage;

/// One profile's settings; every one may be left out.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Region code or domain, as `--region` takes it.
    pub region: Option<String>,
    /// API base URL, as `--api-base` takes it.
    pub api_base: Option<String>,
    /// Login base URL, as `--login-base` takes it.
    pub login_base: Option<String>,
    /// The OAuth client id.
    pub client_id: Option<String>,
    /// The OAuth client secret, in the file itself.
    pub client_secret: Option<String>,
    /// The environment variable that holds the secret (keeps it out of the file).
    pub client_secret_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// Where the profiles file is.
pub fn config_path() -> Option<PathBuf> {
    match std::env::var_os("GCAGG_CONFIG").filter(|p| !p.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => dirs::config_dir().map(|dir| dir.join("gcagg").join("config.toml")),
    }
}

impl Profile {
    /// The profile called `name` in the profiles file; a usage error naming the file if
    /// the file or the profile is missing or malformed.
    pub fn load(name: &str) -> anyhow::Result<Profile> {
        let path = config_path().ok_or_else(|| {
            usage(format!(
                "--profile {name}: no configuration directory; set GCAGG_CONFIG to the profiles file"
            ))
        })?;
        let shown = path.display();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            usage(format!(
                "--profile {name}: cannot read the profiles file {shown}: {e} (see `gcagg fetch --help`)"
            ))
        })?;
        let file: File = toml::from_str(&text).map_err(|e| {
            let why = e.message().to_owned();
            let at = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(":{line}:{column}")
                })
                .unwrap_or_default();
            usage(format!("{shown}{at}: {why}"))
        })?;
        let Some(profile) = file.profiles.get(name) else {
            let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            return Err(usage(format!(
                "--profile {name}: not in {shown} (it has {})",
                if known.is_empty() {
                    "no profiles".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        };
        warn_if_readable(&path, profile);
        Ok(profile.clone())
    }

    /// The secret: in the file, or in the variable the file names.
    pub fn secret(&self, name: &str) -> anyhow::Result<Option<String>> {
        if let Some(var) = &self.client_secret_env {
            return match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(Some(value)),
                _ => Err(usage(format!(
                    "--profile {name}: its client_secret_env names {var}, which is not set"
                ))),
            };
        }
        Ok(self.client_secret.clone())
    }
}

/// A secret in a file other users can read is as good as published: say so, as ssh does.
fn warn_if_readable(path: &std::path::Path, profile: &Profile) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let shared = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
        if shared && profile.client_secret.is_some() {
            eprintln!(
                "gcagg: warning: {} holds a client secret and other users can read it; chmod 600 it",
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, profile);
}
