#!/usr/bin/env python3
"""Offline checks of Herald's Grafana files (deploy/grafana/).

1. Parses every provisioning file (provisioning/**/*.yaml) and every dashboard
   (dashboards/*.json). YAML is parsed with PyYAML when it can be imported
   (deploy/install-tools.sh puts it in .tools/deploy/py, which is added to
   sys.path when present); without it the YAML files are only checked to be
   non-empty and to hold their required keys, textually.
2. Data sources: apiVersion 1, unique uids, a name, type, url and access for
   each, and every datasourceUid they point at (Tempo's tracesToMetrics,
   serviceMap, ...) provisioned too. PromQL in tracesToMetrics is checked as in 4.
3. Dashboard providers: apiVersion 1, file providers with an absolute path and a
   folder, and deploy/README.md mounting the dashboards at that path.
4. Dashboards: uid, title and schemaVersion; unique panel ids (rows' nested
   panels included); a gridPos on every panel, inside the 24-column grid and
   overlapping no other; unique refIds per panel; every panel's and target's
   datasource a provisioned uid of the right type; every template variable used
   ($name, ${name}, [[name]]) defined. Every PromQL expression names only
   Herald's metrics (METRICS below, histograms through _bucket, _sum and
   _count), filters and groups only on their labels, compares enumerated labels
   only with their values, applies rate()/increase() only to counters and
   histogram series and histogram_quantile() only to _bucket series, and has
   balanced brackets and quotes.

Standard library only (PyYAML optional). Prints `grafana-check: N passed,
M failed` and exits 1 if any check fails.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROVISIONING = HERE / "provisioning"
ALERTING = PROVISIONING / "alerting"
DASHBOARDS = HERE / "dashboards"
README = ROOT / "deploy" / "README.md"

_TOOLS_PY = ROOT / ".tools" / "deploy" / "py"
if _TOOLS_PY.is_dir() and str(_TOOLS_PY) not in sys.path:
    sys.path.append(str(_TOOLS_PY))
try:
    import yaml  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the machine
    yaml = None

# What Herald exposes on /metrics: name -> (type, labels of its own).
METRICS: dict[str, tuple[str, set[str]]] = {
    "herald_delivery_attempts_total": ("counter", {"status"}),
    "herald_delivery_attempt_duration_seconds": ("histogram", {"status"}),
    "herald_delivery_latency_seconds": ("histogram", set()),
    "herald_delivery_first_attempt_latency_seconds": ("histogram", set()),
    "herald_stream_limit_bytes": ("gauge", {"stream"}),
    "herald_events_total": ("counter", {"source", "result"}),
    "herald_retries_scheduled_total": ("counter", set()),
    "herald_deliveries_exhausted_total": ("counter", set()),
    "herald_webhooks_disabled_total": ("counter", {"reason"}),
    "herald_consumer_pending": ("gauge", {"stream", "consumer"}),
    "herald_consumer_ack_pending": ("gauge", {"stream", "consumer"}),
    "herald_status_records_total": ("counter", {"kind"}),
}
# Every series also has these (the scrape's job/instance, Herald's service).
COMMON_LABELS = {"job", "instance", "service"}
# What the NATS chart's exporter sidecar (prometheus-nats-exporter with
# -prefix=nats -jsz=all) exposes and Herald's panels use: name -> (type, labels).
_NATS_SERVER_LABELS = {"server_id", "server_name", "cluster", "domain", "meta_leader",
                       "is_meta_leader", "job", "instance"}
NATS_METRICS: dict[str, tuple[str, set[str]]] = {
    "nats_server_total_message_bytes": ("gauge", _NATS_SERVER_LABELS),
    "nats_server_max_storage": ("gauge", _NATS_SERVER_LABELS),
    "nats_stream_total_bytes": ("gauge", _NATS_SERVER_LABELS | {
        "account", "account_id", "stream_name", "stream_leader", "is_stream_leader"}),
}
# Labels with a closed set of values.
LABEL_VALUES = {
    "status": {"success", "failed"},
    "source": {"http", "nats"},
    "result": {"accepted", "rejected"},
    "reason": {"gone", "exhausted"},
    "kind": {"attempt", "event", "decision"},
    "service": {"ingest", "dispatcher", "retry-scheduler", "status-tracker", "all"},
}
# Labels Herald deliberately does not have (unbounded cardinality).
FORBIDDEN_LABELS = {"tenant", "webhook_id", "event_id", "url"}
# Grafana's own variables, always defined.
BUILTIN_VARIABLES = {
    "__rate_interval", "__interval", "__interval_ms", "__range", "__range_s",
    "__range_ms", "__from", "__to", "__dashboard", "__org", "__user", "timeFilter",
}
PANEL_TYPES = {"row", "timeseries", "stat", "table", "gauge", "bargauge", "text",
               "heatmap", "nodeGraph", "traces", "piechart", "barchart", "state-timeline"}
RATE_FUNCTIONS = ("rate", "irate", "increase")


def series_catalogue() -> dict[str, tuple[str, set[str]]]:
    """Every series name a query may use -> (kind, labels)."""
    out: dict[str, tuple[str, set[str]]] = {}
    for name, (kind, labels) in METRICS.items():
        if kind == "histogram":
            out[name + "_bucket"] = ("bucket", labels | COMMON_LABELS | {"le"})
            out[name + "_sum"] = ("counter", labels | COMMON_LABELS)
            out[name + "_count"] = ("counter", labels | COMMON_LABELS)
        else:
            out[name] = (kind, labels | COMMON_LABELS)
    out.update(NATS_METRICS)
    return out


SERIES = series_catalogue()


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, ok: bool, where: str, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed.append(f"{where}: {what}")
            print(f"FAIL {where}: {what}")
        return ok


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- PromQL

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_METRIC = re.compile(r"\b(?:herald|nats)_[a-z_]+")
_SELECTOR = re.compile(r"\b((?:herald|nats)_[a-z_]+)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_CALL = re.compile(r"\b(rate|irate|increase|histogram_quantile)\s*\(")


def balanced(expr: str) -> bool:
    text = _STRING.sub('""', expr)
    if any(q in text.replace('""', "") for q in "\"'`"):
        return False
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def call_argument(expr: str, open_paren: int) -> str:
    """The text between the parenthesis at open_paren and its match."""
    depth = 0
    for i in range(open_paren, len(expr)):
        if expr[i] == "(":
            depth += 1
        elif expr[i] == ")":
            depth -= 1
            if depth == 0:
                return expr[open_paren + 1:i]
    return expr[open_paren + 1:]


def check_promql(r: Report, where: str, expr: str) -> None:
    if not r.check(isinstance(expr, str) and expr.strip() != "", where, "empty PromQL expression"):
        return
    r.check(balanced(expr), where, f"unbalanced brackets or quotes in {expr!r}")
    names = _METRIC.findall(expr)
    r.check(bool(names), where, f"names no Herald or NATS metric: {expr!r}")
    unknown = sorted({n for n in names if n not in SERIES})
    r.check(not unknown, where, f"unknown metric(s) {unknown}: not in METRICS or NATS_METRICS "
            "(a histogram is queried as <name>_bucket, _sum or _count)")
    known = [n for n in names if n in SERIES]

    # Label matchers of each selector.
    for m in _SELECTOR.finditer(expr):
        name, braces = m.group(1), m.group(2)
        if name not in SERIES or not braces:
            continue
        labels = SERIES[name][1]
        for lm in _MATCHER.finditer(braces):
            label, op, value = lm.groups()
            r.check(label in labels, where, f"{name} has no label {label!r} "
                    f"(it has {sorted(labels)})")
            if op in ("=", "!=") and "$" not in value and label in LABEL_VALUES:
                r.check(value in LABEL_VALUES[label], where,
                        f"{label}={value!r} is not one of {sorted(LABEL_VALUES[label])}")

    # by (...), without (...), on (...): labels some metric of the query has.
    available = set().union(*(SERIES[n][1] for n in known)) if known else set()
    for g in _GROUPING.finditer(_STRING.sub('""', expr)):
        for label in (x.strip() for x in g.group(2).split(",")):
            if label:
                r.check(label in available and label not in FORBIDDEN_LABELS, where,
                        f"{g.group(1)} ({label}): no metric of this query has that label")

    # rate()/increase() of counters and histogram series only; histogram_quantile of _bucket.
    for c in _CALL.finditer(expr):
        arg = call_argument(expr, c.end() - 1)
        inner = [n for n in _METRIC.findall(arg) if n in SERIES]
        if c.group(1) in RATE_FUNCTIONS:
            for n in inner:
                r.check(SERIES[n][0] in ("counter", "bucket"), where,
                        f"{c.group(1)}() of {n}, a {SERIES[n][0]}: only counters and "
                        "histogram series have a rate")
        elif c.group(1) == "histogram_quantile":
            r.check(bool(inner) and all(SERIES[n][0] == "bucket" for n in inner), where,
                    "histogram_quantile() needs the _bucket series of a histogram")
            r.check(re.search(r"\bby\s*\([^)]*\ble\b", arg) is not None
                    or not re.search(r"\b(sum|max|min|avg)\b", arg), where,
                    "histogram_quantile() over an aggregation must keep `le` (sum by (le) ...)")

    for label in FORBIDDEN_LABELS:
        r.check(re.search(rf"\b{label}\s*(=~|!~|!=|=)", expr) is None, where,
                f"filters on {label!r}, which is not a metric label")


# ---------------------------------------------------------------- YAML

def load_yaml(r: Report, path: Path, required: list[str]) -> dict | None:
    """The parsed document; None when the file is empty or unparsable (reported
    here) or when PyYAML is missing (the required keys are then checked textually)."""
    where = rel(path)
    text = path.read_text(encoding="utf-8")
    if not r.check(text.strip() != "", where, "empty file"):
        return None
    if yaml is None:
        for key in required:
            r.check(re.search(rf"^\s*-?\s*{re.escape(key)}:", text, re.M) is not None,
                    where, f"no {key}: key")
        return None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        r.check(False, where, f"not valid YAML: {e}")
        return None
    if not r.check(isinstance(doc, dict), where, "not a YAML mapping"):
        return None
    r.check(doc.get("apiVersion") == 1, where, "apiVersion must be 1")
    return doc


def check_datasources(r: Report, files: list[Path]) -> dict[str, str]:
    """Provisioned data sources: uid -> type."""
    uids: dict[str, str] = {}
    pointers: list[tuple[str, str]] = []
    for path in files:
        where = rel(path)
        doc = load_yaml(r, path, ["apiVersion", "datasources", "name", "type", "uid", "url"])
        if doc is None and yaml is not None:
            continue  # empty or unparsable: already reported
        if doc is None:
            # Without PyYAML: each "- name:" entry's type and uid, textually.
            # Entries are split at the first entry's indentation, so the deeper
            # "- name:" of tracesToMetrics queries stay inside their data source.
            text = path.read_text(encoding="utf-8")
            first = re.search(r"^([ \t]*)-\s+name:", text, re.M)
            indent = re.escape(first.group(1)) if first else ""
            for block in re.split(rf"^{indent}-\s+name:", text, flags=re.M)[1:]:
                t = re.search(r"^\s*type:\s*(\S+)", block, re.M)
                u = re.search(r"^\s*uid:\s*(\S+)", block, re.M)
                if r.check(bool(t and u), where, "a data source without type or uid"):
                    uids[u.group(1).strip("'\"")] = t.group(1).strip("'\"")
            for m in re.finditer(r"datasourceUid:\s*(\S+)", text):
                pointers.append((where, m.group(1).strip("'\"")))
            continue
        sources = doc.get("datasources")
        if not r.check(isinstance(sources, list) and sources, where, "no datasources list"):
            continue
        for i, ds in enumerate(sources):
            at = f"{where}: datasources[{i}]"
            if not r.check(isinstance(ds, dict), at, "not a mapping"):
                continue
            for key in ("name", "type", "uid", "url", "access"):
                r.check(isinstance(ds.get(key), str) and ds[key] != "", at, f"no {key}")
            uid = ds.get("uid")
            if isinstance(uid, str):
                r.check(uid not in uids, at, f"uid {uid!r} provisioned twice")
                r.check(len(uid) <= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", uid) is not None,
                        at, f"uid {uid!r}: Grafana wants at most 40 of [A-Za-z0-9_-]")
                uids[uid] = ds.get("type")
            r.check(ds.get("access") in ("proxy", "direct"), at, "access must be proxy")
            url = ds.get("url", "")
            r.check(isinstance(url, str) and re.match(r"https?://", url) is not None, at,
                    f"url {url!r} is not http(s)")
            json_data = ds.get("jsonData") or {}
            for key, val in json_data.items():
                if isinstance(val, dict) and "datasourceUid" in val:
                    pointers.append((f"{at}.jsonData.{key}", val["datasourceUid"]))
            ttm = json_data.get("tracesToMetrics") or {}
            for j, q in enumerate(ttm.get("queries") or []):
                qat = f"{at}.jsonData.tracesToMetrics.queries[{j}]"
                r.check(bool(q.get("name")), qat, "no name")
                check_promql(r, qat, q.get("query", ""))
        defaults = [ds.get("uid") for ds in sources if isinstance(ds, dict) and ds.get("isDefault")]
        r.check(len(defaults) <= 1, where, "more than one isDefault data source")
    for where, uid in pointers:
        r.check(uid in uids, where, f"datasourceUid {uid!r} is not provisioned ({sorted(uids)})")
    return uids


def check_providers(r: Report, files: list[Path]) -> None:
    readme = README.read_text(encoding="utf-8") if README.exists() else ""
    for path in files:
        where = rel(path)
        doc = load_yaml(r, path, ["apiVersion", "providers", "name", "type", "folder", "path"])
        if doc is None and yaml is not None:
            continue  # empty or unparsable: already reported
        if doc is None:
            text = path.read_text(encoding="utf-8")
            paths = [m.group(1).strip("'\"") for m in re.finditer(r"^\s*path:\s*(\S+)", text, re.M)]
        else:
            providers = doc.get("providers")
            if not r.check(isinstance(providers, list) and providers, where, "no providers list"):
                continue
            paths = []
            for i, p in enumerate(providers):
                at = f"{where}: providers[{i}]"
                if not r.check(isinstance(p, dict), at, "not a mapping"):
                    continue
                r.check(bool(p.get("name")), at, "no name")
                r.check(p.get("type", "file") == "file", at, "type must be file")
                r.check(bool(p.get("folder")), at, "no folder")
                path_opt = (p.get("options") or {}).get("path")
                if r.check(isinstance(path_opt, str) and path_opt.startswith("/"), at,
                           "options.path must be an absolute path"):
                    paths.append(path_opt)
        for p in paths:
            r.check(p in readme, where, f"deploy/README.md never mounts the dashboards at {p}")


# ---------------------------------------------------------------- dashboards

_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)\]\]")


def variables_used(text: str) -> set[str]:
    return {a or b or c for a, b, c in _VAR.findall(text)}


def all_panels(panels: list) -> list[dict]:
    out = []
    for p in panels:
        if isinstance(p, dict):
            out.append(p)
            out.extend(all_panels(p.get("panels") or []))
    return out


def datasource_uid(ds) -> tuple[str | None, str | None]:
    if isinstance(ds, dict):
        return ds.get("uid"), ds.get("type")
    return None, None


def check_dashboard(r: Report, path: Path, uids: dict[str, str], seen_uids: set[str]) -> None:
    where = rel(path)
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        r.check(False, where, f"not valid JSON: {e}")
        return
    if not r.check(isinstance(dash, dict), where, "not a JSON object"):
        return
    uid = dash.get("uid")
    if r.check(isinstance(uid, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid) is not None,
               where, f"uid {uid!r}: 1-40 of [A-Za-z0-9_-]"):
        r.check(uid not in seen_uids, where, f"uid {uid!r} used by another dashboard")
        seen_uids.add(uid)
    r.check(isinstance(dash.get("title"), str) and dash["title"].strip() != "", where, "no title")
    r.check(isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 36, where,
            "schemaVersion must be a number >= 36 (data sources referenced by uid)")
    r.check(dash.get("id") is None, where, "id must be null in a provisioned dashboard")

    variables = (dash.get("templating") or {}).get("list") or []
    defined = set()
    for v in variables:
        name = v.get("name")
        at = f"{where}: variable {name!r}"
        if not r.check(isinstance(name, str) and name != "", where, "a variable without a name"):
            continue
        r.check(name not in defined, at, "defined twice")
        r.check(name not in FORBIDDEN_LABELS, at, "is not a metric label")
        defined.add(name)
        if v.get("type") == "query":
            vuid, vtype = datasource_uid(v.get("datasource"))
            r.check(vuid in uids, at, f"datasource uid {vuid!r} is not provisioned")
            query = v.get("query")
            q = query.get("query") if isinstance(query, dict) else query
            r.check(isinstance(q, str) and q != "", at, "no query")
            lv = re.fullmatch(r"\s*label_values\(\s*(herald_[a-z_]+)\s*,\s*([A-Za-z_]+)\s*\)\s*",
                              q or "")
            if uids.get(vuid) == "prometheus" and r.check(
                    lv is not None, at, "expected label_values(<herald metric>, <label>)"):
                r.check(lv.group(1) in SERIES and lv.group(2) in SERIES.get(lv.group(1), ("", set()))[1],
                        at, f"{lv.group(1)} has no label {lv.group(2)!r}")

    panels = all_panels(dash.get("panels") or [])
    r.check(bool(panels), where, "no panels")
    ids: set = set()
    boxes: list[tuple[str, int, int, int, int]] = []
    for p in panels:
        title = p.get("title", "?")
        at = f"{where}: panel {p.get('id')} {title!r}"
        pid = p.get("id")
        if r.check(isinstance(pid, int), at, "id must be an integer"):
            r.check(pid not in ids, at, "duplicate panel id")
            ids.add(pid)
        r.check(p.get("type") in PANEL_TYPES, at, f"unknown panel type {p.get('type')!r}")
        gp = p.get("gridPos")
        if r.check(isinstance(gp, dict) and all(isinstance(gp.get(k), int) for k in "hwxy"),
                   at, "gridPos with integer h, w, x, y is required"):
            r.check(gp["h"] >= 1 and 1 <= gp["w"] <= 24 and gp["x"] >= 0 and gp["y"] >= 0
                    and gp["x"] + gp["w"] <= 24, at, f"gridPos {gp} is outside the 24-column grid")
            boxes.append((title, gp["x"], gp["y"], gp["w"], gp["h"]))
        if p.get("type") == "row":
            r.check(not p.get("targets"), at, "a row has no queries")
            continue
        puid, ptype = datasource_uid(p.get("datasource"))
        if puid is not None:
            r.check(puid in uids and ptype == uids[puid], at,
                    f"datasource {puid!r}/{ptype!r} is not a provisioned uid of that type")
        targets = p.get("targets") or []
        if p.get("type") != "text":
            r.check(bool(targets), at, "no targets")
        refids = [t.get("refId") for t in targets]
        r.check(len(refids) == len(set(refids)) and all(refids), at, "refIds must be set and unique")
        for t in targets:
            tat = f"{at} target {t.get('refId')}"
            tuid, ttype = datasource_uid(t.get("datasource") or p.get("datasource"))
            if not r.check(tuid in uids, tat, f"datasource uid {tuid!r} is not provisioned "
                           f"({sorted(uids)})"):
                continue
            r.check(ttype in (None, uids[tuid]), tat,
                    f"datasource type {ttype!r}, but {tuid!r} is a {uids[tuid]}")
            kind = uids[tuid]
            if kind == "prometheus":
                check_promql(r, tat, t.get("expr", ""))
            elif kind == "tempo":
                r.check(t.get("queryType") in ("traceql", "traceqlSearch", "serviceMap", "traceId"),
                        tat, f"unknown Tempo queryType {t.get('queryType')!r}")
                if t.get("queryType") == "traceql":
                    q = t.get("query", "")
                    r.check(isinstance(q, str) and q.strip().startswith("{") and balanced(q),
                            tat, f"not a TraceQL query: {q!r}")

    # No two panels on the same cells (rows' own line included).
    for i, (ta, xa, ya, wa, ha) in enumerate(boxes):
        for tb, xb, yb, wb, hb in boxes[i + 1:]:
            overlap = xa < xb + wb and xb < xa + wa and ya < yb + hb and yb < ya + ha
            r.check(not overlap, where, f"panels {ta!r} and {tb!r} overlap")

    used = variables_used(json.dumps(dash.get("panels") or [])) - BUILTIN_VARIABLES
    for name in sorted(used):
        r.check(name in defined, where, f"${name} is used but not defined in templating")


def check_alerting(r: Report, files: list[Path], uids: dict[str, str]) -> None:
    """Alert rules: apiVersion 1, groups with a name, folder and interval, rules with
    a unique uid, a title, a `for`, a summary, and a condition naming one of their
    queries; each query on a provisioned data source (or Grafana's expressions,
    __expr__) and each PromQL checked as in the dashboards."""
    seen: set[str] = set()
    for path in files:
        where = rel(path)
        doc = load_yaml(r, path, ["apiVersion", "groups", "rules", "uid", "condition"])
        if doc is None:
            continue
        groups = doc.get("groups")
        if not r.check(isinstance(groups, list) and groups, where, "no groups list"):
            continue
        for g in groups:
            gat = f"{where}: group {g.get('name')!r}"
            for key in ("name", "folder", "interval"):
                r.check(bool(g.get(key)), gat, f"no {key}")
            for rule in g.get("rules") or []:
                at = f"{gat} rule {rule.get('uid')!r}"
                uid = rule.get("uid")
                r.check(isinstance(uid, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid or "")
                        is not None and uid not in seen, at, "uid: unique, 1-40 of [A-Za-z0-9_-]")
                seen.add(uid)
                r.check(bool(rule.get("title")), at, "no title")
                r.check(bool(rule.get("for")), at, "no for")
                r.check(bool((rule.get("annotations") or {}).get("summary")), at, "no summary")
                refs = set()
                for q in rule.get("data") or []:
                    qat = f"{at} query {q.get('refId')}"
                    refs.add(q.get("refId"))
                    source = q.get("datasourceUid")
                    if source == "__expr__":
                        r.check((q.get("model") or {}).get("type") in
                                ("reduce", "threshold", "math", "classic_conditions", "resample"),
                                qat, "unknown expression type")
                        continue
                    if r.check(source in uids, qat, f"datasourceUid {source!r} is not provisioned"):
                        if uids[source] == "prometheus":
                            check_promql(r, qat, (q.get("model") or {}).get("expr", ""))
                r.check(rule.get("condition") in refs, at,
                        f"condition {rule.get('condition')!r} is none of its queries {sorted(refs)}")


def main() -> int:
    r = Report()
    ds_files = sorted((PROVISIONING / "datasources").glob("*.y*ml"))
    provider_files = sorted((PROVISIONING / "dashboards").glob("*.y*ml"))
    dashboards = sorted(DASHBOARDS.glob("*.json"))
    r.check(bool(ds_files), rel(PROVISIONING / "datasources"), "no data source files")
    r.check(bool(provider_files), rel(PROVISIONING / "dashboards"), "no dashboard provider files")
    r.check(bool(dashboards), rel(DASHBOARDS), "no dashboards")
    if yaml is None:
        print("note: PyYAML not importable; YAML files checked textually only")

    uids = check_datasources(r, ds_files)
    check_providers(r, provider_files)
    seen: set[str] = set()
    for path in dashboards:
        check_dashboard(r, path, uids, seen)
    check_alerting(r, sorted(ALERTING.glob("*.y*ml")), uids)

    print(f"grafana-check: {r.passed} passed, {len(r.failed)} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
