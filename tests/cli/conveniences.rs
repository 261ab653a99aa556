//! `--version`, `gcagg completions` and `gcagg man`: what a user installs on day one.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use tempfile::TempDir;

use crate::util::gcagg;

// The build script's own code, run here against scratch repositories and tarballs.
#[path = "../../build/commit.rs"]
mod commit;

fn stdout_of(args: &[&str]) -> String {
    let out = gcagg().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "gcagg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs git in `dir` (with a fixed identity, so commits work on any machine).
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Process::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A scratch package: `src/main.rs` and `Cargo.toml` in `dir`.
fn package(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"p\"\n").unwrap();
}

#[test]
fn version_names_the_commit_of_this_checkout() {
    let line = stdout_of(&["--version"]);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected = commit::find(manifest);
    assert_eq!(
        line,
        format!("gcagg {} ({})\n", env!("CARGO_PKG_VERSION"), expected.describe)
    );
    // Checked against git itself too, where this is a clone (a tarball has no history).
    let is_clone = Process::new("git")
        .arg("-C")
        .arg(manifest)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .is_ok_and(|o| o.status.success() && Path::new(String::from_utf8_lossy(&o.stdout).trim()) == manifest);
    if is_clone {
        let head = git(manifest, &["rev-parse", "HEAD"]);
        assert!(line.contains(&format!("(commit {}, ", &head[..12])), "{line}");
    }
    // Every subcommand answers --version alike.
    let sub = stdout_of(&["flatten", "--version"]);
    assert_eq!(sub, line.replacen("gcagg", "gcagg-flatten", 1));
}

#[test]
fn commit_of_a_clone_is_its_head_and_notices_edits() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    package(root);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "one"]);
    let head = git(root, &["rev-parse", "HEAD"]);
    let day = git(root, &["log", "-1", "--format=%cs"]);
    let found = commit::find(root);
    assert_eq!(found.describe, format!("commit {}, {day}", &head[..12]));
    assert_eq!(found.date.as_deref(), Some(day.as_str()));
    // The branch's ref moves with each commit: the build script must rerun then.
    let watched: Vec<String> = found.watch.iter().map(|p| p.display().to_string()).collect();
    assert!(watched.iter().any(|p| p.ends_with("HEAD")), "{watched:?}");
    assert!(
        watched
            .iter()
            .any(|p| p.ends_with("refs/heads/master") || p.ends_with("refs/heads/main")),
        "{watched:?}"
    );
    assert!(watched.iter().any(|p| p.ends_with("src")), "{watched:?}");

    // An edit to the sources, not yet committed, is said; one to other files is not.
    std::fs::write(root.join("notes.txt"), "untracked\n").unwrap();
    assert_eq!(commit::find(root).describe, found.describe);
    std::fs::write(root.join("src/main.rs"), "fn main() { println!(); }\n").unwrap();
    assert_eq!(commit::find(root).describe, format!("{}, modified", found.describe));
}

#[test]
fn commit_of_a_tarball_without_git_is_unknown_and_does_not_borrow_an_outer_repository() {
    let outer = TempDir::new().unwrap();
    git(outer.path(), &["init", "-q"]);
    std::fs::write(outer.path().join("x"), "x").unwrap();
    git(outer.path(), &["add", "."]);
    git(outer.path(), &["commit", "-q", "-m", "outer"]);
    // Unpacked inside another repository, the package is not that repository's commit.
    let unpacked = outer.path().join("vendor/gcagg-0.1.0");
    package(&unpacked);
    let found = commit::find(&unpacked);
    assert_eq!(found.describe, "commit unknown");
    assert_eq!(found.date, None);
    assert!(
        found.watch.iter().all(|p| p.starts_with(&unpacked)),
        "{:?}",
        found.watch
    );

    let bare = TempDir::new().unwrap();
    package(bare.path());
    assert_eq!(commit::find(bare.path()).describe, "commit unknown");
}

#[test]
fn commit_of_a_crate_tarball_comes_from_cargo_vcs_info() {
    let dir = TempDir::new().unwrap();
    package(dir.path());
    let sha = "0f878f2db2c7aa1f66d0c1b3e6a1d36cbb5e8c3e";
    let info = format!("{{\n  \"git\": {{\n    \"sha1\": \"{sha}\"\n  }},\n  \"path_in_vcs\": \"\"\n}}");
    std::fs::write(dir.path().join(".cargo_vcs_info.json"), info).unwrap();
    assert_eq!(commit::find(dir.path()).describe, "commit 0f878f2db2c7");
    let dirty = format!("{{\"git\":{{\"sha1\":\"{sha}\",\"dirty\":true}},\"path_in_vcs\":\"\"}}");
    std::fs::write(dir.path().join(".cargo_vcs_info.json"), dirty).unwrap();
    assert_eq!(commit::find(dir.path()).describe, "commit 0f878f2db2c7, modified");
}

/// What bash offers after `words` (the last one being completed), with gcagg's script loaded.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = stdout_of(&["completions", "bash"]);
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("gcagg.bash");
    std::fs::write(&path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let session = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD=$((${{#COMP_WORDS[@]}}-1))\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n_gcagg gcagg \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path.display(),
        quoted.join(" ")
    );
    let out = Process::new("bash")
        .args(["--norc", "-c", &session])
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_flags_and_their_values() {
    assert_eq!(bash_completes(&["gcagg", "fl"]), ["flatten"]);
    assert_eq!(bash_completes(&["gcagg", "flatten", "--partition"]), ["--partition-by"]);
    assert_eq!(
        bash_completes(&["gcagg", "flatten", "--format", ""]),
        ["ndjson", "json", "csv", "parquet"]
    );
    let codecs = bash_completes(&["gcagg", "flatten", "--compression", ""]);
    assert!(
        codecs.contains(&"zstd".to_owned()) && codecs.contains(&"lz4".to_owned()),
        "{codecs:?}"
    );
    let fetch = bash_completes(&["gcagg", "fetch", "--"]);
    for flag in ["--region", "--async", "--split", "--resume"] {
        assert!(fetch.contains(&flag.to_owned()), "{flag} in {fetch:?}");
    }
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for (shell, opening) in [
        ("zsh", "#compdef gcagg"),
        ("fish", "complete -c gcagg"),
        ("powershell", "Register-ArgumentCompleter"),
        ("bash", "complete -F _gcagg"),
    ] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains(opening), "{shell}: lacks {opening}");
        for word in ["flatten", "fetch", "schema", "regions", "partition-by", "client-secret"] {
            assert!(script.contains(word), "{shell}: lacks {word}");
        }
    }
    let out = gcagg().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("gcagg: invalid value 'tcsh'"));
}

/// Renders a page with groff, as `man` does, failing on any warning; `None` without groff.
fn groff(page: &str) -> Option<String> {
    let mut child = Process::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=100n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    use std::io::Write;
    child.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && warnings.is_empty(), "groff: {warnings}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn man_pages_describe_every_command_with_its_examples() {
    let main = stdout_of(&["man"]);
    assert!(main.contains(".TH gcagg 1 "), "{}", &main[..200]);
    for sub in [
        "gcagg\\-flatten(1)",
        "gcagg\\-fetch(1)",
        "gcagg\\-completions(1)",
        "gcagg\\-man(1)",
    ] {
        assert!(main.contains(sub), "gcagg(1) lists {sub}");
    }
    let page = stdout_of(&["man", "flatten"]);
    assert!(page.contains(".TH gcagg-flatten 1 "), "{}", &page[..200]);
    assert!(page.contains("\\-\\-partition\\-by"));
    assert!(page.contains(".SH EXAMPLES\n.nf\n"));
    if let Some(text) = groff(&page) {
        // The examples keep their lines, as the help shows them.
        let plain = text.replace(['\u{2010}', '\u{2212}'], "-");
        assert!(
            plain.contains("gcagg flatten -o day.csv dumps/                   every page file of a directory, as CSV"),
            "{plain}"
        );
        assert!(plain.contains(&format!("v{}", env!("CARGO_PKG_VERSION"))));
    }
    groff(&main);
    for sub in ["fetch", "schema", "regions", "completions", "man"] {
        groff(&stdout_of(&["man", sub]));
    }
}

#[test]
fn man_writes_every_page_into_a_folder() {
    let dir = TempDir::new().unwrap();
    let target: PathBuf = dir.path().join("share/man/man1");
    let out = gcagg().arg("man").arg("-o").arg(&target).output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "gcagg-completions.1",
            "gcagg-fetch.1",
            "gcagg-flatten.1",
            "gcagg-man.1",
            "gcagg-names.1",
            "gcagg-regions.1",
            "gcagg-schema.1",
            "gcagg-sync.1",
            "gcagg.1"
        ]
    );
    let written = std::fs::read_to_string(target.join("gcagg-fetch.1")).unwrap();
    assert_eq!(written, stdout_of(&["man", "fetch"]));

    let out = gcagg().args(["man", "flaten"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "gcagg: gcagg man flaten: no such command; one of completions, fetch, flatten, man, names, regions, schema, sync\n"
    );
}
