#!/usr/bin/env python3
"""Offline checks of Herald's deployment files: `make deploy-check`.

1. Renders deploy/k8s/base and every overlay in deploy/k8s/overlays/ with
   kustomize (`kubectl kustomize`, the pinned kubectl of deploy/install-tools.sh).
2. Validates every rendered document, and deploy/k8s/base/secret.example.yaml,
   against the Kubernetes OpenAPI schemas shipped by kubernetes-validate, in
   strict mode (unknown fields are errors), for each of KUBERNETES_VERSIONS.
   KEDA's ScaledObject is a custom resource kubernetes-validate has no schema
   for: it is checked against SCALED_OBJECT_SCHEMA below, a hand-written subset
   of KEDA's CRD (the fields used here, and the prometheus and cpu triggers').
3. Checks what the schemas cannot: that the four services are wired the way
   Herald needs (arguments, probes, security context, secrets, Services, PDBs,
   NetworkPolicies), that each scales on the work really waiting for it (the
   num_pending of exactly its consumers, never num_ack_pending; CPU for ingest,
   attempts in flight for the dispatcher), that HERALD_ALLOWED_PORTS lists
   exactly the ports the dispatcher's NetworkPolicy lets it reach on the
   internet, that every pod's grace period covers its drain budget (preStop +
   HERALD_SHUTDOWN_TIMEOUT + trace flush), that every variable set is one
   README.md's Configuration table documents (and the table matches the code),
   and what each overlay promises (replicas, HERALD_STREAM_REPLICAS, who owns the
   namespace, PostgreSQL connections).
4. Checks deploy/nats/values.yaml for the settings Herald depends on (the chart
   itself is not rendered: it cannot be fetched offline), scheduling,
   GOMEMLIMIT and the durability profile included (the one value that sets
   JetStream's sync_interval, and that it reaches the servers' configuration as
   the chart merges it, with values-dev.yaml on top too); that deploy/Dockerfile copies every workspace member,
   pins its base images and gives `herald all` a writable data directory; and
   renders the event-type component on the base.
5. Checks that every relative link in README.md, deploy/README.md and
   docs/durability.md resolves
   (the file exists; an anchor names a heading of it), and that every repository
   path they name in `code` exists.

Needs PyYAML, jsonschema and kubernetes-validate on PYTHONPATH (the Makefile
points it at .tools/deploy/py). Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import base64
import functools
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

# The oldest Kubernetes the manifests support (preStop `sleep` needs 1.30) and
# the version of the pinned kubectl.
KUBERNETES_VERSIONS = ["1.30.0", "1.35.0"]

IMAGE = "ghcr.io/herald-webhooks/herald"
SERVICES = ["ingest", "dispatcher", "retry-scheduler", "status-tracker"]
SECRET_NAME = "herald-secrets"
CONFIGMAP_NAME = "herald-config"
# Exactly these Secret keys per service (least privilege).
SECRET_KEYS = {
    "ingest": {"HERALD_API_KEYS", "HERALD_SECRET_KEY"},
    "dispatcher": {"HERALD_SECRET_KEY"},
    "retry-scheduler": set(),
    "status-tracker": {"DATABASE_URL"},
}
# The drain budget (services/common/src/shutdown.rs and telemetry.rs): the
# longest delivery attempt, what the drain keeps to record it and hand the rest
# back, and the bound of the trace flush that follows the drain, in seconds.
LONGEST_ATTEMPT = 30
FINISH_RESERVE = 5
TRACE_FLUSH = 5
# The durable consumers each service reads (stream, consumer): its ScaledObject
# must scale on the messages waiting for every one of them and for no other
# service's. Checked against consumers() in services/common/src/nats.rs.
CONSUMERS = {
    "ingest": {("INGEST", "ingest")},
    "dispatcher": {("EVENTS", "dispatcher-fanout")}
    | {("DELIVERIES", f"dispatcher-p{p:02d}") for p in range(32)},
    "retry-scheduler": {("OUTCOMES", "retry-scheduler")},
    "status-tracker": {("OUTCOMES", "status-tracker"), ("EVENTS", "status-tracker-events")},
}
NATS_RS = ROOT / "services" / "common" / "src" / "nats.rs"
NAMES_DIR = ROOT / "proto" / "src" / "names"
METRICS_RS = ROOT / "services" / "common" / "src" / "metrics.rs"
DELIVERY_RS = ROOT / "proto" / "src" / "delivery.rs"
# The prometheus-nats-exporter's gauge of a consumer's messages not yet handed
# out (jsz collector, `jetstream_consumer_num_pending`, renamed by the NATS
# chart's `-prefix=nats`), labelled stream_name and consumer_name. Only the
# consumer's leader reports it; the other servers read 0. Its companion
# nats_consumer_num_ack_pending counts tasks a dispatcher holds for a busy
# endpoint on purpose: it must never drive scaling.
PENDING_METRIC = "nats_consumer_num_pending"
NOT_SCALING_METRICS = {"nats_consumer_num_ack_pending", "herald_consumer_ack_pending"}
# Herald's own gauge the dispatcher also scales on (with service="dispatcher").
IN_FLIGHT_METRIC = "herald_attempts_in_flight"
# README.md's Configuration table is the list of the variables Herald reads;
# the OpenTelemetry SDK's standard OTEL_* variables apply too (README,
# Operations, Traces).
README = ROOT / "README.md"
OTEL_PREFIX = "OTEL_"
# Where the status-tracker's default pool size is declared (its Setting).
STATUS_TRACKER_CONFIG_RS = ROOT / "services" / "status-tracker" / "src" / "config.rs"
# The example event-type catalogue and the component that mounts it into ingest.
EVENT_TYPES_COMPONENT = K8S / "components" / "event-types"
# NATS authorization: each service's user (its name) and the key of its password
# in the Secret NATS_SECRET_NAME, which the NATS servers read as the environment
# variable of that name (deploy/nats/herald-auth.conf).
NATS_SECRET_NAME = "herald-nats-passwords"
NATS_PASSWORD_KEYS = {svc: f"HERALD_NATS_{svc.upper().replace('-', '_')}_PASSWORD" for svc in SERVICES}
AUTH_CONF = DEPLOY / "nats" / "herald-auth.conf"
# Where values.yaml mounts herald-auth.conf, and the include that reads it
# (relative to the chart's /etc/nats-config/nats.conf).
AUTH_MOUNT = "/etc/herald-auth"
AUTH_INCLUDE = "../herald-auth/herald-auth.conf"
# The documents whose links must resolve.
LINKED_DOCS = [ROOT / "README.md", DEPLOY / "README.md", ROOT / "docs" / "durability.md"]
# What each overlay promises.
# owns_namespace: whether the overlay creates its Namespace. Production does not:
# the namespace holds the Secrets made out of band, which `kubectl delete -k`
# would delete with it. db_connections: what the status-tracker's replicas may
# hold together at most (maxReplicaCount x HERALD_DB_POOL_SIZE), to fit a small
# managed PostgreSQL (max_connections 100, 10 kept for administration and
# migrations).
OVERLAYS = {
    "dev": {"stream_replicas": "1", "autoscaling": False, "secret_in_render": True,
            "nats_auth": False, "owns_namespace": True},
    "production": {"stream_replicas": "3", "autoscaling": True, "secret_in_render": False,
                   "min_replicas": 2, "nats_auth": True, "owns_namespace": False,
                   "db_connections": 90},
}

SCALED_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "advanced": {"type": "object"},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "properties": {"failureThreshold": {"type": "integer"},
                                   "replicas": {"type": "integer"}},
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {"type": "object", "required": ["name"]},
                            # KEDA reads trigger metadata as strings only.
                            "metadata": {"type": "object",
                                         "additionalProperties": {"type": "string"}},
                        },
                        "additionalProperties": False,
                        "allOf": [
                            # The prometheus scaler's parameters (KEDA docs, Prometheus scaler).
                            {"if": {"properties": {"type": {"const": "prometheus"}}},
                             "then": {"properties": {"metadata": {
                                 "required": ["serverAddress", "query", "threshold"],
                                 "properties": {
                                     "serverAddress": {"pattern": r"^https?://[^/\s]+(/\S*)?$"},
                                     "threshold": {"pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                     "activationThreshold": {"pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                     "ignoreNullValues": {"enum": ["true", "false"]},
                                     "unsafeSsl": {"enum": ["true", "false"]},
                                 },
                                 "propertyNames": {"enum": [
                                     "serverAddress", "query", "threshold", "activationThreshold",
                                     "namespace", "customHeaders", "ignoreNullValues",
                                     "queryParameters", "unsafeSsl", "timeout"]},
                             }}}},
                            # The cpu scaler: metricType on the trigger, the target in metadata.
                            {"if": {"properties": {"type": {"const": "cpu"}}},
                             "then": {"required": ["metricType"],
                                      "properties": {"metricType": {"enum": ["Utilization", "AverageValue"]},
                                                     "metadata": {
                                                         "required": ["value"],
                                                         "properties": {"value": {"pattern": r"^[1-9][0-9]*$"}},
                                                         "propertyNames": {"enum": ["value", "containerName"]},
                                                     }}}},
                        ],
                    },
                },
            },
            "additionalProperties": False,
        },
        "status": {"type": "object"},
    },
    "additionalProperties": False,
}
# Custom resources and the schema each is checked against instead.
CUSTOM_SCHEMAS = {("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT_SCHEMA}


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.notes: list[str] = []

    def check(self, ok: bool, where: str, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed.append(f"{where}: {what}")
            print(f"FAIL {where}: {what}")
        return ok

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def kname(doc: dict) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def render(kubectl: str, path: Path) -> list[dict]:
    env = dict(os.environ, KUBECONFIG=os.devnull)
    out = subprocess.run([kubectl, "kustomize", str(path)], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or f"kubectl kustomize exited {out.returncode}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def load_file(path: Path) -> list[dict]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


# ---------------------------------------------------------------- schemas


def validate_schemas(r: Report, where: str, docs: list[dict]) -> None:
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        name = f"{where} {kname(doc)}"
        if key in CUSTOM_SCHEMAS:
            errors = sorted(jsonschema.Draft202012Validator(CUSTOM_SCHEMAS[key]).iter_errors(doc),
                            key=lambda e: list(e.path))
            r.check(not errors, name, "; ".join(
                f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors))
            r.note(f"{key[1]} ({key[0]}) is a custom resource: checked against check.py's "
                   "own schema (a subset of KEDA's CRD), not by kubernetes-validate")
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                r.check(True, name, "")
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path) or "(root)"
                r.check(False, f"{name} (Kubernetes {version})", f"{path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                r.check(False, name, f"no schema: {e.message}")



# ---------------------------------------------------------------- sources of truth


@functools.cache
def readme_variables() -> frozenset[str]:
    """The variables of README.md's Configuration table: every `NAME` in the first
    column of its rows (one row may name two, as `HERALD_NATS_USER`,
    `HERALD_NATS_PASSWORD`)."""
    text = README.read_text()
    section = text.split("\n## Configuration\n", 1)[-1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return frozenset(names)


def is_herald_variable(name: str) -> bool:
    """A variable Herald reads: in README's Configuration table, or a standard
    OpenTelemetry one."""
    return name in readme_variables() or name.startswith(OTEL_PREFIX)


def code_variables() -> set[str]:
    """The HERALD_* variables and DATABASE_URL the services' code names."""
    names: set[str] = set()
    for path in sorted((ROOT / "services").glob("*/src/**/*.rs")):
        names |= set(re.findall(r'"(HERALD_[A-Z0-9_]+|DATABASE_URL)"', path.read_text()))
    return names


def check_variables(r: Report) -> None:
    """README's Configuration table and the code name the same variables, so the
    table can be the list check_wiring holds ConfigMaps and env entries to. (The
    table is written from the settings' declarations; the Rust test
    services/herald/tests/config_reference.rs holds it to them, and them to what
    each service reads. This is the same check without a build.)"""
    at = "README.md Configuration"
    documented, read = readme_variables(), code_variables()
    r.check({"HERALD_NATS_URL", "DATABASE_URL", "RUST_LOG"} <= documented, at,
            f"the table could not be read (found {sorted(documented)})")
    r.check(read <= documented, at,
            f"read by the services but not in the table: {sorted(read - documented)}")
    stale = {v for v in documented - read if v != "RUST_LOG"}
    r.check(not stale, at, f"in the table but read by no service: {sorted(stale)}")


@functools.cache
def code_consumers() -> frozenset[tuple[str, str]]:
    """(stream, consumer) of every durable consumer in consumers() of
    services/common/src/nats.rs, the partition consumers included. The names are
    herald_proto::names' (proto/src/names/{stream,consumer}.rs)."""
    text = NATS_RS.read_text()
    const = r'pub const ([A-Z_]+): &str = "([A-Za-z0-9-]+)";'
    stream_names = dict(re.findall(const, (NAMES_DIR / "stream.rs").read_text()))
    # The consumers' own names, before the nested modules (client names and such).
    consumer_text = (NAMES_DIR / "consumer.rs").read_text().split("\npub mod ")[0]
    consumer_names = dict(re.findall(const, consumer_text))
    # `use herald_proto::names::stream::{EVENTS as EVENTS_STREAM, ...}`
    aliases = dict((alias, name) for name, alias in re.findall(r"\b([A-Z_]+) as ([A-Z_]+_STREAM)\b", text))
    body = re.search(r"pub fn consumers\(\)[^{]*\{(.*?)\n\}\n", text, re.S)
    if not body:
        return frozenset()
    found = set()
    for stream, consumer in re.findall(r"named\(\s*([A-Z_]+_STREAM),\s*consumers_named::([A-Z_]+)", body.group(1)):
        found.add((stream_names.get(aliases.get(stream, ""), stream), consumer_names.get(consumer, consumer)))
    if "partition_consumer(p)" in body.group(1):
        count = re.search(r"pub const DELIVERY_PARTITIONS: u32 = (\d+);", DELIVERY_RS.read_text())
        fmt = re.search(r'format!\("dispatcher-p\{partition:02\}"\)', (NAMES_DIR / "consumer.rs").read_text())
        if count and fmt:
            found |= {("DELIVERIES", f"dispatcher-p{p:02d}") for p in range(int(count.group(1)))}
    return frozenset(found)


def check_consumers(r: Report) -> None:
    at = "deploy/check.py CONSUMERS"
    every = set().union(*CONSUMERS.values())
    code = set(code_consumers())
    r.check(every == code, at,
            f"must list every durable consumer of consumers() in services/common/src/nats.rs: "
            f"missing {sorted(code - every)}, unknown {sorted(every - code)}")


@functools.cache
def herald_metrics() -> frozenset[str]:
    """Herald's gauge names as Prometheus sees them (prefix herald_)."""
    text = METRICS_RS.read_text()
    return frozenset("herald_" + m for m in re.findall(r'registry\.register\(\s*"([a-z_]+)"', text))


@functools.cache
def default_db_pool_size() -> int:
    m = re.search(r'"HERALD_DB_POOL_SIZE",.*?\.default\("(\d+)"\)', STATUS_TRACKER_CONFIG_RS.read_text(), re.S)
    return int(m.group(1)) if m else 0


# ---------------------------------------------------------------- autoscaling signals

SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def selectors(query: str, metric: str) -> list[dict[str, tuple[str, str]]]:
    """The label matchers of each `metric{...}` selector in a PromQL query."""
    return [{m[0]: (m[1], m[2]) for m in MATCHER.findall(body)}
            for name, body in SELECTOR.findall(query) if name == metric]


def label_matches(matcher: tuple[str, str] | None, value: str) -> bool:
    """Whether a Prometheus matcher (= or =~, fully anchored) accepts value."""
    if matcher is None:
        return False
    op, want = matcher
    if op == "=":
        return value == want
    if op == "=~":
        try:
            return re.fullmatch(want, value) is not None
        except re.error:
            return False
    return False


def pending_coverage(query: str) -> set[tuple[str, str]]:
    """The consumers whose num_pending the query reads."""
    every = set().union(*CONSUMERS.values())
    covered = set()
    for sel in selectors(query, PENDING_METRIC):
        covered |= {(stream, consumer) for stream, consumer in every
                    if label_matches(sel.get("stream_name"), stream)
                    and label_matches(sel.get("consumer_name"), consumer)}
    return covered


def check_scaled_object(r: Report, at: str, svc: str, so: dict, data: dict) -> None:
    """The triggers scale on work that is really waiting for this service: the
    num_pending of each of its consumers (never num_ack_pending), plus CPU for
    ingest and attempts in flight for the dispatcher."""
    triggers = so["spec"].get("triggers") or []
    kinds = [t.get("type") for t in triggers]
    r.check("nats-jetstream" not in kinds, at,
            "no nats-jetstream trigger: it scales on num_pending + num_ack_pending, and tasks held "
            "for a busy endpoint are ack-pending on purpose (docs/isolation.md)")
    r.check(set(kinds) <= {"prometheus", "cpu"}, at, f"triggers must be prometheus or cpu, got {kinds}")
    covered: set[tuple[str, str]] = set()
    in_flight = False
    for t in triggers:
        if t.get("type") != "prometheus":
            continue
        name = t.get("name", "?")
        meta = t.get("metadata") or {}
        query = meta.get("query", "")
        used = [m for m in NOT_SCALING_METRICS if m in query]
        r.check(not used, at, f"trigger {name}: {used} counts work held on purpose, never a scaling signal")
        r.check(meta.get("ignoreNullValues") == "false", at,
                f"trigger {name}: ignoreNullValues \"false\", so a lost target is an error (fallback), not 0")
        if PENDING_METRIC in query:
            cov = pending_coverage(query)
            r.check(bool(cov), at, f"trigger {name}: {PENDING_METRIC} must name stream_name and "
                    f"consumer_name (= or =~) of at least one consumer, got {query!r}")
            r.check(cov <= CONSUMERS[svc], at,
                    f"trigger {name}: reads other services' consumers {sorted(cov - CONSUMERS[svc])}")
            # Only the consumer's leader reports num_pending (the others read 0):
            # take the max over the servers for each consumer.
            r.check(re.search(r"max(\s+by\s*\(\s*consumer_name\s*\))?\s*\(\s*" + PENDING_METRIC, query)
                    is not None, at, f"trigger {name}: take max over the servers of each consumer's "
                    f"{PENDING_METRIC} (only its leader reports it)")
            covered |= cov
        elif IN_FLIGHT_METRIC in query:
            sel = selectors(query, IN_FLIGHT_METRIC)
            r.check(svc == "dispatcher" and bool(sel) and all(s.get("service") == ("=", "dispatcher") for s in sel),
                    at, f"trigger {name}: {IN_FLIGHT_METRIC}{{service=\"dispatcher\"}} is the dispatcher's signal")
            max_in_flight = int(str(data.get("HERALD_MAX_IN_FLIGHT", "512")))
            threshold = float(meta.get("threshold", "0") or 0)
            r.check(0 < threshold <= max_in_flight, at,
                    f"trigger {name}: threshold {threshold:g} must be within one replica's "
                    f"HERALD_MAX_IN_FLIGHT ({max_in_flight})")
            in_flight = True
        else:
            r.check(False, at, f"trigger {name}: unknown signal {query!r}")
        for metric in set(re.findall(r"\bherald_[a-z_]+", query)):
            r.check(metric in herald_metrics(), at, f"trigger {name}: Herald has no metric {metric}")
    r.check(covered == CONSUMERS[svc], at,
            f"the triggers must read num_pending of every consumer of {svc}: missing "
            f"{sorted(covered ^ CONSUMERS[svc])}")
    if svc == "ingest":
        r.check(any(t.get("type") == "cpu" and t.get("metricType") == "Utilization" for t in triggers), at,
                "ingest also scales on CPU (its API)")
    if svc == "dispatcher":
        r.check(in_flight, at, f"the dispatcher also scales on {IN_FLIGHT_METRIC}: with every slot busy, "
                "tasks wait in memory or PARKED, outside any consumer's num_pending")


# ---------------------------------------------------------------- wiring


def labels_match(selector: dict | None, labels: dict | None) -> bool:
    sel = (selector or {}).get("matchLabels") or {}
    return bool(sel) and all((labels or {}).get(k) == v for k, v in sel.items())


def duration_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text.strip())
    if not m:
        raise ValueError(f"not a Herald duration: {text!r}")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


QUANTITY = re.compile(r"^\+?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value: object) -> float | None:
    """A Kubernetes resource quantity as a number, or None if malformed."""
    m = QUANTITY.match(str(value))
    if not m:
        return None
    suffix = m.group(3) or ""
    if suffix[:1] in ("e", "E"):
        return float(str(value))
    return float(m.group(1)) * _SUFFIX[suffix]


def port_rule_has(rule: dict, port: int, protocol: str = "TCP") -> bool:
    return any(p.get("port") == port and p.get("protocol", "TCP") == protocol
               for p in rule.get("ports") or [])


def check_wiring(r: Report, where: str, docs: list[dict], overlay: dict | None) -> None:
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)

    def named(kind: str, name: str) -> dict | None:
        return next((d for d in by_kind.get(kind, []) if d["metadata"]["name"] == name), None)

    names = [kname(d) for d in docs]
    r.check(len(names) == len(set(names)), where, f"duplicate objects: {names}")

    # Namespaces: none in the base, the overlay's everywhere in an overlay.
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    if overlay is None:
        r.check(namespaces == {None}, where, f"the base must be namespace-agnostic, has {namespaces}")
    else:
        ns_objs = [d["metadata"]["name"] for d in by_kind.get("Namespace", [])]
        one = len(namespaces) == 1 and None not in namespaces
        if overlay["owns_namespace"]:
            r.check(one and list(namespaces) == ns_objs, where,
                    f"every object in one namespace, created by the overlay: {namespaces} vs {ns_objs}")
        else:
            r.check(one and not ns_objs, where,
                    f"every object in one namespace, which the overlay must not own (its Secrets are "
                    f"created out of band, and `kubectl delete -k` would delete them with it): "
                    f"{namespaces}, Namespace objects {ns_objs}")

    config = named("ConfigMap", CONFIGMAP_NAME)
    if not r.check(config is not None, where, f"ConfigMap {CONFIGMAP_NAME} missing"):
        return
    data = config.get("data") or {}
    unknown = {k for k in data if not is_herald_variable(k)}
    r.check(not unknown, f"{where} ConfigMap/{CONFIGMAP_NAME}", f"not Herald variables: {sorted(unknown)}")
    r.check(data.get("HERALD_HTTP_ADDR") == "0.0.0.0:8080", f"{where} ConfigMap/{CONFIGMAP_NAME}",
            "HERALD_HTTP_ADDR must be 0.0.0.0:8080")
    shutdown = duration_seconds(data.get("HERALD_SHUTDOWN_TIMEOUT", "40s"))
    # An attempt in flight at SIGTERM finishes and is recorded only if the drain
    # outlasts the longest attempt by the reserve (services/common/src/shutdown.rs).
    r.check(shutdown >= LONGEST_ATTEMPT + FINISH_RESERVE, f"{where} ConfigMap/{CONFIGMAP_NAME}",
            f"HERALD_SHUTDOWN_TIMEOUT ({shutdown:g}s) must be at least the longest attempt "
            f"({LONGEST_ATTEMPT}s) + {FINISH_RESERVE}s to record it")
    dispatcher_policy = named("NetworkPolicy", "herald-dispatcher")
    if dispatcher_policy is not None:
        check_allowed_ports(r, f"{where} ConfigMap/{CONFIGMAP_NAME}", data, dispatcher_policy)

    secret = named("Secret", SECRET_NAME)
    example = {d["metadata"]["name"]: d for d in load_file(K8S / "base" / "secret.example.yaml")}[SECRET_NAME]
    example_keys = set((example.get("stringData") or {}) | (example.get("data") or {}))

    hpa_targets: list[str] = []
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        hpa_targets.append(hpa["spec"]["scaleTargetRef"]["name"])
    so_targets: list[str] = []
    for so in by_kind.get("ScaledObject", []):
        so_targets.append(so["spec"]["scaleTargetRef"]["name"])
    targets = hpa_targets + so_targets
    servers = {t["metadata"].get("serverAddress") for so in by_kind.get("ScaledObject", [])
               for t in so["spec"].get("triggers") or [] if t.get("type") == "prometheus"}
    r.check(len(servers) <= 1, where, f"every trigger must ask the same Prometheus, got {sorted(map(str, servers))}")
    r.check(len(targets) == len(set(targets)), where,
            f"a Deployment is targeted by more than one autoscaler (HPA and ScaledObject): {targets}")

    for svc in SERVICES:
        name = f"herald-{svc}"
        at = f"{where} Deployment/{name}"
        dep = named("Deployment", name)
        if not r.check(dep is not None, where, f"Deployment {name} missing"):
            continue
        tpl = dep["spec"]["template"]
        pod = tpl["spec"]
        pod_labels = tpl["metadata"].get("labels") or {}
        r.check(labels_match(dep["spec"]["selector"], pod_labels), at, "selector does not match the pod labels")
        ann = tpl["metadata"].get("annotations") or {}
        r.check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "8080"
                and ann.get("prometheus.io/path") == "/metrics", at, "prometheus.io annotations")

        grace = pod.get("terminationGracePeriodSeconds", 30)
        containers = pod["containers"]
        if not r.check(len(containers) == 1, at, "one container expected"):
            continue
        c = containers[0]
        pre_stop = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
        r.check(grace > pre_stop + shutdown + TRACE_FLUSH, at,
                f"terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop}s "
                f"+ HERALD_SHUTDOWN_TIMEOUT {shutdown:g}s + trace flush {TRACE_FLUSH}s")
        r.check(c.get("image", "").startswith(IMAGE + ":") or c.get("image", "").startswith(IMAGE + "@"),
                at, f"image {c.get('image')}")
        r.check(c.get("args") == [svc] and "command" not in c, at, f"args must be [{svc}], got {c.get('args')}")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        r.check(ports.get("http") == 8080, at, "container port http=8080")
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = ((c.get(probe) or {}).get("httpGet") or {})
            r.check(get.get("path") == path and get.get("port") in ("http", 8080), at, f"{probe} must GET {path} on 8080")

        res = c.get("resources") or {}
        for res_name in ("cpu", "memory"):
            req = (res.get("requests") or {}).get(res_name)
            lim = (res.get("limits") or {}).get(res_name)
            qreq, qlim = quantity(req), quantity(lim)
            if r.check(qreq is not None and qlim is not None, at,
                       f"resources.requests and limits of {res_name} must be quantities, got {req!r}, {lim!r}"):
                r.check(qreq <= qlim, at, f"{res_name} request {req} exceeds its limit {lim}")

        psc = pod.get("securityContext") or {}
        csc = c.get("securityContext") or {}
        r.check((psc.get("runAsNonRoot") or csc.get("runAsNonRoot")) is True, at, "runAsNonRoot")
        r.check(csc.get("readOnlyRootFilesystem") is True, at, "readOnlyRootFilesystem")
        r.check(csc.get("allowPrivilegeEscalation") is False, at, "allowPrivilegeEscalation: false")
        r.check((csc.get("capabilities") or {}).get("drop") == ["ALL"], at, "capabilities drop [ALL]")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        r.check(seccomp == "RuntimeDefault", at, "seccompProfile RuntimeDefault")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
        vols = {v["name"]: v for v in pod.get("volumes") or []}
        r.check("/tmp" in mounts and "emptyDir" in vols.get(mounts["/tmp"], {}), at, "emptyDir at /tmp")

        strange = [e["name"] for e in c.get("env") or [] if not is_herald_variable(e["name"])]
        r.check(not strange, at, f"env entries that are not Herald variables (README.md, Configuration): {strange}")
        env_from = [e.get("configMapRef", {}).get("name") for e in c.get("envFrom") or []]
        r.check(env_from == [CONFIGMAP_NAME], at, f"envFrom must be ConfigMap {CONFIGMAP_NAME}")
        refs = {}
        check_nats_user(r, at, svc, c.get("env") or [], overlay)
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref and e["name"] != "HERALD_NATS_PASSWORD":
                refs[e["name"]] = ref
                r.check(ref.get("name") == SECRET_NAME and ref.get("key") == e["name"], at,
                        f"{e['name']} must come from {SECRET_NAME}/{e['name']}")
        r.check(set(refs) == SECRET_KEYS[svc], at,
                f"secret variables must be exactly {sorted(SECRET_KEYS[svc])}, got {sorted(refs)}")
        r.check(set(refs) <= example_keys, at, f"keys missing from base/secret.example.yaml: {set(refs) - example_keys}")
        if secret is not None:
            have = set((secret.get("stringData") or {}) | (secret.get("data") or {}))
            r.check(set(refs) <= have, at, f"keys missing from Secret {SECRET_NAME}: {set(refs) - have}")

        # Service, PDB and NetworkPolicy selecting these pods.
        service = named("Service", name)
        if r.check(service is not None, at, "no Service"):
            r.check(labels_match({"matchLabels": service["spec"].get("selector")}, pod_labels), at,
                    "Service selector does not match the pods")
            r.check(any(p.get("port") == 8080 and p.get("targetPort") in ("http", 8080)
                        for p in service["spec"].get("ports") or []), at, "Service port 8080")
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", []) if labels_match(p["spec"]["selector"], pod_labels)]
        r.check(len(pdbs) == 1, at, f"exactly one PodDisruptionBudget expected, found {len(pdbs)}")
        pols = [p for p in by_kind.get("NetworkPolicy", []) if labels_match(p["spec"]["podSelector"], pod_labels)]
        if r.check(len(pols) == 1, at, f"exactly one NetworkPolicy expected, found {len(pols)}"):
            check_network_policy(r, f"{where} NetworkPolicy/{pols[0]['metadata']['name']}", pols[0], svc)

        # Autoscaling.
        hpa = [h for h in by_kind.get("HorizontalPodAutoscaler", []) if h["spec"]["scaleTargetRef"]["name"] == name]
        sos = [s for s in by_kind.get("ScaledObject", []) if s["spec"]["scaleTargetRef"]["name"] == name]
        autoscaled = bool(hpa or sos)
        if overlay is None or overlay["autoscaling"]:
            r.check(len(sos) == 1 and not hpa, at,
                    "one KEDA ScaledObject expected (it makes the HPA; no HorizontalPodAutoscaler of our own)")
            for so in sos:
                check_scaled_object(r, f"{where} ScaledObject/{so['metadata']['name']}", svc, so, data)
            r.check("replicas" not in dep["spec"], at,
                    "an autoscaled Deployment must not set replicas (kubectl apply would fight the autoscaler)")
            if overlay and "min_replicas" in overlay:
                low = sos[0]["spec"].get("minReplicaCount", 0) if sos else 0
                r.check(low >= overlay["min_replicas"], at, f"at least {overlay['min_replicas']} replicas, got {low}")
            if svc == "status-tracker" and overlay and "db_connections" in overlay and sos:
                pool = int(str(data.get("HERALD_DB_POOL_SIZE", default_db_pool_size())))
                most = sos[0]["spec"].get("maxReplicaCount", 100) * pool
                r.check(0 < most <= overlay["db_connections"], at,
                        f"maxReplicaCount x HERALD_DB_POOL_SIZE = {most} PostgreSQL connections, more than "
                        f"the {overlay['db_connections']} a small managed database leaves (deploy/README.md, Sizing)")
        else:
            r.check(not autoscaled, at, "this overlay has no autoscalers")
            r.check(dep["spec"].get("replicas") == 1, at, "one replica")

    ingress = named("Ingress", "herald-ingest")
    if r.check(ingress is not None, where, "Ingress herald-ingest missing"):
        backends = [p["backend"]["service"] for rule in ingress["spec"].get("rules") or []
                    for p in (rule.get("http") or {}).get("paths") or []]
        r.check(bool(backends) and all(b["name"] == "herald-ingest" and b["port"].get("name", b["port"].get("number"))
                                       in ("http", 8080) for b in backends),
                f"{where} Ingress/herald-ingest", "every path must go to Service herald-ingest port 8080")
        paths = {p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
        r.check(paths == {"/v1"}, f"{where} Ingress/herald-ingest", f"only /v1 is public, got {sorted(paths)}")

    if overlay is not None:
        r.check(data.get("HERALD_STREAM_REPLICAS") == overlay["stream_replicas"], f"{where} ConfigMap/{CONFIGMAP_NAME}",
                f"HERALD_STREAM_REPLICAS must be {overlay['stream_replicas']}")
        if overlay["secret_in_render"]:
            if r.check(secret is not None, where, f"Secret {SECRET_NAME} expected in the render"):
                check_secret_values(r, f"{where} Secret/{SECRET_NAME}", secret)
        else:
            r.check(secret is None, where, f"Secret {SECRET_NAME} must not be in the render (it is created out of band)")
            r.note(f"{where}: Secret {SECRET_NAME} is created out of band; only its keys are checked "
                   "(against base/secret.example.yaml)")


def check_network_policy(r: Report, at: str, pol: dict, svc: str) -> None:
    spec = pol["spec"]
    r.check(sorted(spec.get("policyTypes") or []) == ["Egress", "Ingress"], at, "policyTypes Ingress and Egress")
    r.check(any(port_rule_has(rule, 8080) for rule in spec.get("ingress") or []), at, "ingress on 8080")
    egress = spec.get("egress") or []

    def to_dns(rule: dict) -> bool:
        return any((peer.get("podSelector") or {}).get("matchLabels", {}).get("k8s-app") == "kube-dns"
                   for peer in rule.get("to") or [])

    r.check(any(to_dns(rule) and port_rule_has(rule, 53, "UDP") and port_rule_has(rule, 53, "TCP")
                for rule in egress), at, "egress to kube-dns on 53/UDP and 53/TCP")
    r.check(any(port_rule_has(rule, 4222) and rule.get("to") for rule in egress), at, "egress to NATS on 4222")
    internet = [rule for rule in egress if any((peer.get("ipBlock") or {}).get("cidr") == "0.0.0.0/0"
                                               for peer in rule.get("to") or [])]
    if svc == "dispatcher":
        r.check(any(port_rule_has(rule, 80) and port_rule_has(rule, 443) for rule in internet), at,
                "the dispatcher needs egress to 0.0.0.0/0 on 80 and 443")
    else:
        r.check(not internet, at, "only the dispatcher reaches the internet")
    has_pg = any(port_rule_has(rule, 5432) for rule in egress)
    r.check(has_pg == (svc == "status-tracker"), at,
            "egress to PostgreSQL (5432): the status-tracker needs it, no other service may have it")
    allowed_ports = {53, 4222} | ({80, 443} if svc == "dispatcher" else set()) | ({5432} if svc == "status-tracker" else set())
    used = {p.get("port") for rule in egress for p in rule.get("ports") or []}
    r.check(all(rule.get("ports") for rule in egress) and used <= allowed_ports, at,
            f"egress ports must be within {sorted(allowed_ports)}, got {sorted(used, key=str)}")


def internet_ports(pol: dict) -> set[int]:
    """The ports the NetworkPolicy lets a pod reach at any address (0.0.0.0/0)."""
    return {p.get("port") for rule in pol["spec"].get("egress") or []
            if any((peer.get("ipBlock") or {}).get("cidr") == "0.0.0.0/0" for peer in rule.get("to") or [])
            for p in rule.get("ports") or []}


def check_nats_user(r: Report, at: str, svc: str, env: list[dict], overlay: dict | None) -> None:
    """Production: the service connects as its own user, its password from the
    Secret. The base and dev: no user (an open broker on the cluster network)."""
    by_name = {e["name"]: e for e in env}
    user, password = by_name.get("HERALD_NATS_USER"), by_name.get("HERALD_NATS_PASSWORD")
    if overlay is None or not overlay.get("nats_auth"):
        r.check(user is None and password is None, at,
                "no NATS user here: authorization is the production overlay's")
        return
    r.check(user is not None and user.get("value") == svc and "valueFrom" not in user, at,
            f"HERALD_NATS_USER must be {svc!r}, got {user}")
    ref = ((password or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
    r.check(password is not None and "value" not in password and ref.get("name") == NATS_SECRET_NAME
            and ref.get("key") == NATS_PASSWORD_KEYS[svc], at,
            f"HERALD_NATS_PASSWORD must come from {NATS_SECRET_NAME}/{NATS_PASSWORD_KEYS[svc]}, got {password}")


def check_allowed_ports(r: Report, at: str, data: dict, pol: dict) -> None:
    """HERALD_ALLOWED_PORTS is exactly the ports the dispatcher's NetworkPolicy lets
    it reach on the internet: a webhook on another port would be accepted by the
    API and then time out at the policy."""
    raw = str(data.get("HERALD_ALLOWED_PORTS", "")).strip()
    try:
        allowed = {int(p) for p in raw.split(",") if p.strip()}
    except ValueError:
        allowed = set()
        r.check(False, at, f"HERALD_ALLOWED_PORTS must be comma-separated ports, got {raw!r}")
        return
    egress = internet_ports(pol)
    r.check(bool(allowed) and allowed == egress, at,
            f"HERALD_ALLOWED_PORTS ({raw or 'unset: any port'}) must be the ports the dispatcher's "
            f"NetworkPolicy allows to the internet ({', '.join(str(p) for p in sorted(egress, key=lambda p: str(p).zfill(5)))})")


def check_secret_values(r: Report, at: str, secret: dict) -> None:
    values = dict(secret.get("stringData") or {})
    for k, v in (secret.get("data") or {}).items():
        values[k] = base64.b64decode(v).decode()
    pairs = [p.split(":", 1) for p in values.get("HERALD_API_KEYS", "").split(",")]
    r.check(all(len(p) == 2 and p[0] and len(p[1]) >= 16 for p in pairs), at,
            "HERALD_API_KEYS must be tenant:key pairs with keys of 16+ characters")
    try:
        key_len = len(base64.b64decode(values.get("HERALD_SECRET_KEY", ""), validate=True))
    except ValueError:
        key_len = -1
    r.check(key_len == 32, at, "HERALD_SECRET_KEY must be base64 of 32 bytes")
    r.check(re.match(r"^(sqlite|postgres|postgresql)://", values.get("DATABASE_URL", "")) is not None, at,
            "DATABASE_URL must be sqlite://... or postgres://...")


# ---------------------------------------------------------------- the rest


def check_nats_values(r: Report) -> None:
    at = "deploy/nats/values.yaml"
    v = load_file(DEPLOY / "nats" / "values.yaml")[0]
    cfg = v.get("config") or {}
    js = cfg.get("jetstream") or {}
    fs = js.get("fileStore") or {}
    r.check((cfg.get("cluster") or {}).get("enabled") is True and cfg["cluster"].get("replicas") == 3, at,
            "config.cluster: enabled, 3 replicas")
    r.check(js.get("enabled") is True and fs.get("enabled", True) is True
            and (fs.get("pvc") or {}).get("enabled", True) is True and bool((fs.get("pvc") or {}).get("size")),
            at, "config.jetstream: enabled, file store on a PVC with a size")
    r.check((cfg.get("monitor") or {}).get("enabled", True) is True
            and (cfg.get("monitor") or {}).get("port", 8222) == 8222, at, "config.monitor on 8222 (KEDA)")
    raw = str((cfg.get("merge") or {}).get("max_payload", ""))
    m = re.fullmatch(r"(?:<<\s*)?(\d+)\s*([KMG]B?)?(?:\s*>>)?", raw.strip(), re.I)
    size = int(m.group(1)) * {"": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3,
                              "GB": 1024**3}[(m.group(2) or "").upper()] if m else 0
    # Events of a full 1 MiB need 1 MiB + the 64 KiB Herald keeps for their envelope.
    r.check(size >= 1024**2 + 64 * 1024, at,
            f"config.merge.max_payload must be at least 1088KB (1 MiB events), got {raw!r}")
    tag = str(((v.get("container") or {}).get("image") or {}).get("tag", ""))
    m = re.match(r"(\d+)\.(\d+)", tag)
    r.check(bool(m) and (int(m.group(1)), int(m.group(2))) >= (2, 12), at,
            f"container.image.tag must be nats-server 2.12 or newer, got {tag!r}")
    # Authorization: herald-auth.conf included from where it is mounted, each
    # password it reads given to the container from the Secret.
    passwords = check_auth_conf(r)
    merge = cfg.get("merge") or {}
    r.check(merge.get("$include") == AUTH_INCLUDE, at,
            f"config.merge.$include must be {AUTH_INCLUDE} (deploy/nats/herald-auth.conf), "
            f"got {merge.get('$include')!r}")
    container = v.get("container") or {}
    env = container.get("env") or {}
    for var in sorted(passwords):
        ref = ((env.get(var) or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        r.check(ref.get("name") == NATS_SECRET_NAME and ref.get("key") == var, at,
                f"container.env.{var} must come from Secret {NATS_SECRET_NAME}/{var}")
    mounts = [p.get("value") or {} for p in container.get("patch") or []
              if p.get("op") == "add" and p.get("path") == "/volumeMounts/-"]
    volumes = [p.get("value") or {} for p in (v.get("podTemplate") or {}).get("patch") or []
               if p.get("op") == "add" and p.get("path") == "/spec/volumes/-"]
    mount = next((m for m in mounts if m.get("mountPath") == AUTH_MOUNT), None)
    volume = next((vol for vol in volumes if mount and vol.get("name") == mount.get("name")), None)
    r.check(mount is not None and volume is not None
            and (volume.get("configMap") or {}).get("name") == "herald-nats-auth", at,
            f"herald-auth.conf mounted at {AUTH_MOUNT} from the ConfigMap herald-nats-auth")
    check_nats_scheduling(r, at, v)
    check_gomemlimit(r, at, container)
    dev = load_file(DEPLOY / "nats" / "values-dev.yaml")[0]
    r.check("$include" in ((dev.get("config") or {}).get("merge") or {})
            and dev["config"]["merge"]["$include"] is None
            and "env" in (dev.get("container") or {}) and dev["container"]["env"] is None, at.replace(
                "values.yaml", "values-dev.yaml"), "values-dev.yaml turns authorization off")
    check_durability(r, at, v, dev)
    example = {d["metadata"]["name"]: d for d in load_file(K8S / "overlays" / "production"
                                                          / "nats-passwords.example.yaml")}
    keys = set(((example.get(NATS_SECRET_NAME) or {}).get("stringData") or {}))
    r.check(keys == set(NATS_PASSWORD_KEYS.values()), "overlays/production/nats-passwords.example.yaml",
            f"keys must be {sorted(NATS_PASSWORD_KEYS.values())}, got {sorted(keys)}")
    r.note("deploy/nats/values.yaml: the NATS chart is not rendered (not available offline); "
           "only the values Herald depends on are checked")


# The NATS chart's selector labels of its server pods (release `nats`).
NATS_POD_LABELS = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats",
                   "app.kubernetes.io/component": "nats"}


def check_nats_scheduling(r: Report, at: str, v: dict) -> None:
    """Never two NATS servers on one node: a required pod anti-affinity on the
    host name (a topology spread with maxSkew 1 allows two of three on one node
    when only two nodes fit), selecting the chart's server pods."""
    tpl = v.get("podTemplate") or {}
    anti = ((((tpl.get("merge") or {}).get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {})
    terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    r.check(any(t.get("topologyKey") == "kubernetes.io/hostname"
                and ((t.get("labelSelector") or {}).get("matchLabels") or {}) == NATS_POD_LABELS
                for t in terms), at,
            "podTemplate.merge.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution: "
            f"one server per kubernetes.io/hostname, selecting {NATS_POD_LABELS}")
    spread = tpl.get("topologySpreadConstraints") or {}
    r.check("kubernetes.io/hostname" not in spread, at,
            "no topology spread on kubernetes.io/hostname: the anti-affinity rules the host")


# JetStream's fsync setting as nats-server reads it in the `jetstream` block (the
# key and its alias), and the values it accepts besides `always`: Go durations.
SYNC_KEYS = ("sync_interval", "sync")
GO_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")


def helm_merge(base, overlay):
    """Two values files as Helm combines them: maps merge key by key, the later
    file's value replaces the earlier one's, and null removes the key."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(base.get(key), value)
    return merged


def rendered_sync(values: dict) -> dict:
    """The fsync settings the chart renders into the servers' `jetstream` block:
    config.jetstream.merge merged into the block, then config.merge into the whole
    configuration (the chart's nats.loadMergePatch). Its own block sets none."""
    cfg = values.get("config") or {}
    block = helm_merge({}, (cfg.get("jetstream") or {}).get("merge") or {})
    block = helm_merge(block, (cfg.get("merge") or {}).get("jetstream") or {})
    if not isinstance(block, dict):
        return {}
    return {key: block[key] for key in SYNC_KEYS if key in block}


def jetstream_patches(values: dict) -> list:
    """JSON patches that could change the rendered `jetstream` block, which
    rendered_sync does not apply."""
    cfg = values.get("config") or {}
    return list((cfg.get("jetstream") or {}).get("patch") or []) + [
        p for p in cfg.get("patch") or [] if str(p.get("path", "")).startswith("/jetstream")]


def check_durability(r: Report, at: str, values: dict, dev: dict) -> None:
    """The durability profile (docs/durability.md) is one explicit value,
    config.jetstream.merge.sync_interval: `always` or a duration nats-server
    accepts. Nothing else sets, removes or patches it, so the servers run what it
    says, installed with values.yaml alone or with values-dev.yaml on top."""
    chosen = (((values.get("config") or {}).get("jetstream") or {}).get("merge") or {}).get("sync_interval")
    r.check(isinstance(chosen, str) and (chosen == "always" or GO_DURATION.fullmatch(chosen) is not None), at,
            f"config.jetstream.merge.sync_interval must be set, to `always` or a duration such as `2m`, got {chosen!r}")
    for where, merged in ((at, values), (at.replace("values.yaml", "values-dev.yaml"), helm_merge(values, dev))):
        rendered = rendered_sync(merged)
        r.check(rendered == {"sync_interval": chosen}, where,
                f"the servers' jetstream block must get sync_interval {chosen!r} from "
                f"config.jetstream.merge and from nowhere else, renders {rendered}")
        r.check(not jetstream_patches(merged), where,
                "no config.jetstream.patch or config.patch on /jetstream: the durability profile is "
                "config.jetstream.merge.sync_interval")


def go_bytes(text: str) -> float | None:
    """A GOMEMLIMIT value (bytes, or with a B, KiB, MiB, GiB or TiB suffix)."""
    m = re.fullmatch(r"(\d+)(B|KiB|MiB|GiB|TiB)?", text.strip())
    if not m:
        return None
    return int(m.group(1)) * {None: 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[m.group(2)]


def check_gomemlimit(r: Report, at: str, container: dict) -> None:
    """GOMEMLIMIT at 70-95 % of the container's memory limit: the Go runtime then
    collects harder near the limit instead of the server being OOM-killed."""
    entry = (container.get("env") or {}).get("GOMEMLIMIT")
    value = entry.get("value") if isinstance(entry, dict) else entry
    soft = go_bytes(str(value)) if value is not None else None
    limit = quantity((((container.get("merge") or {}).get("resources") or {}).get("limits") or {}).get("memory"))
    r.check(soft is not None and limit is not None and 0.70 * limit <= soft <= 0.95 * limit, at,
            f"container.env.GOMEMLIMIT ({value!r}) must be 70-95 % of container.merge.resources.limits.memory")
    r.check(isinstance(entry, dict), at, "container.env.GOMEMLIMIT as a map ({value: ...}), as the chart's schema wants")


def auth_conf_users(text: str) -> tuple[dict[str, str], list[str]]:
    """herald-auth.conf without its comments: each `HERALD_<SERVICE> = { ... }`
    block by variable name, and the entries of the `authorization` block's users."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    blocks = {}
    for m in re.finditer(r"^(HERALD_[A-Z_]+)\s*=\s*\{", code, re.M):
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(code)):
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            if depth == 0:
                break
        blocks[m.group(1)] = code[m.end():i]
    auth = re.search(r"^authorization\s*\{\s*users\s*:\s*\[(.*?)\]\s*\}", code, re.M | re.S)
    users = auth.group(1).split() if auth else []
    return blocks, users


def quoted_list(block: str, kind: str) -> list[str]:
    """The subjects of `<kind>: { allow: [...] }` in a user's block."""
    m = re.search(kind + r"\s*:\s*\{\s*allow\s*:\s*\[(.*?)\]", block, re.S)
    return re.findall(r'"([^"]+)"', m.group(1)) if m else []


def check_auth_conf(r: Report) -> set[str]:
    """deploy/nats/herald-auth.conf: one user per service, named after it, with its
    password from the environment, its own reply inbox only, and no catch-all;
    the authorization block lists exactly the four. Returns the password
    variables it reads."""
    at = "deploy/nats/herald-auth.conf"
    blocks, users = auth_conf_users(AUTH_CONF.read_text())
    variables = {svc: "HERALD_" + svc.upper().replace("-", "_") for svc in SERVICES}
    r.check(users == [f"${v}" for v in variables.values()], at,
            f"authorization.users must be exactly {sorted(variables.values())} (as $variables), got {users}")
    passwords = set()
    for svc, var in variables.items():
        block = blocks.get(var)
        if not r.check(block is not None, at, f"no user {var} for {svc}"):
            continue
        r.check(re.search(rf"^\s*user\s*:\s*{re.escape(svc)}\s*$", block, re.M) is not None, at,
                f"{var}: user must be {svc}")
        want = NATS_PASSWORD_KEYS[svc]
        r.check(re.search(rf"^\s*password\s*:\s*\${want}\s*$", block, re.M) is not None, at,
                f"{var}: password must be ${want}, read from the server's environment")
        passwords.add(want)
        publish, subscribe = quoted_list(block, "publish"), quoted_list(block, "subscribe")
        inboxes = [s for s in subscribe if s.startswith("_")]
        r.check(inboxes == [f"_HERALD_INBOX.{svc}.>"], at,
                f"{var}: its own reply inbox _HERALD_INBOX.{svc}.> and no other, got {inboxes}")
        broad = [s for s in publish + subscribe if s in (">", "$JS.>", "$JS.API.>", "$KV.>", "_INBOX.>")]
        r.check(not broad and publish, at, f"{var}: no catch-all subjects, got {broad}")
    return passwords


def check_dockerfile(r: Report) -> None:
    at = "deploy/Dockerfile"
    text = (DEPLOY / "Dockerfile").read_text()
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    copied = set()
    for line in text.splitlines():
        m = re.match(r"\s*COPY\s+(?!--from)(.*)\s+\S+\s*$", line)
        if m:
            copied |= {p.rstrip("/") for p in m.group(1).split()}
    for member in members:
        top = member.split("/")[0]
        r.check(top in copied, at, f"workspace member {member} is not copied into the build")
    r.check({"Cargo.toml", "Cargo.lock"} <= copied, at, "Cargo.toml and Cargo.lock must be copied")
    r.check(re.search(r"^USER\s+(nonroot|65532)", text, re.M) is not None, at, "runs as nonroot")
    r.check('ENTRYPOINT ["/usr/local/bin/herald"]' in text, at, "ENTRYPOINT herald")
    # Base images pinned: by digest, or by an exact version tag (x.y.z).
    for image in re.findall(r"^FROM\s+(\S+)", text, re.M):
        r.check("@sha256:" in image or re.search(r":\d+\.\d+\.\d+(-[\w.]+)?$", image) is not None, at,
                f"base image {image} must be pinned by digest or exact version tag")
    # `herald all` keeps SQLite where the non-root user can write: a data directory
    # owned by it, the working directory and a volume, with DATABASE_URL there.
    m = re.search(r"^ENV\s+DATABASE_URL=sqlite://(/\S+)/[^/?\s]+\?mode=rwc\s*$", text, re.M)
    data_dir = m.group(1) if m else None
    r.check(data_dir is not None, at, "ENV DATABASE_URL=sqlite://<data directory>/<file>?mode=rwc")
    if data_dir:
        r.check(re.search(rf"^COPY\s+--from=\S+\s+--chown=(65532|nonroot):(65532|nonroot)\s+\S+\s+{re.escape(data_dir)}/?\s*$",
                          text, re.M) is not None, at, f"{data_dir} created owned by nonroot (COPY --chown)")
        r.check(re.search(rf"^WORKDIR\s+{re.escape(data_dir)}\s*$", text, re.M) is not None, at,
                f"WORKDIR {data_dir}")
        r.check(re.search(rf'^VOLUME\s+\[?"?{re.escape(data_dir)}"?\]?\s*$', text, re.M) is not None, at,
                f"VOLUME {data_dir}")
    r.note("deploy/Dockerfile: not built (no container engine); its COPY lines are checked against "
           "the workspace members, its base images for pins, its data directory statically")


def check_event_types(r: Report, kubectl: str) -> None:
    """components/event-types mounts the catalogue into ingest: rendered on the base
    (from a kustomization in a temporary directory), the ConfigMap holds the file as
    it is, ingest mounts it read-only and HERALD_EVENT_TYPES names it."""
    import tempfile
    at = "components/event-types"
    with tempfile.TemporaryDirectory() as tmp:
        rel = lambda p: os.path.relpath(p, tmp)
        Path(tmp, "kustomization.yaml").write_text(
            f"resources:\n  - {rel(K8S / 'base')}\ncomponents:\n  - {rel(EVENT_TYPES_COMPONENT)}\n")
        try:
            docs = render(kubectl, Path(tmp))
        except RuntimeError as e:
            r.check(False, at, f"kustomize failed: {e}")
            return
    validate_schemas(r, at, docs)
    source = (EVENT_TYPES_COMPONENT / "event-types.yaml").read_text()
    maps = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("herald-event-types")]
    if not r.check(len(maps) == 1 and (maps[0].get("data") or {}).get("event-types.yaml") == source, at,
                   "one ConfigMap herald-event-types-<hash> holding event-types.yaml as it is"):
        return
    catalogue = yaml.safe_load(source) or {}
    r.check(bool(catalogue.get("event_types")), at, "event-types.yaml declares event_types")
    dep = next((d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "herald-ingest"), None)
    if not r.check(dep is not None, at, "Deployment herald-ingest missing"):
        return
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    volume = next((v for v in pod.get("volumes") or []
                   if (v.get("configMap") or {}).get("name") == maps[0]["metadata"]["name"]), None)
    mount = next((m for m in c.get("volumeMounts") or [] if volume and m.get("name") == volume["name"]), None)
    env = {e["name"]: e.get("value") for e in c.get("env") or []}
    r.check(mount is not None and mount.get("readOnly") is True, at, "ingest mounts the ConfigMap read-only")
    r.check(mount is not None and env.get("HERALD_EVENT_TYPES") == f"{mount['mountPath']}/event-types.yaml", at,
            f"HERALD_EVENT_TYPES must name the mounted file, got {env.get('HERALD_EVENT_TYPES')!r}")
    others = [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment" and d is not dep
              and any(e["name"] == "HERALD_EVENT_TYPES" for cc in d["spec"]["template"]["spec"]["containers"]
                      for e in cc.get("env") or [])]
    r.check(not others, at, f"only ingest reads the catalogue, not {others}")


MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MD_CODE_PATH = re.compile(r"`([\w.-]+(?:/[\w.-]+)+\.(?:md|ya?ml|py|sh|json|toml|proto|rs|txt))`")


# Directories that hold no file of the repository: what git keeps, installed tools,
# build output (which may hold hundreds of thousands of files).
NOT_REPOSITORY = {".git", ".tools", "target"}


def repository_files(top: Path) -> list[str]:
    """Every file below `top` (relative to it), not descending into NOT_REPOSITORY."""
    files = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in NOT_REPOSITORY]
        base = Path(dirpath).relative_to(top)
        files.extend((base / name).as_posix() for name in filenames if name not in NOT_REPOSITORY)
    return files


@functools.cache
def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    anchors = set()
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"#{1,6}\s+(.*)", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def check_links(r: Report) -> None:
    for doc in LINKED_DOCS:
        at = str(doc.relative_to(ROOT))
        text = doc.read_text()
        for target in MD_LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue  # http:, https:, mailto:
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not r.check(file.exists(), at, f"link to {target}: {path} does not exist"):
                continue
            if anchor and file.suffix == ".md":
                r.check(anchor in heading_anchors(file), at, f"link to {target}: no heading #{anchor}")
        # Paths in `code` are named relative to the document, to the repository,
        # or to a directory the text is describing (under the document's own). The
        # files under the document's directory are listed only if a path needs them.
        files: list[str] | None = None
        for path in MD_CODE_PATH.findall(text):
            found = (doc.parent / path).exists() or (ROOT / path).exists()
            if not found:
                files = repository_files(doc.parent) if files is None else files
                found = any(f == path or f.endswith("/" + path) for f in files)
            r.check(found, at, f"names {path}, which is not in the repository")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubectl", required=True, help="kubectl used for `kubectl kustomize`")
    args = ap.parse_args()

    r = Report()
    targets = [("base", K8S / "base", None)] + [
        (f"overlays/{p.name}", p, OVERLAYS.get(p.name)) for p in sorted((K8S / "overlays").iterdir()) if p.is_dir()]
    for where, path, overlay in targets:
        if where != "base" and overlay is None:
            r.check(False, where, "unknown overlay: add its expectations to OVERLAYS in deploy/check.py")
            continue
        try:
            docs = render(args.kubectl, path)
        except RuntimeError as e:
            r.check(False, where, f"kustomize failed: {e}")
            continue
        failed_before = len(r.failed)
        validate_schemas(r, where, docs)
        check_wiring(r, where, docs, overlay)
        print(f"{'ok  ' if len(r.failed) == failed_before else 'FAIL'} {where}: {len(docs)} objects")

    example = K8S / "base" / "secret.example.yaml"
    validate_schemas(r, "base/secret.example.yaml", load_file(example))
    nats_example = K8S / "overlays" / "production" / "nats-passwords.example.yaml"
    validate_schemas(r, "overlays/production/nats-passwords.example.yaml", load_file(nats_example))
    namespace = load_file(K8S / "overlays" / "production" / "namespace.yaml")
    validate_schemas(r, "overlays/production/namespace.yaml", namespace)
    kustomization = load_file(K8S / "overlays" / "production" / "kustomization.yaml")[0]
    r.check([d["metadata"]["name"] for d in namespace] == [kustomization.get("namespace")]
            and "namespace.yaml" not in (kustomization.get("resources") or []),
            "overlays/production/namespace.yaml", "the overlay's namespace, applied once on its own "
            "(not a resource of the overlay)")
    check_variables(r)
    check_consumers(r)
    check_event_types(r, args.kubectl)
    check_nats_values(r)
    check_dockerfile(r)
    check_links(r)

    for note in r.notes:
        print(f"note {note}")
    print(f"deploy-check: {r.passed} passed, {len(r.failed)} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
