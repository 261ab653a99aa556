//! Helpers shared by the integration tests.

use std::path::PathBuf;

use assert_cmd::Command;

/// The `gcagg` binary under test.
pub fn gcagg() -> Command {
    Command::cargo_bin("gcagg").expect("the gcagg binary is built")
}

/// A file of the project's `fixtures/` folder.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}
