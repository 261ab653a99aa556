//! Exit codes, decided in exactly one place.
//!
//! Every failure travels up as an [`anyhow::Error`]; its chain says what kind of failure it
//! is: a [`Usage`] marker means the command line was wrong, an [`ApiFailure`] marker means the
//! remote API, authentication or the network failed, anything else is bad input or data. A
//! broken pipe anywhere in the chain means the reader went away: that ends quietly.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

/// The process exit codes (listed in README, "Errors and exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Success, or the reader of our output closed the pipe.
    Success = 0,
    /// Invalid input or data.
    Data = 1,
    /// The command line was wrong.
    Usage = 2,
    /// The API, authentication or the network failed.
    Api = 3,
}

/// A command-line mistake found after parsing (a bad flag value, conflicting flags).
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Shorthand for a usage error naming the flag at fault.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

/// Marks a failure of the remote API, of authentication or of the network.
#[derive(Debug)]
pub struct ApiFailure(pub String);

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApiFailure {}

/// Classifies a failure by the markers in its chain.
pub fn classify(err: &anyhow::Error) -> Code {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<io::Error>() {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Code::Success;
            }
        }
        if cause.is::<Usage>() {
            return Code::Usage;
        }
        if cause.is::<ApiFailure>() {
            return Code::Api;
        }
    }
    Code::Data
}

/// Prints the failure (if any) as one line and returns the exit code.
pub fn report(outcome: anyhow::Result<()>) -> ExitCode {
    let Err(err) = outcome else {
        return ExitCode::from(Code::Success as u8);
    };
    let code = classify(&err);
    if code != Code::Success {
        // `{:#}` joins the context chain with ": " on one line; newlines inside a message
        // (a multi-line API answer) are flattened so the error stays one line.
        let line = crate::redact::redact(&format!("{err:#}")).replace(['\n', '\r'], " ");
        let _ = writeln!(io::stderr(), "gcagg: {line}");
    }
    ExitCode::from(code as u8)
}

/// Prints clap's own message (help, version, or a usage error) and maps it to an exit code.
///
/// Help and version go to stdout as clap renders them. A usage error becomes one line, as
/// every other error is, and clap's tip, if any, a second: each starts `gcagg:`, like every
/// line on stderr. A missing subcommand prints the help on stdout and says so on stderr.
pub fn clap_error(err: &clap::Error) -> ExitCode {
    if !err.use_stderr() {
        let _ = err.print();
        return ExitCode::from(Code::Success as u8);
    }
    if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = write!(io::stdout(), "{}", err.render());
        let _ = writeln!(io::stderr(), "gcagg: name a command; `gcagg --help` lists them");
        return ExitCode::from(Code::Usage as u8);
    }
    for line in message_lines(&err.render().to_string()) {
        let _ = writeln!(io::stderr(), "gcagg: {line}");
    }
    ExitCode::from(Code::Usage as u8)
}

/// Clap's message without its `error:` label and usage block: the message on one line,
/// then its `tip:` lines.
fn message_lines(rendered: &str) -> Vec<String> {
    let (tips, message): (Vec<&str>, Vec<&str>) = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .partition(|line| line.starts_with("tip:"));
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let mut lines = vec![format!("{message} (see --help)")];
    lines.extend(tips.into_iter().map(str::to_owned));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_anywhere_in_the_chain_is_success() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing rows");
        assert_eq!(classify(&err), Code::Success);
    }

    #[test]
    fn markers_decide_the_code() {
        assert_eq!(classify(&usage("--stats: empty")), Code::Usage);
        let api = anyhow::Error::new(ApiFailure("403".into())).context("fetching");
        assert_eq!(classify(&api), Code::Api);
        assert_eq!(classify(&anyhow::anyhow!("bad page")), Code::Data);
        let other_io = anyhow::Error::new(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(classify(&other_io), Code::Data);
    }

    #[test]
    fn clap_errors_become_one_line_and_tips_their_own() {
        let rendered = "error: unexpected argument '--nope' found\n\nUsage: gcagg flatten [OPTIONS]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            message_lines(rendered),
            ["unexpected argument '--nope' found (see --help)"]
        );
        let tip = "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: gcagg flatten\n";
        assert_eq!(
            message_lines(tip),
            [
                "unexpected argument '--bogus' found (see --help)",
                "tip: to pass '--bogus' as a value, use '-- --bogus'"
            ]
        );
        let missing = "error: the following required arguments were not provided:\n  --partition-by <COL[,COL]>\n\nUsage: gcagg flatten --partition-by <COL[,COL]> --overwrite [INPUT]...\n";
        assert_eq!(
            message_lines(missing),
            ["the following required arguments were not provided: --partition-by <COL[,COL]> (see --help)"]
        );
    }
}
