//! `gcagg regions`: the Genesys Cloud regions `--region` accepts.

use std::io::Write;

use crate::api::regions::REGIONS;

/// List the Genesys Cloud regions: AWS code, domain, API and login hosts.
///
/// `--region` accepts the code (with `-` or `_`) or the domain.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg regions
  gcagg fetch --region eu_central_2 ...        the same as --region euc2.pure.cloud")]
pub struct Args {}

/// Runs `gcagg regions`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<16} {:<24} API BASE", "REGION", "DOMAIN")?;
    for r in REGIONS {
        let note = if r.note.is_empty() {
            String::new()
        } else {
            format!("  ({})", r.note)
        };
        writeln!(out, "{:<16} {:<24} {}{note}", r.code, r.domain, r.api_base())?;
    }
    out.flush()?;
    Ok(())
}
