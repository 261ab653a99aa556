//! Observation queries: what is happening now in queues, users or flows.
//!
//! `POST /api/v2/analytics/{queues,users,flows}/observations/query` takes a filter (which
//! the API requires), `metrics` and optionally `detailMetrics`, and answers one body with no
//! time in it. The entities asked for (`--filter queueId=...`, repeated) form one `or`
//! clause of predicates; other dimensions (`mediaType`) form another, `and`ed with it. A
//! long list of entities is split into several queries of at most `--batch` predicates in
//! all, one body each.
//!
//! Each body is stored byte for byte after an envelope line, `{"gcaggObservedAt":"..."}`,
//! stamped when the successful answer arrived (see [`fetch`]).

use serde_json::{json, Value};

use super::page::{PageFile, PageInfo};
use super::time::ZonedTime;
use super::{Answer, Client, Endpoints, Method, ReadError};
use crate::exit::usage;

/// The families with observation queries, and the dimension that names their entities.
pub const KINDS: &[(&str, &str)] = &[("queues", "queueId"), ("users", "userId"), ("flows", "flowId")];

/// The predicates one query carries at most unless `--batch` says otherwise. No SDK model
/// or developer page found states the API's cap (docs/observations.md records the search);
/// the API's own 400 names the real one, and `--batch` lowers this.
pub const DEFAULT_BATCH: usize = 100;

/// The dimension that names `kind`'s entities, if `kind` has observation queries.
pub fn entity_dimension(kind: &str) -> Option<&'static str> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, d)| *d)
}

/// The permission an observation query of `kind` needs (`analytics:queueObservation:view`).
pub fn permission(kind: &str) -> String {
    let entity = kind.strip_suffix('s').unwrap_or(kind);
    format!("analytics:{entity}Observation:view")
}

/// The API path of `kind`'s observation query.
pub fn path(kind: &str) -> String {
    format!("/api/v2/analytics/{kind}/observations/query")
}

/// What to ask for, checked.
#[derive(Debug, Clone)]
pub struct Request {
    /// `queues`, `users` or `flows`.
    pub kind: String,
    /// `--filter DIMENSION=VALUE`, in the order given.
    pub filters: Vec<(String, String)>,
    /// `--metrics`.
    pub metrics: Vec<String>,
    /// `--detail-metrics`.
    pub detail_metrics: Vec<String>,
    /// Predicates per query at most.
    pub batch: usize,
}

impl Request {
    /// The request bodies: the entities split into queries of at most `batch` predicates,
    /// each with every other predicate too, in the order the filters were given.
    pub fn bodies(&self) -> anyhow::Result<Vec<String>> {
        let entity = entity_dimension(&self.kind).unwrap_or_default();
        if self.filters.is_empty() {
            return Err(usage(format!(
                "--observations: the API requires a filter; give --filter {entity}=ID (repeatable)"
            )));
        }
        if self.metrics.is_empty() {
            return Err(usage(
                "--observations: name at least one metric, e.g. --metrics oWaiting,oInteracting",
            ));
        }
        let predicate = |(dimension, value): &(String, String)| json!({"type": "dimension", "dimension": dimension, "operator": "matches", "value": value});
        let (ids, others): (Vec<_>, Vec<_>) = self.filters.iter().partition(|(d, _)| d == entity);
        // Other dimensions, grouped: each an `or` of its values, in the order first given.
        let mut groups: Vec<(&str, Vec<Value>)> = Vec::new();
        for filter in &others {
            match groups.iter_mut().find(|(d, _)| *d == filter.0) {
                Some((_, values)) => values.push(predicate(filter)),
                None => groups.push((&filter.0, vec![predicate(filter)])),
            }
        }
        let room = self.batch.checked_sub(others.len()).filter(|r| *r > 0).ok_or_else(|| {
            usage(format!(
                "--batch {}: the {} other predicates leave no room for the {entity} ones",
                self.batch,
                others.len()
            ))
        })?;
        let id_batches: Vec<Vec<Value>> = if ids.is_empty() {
            vec![Vec::new()]
        } else {
            ids.chunks(room)
                .map(|c| c.iter().map(|f| predicate(f)).collect())
                .collect()
        };
        let bodies = id_batches
            .into_iter()
            .map(|batch| {
                let mut clauses: Vec<Value> = Vec::new();
                if !batch.is_empty() {
                    clauses.push(json!({"type": "or", "predicates": batch}));
                }
                clauses.extend(groups.iter().map(|(_, p)| json!({"type": "or", "predicates": p})));
                // One clause is sent as the filter itself, as the developer center's examples do.
                let filter = match clauses.len() {
                    1 => clauses.remove(0),
                    _ => json!({"type": "and", "clauses": clauses}),
                };
                let mut body = json!({"filter": filter, "metrics": self.metrics});
                if !self.detail_metrics.is_empty() {
                    body["detailMetrics"] = json!(self.detail_metrics);
                }
                body.to_string()
            })
            .collect();
        Ok(bodies)
    }

    /// The request one query makes, for `--dry-run`.
    pub fn describe(&self, endpoints: &Endpoints, body: &str) -> Vec<String> {
        vec![
            format!("POST {}", endpoints.api_url(&path(&self.kind))),
            body.to_owned(),
        ]
    }
}

/// Sends one observation query and appends its answer to `out`: the envelope line with the
/// time the successful answer arrived, then the body byte for byte. The arrival is the
/// stamp, not the sending: rate-limit waits and retries may hold a request back for
/// minutes, while the answer arrives at most one round trip after the API took the
/// observation.
pub fn fetch(client: &Client, kind: &str, body: &str, out: &mut PageFile) -> anyhow::Result<PageInfo> {
    client.call(Method::Post, &path(kind), None, Some(body), |answer: Answer| {
        let observed_at = ZonedTime::now_millis().to_string();
        out.append_observed(&observed_at, answer.into_body().into_reader())
            .map_err(ReadError::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(filters: &[(&str, &str)], batch: usize) -> Request {
        Request {
            kind: "queues".into(),
            filters: filters.iter().map(|(d, v)| ((*d).into(), (*v).into())).collect(),
            metrics: vec!["oWaiting".into()],
            detail_metrics: Vec::new(),
            batch,
        }
    }

    fn predicates(body: &str) -> usize {
        let body: Value = serde_json::from_str(body).unwrap();
        let filter = &body["filter"];
        let count = |c: &Value| c["predicates"].as_array().map_or(0, Vec::len);
        count(filter) + filter["clauses"].as_array().map_or(0, |cs| cs.iter().map(count).sum())
    }

    #[test]
    fn entities_are_split_under_the_batch_with_the_other_predicates_in_each() {
        let mut filters: Vec<(String, String)> = (0..7).map(|i| ("queueId".into(), format!("q{i}"))).collect();
        filters.push(("mediaType".into(), "voice".into()));
        let filters: Vec<(&str, &str)> = filters.iter().map(|(d, v)| (d.as_str(), v.as_str())).collect();
        let bodies = request(&filters, 4).bodies().unwrap();
        assert_eq!(bodies.iter().map(|b| predicates(b)).collect::<Vec<_>>(), [4, 4, 2]);
        assert!(bodies.iter().all(|b| b.contains("\"voice\"")));
        assert_eq!(
            request(&[("queueId", "a")], 4).bodies().unwrap(),
            [
                r#"{"filter":{"predicates":[{"dimension":"queueId","operator":"matches","type":"dimension","value":"a"}],"type":"or"},"metrics":["oWaiting"]}"#
            ]
        );
    }

    #[test]
    fn a_filter_is_required_and_must_leave_room() {
        assert!(request(&[], 4).bodies().is_err());
        assert!(request(&[("queueId", "a"), ("mediaType", "voice")], 1)
            .bodies()
            .is_err());
        assert_eq!(permission("queues"), "analytics:queueObservation:view");
        assert_eq!(permission("users"), "analytics:userObservation:view");
    }
}
