//! Named connection profiles (`--profile`, `GCAGG_PROFILE`, the profiles file), against
//! the fake API of `server.rs`.

use std::path::Path;

use tempfile::TempDir;

use crate::server::{Script, Server, CLIENT_ID, SECRET};

const DAY1: &str = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z";

/// Writes a profiles file with `acme` (the fake's client) and `globex` (a wrong secret).
fn profiles(dir: &Path, mode: u32) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "# two orgs\n[profiles.acme]\nregion = \"eu-west-1\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret_env = \"ACME_SECRET\"\n\n[profiles.globex]\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret = \"wrong-Secret-99\"\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    path
}

fn fetch(server: &Server, config: &Path) -> assert_cmd::Command {
    let mut cmd = server.command("fetch");
    cmd.env("GCAGG_CONFIG", config)
        .args(["--interval", DAY1, "--metrics", "nOffered"]);
    cmd
}

#[test]
fn a_profile_supplies_the_client_and_its_secret_from_a_named_variable() {
    let server = Server::start(Script::default());
    let dir = TempDir::new().unwrap();
    let config = profiles(dir.path(), 0o600);
    let out = fetch(&server, &config)
        .args(["--profile", "acme"])
        .env("ACME_SECRET", SECRET)
        // The shell's own org must not win over the profile asked for.
        .env("GENESYS_CLIENT_ID", "shell-org-client")
        .env("GENESYS_CLIENT_SECRET", "shell-org-secret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("{\"results\":"));
    assert_eq!(out.stderr, b"", "a 0600 file gives no warning");
    assert_eq!(server.requests_to("/oauth/token").len(), 1);

    // GCAGG_PROFILE chooses too; flags still win over the profile.
    fetch(&server, &config)
        .env("GCAGG_PROFILE", "acme")
        .env("ACME_SECRET", SECRET)
        .assert()
        .success();
    fetch(&server, &config)
        .args([
            "--profile",
            "globex",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            SECRET,
        ])
        .assert()
        .success();
}

#[test]
fn a_profiles_wrong_secret_fails_as_the_api_refuses_it() {
    let server = Server::start(Script::default());
    let dir = TempDir::new().unwrap();
    let config = profiles(dir.path(), 0o644);
    let out = fetch(&server, &config).args(["--profile", "globex"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("other users can read it; chmod 600"), "{stderr}");
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(!stderr.contains("wrong-Secret-99"), "{stderr}");
}

#[test]
fn an_unknown_profile_or_a_broken_file_is_a_usage_error_naming_it() {
    let server = Server::start(Script::default());
    let dir = TempDir::new().unwrap();
    let config = profiles(dir.path(), 0o600);
    let out = fetch(&server, &config).args(["--profile", "initech"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--profile initech: not in") && stderr.contains("(it has acme, globex)"),
        "{stderr}"
    );

    let out = fetch(&server, &config).args(["--profile", "acme"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("client_secret_env names ACME_SECRET, which is not set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(&config, "[profiles.acme]\nregion = \"eu-west-1\"\nclient = \"x\"\n").unwrap();
    let out = fetch(&server, &config).args(["--profile", "acme"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config.toml:3:1: unknown field `client`"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
