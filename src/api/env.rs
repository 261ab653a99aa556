//! Settings from the environment: the real environment first, then a `.env` file.
//!
//! The `.env` file of the working directory is read, never loaded into the process
//! environment: a real variable always wins, and nothing leaks into child processes. Its
//! syntax is dotenvy's (the Rust port of the common `dotenv` rules: `export`, quotes,
//! escapes in double quotes, multi-line quoted values, `#` comments). A `.env` that cannot
//! be read that way (not UTF-8, a line dotenvy rejects) is passed by with one warning, so a
//! run whose settings all come from flags or the environment still works.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;

/// Variables of the environment and of a `.env` file.
#[derive(Debug, Default)]
pub struct Env {
    file: HashMap<String, String>,
}

impl Env {
    /// Reads `.env` from `dir` if there is one.
    pub fn load(dir: &Path) -> anyhow::Result<Env> {
        let path = dir.join(".env");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Env::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        match parse(&bytes) {
            Ok(file) => Ok(Env { file }),
            Err(why) => {
                eprintln!("gcagg: warning: {}: {why}; its variables are not used", path.display());
                Ok(Env::default())
            }
        }
    }

    /// The first of `names` that is set (and not empty), from the environment, else `.env`.
    pub fn get(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .or_else(|| {
                names
                    .iter()
                    .find_map(|name| self.file.get(*name).filter(|v| !v.is_empty()).cloned())
            })
    }
}

/// The variables of a `.env` file's bytes, or why they cannot be read.
fn parse(bytes: &[u8]) -> Result<HashMap<String, String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 (byte {})", e.valid_up_to() + 1))?;
    // Editors on Windows add a byte-order mark, old Mac ones end lines with a lone CR:
    // neither is part of dotenvy's syntax.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    dotenvy::from_read_iter(text.as_bytes())
        .map(|item| match item {
            Ok(pair) => Ok(pair),
            Err(dotenvy::Error::LineParse(line, at)) => {
                Err(format!("cannot parse `{}` (at character {at})", line.trim_end()))
            }
            Err(e) => Err(e.to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> HashMap<String, String> {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn parses_dotenv_lines() {
        let vars = vars(
            "# comment\nexport GENESYS_CLIENT_ID=abc\nGENESYS_CLIENT_SECRET=\"s e#cret\"\nA='x' # note\nB=y # note\n",
        );
        assert_eq!(vars["GENESYS_CLIENT_ID"], "abc");
        assert_eq!(vars["GENESYS_CLIENT_SECRET"], "s e#cret");
        assert_eq!(vars["A"], "x");
        assert_eq!(vars["B"], "y");
        assert_eq!(vars.len(), 4);
    }

    #[test]
    fn reads_what_editors_and_shells_write() {
        assert_eq!(vars("\u{feff}A=1\n")["A"], "1", "byte-order mark");
        assert_eq!(vars("export\tA=1\n")["A"], "1", "export and a tab");
        let lone_cr = vars("A=1\rB=2\r");
        assert_eq!(
            (lone_cr["A"].as_str(), lone_cr["B"].as_str()),
            ("1", "2"),
            "lone CR line ends"
        );
        assert_eq!(vars("A=1\t#note\n")["A"], "1", "a comment after a tab");
        assert_eq!(vars("A=\"a\\\"b\"\n")["A"], "a\"b", "an escaped quote");
        assert_eq!(
            vars("A=\"line 1\nline 2\"\nB=3\n")["A"],
            "line 1\nline 2",
            "multi-line value"
        );
    }

    #[test]
    fn unreadable_files_say_why() {
        assert!(parse(b"A=\xff\n").unwrap_err().starts_with("not UTF-8 (byte 3)"));
        assert!(parse(b"A B C\n").unwrap_err().starts_with("cannot parse `A B C`"));
    }
}
