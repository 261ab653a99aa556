//! `gcagg man`: manual pages in roff, generated from the command line itself.
//!
//! Generated on request rather than at build time, so the pages always describe the binary
//! that prints them (its flags, defaults and version) and the build needs no extra step.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap_mangen::roff::{roman, Roff};
use clap_mangen::Man;

use crate::atomic::AtomicFile;
use crate::exit::usage;

/// Print the manual page of gcagg or of one subcommand, or write them all to a folder.
///
/// `gcagg man` is gcagg(1), which lists the subcommands; `gcagg man flatten` is
/// gcagg-flatten(1). With `-o DIR`, every page is written to DIR as `gcagg.1`,
/// `gcagg-flatten.1`, ..., ready for `man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg man | man -l -                          read gcagg(1) now
  gcagg man fetch | man -l -                    read gcagg-fetch(1)
  gcagg man -o ~/.local/share/man/man1          install every page; then `man gcagg-flatten`")]
pub struct Args {
    /// The subcommand whose page to print [default: gcagg itself].
    #[arg(value_name = "COMMAND", conflicts_with = "output")]
    pub command: Option<String>,

    /// Write every page into DIR (created if need be) instead of printing one.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

/// Runs `gcagg man` for `command`, the whole command line.
pub fn run(args: Args, command: clap::Command) -> anyhow::Result<()> {
    // `build` names each subcommand `gcagg-<name>`, the name of its page.
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let pages: Vec<clap::Command> = std::iter::once(command.clone())
        .chain(command.get_subcommands().filter(|c| !c.is_hide_set()).cloned())
        .collect();
    if let Some(dir) = args.output {
        return write_all(&pages, &dir);
    }
    let page = match args.command {
        None => &pages[0],
        Some(name) => pages[1..].iter().find(|c| c.get_name() == name).ok_or_else(|| {
            let known: Vec<&str> = pages[1..].iter().map(clap::Command::get_name).collect();
            usage(format!(
                "gcagg man {name}: no such command; one of {}",
                known.join(", ")
            ))
        })?,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&render(page)?)?;
    out.flush()?;
    Ok(())
}

/// The roff text of one command's page: clap_mangen's, with the help's examples as an
/// EXAMPLES section set line for line (filled text would run the examples together).
fn render(command: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let examples = command.get_after_help().map(ToString::to_string);
    let bare = command.clone().after_help(None::<&str>);
    let mut text = Vec::new();
    Man::new(bare)
        .manual("gcagg manual")
        .source(concat!("gcagg ", env!("CARGO_PKG_VERSION")))
        .date(env!("GCAGG_COMMIT_DATE"))
        .render(&mut text)?;
    if let Some(examples) = examples {
        let lines: Vec<&str> = examples.lines().skip_while(|l| l.trim_end().ends_with(':')).collect();
        let mut roff = Roff::new();
        roff.control("SH", ["EXAMPLES"])
            .control("nf", [])
            .text([roman(lines.join("\n"))])
            .control("fi", []);
        roff.to_writer(&mut text)?;
    }
    Ok(text)
}

/// Writes each page to `dir`, each one whole or not at all.
fn write_all(pages: &[clap::Command], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| usage(format!("--output {}: {e}", dir.display())))?;
    for page in pages {
        let man = Man::new(page.clone());
        let target = dir.join(man.get_filename());
        let (atomic, mut file) = AtomicFile::create(&target)?;
        file.write_all(&render(page)?)
            .with_context(|| format!("writing {}", target.display()))?;
        drop(file);
        atomic.commit()?;
    }
    Ok(())
}
