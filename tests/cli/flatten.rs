//! Rows and columns (SPEC §2): safe names, wide and long layouts, column order, stat names,
//! nulls and zero, and numbers and text written exactly as the input spells them.

use crate::util::{csv_rows, fixture, ndjson_rows, stdout_of};

// ---- safe names (§2.2) ----------------------------------------------------------------------

golden!(
    group_keys_become_safe_column_names,
    [],
    r#"{"results":[{"group":{"queue.id":"q","wrap-up code":"w","été":"x","":"e"},"data":[{"interval":"s/e"}]}]}"#,
    "{\"queue_id\":\"q\",\"wrap_up_code\":\"w\",\"_t_\":\"x\",\"_\":\"e\",\"interval_start\":\"s\",\"interval_end\":\"e\"}\n"
);

golden!(
    metric_qualifier_and_view_names_become_safe_in_wide_columns,
    [],
    r#"{"results":[{"group":{},"data":[{"metrics":[{"metric":"t.Custom-1","qualifier":"ON QUEUE","stats":{"sum":1}}],"views":[{"name":"under 20s","stats":{"count":2}}]}]}]}"#,
    "{\"t_Custom_1_ON_QUEUE_sum\":1,\"view_under_20s_count\":2}\n"
);

golden!(
    long_layout_keeps_the_source_names_as_values,
    ["--layout", "long"],
    r#"{"results":[{"group":{},"data":[{"metrics":[{"metric":"t.Custom-1","qualifier":"ON QUEUE","stats":{"sum":1}}],"views":[{"name":"under 20s","stats":{"count":2}}]}]}]}"#,
    "{\"metric\":\"t.Custom-1\",\"qualifier\":\"ON QUEUE\",\"stat\":\"sum\",\"value\":1}\n\
     {\"metric\":\"view:under 20s\",\"stat\":\"count\",\"value\":2}\n"
);

// ---- value columns (§2.3) -------------------------------------------------------------------

golden!(
    qualified_metrics_and_views_name_their_columns,
    [],
    r#"{"results":[{"group":{"userId":"u1"},"data":[{"interval":"s/e","metrics":[{"metric":"tAgentRoutingStatus","qualifier":"IDLE","stats":{"sum":60000}},{"metric":"tSystemPresence","qualifier":"ON_QUEUE","stats":{"sum":90000}},{"metric":"tHandle","stats":{"count":2}}],"views":[{"name":"tKindOfShortAbandon","stats":{"count":3,"sum":21000}}]}]}]}"#,
    "{\"userId\":\"u1\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"tAgentRoutingStatus_IDLE_sum\":60000,\
     \"tSystemPresence_ON_QUEUE_sum\":90000,\"tHandle_count\":2,\"view_tKindOfShortAbandon_count\":3,\
     \"view_tKindOfShortAbandon_sum\":21000}\n"
);

golden!(
    long_rows_carry_metric_qualifier_stat_and_value,
    ["--layout", "long"],
    r#"{"results":[{"group":{"userId":"u1"},"data":[{"interval":"s/e","metrics":[{"metric":"tSystemPresence","qualifier":"ON_QUEUE","stats":{"sum":90000,"count":1}}],"views":[{"name":"short","stats":{"count":3}}]}]}]}"#,
    "{\"userId\":\"u1\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"metric\":\"tSystemPresence\",\"qualifier\":\"ON_QUEUE\",\"stat\":\"sum\",\"value\":90000}\n\
     {\"userId\":\"u1\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"metric\":\"tSystemPresence\",\"qualifier\":\"ON_QUEUE\",\"stat\":\"count\",\"value\":1}\n\
     {\"userId\":\"u1\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"metric\":\"view:short\",\"stat\":\"count\",\"value\":3}\n"
);

golden!(
    view_columns_follow_metric_columns_whatever_the_key_order,
    [],
    r#"{"results":[{"group":{},"data":[{"views":[{"name":"v","stats":{"count":1}}],"metrics":[{"metric":"m","stats":{"count":2}}]}]}]}"#,
    "{\"m_count\":2,\"view_v_count\":1}\n"
);

golden!(
    intervals_split_at_the_slash_keeping_local_offsets,
    [],
    r#"{"results":[{"group":{"queueId":"q"},"data":[{"interval":"2024-03-31T00:00:00.000+01:00/2024-03-31T03:00:00.000+02:00","metrics":[{"metric":"nOffered","stats":{"count":1}}]}]}]}"#,
    "{\"queueId\":\"q\",\"interval_start\":\"2024-03-31T00:00:00.000+01:00\",\"interval_end\":\"2024-03-31T03:00:00.000+02:00\",\"nOffered_count\":1}\n"
);

/// Two pages whose entities bring their groups and values in different orders.
const ORDER_PAGES: &str = concat!(
    r#"{"results":[{"group":{"b":"B"},"data":[{"interval":"s/e","metrics":[{"metric":"y","stats":{"count":1}}]}]}]}"#,
    "\n",
    r#"{"results":[{"group":{"a":"A","b":"B2"},"data":[{"interval":"s/e","metrics":[{"metric":"x","stats":{"count":2}},{"metric":"y","stats":{"count":3}}]}]}]}"#,
);

golden!(
    wide_columns_are_constants_groups_interval_values_in_first_appearance,
    ["--format", "csv", "--add-column", "org=acme", "--add-column", "src=api"],
    ORDER_PAGES,
    "org,src,b,a,interval_start,interval_end,y_count,x_count\nacme,api,B,,s,e,1,0\nacme,api,B2,A,s,e,3,2\n"
);

golden!(
    long_columns_end_with_metric_qualifier_stat_value,
    ["--format", "csv", "--layout", "long", "--add-column", "org=acme"],
    ORDER_PAGES,
    "org,b,a,interval_start,interval_end,metric,qualifier,stat,value\nacme,B,,s,e,y,,count,1\nacme,B2,A,s,e,x,,count,2\nacme,B2,A,s,e,y,,count,3\n"
);

golden!(
    ndjson_rows_carry_only_their_own_columns,
    ["--add-column", "org=acme"],
    ORDER_PAGES,
    "{\"org\":\"acme\",\"b\":\"B\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"y_count\":1}\n\
     {\"org\":\"acme\",\"a\":\"A\",\"b\":\"B2\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"x_count\":2,\"y_count\":3}\n"
);

golden!(
    aggregate_id_follows_the_interval_whatever_comes_first,
    ["--format", "csv"],
    concat!(
        r#"{"entities":[{"id":"e1","groups":{"queue.id":"q1"},"metrics":{"conversationCount":{"value":4}}}]}"#,
        r#"{"results":[{"group":{"queue.id":"q2"},"data":[{"interval":"s/e","metrics":[{"metric":"nOffered","stats":{"count":5}}]}]}]}"#
    ),
    "queue_id,interval_start,interval_end,aggregate_id,conversationCount,nOffered_count\nq1,,,e1,4,0\nq2,s,e,,0,5\n"
);

golden!(
    tutorial_long_rows_use_the_stat_name_value,
    ["--layout", "long"],
    r#"{"entities":[{"id":"e1","groups":{"queue.id":"q1"},"metrics":{"conversationCount":{"value":4},"abandonCount":{"value":null}}}]}"#,
    "{\"queue_id\":\"q1\",\"aggregate_id\":\"e1\",\"metric\":\"conversationCount\",\"stat\":\"value\",\"value\":4}\n\
     {\"queue_id\":\"q1\",\"aggregate_id\":\"e1\",\"metric\":\"abandonCount\",\"stat\":\"value\",\"value\":0}\n"
);

// ---- --stats and stat names (§2.3, §2.4) ----------------------------------------------------

/// One metric with SDK and API stat names, one with an unknown stat, and a tutorial entity.
const STAT_NAMES: &str = concat!(
    r#"{"results":[{"group":{"q":"a"},"data":[{"metrics":[{"metric":"tTalk","qualifier":null,"stats":{"count":3,"count_negative":0,"count_positive":3,"sum":9.0,"calculated_metric_value":null}},"#,
    r#"{"metric":"oKpi","stats":{"calculated_metric_value":0.25,"p95":120,"p50":80}}],"views":null}]}]}"#,
    "\n",
    r#"{"entities":[{"metrics":{"handledDuration":{"value":45000}}}]}"#
);

golden!(
    sdk_stat_names_become_api_names_and_unknown_names_pass,
    [],
    STAT_NAMES,
    "{\"q\":\"a\",\"tTalk_count\":3,\"tTalk_countNegative\":0,\"tTalk_countPositive\":3,\"tTalk_sum\":9.0,\
     \"oKpi_calculatedMetricValue\":0.25,\"oKpi_p95\":120,\"oKpi_p50\":80}\n{\"handledDuration\":45000}\n"
);

golden!(
    stats_option_keeps_the_named_api_stats_only,
    ["--stats", "countNegative,calculatedMetricValue,p50"],
    STAT_NAMES,
    "{\"q\":\"a\",\"tTalk_countNegative\":0,\"oKpi_calculatedMetricValue\":0.25,\"oKpi_p50\":80}\n{\"handledDuration\":45000}\n"
);

golden!(
    long_layout_writes_api_stat_names,
    ["--layout", "long", "--stats", "countPositive,sum"],
    STAT_NAMES,
    "{\"q\":\"a\",\"metric\":\"tTalk\",\"stat\":\"countPositive\",\"value\":3}\n\
     {\"q\":\"a\",\"metric\":\"tTalk\",\"stat\":\"sum\",\"value\":9.0}\n\
     {\"metric\":\"handledDuration\",\"stat\":\"value\",\"value\":45000}\n"
);

#[test]
fn raw_and_sdk_dumps_of_one_response_give_the_same_table() {
    let raw = csv_rows(&stdout_of(
        &["--format", "csv"],
        std::fs::read(fixture("sdk_source_raw.json")).unwrap(),
    ));
    let sdk = csv_rows(&stdout_of(
        &["--format", "csv"],
        std::fs::read(fixture("sdk_to_json.json")).unwrap(),
    ));
    assert_eq!(raw[0], sdk[0], "same header");
    assert_eq!(raw.len(), sdk.len(), "same rows");
    for (r, s) in raw.iter().zip(&sdk).skip(1) {
        for ((a, b), name) in r.iter().zip(s).zip(&raw[0]) {
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => assert_eq!(x, y, "{name}: {a} vs {b}"),
                _ => assert_eq!(a, b, "{name}"),
            }
        }
    }
    // Each dump keeps its own spelling: the SDK wrote floats where the API sent integers.
    assert!(raw[1].contains(&"97290".to_owned()) && sdk[1].contains(&"97290.0".to_owned()));
}

// ---- nulls, absent values, zero (§2.5) ------------------------------------------------------

golden!(
    api_nulls_are_absent_values,
    [],
    r#"{"results":[{"group":{"q":"a"},"data":[{"interval":"s/e","metrics":[{"metric":"n","qualifier":null,"stats":{"count":null,"sum":3,"max":null}},{"metric":"gone","stats":{"count":null}}],"views":null}]}]}"#,
    "{\"q\":\"a\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"n_sum\":3}\n"
);

golden!(
    null_and_missing_containers_are_empty,
    [],
    r#"{"results":[{"group":null,"data":[{"interval":null,"metrics":null,"views":null},{"metrics":[{"metric":"n","stats":null}]}]},{"group":{"q":"a"},"data":null},{"group":{"q":"b"}}]}"#,
    ""
);

const TUTORIAL_NULLS: &str = r#"{"entities":[{"id":"q1","groups":{"queue.id":"q1"},"metrics":{"conversationCount":{"value":3},"abandonCount":{"value":null}}},{"id":"q2","groups":{"queue.id":"q2","conversation.type":"voice"},"metrics":{"handledDuration":{"value":45000}}}]}"#;

golden!(
    tutorial_null_metrics_are_zero,
    [],
    TUTORIAL_NULLS,
    "{\"queue_id\":\"q1\",\"aggregate_id\":\"q1\",\"conversationCount\":3,\"abandonCount\":0}\n\
     {\"queue_id\":\"q2\",\"conversation_type\":\"voice\",\"aggregate_id\":\"q2\",\"handledDuration\":45000}\n"
);

golden!(
    keep_nulls_writes_tutorial_nulls_as_null,
    ["--keep-nulls"],
    TUTORIAL_NULLS,
    "{\"queue_id\":\"q1\",\"aggregate_id\":\"q1\",\"conversationCount\":3,\"abandonCount\":null}\n\
     {\"queue_id\":\"q2\",\"conversation_type\":\"voice\",\"aggregate_id\":\"q2\",\"handledDuration\":45000}\n"
);

golden!(
    keep_nulls_writes_null_long_values,
    ["--keep-nulls", "--layout", "long"],
    TUTORIAL_NULLS,
    "{\"queue_id\":\"q1\",\"aggregate_id\":\"q1\",\"metric\":\"conversationCount\",\"stat\":\"value\",\"value\":3}\n\
     {\"queue_id\":\"q1\",\"aggregate_id\":\"q1\",\"metric\":\"abandonCount\",\"stat\":\"value\",\"value\":null}\n\
     {\"queue_id\":\"q2\",\"conversation_type\":\"voice\",\"aggregate_id\":\"q2\",\"metric\":\"handledDuration\",\"stat\":\"value\",\"value\":45000}\n"
);

golden!(
    csv_fills_missing_values_with_zero_and_other_cells_with_nothing,
    ["--format", "csv"],
    TUTORIAL_NULLS,
    "queue_id,conversation_type,aggregate_id,conversationCount,abandonCount,handledDuration\nq1,,q1,3,0,0\nq2,voice,q2,0,0,45000\n"
);

golden!(
    csv_keep_nulls_leaves_missing_values_empty,
    ["--format", "csv", "--keep-nulls"],
    TUTORIAL_NULLS,
    "queue_id,conversation_type,aggregate_id,conversationCount,abandonCount,handledDuration\nq1,,q1,3,,\nq2,voice,q2,,,45000\n"
);

golden!(
    csv_long_layout_never_fills_the_qualifier_with_zero,
    ["--format", "csv", "--layout", "long"],
    r#"{"results":[{"group":{"userId":"u1"},"data":[{"metrics":[{"metric":"tSystemPresence","qualifier":"AWAY","stats":{"sum":5}},{"metric":"nOffered","stats":{"count":0}}]}]}]}"#,
    "userId,metric,qualifier,stat,value\nu1,tSystemPresence,AWAY,sum,5\nu1,nOffered,,count,0\n"
);

// ---- numbers and text (§2.6) ----------------------------------------------------------------

const SPELLINGS: &str = r#"{"results":[{"group":{"q":"a"},"data":[{"metrics":[{"metric":"m","stats":{"sum":1.5e3,"min":7.0E+2,"ratio":0.47586206896551725,"max":150784.0,"count":-0,"target":0.80,"p99":1E400,"numerator":18446744073709551616}}]}]}]}"#;

golden!(
    ndjson_numbers_keep_their_spelling,
    [],
    SPELLINGS,
    "{\"q\":\"a\",\"m_sum\":1.5e3,\"m_min\":7.0E+2,\"m_ratio\":0.47586206896551725,\"m_max\":150784.0,\"m_count\":-0,\
     \"m_target\":0.80,\"m_p99\":1E400,\"m_numerator\":18446744073709551616}\n"
);

golden!(
    csv_numbers_keep_their_spelling,
    ["--format", "csv"],
    SPELLINGS,
    "q,m_sum,m_min,m_ratio,m_max,m_count,m_target,m_p99,m_numerator\n\
     a,1.5e3,7.0E+2,0.47586206896551725,150784.0,-0,0.80,1E400,18446744073709551616\n"
);

golden!(
    long_values_keep_their_spelling,
    ["--layout", "long", "--stats", "sum,min"],
    SPELLINGS,
    "{\"q\":\"a\",\"metric\":\"m\",\"stat\":\"sum\",\"value\":1.5e3}\n{\"q\":\"a\",\"metric\":\"m\",\"stat\":\"min\",\"value\":7.0E+2}\n"
);

/// Group values with quotes, commas, line breaks, escapes and non-ASCII text.
const TEXTS: &str = r#"{"results":[{"group":{"wrapUpCode":"He said \"hi\", then\nleft","city":"Z\u00fcrich 東京 🙂","note":"tab\there\r\u0001"},"data":[{"metrics":[{"metric":"n","stats":{"count":1}}]}]}]}"#;

golden!(
    ndjson_escapes_strings_and_keeps_unicode,
    [],
    TEXTS,
    "{\"wrapUpCode\":\"He said \\\"hi\\\", then\\nleft\",\"city\":\"Zürich 東京 🙂\",\"note\":\"tab\\there\\r\\u0001\",\"n_count\":1}\n"
);

golden!(
    csv_quotes_cells_per_rfc_4180_and_keeps_unicode,
    ["--format", "csv"],
    TEXTS,
    "wrapUpCode,city,note,n_count\n\"He said \"\"hi\"\", then\nleft\",Zürich 東京 🙂,\"tab\there\r\u{1}\",1\n"
);

#[test]
fn csv_cells_read_back_as_the_input_strings() {
    let rows = csv_rows(&stdout_of(&["--format", "csv"], TEXTS));
    let want = ndjson_rows(&stdout_of::<&str>(&[], TEXTS));
    assert_eq!(rows.len(), 2);
    let cells: Vec<&str> = want[0].0.iter().map(|(_, v)| v.csv_text()).collect();
    assert_eq!(rows[1], cells);
    assert_eq!(rows[0], want[0].keys());
}

golden!(
    group_values_that_are_not_strings_are_written_as_json_text,
    [],
    r#"{"results":[{"group":{"flowVersion":3,"isOutbound":false,"exitReason":null,"weight":1.50},"data":[{"metrics":[{"metric":"nFlow","stats":{"count":9}}]}]}]}"#,
    "{\"flowVersion\":3,\"isOutbound\":false,\"exitReason\":null,\"weight\":1.50,\"nFlow_count\":9}\n"
);

golden!(
    csv_writes_non_string_group_values_as_json_text_and_null_as_empty,
    ["--format", "csv"],
    r#"{"results":[{"group":{"flowVersion":3,"isOutbound":false,"exitReason":null,"weight":1.50},"data":[{"metrics":[{"metric":"nFlow","stats":{"count":9}}]}]}]}"#,
    "flowVersion,isOutbound,exitReason,weight,nFlow_count\n3,false,,1.50,9\n"
);
