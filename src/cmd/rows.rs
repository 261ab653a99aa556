//! The input and row options that `flatten`, `schema` and `sync` share, checked.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::columns::Layout;
use crate::exit::usage;
use crate::flatten::Options;
use crate::input::{self, Source};
use crate::lookup::Lookup;
use crate::manifest::{self, Manifest};
use crate::progress::counted;

/// The input and row options that `flatten` and `schema` share.
#[derive(Debug, clap::Args)]
pub struct RowArgs {
    /// Input files or directories; `-` or nothing reads stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// One row per entity (wide), one row per stat (long), or one row per `observations[]`
    /// entry of an observation query (observations).
    #[arg(long, value_enum, default_value = "wide")]
    pub layout: Layout,

    /// When observation bodies saved without a `gcaggObservedAt` envelope were observed
    /// (RFC 3339, e.g. 2024-05-01T10:15:02Z): their rows' observed_at.
    #[arg(long, value_name = "TIME")]
    pub observed_at: Option<String>,

    /// Write null where a missing value would be written as 0.
    #[arg(long)]
    pub keep_nulls: bool,

    /// Keep only these stats (e.g. count,sum,ratio).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub stats: Vec<String>,

    /// Add a constant column to every row (repeatable), e.g. org=acme.
    #[arg(long, value_name = "NAME=VALUE")]
    pub add_column: Vec<String>,

    /// Add KPI columns after the values, where a row has their inputs (wide layout):
    /// aht_s, asa_s, answer_rate, abandon_rate, service_level, avg_talk_s, avg_hold_s,
    /// avg_acw_s. A zero denominator gives null. Roll them up from the sums and counts,
    /// never by averaging them.
    #[arg(long)]
    pub kpis: bool,

    /// Add a name column after each id column the names tables of `gcagg names` resolve
    /// (queueName after queueId, userName after userId, wrapUpCodeName after wrapUpCode,
    /// ...): FILE is one table (.ndjson, .json, .csv, optionally .gz, or .parquet), DIR a
    /// folder of them.
    #[arg(long, value_name = "FILE|DIR")]
    pub names: Option<PathBuf>,

    /// Read a `gcagg fetch -o DIR` folder whose `_manifest.json` lists chunks not yet
    /// fetched (with a warning) instead of refusing it.
    #[arg(long)]
    pub allow_incomplete: bool,
}

impl RowArgs {
    /// Checks the row options and expands the inputs.
    pub fn resolve(self) -> anyhow::Result<(Options, Vec<Source>)> {
        let mut options = row_options(self.layout, self.keep_nulls, &self.stats, &self.add_column, self.kpis)?;
        options.names = self.names.as_deref().map(Lookup::load).transpose()?.map(Arc::new);
        if let Some(at) = &self.observed_at {
            if crate::output::epoch_millis(at).is_none() {
                return Err(usage(format!(
                    "--observed-at {at}: not an RFC 3339 time; e.g. 2024-05-01T10:15:02Z or 2024-05-01T12:15:02+02:00"
                )));
            }
        }
        options.observed_at = self.observed_at;
        for dir in self.inputs.iter().filter(|p| p.is_dir()) {
            check_fetched(dir, self.allow_incomplete)?;
        }
        Ok((options, input::expand(&self.inputs)?))
    }
}

/// The row options of these flags (`--stats` and `--add-column` as given), checked.
pub fn row_options(
    layout: Layout,
    keep_nulls: bool,
    stats: &[String],
    add_column: &[String],
    kpis: bool,
) -> anyhow::Result<Options> {
    let mut constants = Vec::new();
    for pair in add_column {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(usage(format!("--add-column {pair}: expected NAME=VALUE")));
        };
        constants.push((crate::columns::safe_name(name).into_owned(), value.to_owned()));
    }
    // Each stat once, however it was spelled (`count_negative,countNegative`).
    let mut names: Vec<String> = Vec::new();
    for name in stats.iter().map(|s| crate::columns::api_stat_name(s.trim())) {
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if !stats.is_empty() && names.is_empty() {
        return Err(usage("--stats: name at least one stat, e.g. --stats count,sum"));
    }
    if kpis && layout != Layout::Wide {
        return Err(usage(
            "--kpis: KPIs are columns of a wide row; use --layout wide (the default), or roll the long rows' sums and counts up yourself",
        ));
    }
    Ok(Options {
        layout,
        keep_nulls,
        stats: names,
        constants,
        kpis,
        names: None,
        observed_at: None,
    })
}

/// A folder `gcagg fetch` wrote holds every chunk its manifest lists, or flattening it would
/// silently lose the missing ones: an error, or with `allow` a warning.
fn check_fetched(dir: &Path, allow: bool) -> anyhow::Result<()> {
    let manifest = match Manifest::read(dir) {
        Ok(Some(manifest)) => manifest,
        // Not one fetch wrote (other tools use the name too): like `_SUCCESS`, passed by.
        Ok(None) | Err(_) => return Ok(()),
    };
    let missing: Vec<&str> = manifest
        .chunks
        .iter()
        .filter(|c| !c.complete || !dir.join(&c.file).is_file())
        .map(|c| c.interval.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let total = manifest.chunks.len();
    let what = format!(
        "{}: {} of the {} in {} {} not fetched yet ({})",
        dir.display(),
        missing.len(),
        counted(total as u64, "chunk"),
        manifest::FILE_NAME,
        if missing.len() == 1 { "is" } else { "are" },
        input::list(&missing)
    );
    if allow {
        eprintln!("gcagg: warning: {what}; --allow-incomplete flattens the others");
        return Ok(());
    }
    anyhow::bail!(
        "{what}; complete them by running the fetch that wrote it again with --resume \
         (`gcagg fetch ... -o {} --resume`), or add --allow-incomplete to flatten what is there",
        dir.display()
    )
}
