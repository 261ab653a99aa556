//! Observation query bodies, their observed time, their `observations[]` entries, and
//! notification events (WebSocket, EventBridge, Firehose), on the fixtures.

use crate::bodies::written;
use crate::util::{failure, fixture, gcagg, ndjson_rows, read_parquet, scratch, stdout_of, Value};

#[test]
fn observation_bodies_keep_every_stat_with_the_value_columns_of_aggregates() {
    // The two `observations[]` entries are not rows of the wide layout: the run says so.
    let wide = |name: &str| {
        let out = gcagg()
            .args(["flatten", "--observed-at", "2024-05-01T10:15:02Z"])
            .arg(fixture(name))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            "gcagg: warning: 2 `observations[]` entries of observation queries not written (one per waiting or interacting conversation): --layout observations writes them\n"
        );
        ndjson_rows(&String::from_utf8(out.stdout).unwrap())
    };
    let rows = wide("observations/queues_pretty.json");
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].text("oUserRoutingStatuses_IDLE_count"), "3");
    assert_eq!(
        rows[0].text("oUserPresences_e08eaf1b_ee47_4fa9_a231_1200e284798f_count"),
        "7"
    );
    assert_eq!(rows[1].text("oWaiting_count"), "2");
    assert_eq!(rows[1].text("mediaType"), "voice");
    // The SDK's to_json of the same response: the same values.
    let sdk = wide("observations/queues_sdk_to_json.json");
    assert_eq!(sdk[0].text("oUserRoutingStatuses_IDLE_count"), "3");
    assert_eq!(sdk[1].text("oWaiting_count"), "2");
}

#[test]
fn observed_at_comes_from_the_envelope_the_flag_or_is_left_empty_with_a_warning() {
    let dir = scratch();
    let body = std::fs::read_to_string(fixture("observations/users.ndjson")).unwrap();
    let mut lines = body.lines();
    let enveloped = format!(
        "{{\"gcaggObservedAt\":\"2024-05-01T10:15:02.123Z\"}}\n{}\n{{\"gcaggObservedAt\":\"2024-05-01T10:15:32.456Z\"}}\n{}\n",
        lines.next().unwrap(),
        lines.next().unwrap()
    );
    let path = written(&dir, "polled.ndjson", &enveloped);
    let out = gcagg().arg("flatten").arg(&path).output().unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = ndjson_rows(&String::from_utf8(out.stdout).unwrap());
    let times: Vec<&str> = rows.iter().map(|r| r.text("observed_at")).collect();
    assert_eq!(
        times,
        [
            "2024-05-01T10:15:02.123Z",
            "2024-05-01T10:15:02.123Z",
            "2024-05-01T10:15:32.456Z",
            "2024-05-01T10:15:32.456Z"
        ]
    );
    // Parquet: a timestamp, as interval_start is.
    let parquet = dir.path().join("o.parquet");
    gcagg()
        .args(["flatten", "-o"])
        .arg(&parquet)
        .arg(&path)
        .assert()
        .success();
    let table = read_parquet(&parquet);
    assert_eq!(table.column("observed_at")[0], Value::Time(1_714_558_502_123));
    assert_eq!(table.column("oMemberQueues_count")[1], Value::Int(3));

    let bare = fixture("observations/users.ndjson");
    let flagged = stdout_of(&["--observed-at", "2024-05-01T10:15:00Z", bare.to_str().unwrap()], "");
    assert!(ndjson_rows(&flagged)
        .iter()
        .all(|r| r.text("observed_at") == "2024-05-01T10:15:00Z"));

    let out = gcagg().arg("flatten").arg(&bare).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("users.ndjson") && stderr.contains("--observed-at"),
        "{stderr}"
    );
    assert_eq!(ndjson_rows(&String::from_utf8(out.stdout).unwrap()).len(), 4);

    let bad = written(
        &dir,
        "bad.ndjson",
        "{\"results\":[]}\n  {\"gcaggObservedAt\":\"yesterday\"}\n",
    );
    let msg = failure(&[bad.as_os_str()], "", 1);
    assert!(
        msg.contains("bad.ndjson:2:3: gcaggObservedAt \"yesterday\" is not an RFC 3339 time"),
        "{msg}"
    );
    let msg = failure(&["--observed-at", "noon", "-"], "", 2);
    assert!(msg.contains("--observed-at noon: not an RFC 3339 time"), "{msg}");
}

#[test]
fn the_observations_layout_writes_one_row_per_entry() {
    let input = fixture("observations/queues_truncated.json");
    let rows = ndjson_rows(&stdout_of(
        &[
            "--layout",
            "observations",
            "--observed-at",
            "2024-05-01T10:15:02Z",
            input.to_str().unwrap(),
        ],
        "",
    ));
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0].text("metric"), "oInteracting");
    assert_eq!(rows[0].text("truncated"), "true");
    assert_eq!(rows[0].text("observationDate"), "2024-05-01T10:02:00.000Z");
    assert_eq!(rows[0].text("routingPriority"), "0");
    assert!(rows[0].keys().contains(&"scoredAgents"));
    let dir = scratch();
    let parquet = dir.path().join("entries.parquet");
    gcagg()
        .args([
            "flatten",
            "--layout",
            "observations",
            "--observed-at",
            "2024-05-01T10:15:02Z",
            "-o",
        ])
        .arg(&parquet)
        .arg(&input)
        .assert()
        .success();
    let table = read_parquet(&parquet);
    assert_eq!(table.rows.len(), 10);
    // The SDK's to_json of a response: its snake_case entry fields take the API's names, so
    // its columns are the raw body's (and the fields it writes as null besides).
    let entries = |name: &str| {
        let at = ["--layout", "observations", "--observed-at", "2024-05-01T10:15:02Z"];
        ndjson_rows(&stdout_of(&[&at[..], &[fixture(name).to_str().unwrap()]].concat(), ""))
    };
    let (raw, sdk) = (
        entries("observations/queues_pretty.json"),
        entries("observations/queues_sdk_to_json.json"),
    );
    assert_eq!(raw.len(), sdk.len());
    for (raw, sdk) in raw.iter().zip(&sdk) {
        for key in raw.keys() {
            assert!(sdk.keys().contains(&key), "{key}: {:?}", sdk.keys());
        }
        assert_eq!(raw.text("conversationId"), sdk.text("conversationId"));
        assert_eq!(raw.text("routingPriority"), sdk.text("routingPriority"));
    }
    // Input without entries gives no row, and the run says why.
    let out = crate::util::flatten(
        &[
            "--layout",
            "observations",
            fixture("observations/users.ndjson").to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success() && out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap().lines().last().unwrap(),
        "gcagg: warning: no `observations[]` entry in the input, so no row: observation queries have them for their detailMetrics (fetch --observations --detail-metrics)"
    );
    assert_eq!(
        table.column("conversationId")[0],
        Value::Text("b88712dc-3467-51d3-a724-cbbec37eb04c".into())
    );
}

#[test]
fn notification_events_read_as_results_with_the_topics_id() {
    let run = |name: &str| {
        let out = crate::util::flatten(&[fixture(&format!("notifications/{name}"))], "");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let ws = ndjson_rows(&run("websocket.ndjson"));
    assert_eq!(ws.len(), 6);
    assert_eq!(ws[0].text("oWaiting_count"), "2");
    let out = gcagg()
        .arg("flatten")
        .arg(fixture("notifications/websocket.ndjson"))
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("skipped 6 notification control messages"));
    let pretty = ndjson_rows(&run("websocket_pretty.json"));
    assert_eq!(pretty.len(), 3);
    let bridge = stdout_of(&[fixture("notifications/eventbridge.ndjson")], "");
    let firehose = stdout_of(&[fixture("notifications/eventbridge_firehose.json")], "");
    assert_eq!(bridge, firehose);
    assert_eq!(ndjson_rows(&bridge).len(), 5);
    let lacking = ndjson_rows(&stdout_of(
        &[fixture("notifications/group_without_topic_id.ndjson")],
        "",
    ));
    assert_eq!(lacking[0].text("flowId"), "f2e2cf40-d88b-50f1-916e-68bb9dd30882");
    // An observation-shaped event is observed at the EventBridge event's time.
    let event = r#"{"time":"2024-05-01T10:15:03Z","detail-type":"v2.analytics.queues.{id}.observations","detail":{"topicName":"v2.analytics.queues.q1.observations","eventBody":{"data":[{"metric":"oWaiting","stats":{"count":3}}]}}}"#;
    assert_eq!(
        stdout_of(&["-"], event),
        "{\"queueId\":\"q1\",\"observed_at\":\"2024-05-01T10:15:03Z\",\"oWaiting_count\":3}\n"
    );
    // Fields the models allow and the fixtures lack: EventBridge's optional `replay-name`
    // (an event replayed from an archive), and the closing warning's `data` object
    // (SystemMessageSystemMessage.data, a map of string to object).
    let replayed = std::fs::read_to_string(fixture("notifications/eventbridge.ndjson"))
        .unwrap()
        .replace(
            "\"resources\":[]",
            "\"resources\":[],\"replay-name\":\"replay_archive\"",
        );
    assert_eq!(stdout_of(&["-"], replayed), bridge);
    let closing = r#"{"topicName":"v2.system.socket_closing","version":"2","eventBody":{"systemTopicType":"socket_closing","message":"closing","data":{"reconnect":true}}}"#;
    let out = crate::util::flatten(&["-"], closing);
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("skipped 1 notification control message"));
    let msg = failure(
        &["-"],
        r#"{"topicName":"v2.users.u1.presence","eventBody":{"presence":1}}"#,
        1,
    );
    assert!(msg.starts_with("gcagg: <stdin>:1:"), "{msg}");
}
