//! The org's lookup entities (queues, users, wrap-up codes, ...) as one record per entity.
//!
//! Each type is listed from its own endpoint, page by page, in one of the API's three
//! ways: `pageSize`/`pageNumber` with a `pageCount` (most), an `after` cursor inside
//! `nextUri` (teams), or one unpaged answer per query (presence definitions, asked once for
//! active and once for deactivated ones). Every entity becomes a [`Record`]: its type, id
//! and name, and the few fields people filter on. `docs/names.md` holds the API facts and
//! their sources.
//!
//! A page is parsed into small typed structs (unknown fields skipped), one page at a time;
//! records of one type are kept in memory (100,000 users take a few tens of MB) so that a
//! type that fails halfway writes nothing rather than a part of its table.

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;

use clap::ValueEnum;
use serde::Deserialize;

use crate::api::{Answer, Client, Method, ReadError};
use crate::exit::ApiFailure;

/// Entities per page: the most every listing endpoint accepts.
pub const PAGE_SIZE: u32 = 100;

/// The entity types `gcagg names` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Kind {
    /// Routing queues (`queueId`).
    Queues,
    /// Users, active, inactive and deleted (`userId`).
    Users,
    /// Wrap-up codes (`wrapUpCode`).
    Wrapupcodes,
    /// Divisions (`divisionId`).
    Divisions,
    /// Routing skills (`requestedRoutingSkillId`).
    Skills,
    /// Routing languages (`requestedLanguageId`).
    Languages,
    /// Architect flows, deleted ones included (`flowId`).
    Flows,
    /// Teams (`teamId`).
    Teams,
    /// Organization presence definitions (`tOrganizationPresence` qualifiers).
    Presence,
}

/// How an endpoint hands out its entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paging {
    /// `pageSize` and `pageNumber`, until `pageNumber` reaches `pageCount`.
    Numbered,
    /// `pageSize`, then the `nextUri` of each page (an `after` cursor) until there is none.
    Cursor,
    /// One answer per query string, all entities at once.
    Unpaged,
}

/// Where and how one type is listed.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The type.
    pub kind: Kind,
    /// Its name in `--types` and in a folder of tables: `queues`, `presence`, ...
    pub name: &'static str,
    /// The record's `type` (singular): `queue`, `user`, ...
    pub record_type: &'static str,
    /// The listing endpoint.
    pub path: &'static str,
    /// Query strings, one listing each (after which `pageSize`/`pageNumber` go).
    queries: &'static [&'static str],
    paging: Paging,
    /// The permission the official SDK says the endpoint needs, if any.
    pub permission: Option<&'static str>,
}

/// Every type, in the default order of `--types` and of the output.
pub const SPECS: [Spec; 9] = [
    Spec {
        kind: Kind::Queues,
        name: "queues",
        record_type: "queue",
        path: "/api/v2/routing/queues",
        queries: &[""],
        paging: Paging::Numbered,
        permission: Some("routing:queue:view"),
    },
    Spec {
        kind: Kind::Users,
        name: "users",
        record_type: "user",
        path: "/api/v2/users",
        // Deleted and inactive users' ids are in old aggregates too.
        queries: &["state=any"],
        paging: Paging::Numbered,
        permission: None,
    },
    Spec {
        kind: Kind::Wrapupcodes,
        name: "wrapupcodes",
        record_type: "wrapupcode",
        path: "/api/v2/routing/wrapupcodes",
        queries: &[""],
        paging: Paging::Numbered,
        permission: Some("routing:wrapupCode:view"),
    },
    Spec {
        kind: Kind::Divisions,
        name: "divisions",
        record_type: "division",
        path: "/api/v2/authorization/divisions",
        queries: &[""],
        paging: Paging::Numbered,
        permission: None,
    },
    Spec {
        kind: Kind::Skills,
        name: "skills",
        record_type: "skill",
        path: "/api/v2/routing/skills",
        queries: &[""],
        paging: Paging::Numbered,
        permission: Some("routing:skill:view"),
    },
    Spec {
        kind: Kind::Languages,
        name: "languages",
        record_type: "language",
        path: "/api/v2/routing/languages",
        queries: &[""],
        paging: Paging::Numbered,
        permission: None,
    },
    Spec {
        kind: Kind::Flows,
        name: "flows",
        record_type: "flow",
        path: "/api/v2/flows",
        // Deleted flows still name old flow aggregates.
        queries: &["deleted=true"],
        paging: Paging::Numbered,
        permission: Some("architect:flow:view"),
    },
    Spec {
        kind: Kind::Teams,
        name: "teams",
        record_type: "team",
        path: "/api/v2/teams",
        // Without it a team's division has its id only.
        queries: &["expand=entities.division"],
        paging: Paging::Cursor,
        permission: Some("groups:team:view"),
    },
    Spec {
        kind: Kind::Presence,
        name: "presence",
        record_type: "presence",
        path: "/api/v2/presence/definitions",
        // The endpoint answers active definitions unless asked for the deactivated ones.
        queries: &["deactivated=FALSE", "deactivated=TRUE"],
        paging: Paging::Unpaged,
        permission: Some("presence:presenceDefinition:view"),
    },
];

impl Kind {
    /// The listing of this type.
    pub fn spec(self) -> &'static Spec {
        SPECS.iter().find(|s| s.kind == self).expect("every kind has a spec")
    }

    /// The name `--types` and the folder layout use: `queues`, `presence`, ...
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

/// The record columns, in output order.
pub const COLUMNS: [&str; 9] = [
    "type",
    "id",
    "name",
    "division_id",
    "division_name",
    "state",
    "email",
    "flow_type",
    "system_presence",
];

/// One entity: its type, id and name, and the fields people filter on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The type, singular: `queue`, `user`, ...
    pub record_type: &'static str,
    /// The entity's id (the value aggregates carry).
    pub id: String,
    /// Its name; for presence definitions, the `en_US` label.
    pub name: Option<String>,
    /// The division it belongs to.
    pub division_id: Option<String>,
    /// That division's name, where the listing carries it.
    pub division_name: Option<String>,
    /// `active`, `inactive` or `deleted` (users, skills, languages; flows: `deleted`;
    /// presence definitions: `inactive` when deactivated).
    pub state: Option<String>,
    /// A user's email.
    pub email: Option<String>,
    /// A flow's type (`INBOUNDCALL`, `INQUEUECALL`, ...).
    pub flow_type: Option<String>,
    /// The system presence a presence definition maps to (`Available`, `Busy`, ...).
    pub system_presence: Option<String>,
}

impl Record {
    /// The values in [`COLUMNS`] order.
    pub fn values(&self) -> [Option<&str>; 9] {
        [
            Some(self.record_type),
            Some(&self.id),
            self.name.as_deref(),
            self.division_id.as_deref(),
            self.division_name.as_deref(),
            self.state.as_deref(),
            self.email.as_deref(),
            self.flow_type.as_deref(),
            self.system_presence.as_deref(),
        ]
    }
}

/// A listing page: the entities and what says whether another page follows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    #[serde(default)]
    entities: Option<Vec<Entity>>,
    #[serde(default)]
    page_count: Option<u64>,
    #[serde(default)]
    next_uri: Option<String>,
}

/// The fields of any listed entity that records use; the rest is skipped unread.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Entity {
    id: Option<String>,
    name: Option<String>,
    division: Option<DivisionRef>,
    division_id: Option<String>,
    state: Option<String>,
    email: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    deleted: Option<bool>,
    deactivated: Option<bool>,
    system_presence: Option<String>,
    language_labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DivisionRef {
    id: Option<String>,
    name: Option<String>,
}

impl Entity {
    /// The record of this entity, or `None` if it has no id (nothing could join on it).
    fn record(self, spec: &Spec) -> Option<Record> {
        let id = self.id.filter(|id| !id.is_empty())?;
        let (division_id, division_name) = match self.division {
            Some(d) => (d.id, d.name),
            None => (self.division_id, None),
        };
        let mut record = Record {
            record_type: spec.record_type,
            id,
            name: self.name,
            division_id,
            division_name,
            state: None,
            email: None,
            flow_type: None,
            system_presence: None,
        };
        match spec.kind {
            Kind::Users => {
                record.state = self.state;
                record.email = self.email;
            }
            Kind::Skills | Kind::Languages => record.state = self.state,
            Kind::Flows => {
                record.flow_type = self.kind;
                record.state = self.deleted.filter(|&d| d).map(|_| "deleted".to_owned());
            }
            Kind::Presence => {
                // Definitions have labels per language, and often no `name`.
                let labels = self.language_labels.unwrap_or_default();
                let label = labels.get("en_US").or_else(|| labels.values().next()).cloned();
                record.name = label.or(record.name).or_else(|| self.system_presence.clone());
                record.state = self
                    .deactivated
                    .map(|d| if d { "inactive" } else { "active" }.to_owned());
                record.system_presence = self.system_presence;
            }
            Kind::Queues | Kind::Wrapupcodes | Kind::Divisions | Kind::Teams => {}
        }
        Some(record)
    }
}

/// What listing one type came to.
pub struct Listed {
    /// Its records, each id once, in the API's order.
    pub records: Vec<Record>,
    /// Pages read.
    pub pages: u64,
    /// Entities left out because they had no id.
    pub without_id: u64,
}

/// Lists every entity of `spec`'s type; `progress` hears of each page.
pub fn list(client: &Client, spec: &Spec, mut progress: impl FnMut(&str)) -> anyhow::Result<Listed> {
    let mut listed = Listed {
        records: Vec::new(),
        pages: 0,
        without_id: 0,
    };
    let mut seen = HashSet::new();
    for query in spec.queries {
        let mut next = Some(first_page(spec, query));
        let mut number = 1;
        let mut asked = HashSet::new();
        while let Some(path) = next.take() {
            if !asked.insert(path.clone()) {
                return Err(anyhow::Error::new(ApiFailure(format!(
                    "GET {path}: the listing sends the same page again; stopped"
                ))));
            }
            let page: Listing = client.call(Method::Get, &path, None, None, read_listing)?;
            listed.pages += 1;
            let entities = page.entities.unwrap_or_default();
            let empty = entities.is_empty();
            for entity in entities {
                match entity.record(spec) {
                    // Pages shift when entities are added while listing: keep the first.
                    Some(record) => {
                        if seen.insert(record.id.clone()) {
                            listed.records.push(record);
                        }
                    }
                    None => listed.without_id += 1,
                }
            }
            let of = page.page_count.map_or(String::new(), |c| format!(" of {c}"));
            progress(&format!("page {number}{of}, {} so far", listed.records.len()));
            if empty {
                break;
            }
            next = match spec.paging {
                Paging::Unpaged => None,
                Paging::Numbered => match page.page_count {
                    Some(count) if number < count => Some(numbered_page(spec, query, number + 1)),
                    Some(_) => None,
                    // No page count: go on while the API says there is a next page.
                    None => page.next_uri.map(|_| numbered_page(spec, query, number + 1)),
                },
                Paging::Cursor => page.next_uri.map(|uri| same_endpoint(spec, &uri)).transpose()?,
            };
            number += 1;
        }
    }
    Ok(listed)
}

fn first_page(spec: &Spec, query: &str) -> String {
    match spec.paging {
        Paging::Numbered => numbered_page(spec, query, 1),
        Paging::Cursor => with_query(spec.path, query, &format!("pageSize={PAGE_SIZE}")),
        Paging::Unpaged => with_query(spec.path, query, ""),
    }
}

fn numbered_page(spec: &Spec, query: &str, number: u64) -> String {
    with_query(spec.path, query, &format!("pageSize={PAGE_SIZE}&pageNumber={number}"))
}

/// `path?a&b`, leaving out the empty parts.
fn with_query(path: &str, a: &str, b: &str) -> String {
    let parts: Vec<&str> = [a, b].into_iter().filter(|p| !p.is_empty()).collect();
    match parts.is_empty() {
        true => path.to_owned(),
        false => format!("{path}?{}", parts.join("&")),
    }
}

/// The path and query of a `nextUri`, which must stay on the listing's own endpoint: the
/// token is only ever sent to the configured API, whatever host a page names.
fn same_endpoint(spec: &Spec, uri: &str) -> anyhow::Result<String> {
    let path = match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |at| &rest[at..]),
        None => uri,
    };
    let on_endpoint = path
        .strip_prefix(spec.path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('?'));
    if !on_endpoint {
        return Err(anyhow::Error::new(ApiFailure(format!(
            "GET {}: the page's nextUri {uri} leaves the endpoint; stopped",
            spec.path
        ))));
    }
    Ok(path.to_owned())
}

/// Parses a listing page as it streams in.
fn read_listing(answer: Answer) -> Result<Listing, ReadError> {
    let reader = BufReader::with_capacity(64 * 1024, answer.into_body().into_reader());
    serde_json::from_reader(reader).map_err(|e| {
        if e.is_io() {
            ReadError::Retry(e.into())
        } else {
            ReadError::Fail(anyhow::Error::new(ApiFailure(format!(
                "the answer is not a listing page: {e}"
            ))))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: Kind, entity: &str) -> Option<Record> {
        serde_json::from_str::<Entity>(entity).unwrap().record(kind.spec())
    }

    #[test]
    fn records_keep_the_fields_people_filter_on() {
        let user = record(
            Kind::Users,
            r#"{"id":"u1","name":"Ann","division":{"id":"d1","name":"Home","selfUri":"/x"},"state":"deleted",
                "email":"ann@example.com","username":"ann","version":3,"chat":{"jabberId":"j"}}"#,
        )
        .unwrap();
        assert_eq!(
            user.values(),
            [
                Some("user"),
                Some("u1"),
                Some("Ann"),
                Some("d1"),
                Some("Home"),
                Some("deleted"),
                Some("ann@example.com"),
                None,
                None
            ]
        );
        let flow = record(
            Kind::Flows,
            r#"{"id":"f1","name":"Main IVR","type":"INBOUNDCALL","deleted":true,"division":{"id":"d1"}}"#,
        )
        .unwrap();
        assert_eq!(
            (flow.flow_type.as_deref(), flow.state.as_deref()),
            (Some("INBOUNDCALL"), Some("deleted"))
        );
        let live = record(
            Kind::Flows,
            r#"{"id":"f2","name":"x","type":"INQUEUECALL","deleted":false}"#,
        )
        .unwrap();
        assert_eq!(live.state, None);
        let presence = record(
            Kind::Presence,
            r#"{"id":"p1","type":"User","languageLabels":{"fr":"Pause","en_US":"Lunch"},"systemPresence":"Meal","divisionId":"*","deactivated":true}"#,
        )
        .unwrap();
        assert_eq!(
            presence.values(),
            [
                Some("presence"),
                Some("p1"),
                Some("Lunch"),
                Some("*"),
                None,
                Some("inactive"),
                None,
                None,
                Some("Meal")
            ]
        );
        let bare = record(
            Kind::Presence,
            r#"{"id":"p2","systemPresence":"Busy","deactivated":false}"#,
        )
        .unwrap();
        assert_eq!(
            (bare.name.as_deref(), bare.state.as_deref()),
            (Some("Busy"), Some("active"))
        );
        assert_eq!(record(Kind::Queues, r#"{"name":"no id"}"#), None);
        // A queue's `state`-like fields are not its own: nothing leaks from other types.
        let queue = record(Kind::Queues, r#"{"id":"q","name":"Q","state":"x","email":"y"}"#).unwrap();
        assert_eq!((queue.state, queue.email), (None, None));
    }

    #[test]
    fn pages_are_asked_as_each_endpoint_pages() {
        let queues = Kind::Queues.spec();
        assert_eq!(
            first_page(queues, ""),
            "/api/v2/routing/queues?pageSize=100&pageNumber=1"
        );
        assert_eq!(
            numbered_page(Kind::Users.spec(), "state=any", 3),
            "/api/v2/users?state=any&pageSize=100&pageNumber=3"
        );
        assert_eq!(
            first_page(Kind::Teams.spec(), "expand=entities.division"),
            "/api/v2/teams?expand=entities.division&pageSize=100"
        );
        assert_eq!(
            first_page(Kind::Presence.spec(), "deactivated=TRUE"),
            "/api/v2/presence/definitions?deactivated=TRUE"
        );
        let teams = Kind::Teams.spec();
        assert_eq!(
            same_endpoint(teams, "/api/v2/teams?pageSize=100&after=abc").unwrap(),
            "/api/v2/teams?pageSize=100&after=abc"
        );
        assert_eq!(
            same_endpoint(teams, "https://api.mypurecloud.com/api/v2/teams?after=abc").unwrap(),
            "/api/v2/teams?after=abc"
        );
        for elsewhere in ["/api/v2/users?after=x", "/api/v2/teamsx", "https://evil.example/steal"] {
            assert!(same_endpoint(teams, elsewhere).is_err(), "{elsewhere}");
        }
        assert_eq!(Kind::Presence.name(), "presence");
        assert_eq!(Kind::Wrapupcodes.name(), "wrapupcodes");
    }
}
