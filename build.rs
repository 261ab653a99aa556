//! Records the git commit the binary is built from, for `gcagg --version` (see
//! `build/commit.rs`): `GCAGG_VERSION` is `0.1.0 (commit 0123456789ab, 2024-05-01)`.

#[path = "build/commit.rs"]
mod commit;

fn main() {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let found = commit::find(&dir);
    for path in &found.watch {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    println!("cargo:rustc-env=GCAGG_VERSION={version} ({})", found.describe);
    // The man pages' date: the commit's, so that a build's pages do not change from day to day.
    let date = found.date.as_deref().unwrap_or("undated");
    println!("cargo:rustc-env=GCAGG_COMMIT_DATE={date}");
}
