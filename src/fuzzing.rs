//! The fuzz targets' way in (see `fuzz/`): the program's own code, driven in-process.
//! Nothing here is part of the command line; it only exposes what the targets compare.

use clap::Parser;
use serde_json::{json, Value};

use crate::pages::{Entity, EntitySink, Scalar};
use crate::pipeline::read_alone;

/// Runs the command line `args` (the program's name first) as the binary would, returning
/// the outcome instead of exiting.
pub fn run(args: &[&str]) -> anyhow::Result<()> {
    crate::run(crate::Cli::try_parse_from(args)?)
}

/// Every entity the page reader finds in `bytes`, each as a JSON value (see [`entity`]);
/// pages above `limit` bytes are cut at their list elements, as pages over 16 MiB are, so that
/// cutting is reached by small inputs.
pub fn entities(bytes: &[u8], limit: usize) -> anyhow::Result<Vec<Value>> {
    let mut sink = Collect(Vec::new());
    read_alone("fuzz.json", bytes, limit, &mut sink)?;
    Ok(sink.0)
}

/// Collects entities as JSON values.
struct Collect(Vec<Value>);

impl EntitySink for Collect {
    fn entity(&mut self, e: &Entity<'_>) -> anyhow::Result<()> {
        self.0.push(entity(e));
        Ok(())
    }
}

/// An entity as JSON, every value as serde_json reads the text the parser kept:
/// `{"shape", "group": [[key, value]], "interval", "id", "metrics": [{"name", "qualifier",
/// "view", "stats": [[name, value]]}], "observed_at", "observations": [{"metric",
/// "truncated", "fields": [[key, value]]}]}`. Text that is not JSON becomes
/// `{"not JSON": text}`.
fn entity(e: &Entity<'_>) -> Value {
    let group: Vec<Value> = e.group.iter().map(|g| json!([g.key, scalar(&g.value)])).collect();
    let metrics: Vec<Value> = e
        .metrics
        .iter()
        .map(|m| {
            let stats: Vec<Value> = e.stats[m.stats.clone()]
                .iter()
                .map(|s| json!([s.name, s.value.as_deref().map_or(Value::Null, reread)]))
                .collect();
            json!({"name": m.name, "qualifier": m.qualifier, "view": m.view, "stats": stats})
        })
        .collect();
    let observations: Vec<Value> = e
        .observations
        .iter()
        .map(|o| {
            let fields: Vec<Value> = e.fields[o.fields.clone()]
                .iter()
                .map(|f| json!([f.key, scalar(&f.value)]))
                .collect();
            json!({"metric": o.metric, "truncated": o.truncated, "fields": fields})
        })
        .collect();
    json!({
        "shape": format!("{:?}", e.shape),
        "group": group,
        "interval": e.interval,
        "id": e.id.map_or(Value::Null, scalar),
        "metrics": metrics,
        "observed_at": e.observed_at,
        "observations": observations,
    })
}

fn scalar(value: &Scalar<'_>) -> Value {
    match value {
        Scalar::Text(s) => Value::String(s.to_string()),
        Scalar::Json(text) => reread(text),
        Scalar::Null => Value::Null,
    }
}

fn reread(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({"not JSON": text}))
}
