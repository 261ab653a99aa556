//! Settings from the environment: the real environment first, then a `.env` file.
//!
//! The `.env` file of the working directory is read, never loaded into the process
//! environment: a real variable always wins, and nothing leaks into child processes.
//! Its syntax is the common one: `KEY=VALUE` lines, an optional `export ` prefix, `#`
//! comments, values optionally in single or double quotes.

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
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Env::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Env { file: parse(&text) })
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

fn parse(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or_default(),
            // An unquoted value ends at a comment.
            _ => value.split(" #").next().unwrap_or_default().trim_end(),
        };
        vars.insert(key.trim().to_owned(), value.to_owned());
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dotenv_lines() {
        let vars = parse(
            "# comment\nexport GENESYS_CLIENT_ID=abc\nGENESYS_CLIENT_SECRET = \"s e#cret\"\nA='x' # note\nB=y # note\nnonsense\n",
        );
        assert_eq!(vars["GENESYS_CLIENT_ID"], "abc");
        assert_eq!(vars["GENESYS_CLIENT_SECRET"], "s e#cret");
        assert_eq!(vars["A"], "x");
        assert_eq!(vars["B"], "y");
        assert_eq!(vars.len(), 4);
    }
}
