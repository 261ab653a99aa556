//! `gcagg completions`: shell completion scripts, generated from the command line itself.

use std::io::Write;

use clap_complete::Shell;

/// Print a completion script for a shell.
///
/// The script completes subcommands, flags and their fixed values (formats, codecs,
/// layouts). Load it from the shell's startup file, or install it where the shell looks
/// for completions (see the README).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  source <(gcagg completions bash)                                  this shell only
  gcagg completions bash > ~/.local/share/bash-completion/completions/gcagg
  gcagg completions zsh > ~/.zfunc/_gcagg                           with fpath+=(~/.zfunc) in .zshrc
  gcagg completions fish > ~/.config/fish/completions/gcagg.fish
  gcagg completions powershell >> $PROFILE")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Runs `gcagg completions` for `command`, the whole command line.
pub fn run(args: Args, mut command: clap::Command) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "gcagg", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}
