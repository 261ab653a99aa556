# The wide flattening of `gcagg flatten` (docs/columns.md), written in jq: the yardstick that
# `scripts/bench` times gcagg against (the target: at least 50x faster than jq).
#
#   jq -c -f scripts/flatten.jq pages.ndjson > rows.ndjson
#
# For API-shaped pages (responses, async job pages, SDK dumps, or one array of them) it
# writes the same rows as `gcagg flatten` with its defaults, one object per entity
# (`results[].data[]`):
#   - group keys made safe (every character outside [A-Za-z0-9_] becomes `_`),
#   - `interval_start` / `interval_end`, the halves of `interval` around its first `/`,
#   - `<metric>_<stat>`, `<metric>_<qualifier>_<stat>` and `view_<name>_<stat>`, made safe,
#     with the SDKs' snake_case stat names mapped to the API's and null stats dropped.
# Compare rows as parsed JSON: jq rewrites numbers (it reads them as doubles) and keeps
# its own key order. Pages of other shapes (tutorial `entities`, error bodies) give no rows:
# gcagg's handling of those is not what is being timed.

# Names are nearly always safe already: the cheap `test` spares most of them the slower gsub.
def safe:
  if test("^[A-Za-z0-9_]+$") then .
  else gsub("[^A-Za-z0-9_]"; "_") | if . == "" then "_" else . end
  end;

def api_stat:
  if . == "count_negative" then "countNegative"
  elif . == "count_positive" then "countPositive"
  elif . == "calculated_metric_value" then "calculatedMetricValue"
  else . end;

# The value cells of one metric or view: [column, value] for each non-null stat.
def values($prefix):
  (.stats // {}) | keys_unsorted[] as $stat | .[$stat] | select(. != null)
  | [($prefix + "_" + ($stat | api_stat) | safe), .];

if type == "array" then .[] else . end
| (.results // [])[]
| ((.group // {}) | with_entries(.key |= safe)) as $group
| (.data // [])[]
# One row: group, interval halves, then every value cell (reduce is faster than from_entries).
| reduce (((.metrics // [])[] | values(.metric + (if .qualifier == null then "" else "_" + .qualifier end))),
          ((.views // [])[] | values("view_" + .name)))
    as $cell
    ($group
     + (if .interval == null then {}
        else (.interval | index("/")) as $slash
        | {interval_start: .interval[:$slash], interval_end: .interval[$slash + 1:]}
        end);
     .[$cell[0]] = $cell[1])
