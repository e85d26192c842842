"""Sigma rules (the SigmaHQ format) run over the normalised events.

Rules are parsed by pySigma 2 and converted by its SQLite backend, whose
correlations (``event_count``, ``value_count``, ``temporal``,
``temporal_ordered`` …) implement sliding windows; the converted SQL runs in
an in-memory SQLite database holding the events of the run.

Each log source a rule names (``category: proxy``, ``product: linux /
service: sshd`` …) is a view over the events of the datasets that carry it,
whose columns bear the Sigma field names (``c-uri``, ``cs-host``,
``client_ip`` …) computed from our schema. A rule therefore runs unchanged;
fields we never carry (a query string, a cookie) are NULL columns, so a rule
that needs one matches nothing, and :attr:`LoadedRule.notes` says so. A rule
whose log source no dataset carries is loaded, reported and not run.

Inside the runtime, accounts and addresses are pseudonyms: a rule that
compares them with literal values (``client_ip|cidr: 10.0.0.0/8``) matches
only in clear data (``confiance rules test`` on a member's own logs); its
notes say that too. The ``fulltext`` column that keyword (field-less) rules
search is the text the event's source wrote, rebuilt from the normalised
fields (for sshd: ``Failed password for … from … port …``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from confiance.detect.engine import connect
from confiance.detect.finding import finding
from confiance.errors import ConfigError
from confiance.events import FIELD_POLICY, FieldTreatment

if TYPE_CHECKING:  # pySigma takes 0.3 s to import: only when rules are loaded
    from sigma.backends.sqlite.sqlite import sqliteBackend
    from sigma.correlations import SigmaCorrelationRule
    from sigma.processing.pipeline import ProcessingPipeline
    from sigma.rule import SigmaRule

DETECTOR = "sigma"
#: the rules the ``sigma`` detector runs (package-relative; DRL 1.1, see its README)
RULE_DIR = "detect/sigma_rules"
_RULES = Path(__file__).resolve().parent.parent / RULE_DIR

#: Sigma levels, lowest first, and the severity a finding gets
LEVELS = ("informational", "low", "medium", "high", "critical")

_ID = "cf_event_id"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
_TIME = "cf_time"
_TEXT = "cf_fulltext"
#: event ids kept as evidence per finding
_EVIDENCE = 20
_ENTITIES = ("source.ip", "user.name", "url.domain", "dns.question.name")

#: columns whose values are pseudonyms or generalised in the pool (a domain is
#: pseudonymised only when it is an address literal, so it is not counted)
_PSEUDONYMISED = {
    name
    for name, treatment in FIELD_POLICY.items()
    if treatment not in (FieldTreatment.KEEP, FieldTreatment.PSEUDONYMISE_IF_IP)
}


def _col(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _or_empty(expression: str) -> str:
    """The text of a value, '' when absent (the same in SQLite and DuckDB)."""
    return f"coalesce(CAST({expression} AS TEXT), '')"


@dataclass(frozen=True)
class Source:
    """A Sigma log source and the events that carry it."""

    name: str
    #: pySigma logsource condition
    product: str | None
    service: str | None
    category: str | None
    datasets: tuple[str, ...]
    #: Sigma field name → SQL expression over the event columns
    fields: Mapping[str, str]
    #: the text the source wrote for an event, rebuilt from its fields
    fulltext: str

    @property
    def view(self) -> str:
        return f"cf_{self.name}"


_URL = _or_empty(_col("url.domain")) + " || " + _or_empty(_col("url.path"))
_HTTP_FIELDS = {
    "c-uri": _URL,
    "cs-uri": _col("url.path"),
    "c-uri-stem": _col("url.path"),
    "cs-uri-stem": _col("url.path"),
    "cs-host": _col("url.domain"),
    "c-useragent": _col("user_agent.original"),
    "cs-user-agent": _col("user_agent.original"),
    "cs-method": _col("http.request.method"),
    "sc-status": _col("http.response.status_code"),
    "src_ip": _col("source.ip"),
    "c-ip": _col("source.ip"),
    "dst_ip": _col("destination.ip"),
    "cs-username": _col("user.name"),
    "c-uri-extension": (
        f"CASE WHEN {_col('url.path')} GLOB '*.*' AND {_col('url.path')} NOT GLOB '*.*/*' "
        f"THEN lower(replace({_col('url.path')}, rtrim({_col('url.path')}, "
        f"replace({_col('url.path')}, '.', '')), '')) END"
    ),
}

SOURCES: tuple[Source, ...] = (
    Source(
        "sshd",
        "linux",
        "sshd",
        None,
        ("openssh",),
        {
            "client_ip": _col("source.ip"),
            "user_name": _col("user.name"),
            "user": _col("user.name"),
            "deviceProcessName": "'sshd'",
            "host": _col("service.name"),
        },
        # the message sshd wrote for the outcomes we keep
        (
            f"CASE {_col('event.outcome')} WHEN 'success' THEN 'Accepted ' ELSE 'Failed ' END"
            f" || substr({_or_empty(_col('event.action'))}, 5) || ' for '"
            f" || {_or_empty(_col('user.name'))} || ' from ' || {_or_empty(_col('source.ip'))}"
            f" || ' port ' || {_or_empty(_col('source.port'))} || ' ssh2'"
        ),
    ),
    Source(
        "proxy",
        None,
        None,
        "proxy",
        ("squid",),
        _HTTP_FIELDS,
        f"{_URL} || ' ' || {_or_empty(_col('user_agent.original'))}",
    ),
    Source(
        "webserver",
        None,
        None,
        "webserver",
        ("apache-combined",),
        _HTTP_FIELDS,
        (
            f"{_or_empty(_col('http.request.method'))} || ' ' || {_or_empty(_col('url.path'))}"
            f" || ' ' || {_or_empty(_col('http.response.status_code'))}"
            f" || ' ' || {_or_empty(_col('user_agent.original'))}"
        ),
    ),
    Source(
        "dns",
        None,
        None,
        "dns",
        ("bind-querylog",),
        {
            "query": _col("dns.question.name"),
            "record_type": _col("dns.question.type"),
            "qtype_name": _col("dns.question.type"),
            "src_ip": _col("source.ip"),
        },
        f"{_or_empty(_col('dns.question.name'))} || ' ' || {_or_empty(_col('dns.question.type'))}",
    ),
    Source(
        "zeek_dns",
        "zeek",
        "dns",
        None,
        ("zeek-dns",),
        {
            "query": _col("dns.question.name"),
            "qtype_name": _col("dns.question.type"),
            "id.orig_h": _col("source.ip"),
            "id.orig_p": _col("source.port"),
            "id.resp_h": _col("destination.ip"),
            "id.resp_p": _col("destination.port"),
            "proto": _col("network.transport"),
        },
        f"{_or_empty(_col('dns.question.name'))} || ' ' || {_or_empty(_col('dns.question.type'))}",
    ),
    Source(
        "zeek_http",
        "zeek",
        "http",
        None,
        ("zeek-http",),
        {
            **_HTTP_FIELDS,
            "host": _col("url.domain"),
            "uri": _col("url.path"),
            "method": _col("http.request.method"),
            "user_agent": _col("user_agent.original"),
            "status_code": _col("http.response.status_code"),
            "username": _col("user.name"),
            "id.orig_h": _col("source.ip"),
            "id.resp_h": _col("destination.ip"),
            "id.resp_p": _col("destination.port"),
        },
        (
            f"{_or_empty(_col('http.request.method'))} || ' ' || {_URL}"
            f" || ' ' || {_or_empty(_col('user_agent.original'))}"
        ),
    ),
    Source(
        "zeek_conn",
        "zeek",
        "conn",
        None,
        ("zeek-conn",),
        {
            "id.orig_h": _col("source.ip"),
            "id.orig_p": _col("source.port"),
            "id.resp_h": _col("destination.ip"),
            "id.resp_p": _col("destination.port"),
            "proto": _col("network.transport"),
            "orig_bytes": _col("source.bytes"),
            "resp_bytes": _col("destination.bytes"),
        },
        f"{_or_empty(_col('source.ip'))} || ' ' || {_or_empty(_col('destination.ip'))}",
    ),
)

#: an event column named in a view's SQL expression
_COLUMN = re.compile(r'"([^"]+)"')

#: the event columns a Sigma field name stands for, for the pseudonym notes
_STANDS_FOR = {
    sigma: ecs
    for source in SOURCES
    for sigma, expression in source.fields.items()
    for ecs in _COLUMN.findall(expression)[:1]
}


def _source_of(rule: SigmaRule) -> Source | None:
    """The source whose product, service and category the rule names exactly."""
    given = (rule.logsource.product, rule.logsource.service, rule.logsource.category)
    for source in SOURCES:
        if (source.product, source.service, source.category) == given:
            return source
    return None


@dataclass(frozen=True)
class LoadedRule:
    id: str
    title: str
    author: str
    level: str
    techniques: tuple[str, ...]
    path: str
    #: "event" or "correlation"
    kind: str
    #: the log source view it runs on (for correlations, their rules'), or None
    source: str | None
    #: why it may match less than it says, or why it does not run
    notes: tuple[str, ...] = ()
    sql: str = ""
    plan: Mapping[str, Any] | None = None
    required: tuple[str, ...] = ()

    @property
    def runs(self) -> bool:
        return self.source is not None and (bool(self.sql) or self.plan is not None)


@dataclass(frozen=True)
class RuleError:
    path: str
    message: str


@dataclass
class RuleSet:
    rules: list[LoadedRule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


def _techniques(tags: Iterable[Any]) -> tuple[str, ...]:
    found = []
    for tag in tags:
        text = str(tag)
        match = re.fullmatch(r"attack\.(t\d{4}(?:\.\d{3})?)", text, re.IGNORECASE)
        if match:
            found.append(match.group(1).upper())
    return tuple(found)


def _pipeline() -> ProcessingPipeline:
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import SetStateTransformation

    items = [
        ProcessingItem(
            SetStateTransformation("table", source.view),
            rule_conditions=[
                LogsourceCondition(
                    product=source.product, service=source.service, category=source.category
                )
            ],
            identifier=f"confiance-{source.name}",
        )
        for source in SOURCES
    ]
    return ProcessingPipeline(name="confiance ECS views", priority=20, items=items)


def _backend() -> sqliteBackend:
    from sigma.backends.sqlite.sqlite import sqliteBackend

    return sqliteBackend(  # type: ignore[no-untyped-call]
        _pipeline(),
        collect_errors=True,
        collate_nocase=True,
        fulltext_field=_TEXT,
        timestamp_field=_TIME,
        event_id_field=_ID,
    )


def _rule_path(item: Any) -> str:
    """The file a rule (or a pySigma error) comes from."""
    source = getattr(item, "source", None)
    return str(source.path) if source is not None else "<rules>"


def load_rules(paths: Sequence[Path]) -> RuleSet:
    """Parse and convert every rule under ``paths`` (files or directories).

    A file that does not parse, or a rule pySigma or the backend refuses, is
    an error naming the file; the other rules still load.
    """
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError, SigmaRuleLocation
    from sigma.filters import SigmaFilter

    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path}: no such rule file or directory")
    result = RuleSet()
    parsed: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = []
    files = [
        p for path in paths for p in ([path] if path.is_file() else sorted(path.rglob("*.yml")))
    ]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            collection = SigmaCollection.from_yaml(
                text,
                collect_errors=True,
                source=SigmaRuleLocation(path),
                resolve_references=False,
            )
        except (OSError, UnicodeDecodeError) as exc:
            result.errors.append(RuleError(str(path), f"cannot be read ({exc})"))
            continue
        except (yaml.YAMLError, SigmaError, ValueError, TypeError, KeyError, AttributeError) as exc:
            result.errors.append(RuleError(str(path), f"not a Sigma rule file ({exc})"))
            continue
        for rule in collection.rules:
            if rule.errors:
                result.errors.extend(RuleError(str(path), _message(e)) for e in rule.errors)
            else:
                parsed.append(rule)
    try:
        merged = SigmaCollection(parsed, resolve_references=True)
    except SigmaError as exc:  # a correlation naming a rule that is not loaded
        result.errors.append(RuleError(_rule_path(exc), _message(exc)))
        return result
    backend = _backend()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = json.loads(backend.convert(merged, output_format="zircolite"))
    for rule, error in backend.errors:
        result.errors.append(RuleError(_rule_path(rule), _message(error)))
    by_id = {str(r.id): r for r in merged.rules}
    result.rules = [_loaded(entry, by_id[str(entry["id"])]) for entry in converted]
    return result


def _message(error: Exception) -> str:
    """pySigma's message without the absolute path it appends."""
    return re.sub(r" in [^\n]*?\.ya?ml(?::\d+)*$", "", str(error).split("\n")[0])


def _filter_fields(rule: SigmaRule) -> set[str]:
    """Fields tested only by the rule's filters (``filter_*``, ``exclude_*`` by
    SigmaHQ's naming convention), never by what it selects."""
    from sigma.rule import SigmaDetection, SigmaDetectionItem

    def fields(item: SigmaDetection | SigmaDetectionItem) -> set[str]:
        if isinstance(item, SigmaDetectionItem):
            return {item.field} if item.field else set()
        return set().union(*(fields(i) for i in item.detection_items))

    named = rule.detection.detections.items()
    filtering = set().union(
        *(fields(d) for n, d in named if n.lower().startswith(("filter", "exclude")))
    )
    selecting = set().union(
        *(fields(d) for n, d in named if not n.lower().startswith(("filter", "exclude")))
    )
    return filtering - selecting


def _negated(sql: str, fields: Sequence[str]) -> list[str]:
    """Those of ``fields`` that the rule's query tests under a NOT."""
    import sqlglot
    from sqlglot import exp

    wanted = {f.lower() for f in fields}
    found = {
        column.name
        for column in sqlglot.parse_one(sql, read="sqlite").find_all(exp.Column)
        if column.name.lower() in wanted and column.find_ancestor(exp.Not) is not None
    }
    return sorted(found)


def _loaded(entry: Mapping[str, Any], rule: SigmaRule | SigmaCorrelationRule) -> LoadedRule:
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    required = tuple(str(f) for f in entry.get("required_fields", ()))
    notes: list[str] = []
    if isinstance(rule, SigmaCorrelationRule):
        bases = [
            _source_of(r.rule) if isinstance(r.rule, SigmaRule) else None for r in rule.rules or ()
        ]
        # one log source for all its rules, or it does not run
        source = bases[0] if all(b is bases[0] for b in bases) else None
        kind, sql, plan = "correlation", "", entry.get("correlation_plan")
    else:
        source = _source_of(rule)
        kind, sql, plan = "event", str(entry["rule"][0]), None
    if source is None:
        notes.append("no dataset of ours carries its log source: loaded, not run")
    else:
        internal = {_ID, _TIME, _TEXT}
        missing = sorted(f for f in required if f not in source.fields and f not in internal)
        negated = _negated(sql, missing) if sql and missing else []
        filters = _filter_fields(rule) if isinstance(rule, SigmaRule) else set()
        essential = [f for f in negated if f not in filters]
        if essential:
            # "not (Z = 0)" holds for every event where Z is empty: it would fire on all
            notes.append(
                f"negates fields we never carry ({', '.join(essential)}) outside its "
                "filters, so it would match nearly every event: loaded, not run"
            )
            sql = ""
        elif missing:
            notes.append(f"fields we never carry (always empty): {', '.join(missing)}")
            if negated:
                notes.append(f"its filters on {', '.join(negated)} never apply: it may match more")
        pseudonymised = sorted(
            f for f in required if f in source.fields and _STANDS_FOR.get(f) in _PSEUDONYMISED
        )
        if pseudonymised:
            notes.append(
                f"compares pseudonymised fields ({', '.join(pseudonymised)}): "
                "literal values match only in clear data"
            )
    return LoadedRule(
        id=str(entry["id"]),
        title=str(entry.get("title", "")),
        author=str(entry.get("author") or ""),
        level=str(entry.get("level") or "medium").lower(),
        techniques=_techniques(entry.get("tags") or ()),
        path=_rule_path(rule),
        kind=kind,
        source=source.name if source is not None else None,
        notes=tuple(notes),
        sql=sql,
        plan=plan,
        required=required,
    )


# -- running -------------------------------------------------------------


def _regexp(pattern: str, value: object) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def _read(sources: Sequence[Source]) -> set[str]:
    """The event columns the sources' fields, text and entities read."""
    read = {"tenant", "event.dataset", *_ENTITIES}
    for source in sources:
        for expression in (*source.fields.values(), source.fulltext):
            read.update(_COLUMN.findall(expression))
    return read


def _in_datasets(sources: Sequence[Source]) -> str:
    quoted = ", ".join(
        "'" + d.replace("'", "''") + "'" for d in sorted({d for s in sources for d in s.datasets})
    )
    return f'"event.dataset" IN ({quoted})'


def _logs(events: pa.Table, sources: Sequence[Source], keep: np.ndarray) -> pa.Table:
    """The events ``keep`` marks (those of the sources' datasets), the columns the views
    read, each with its id and its time as text (SQLite's engine)."""
    read = _read(sources)
    names = [n for n in events.column_names if n in read]
    if not events.num_rows:
        empty = {_ID: pa.array([], pa.int64()), _TIME: pa.array([], pa.string())}
        return pa.table(empty | {n: events[n] for n in names})
    ids = pa.array(np.flatnonzero(keep) + 1)
    events = events.select(list(dict.fromkeys(["@timestamp", *names]))).filter(pa.array(keep))
    times = pc.strftime(events["@timestamp"], format=_TIME_FORMAT)
    return pa.table({_ID: ids, _TIME: times} | {n: events[n] for n in names})


def _expression(source: Source, name: str, present: set[str]) -> str:
    """The SQL for a Sigma field of ``source`` over the event columns: NULL when the
    field is not ours or an event column it reads is absent."""
    expression = source.fulltext if name == _TEXT else source.fields.get(name)
    if expression is None or not all(u in present for u in _COLUMN.findall(expression)):
        return "NULL"
    return expression


def _carried(present: set[str]) -> list[str]:
    """The tenant and the entity columns, under their ``cf_`` names."""
    return [
        f"{_col(n) if n in present else 'NULL'} AS {_col('cf_' + n)}"
        for n in ("tenant", *_ENTITIES)
    ]


def _views(logs: pa.Table, sources: Sequence[Source], required: set[str]) -> list[str]:
    """One SQLite view per source over ``logs``, its columns named as Sigma names them."""
    present = set(logs.column_names)
    statements = []
    for source in sources:
        selected = [_ID, _TIME, f"{_expression(source, _TEXT, present)} AS {_TEXT}"]
        selected += _carried(present)
        taken = {c.lower() for c in (_ID, _TIME, _TEXT)}
        for name in (*source.fields, *sorted(required)):
            if name.lower() not in taken:
                selected.append(f"{_expression(source, name, present)} AS {_col(name)}")
                taken.add(name.lower())
        statements.append(
            f"CREATE TEMP VIEW {source.view} AS SELECT {', '.join(selected)} FROM logs "
            f"WHERE {_in_datasets([source])}"
        )
    return statements


def _sqlite(logs: pa.Table, sources: Sequence[Source], required: set[str]) -> sqlite3.Connection:
    """In-memory SQLite holding ``logs``, with one view per source: the reference
    engine, and the one pySigma's correlation plans run on."""
    con = sqlite3.connect(":memory:")
    con.create_function("regexp", 2, _regexp, deterministic=True)
    names = logs.column_names
    con.execute(
        f"CREATE TABLE logs ({_ID} INTEGER PRIMARY KEY, {_TIME} TEXT, "
        + ", ".join(_col(n) for n in names[2:])
        + ")"
    )
    if logs.num_rows:
        con.executemany(
            f"INSERT INTO logs VALUES ({', '.join('?' * len(names))})",
            zip(*(logs[n].to_pylist() for n in names), strict=True),
        )
    for statement in _views(logs, sources, required):
        con.execute(statement)
    return con


#: the lowered copy of a field (``cf_lower:c-useragent``), computed once per tuple
_LOWER = "cf_lower:"


#: conditions of the shipped rules, read from their compiled file (see ``shipped_rules``)
_PRECOMPILED: dict[str, tuple[str, frozenset[str]]] = {}


def _condition(sql: str) -> tuple[str, frozenset[str]]:
    """A rule's condition as DuckDB tests it over a source's prepared tuples, and the
    columns it reads (see ``_compile_condition``)."""
    found = _PRECOMPILED.get(sql)
    return found if found is not None else _compile_condition(sql)


@functools.lru_cache(maxsize=512)
def _compile_condition(sql: str) -> tuple[str, frozenset[str]]:
    """A rule's condition as DuckDB tests it over a source's prepared tuples, and the
    columns it reads.

    Every case-blind test reads the field's lowered copy: ``lower(field)``, an
    equality ``COLLATE NOCASE`` and an ``ILIKE`` on a field become tests on
    ``cf_lower:field`` against lower-case text, so a field that forty rules test
    is lowered once, not forty times.
    """
    import sqlglot
    from sqlglot import exp

    def lowered(column: exp.Column) -> exp.Column:
        return exp.column(_LOWER + column.name, quoted=True)

    tree = sqlglot.parse_one(duckdb_sql(sql), read="duckdb")
    for lower in list(tree.find_all(exp.Lower)):
        if isinstance(lower.this, exp.Column):
            lower.replace(lowered(lower.this))
    for node in list(tree.find_all(exp.EQ)):
        collate = node.expression
        if (
            isinstance(node.this, exp.Column)
            and isinstance(collate, exp.Collate)
            and collate.expression.name.upper() == "NOCASE"
            and isinstance(collate.this, exp.Literal)
            and collate.this.is_string
        ):
            literal = exp.Literal.string(collate.this.this.lower())
            node.replace(exp.EQ(this=lowered(node.this), expression=literal))
    for like in list(tree.find_all(exp.ILike)):
        pattern = like.expression
        if isinstance(like.this, exp.Column) and isinstance(pattern, exp.Literal):
            literal = exp.Literal.string(pattern.this.lower())
            like.replace(exp.Like(this=lowered(like.this), expression=literal))
    _alternations(tree)
    where = tree.args["where"].this
    columns = frozenset(c.name for c in where.find_all(exp.Column))
    return str(where.sql(dialect="duckdb")), columns


#: characters RE2 reads as operators, escaped to match themselves
_RE2_OPERATORS = frozenset("\\.+*?()|[]{}^$")


def _alternations(tree: Any) -> None:
    """Fold the substring, prefix and suffix tests that an OR makes on one column
    into one RE2 alternation (``contains(x, 'a') OR contains(x, 'b')`` becomes
    ``regexp_matches(x, '(?:a|b)')``): RE2 reads the text once for all the words
    (seven times faster over the web server rules' 121 words) and, the words
    being plain text, finds the same events."""
    from sqlglot import exp

    shapes: dict[type, str] = {
        exp.Contains: "(?:{})",
        exp.StartsWith: "^(?:{})",
        exp.EndsWith: "(?:{})$",
    }

    def chained(node: Any) -> bool:
        """An OR within an OR (maybe in parentheses): its root folds it."""
        parent = node.parent
        if isinstance(parent, exp.Paren):
            parent = parent.parent
        return isinstance(parent, exp.Or)

    def operands(node: Any) -> list[Any]:
        if isinstance(node, exp.Paren) and isinstance(node.this, exp.Or):
            return operands(node.this)
        if isinstance(node, exp.Or):
            return operands(node.this) + operands(node.expression)
        return [node]

    roots = [node for node in tree.find_all(exp.Or) if not chained(node)]
    for root in roots:
        kept: list[Any] = []
        words: dict[tuple[type, str], list[Any]] = {}
        for operand in operands(root):
            column, word = operand.this, operand.args.get("expression")
            if (
                type(operand) in shapes
                and isinstance(column, exp.Column)
                and isinstance(word, exp.Literal)
                and word.is_string
            ):
                words.setdefault((type(operand), column.name), []).append(operand)
            else:
                kept.append(operand)
        if all(len(tests) == 1 for tests in words.values()):
            continue
        for (shape, name), tests in words.items():
            if len(tests) == 1:
                kept.extend(tests)
                continue
            pattern = shapes[shape].format("|".join(_re2_literal(t.expression.this) for t in tests))
            column = exp.column(name, quoted=True)
            kept.append(exp.RegexpLike(this=column, expression=exp.Literal.string(pattern)))
        rebuilt = kept[0]
        for operand in kept[1:]:
            rebuilt = exp.Or(this=rebuilt, expression=operand)
        root.replace(rebuilt if isinstance(root.parent, exp.Paren) else exp.Paren(this=rebuilt))


def _re2_literal(word: str) -> str:
    return "".join("\\" + c if c in _RE2_OPERATORS else c for c in word)


@dataclass
class _Pass:
    """The rules of one source that read the same event columns."""

    source: Source
    rules: list[LoadedRule]
    columns: tuple[str, ...]


#: a distinct tuple's number in a pass
_TUPLE = "cf_tuple"


def _prepare(source: Source, rules: Sequence[LoadedRule], present: set[str]) -> tuple[str, str]:
    """The two queries of a DuckDB pass over ``logs``, a table of distinct tuples
    numbered in ``cf_tuple``: the first prepares them (the fields the rules read, their
    lowered copies), the second gives the tuples some rule matches, and each rule's
    flag."""
    conditions = [_condition(r.sql) for r in rules]
    read = set().union(*(columns for _sql, columns in conditions))
    selected = [_TUPLE]
    for name in sorted(read):
        field = name.removeprefix(_LOWER)
        expression = _expression(source, field, present)
        if name.startswith(_LOWER):
            expression = f"lower(CAST({expression} AS VARCHAR))"
        selected.append(f"{expression} AS {_col(name)}")
    flags = ", ".join(
        f"coalesce(CAST(({sql}) AS BOOLEAN), false) AS m{i}"
        for i, (sql, _) in enumerate(conditions)
    )
    matches = " OR ".join(f"({sql})" for sql, _ in conditions)
    return (
        f"SELECT {', '.join(selected)} FROM logs",
        f"SELECT {_TUPLE}, {flags} FROM prepared WHERE {matches}",
    )


def _columns_read(source: Source, rule: LoadedRule, present: set[str]) -> tuple[str, ...]:
    """The event columns a rule's condition reads, through its source's fields."""
    read: set[str] = set()
    for name in _condition(rule.sql)[1]:
        read.update(_COLUMN.findall(_expression(source, name.removeprefix(_LOWER), present)))
    return tuple(sorted(read))


@dataclass(frozen=True)
class _Coded:
    """A column as a number per row, ``len(values)`` for null, and its distinct values."""

    codes: np.ndarray
    values: pa.Array

    @classmethod
    def of(cls, column: pa.ChunkedArray) -> _Coded:
        column = (
            column.unify_dictionaries()
            if pa.types.is_dictionary(column.type)
            else pc.dictionary_encode(column)
        )
        if not column.num_chunks:
            return cls(np.zeros(0, np.int32), pa.array([], column.type.value_type))
        values = column.chunk(0).dictionary
        indices = pa.chunked_array([c.indices for c in column.chunks], column.type.index_type)
        return cls(pc.fill_null(indices, len(values)).to_numpy(), values)

    @property
    def size(self) -> int:
        return len(self.values) + 1

    def at(self, codes: np.ndarray) -> pa.Array:
        """The values these codes stand for."""
        return self.values.take(pa.array(codes, mask=codes == len(self.values)))

    def among(self, values: Sequence[str]) -> np.ndarray:
        """Whether each row's value is one of ``values``."""
        chosen = pc.is_in(self.values, pa.array(values, self.values.type))
        if not pc.any(chosen).as_py():
            return np.zeros(self.codes.size, bool)
        lookup = np.append(chosen.to_numpy(zero_copy_only=False), False)
        return np.asarray(lookup[self.codes], dtype=bool)


def _at(column: pa.ChunkedArray, rows: np.ndarray) -> list[pa.Array]:
    """The values of ``column`` at ``rows`` (ascending), chunk by chunk: a take on the
    whole column would first join its chunks into one copy."""
    ends = np.cumsum([len(c) for c in column.chunks])
    chunk = np.searchsorted(ends, rows, side="right")
    return [
        column.chunk(i).take(pa.array(rows[chunk == i] - (ends[i - 1] if i else 0)))
        for i in np.unique(chunk)
    ]


def _renumbered(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Keys renumbered from 0 (by hashing), and how many there are."""
    encoded = pc.dictionary_encode(pa.array(key))
    return encoded.indices.to_numpy(), len(encoded.dictionary)


def _tuples(codes: Sequence[tuple[np.ndarray, int]], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's tuple of codes as a number from 0, and one row of each tuple."""
    key, size = np.zeros(rows, np.int64), 1
    for values, count in codes:
        if size * count >= 2**62:  # renumber before the mixed-radix key can overflow
            key, size = _renumbered(key)
        key, size = key * count + values, size * count
    if size > 4 * rows:  # too sparse to number by a table of every possible key
        key, size = _renumbered(key)
    seen = np.zeros(size, bool)
    seen[key] = True
    number = np.cumsum(seen) - 1
    tuples = number[key]
    # any of a tuple's rows stands for it: they all carry the same values
    one = np.empty(int(number[-1]) + 1, np.int64)
    one[tuples] = np.arange(rows)
    return tuples, one


def _passes(
    rules: Sequence[LoadedRule], sources: Sequence[Source], events: pa.Table, present: set[str]
) -> tuple[list[_Pass], list[LoadedRule]]:
    """The passes of the rules DuckDB runs, and the rules it refuses (a regular
    expression RE2 does not take): found by binding each rule's condition on no rows."""
    passes: list[_Pass] = []
    refused: list[LoadedRule] = []
    con = connect()
    try:
        for source in sources:
            by_columns: dict[tuple[str, ...], list[LoadedRule]] = {}
            for rule in rules:
                if rule.source == source.name:
                    by_columns.setdefault(_columns_read(source, rule, present), []).append(rule)
            for columns, mine in sorted(by_columns.items()):
                empty = {_TUPLE: pa.array([], pa.int64())}
                con.register("logs", pa.table(empty | {c: events[c].slice(0, 0) for c in columns}))
                prepare, _ = _prepare(source, mine, present)
                con.register("prepared", con.sql(prepare).to_arrow_table())
                runnable = []
                for rule in mine:
                    try:
                        con.execute(f"SELECT 1 FROM prepared WHERE {_condition(rule.sql)[0]}")
                        runnable.append(rule)
                    except duckdb.Error:
                        refused.append(rule)
                if runnable:
                    passes.append(_Pass(source, runnable, columns))
    finally:
        con.close()
    return passes, refused


@dataclass
class _Group:
    """Rules tested over the distinct tuples of ``columns``."""

    columns: tuple[str, ...]
    #: each row's tuple, numbered from 0
    tuples: np.ndarray
    #: a row of each tuple, which stands for it
    sample: np.ndarray
    rules: list[LoadedRule]


def _merged(passes: Sequence[_Pass], coded: Mapping[str, _Coded], rows: int) -> list[_Group]:
    """The source's passes as groups: a pass whose columns lie within a group's, when that
    group has few tuples (at most a sixteenth of the rows), is tested over them too,
    saving a numbering of every row (the proxy's eight column sets are one group of a
    few dozen tuples); the others get tuples of their own."""
    groups: list[_Group] = []
    for one in sorted(passes, key=lambda o: (-len(o.columns), o.columns)):
        within = [
            g for g in groups if set(one.columns) <= set(g.columns) and g.sample.size * 16 <= rows
        ]
        if within:
            min(within, key=lambda g: g.sample.size).rules.extend(one.rules)
            continue
        read = [(coded[n].codes, coded[n].size) for n in one.columns]
        groups.append(_Group(one.columns, *_tuples(read, rows), list(one.rules)))
    return groups


def _on_duckdb(
    rules: Sequence[LoadedRule],
    events: pa.Table,
    sources: Sequence[Source],
    carries: Mapping[str, np.ndarray],
) -> tuple[list[dict[str, Any]], list[LoadedRule]]:
    """Event rules over ``events``; the findings, and the rules DuckDB refuses, left for
    SQLite.

    A rule's condition is tested once per distinct tuple of the event columns it
    reads, not once per event: a proxy's millions of requests carry far fewer
    distinct (path, agent) pairs. The rules of a source that read the same columns
    are one DuckDB pass over those tuples; the tuples a rule matches lead back to
    their events by number. Memory: a number per event of the source and column,
    and the distinct tuples.
    """
    present = set(events.column_names) & _read(sources)
    passes, refused = _passes(rules, sources, events, present)
    matched: dict[str, list[dict[str, Any]]] = {}
    if not passes or not events.num_rows:
        return [], refused
    con = connect()
    try:
        for source in sources:
            mine = [one for one in passes if one.source is source]
            keep = carries[source.name]
            if not mine or not keep.any():
                continue
            rows, ours = np.flatnonzero(keep), pa.array(keep)
            # each column the source's rules read, coded once over the source's events
            coded: dict[str, _Coded] = {}
            for name in sorted({n for one in mine for n in one.columns}):
                coded[name] = _Coded.of(events[name].filter(ours))
            for group in _merged(mine, coded, rows.size):
                distinct = {_TUPLE: pa.array(np.arange(group.sample.size))} | {
                    n: coded[n].at(coded[n].codes[group.sample]) for n in group.columns
                }
                prepare, test = _prepare(source, group.rules, present)
                con.register("logs", pa.table(distinct))
                con.register("prepared", con.sql(prepare).to_arrow_table())
                flags = con.sql(test).to_arrow_table()
                con.unregister("prepared")
                if flags.num_rows:
                    _collect(group, flags, rows, events, present, matched)
    finally:
        con.close()
    findings = [
        f for one in passes for rule in one.rules for f in _grouped(rule, matched.get(rule.id, ()))
    ]
    return findings, refused


def _collect(
    group: _Group,
    flags: pa.Table,
    rows: np.ndarray,
    events: pa.Table,
    present: set[str],
    matched: dict[str, list[dict[str, Any]]],
) -> None:
    """The events whose tuple a rule of ``group`` matched (``flags``: a row per matched
    tuple, a flag per rule), as rows under the rule's id."""
    tuples = group.tuples
    # each tuple's row in ``flags``, -1 for the tuples no rule matched
    position = np.full(group.sample.size, -1)
    position[flags[_TUPLE].to_numpy()] = np.arange(flags.num_rows)
    mine = np.flatnonzero(position[tuples] >= 0)
    at = rows[mine]
    carried = {
        "cf_" + n: [v for part in _at(events[n], at) for v in part.to_pylist()]
        if n in present
        else [None] * at.size
        for n in ("tenant", *_ENTITIES)
    }
    times = [
        t
        for part in _at(events["@timestamp"], at)
        for t in pc.strftime(part, format=_TIME_FORMAT).to_pylist()
    ]
    found = [
        {_ID: int(r) + 1, _TIME: t} | {k: v[i] for k, v in carried.items()}
        for i, (r, t) in enumerate(zip(at.tolist(), times, strict=True))
    ]
    # each rule's flag per tuple, read for the matched events
    for i, rule in enumerate(group.rules):
        flag = flags[f"m{i}"].to_numpy(zero_copy_only=False)[position[tuples[mine]]]
        if flag.any():
            matched.setdefault(rule.id, []).extend(
                row for row, yes in zip(found, flag.tolist(), strict=True) if yes
            )


@functools.lru_cache(maxsize=512)
def duckdb_sql(sql: str) -> str:
    """A rule's SQLite query as DuckDB runs it (sqlglot), with SQLite's semantics kept:
    its LIKE ignores case, so it becomes ILIKE; its REGEXP becomes regexp_matches."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="sqlite")
    for node in list(tree.find_all(exp.Like)):
        parent = node.parent
        escape = parent.expression if isinstance(parent, exp.Escape) else None
        pattern = node.expression
        simple = (
            _plain_pattern(pattern.this, escape.this if isinstance(escape, exp.Literal) else None)
            if isinstance(pattern, exp.Literal) and pattern.is_string
            else None
        )
        if simple is None:
            node.replace(exp.ILike(this=node.this, expression=node.expression))
            continue
        # '%text%' and the like: a plain substring test on lower case, which DuckDB
        # runs many times faster than a LIKE with an ESCAPE clause
        kind, text = simple
        lowered = exp.Lower(this=node.this.copy())
        literal = exp.Literal.string(text.lower())
        test: exp.Expr
        if kind == "equal":
            test = exp.EQ(this=lowered, expression=literal)
        else:
            name = {"contains": "contains", "prefix": "starts_with", "suffix": "ends_with"}[kind]
            test = exp.func(name, lowered, literal)
        replaced = parent if isinstance(parent, exp.Escape) else node
        replaced.replace(test)
    return str(tree.sql(dialect="duckdb"))


def _plain_pattern(pattern: str, escape: str | None) -> tuple[str, str] | None:
    """A LIKE pattern that is text with wildcards only at its ends, as (test, text)."""
    chars: list[tuple[str, bool]] = []  # (character, is a wildcard)
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape and c == escape and i + 1 < len(pattern):
            chars.append((pattern[i + 1], False))
            i += 2
            continue
        chars.append((c, c in "%_"))
        i += 1
    if any(w and c == "_" for c, w in chars):
        return None
    lead = bool(chars) and chars[0] == ("%", True)
    trail = len(chars) > 1 and chars[-1] == ("%", True)
    body = chars[int(lead) : len(chars) - int(trail)]
    if not body or any(w for _c, w in body):
        return None
    text = "".join(c for c, _w in body)
    kind = {(True, True): "contains", (False, True): "prefix", (True, False): "suffix"}.get(
        (lead, trail), "equal"
    )
    return kind, text


def _entity(row: Mapping[str, Any]) -> tuple[str, str]:
    for name in _ENTITIES:
        value = row.get("cf_" + name)
        if value is not None:
            return name, str(value)
    return "event.dataset", "unknown"


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _finding(
    rule: LoadedRule, rows: Sequence[Mapping[str, Any]], extra: dict[str, Any]
) -> dict[str, Any]:
    entity_field, entity = _entity(rows[0])
    times = sorted(str(r[_TIME]) for r in rows)
    result = finding(
        detector=DETECTOR,
        title=rule.title,
        severity="low" if rule.level == "informational" else rule.level,
        technique=rule.techniques[0] if rule.techniques else "",
        tenants=sorted({str(r["cf_tenant"]) for r in rows}),
        entity_field=entity_field,
        entity=entity,
        first_seen=_time(times[0]),
        last_seen=_time(times[-1]),
        evidence={
            "rule": rule.id,
            # the Detection Rule License asks that every match carry the rule's author
            "author": rule.author,
            "level": rule.level,
            "techniques": list(rule.techniques),
            "events": len(rows),
            "event_ids": sorted(int(r[_ID]) for r in rows)[:_EVIDENCE],
        }
        | extra,
        pseudonyms=[],
        # a domain or a DNS name is no pseudonym: only pseudonymised entities are listed
        entity_is_pseudonym=entity_field in _PSEUDONYMISED,
    )
    # one detector runs many rules: the rule is part of the finding's identity
    key = f"{DETECTOR}|{rule.id}|{entity}|{result['first_seen']}".encode()
    result["id"] = hashlib.sha256(key).hexdigest()[:16]
    return result


ENGINES = ("duckdb", "sqlite")


def _grouped(rule: LoadedRule, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_entity(row), []).append(row)
    return [_finding(rule, matched, {}) for matched in groups.values()]


def run_rules(rules: RuleSet, events: pa.Table, *, engine: str = "duckdb") -> list[dict[str, Any]]:
    """Every rule that runs, over ``events``: one finding per rule and entity.

    Matches of an event rule are grouped by entity (source address, else
    account, else domain); a correlation gives one finding per group it fires for.
    Event rules run on DuckDB, once per distinct tuple of the columns they read,
    unless ``engine`` is ``sqlite``; correlations, and any rule DuckDB cannot
    run (a regular expression RE2 does not take), run on SQLite as pySigma's
    backend wrote them, over the events of their own log source only.
    """
    if engine not in ENGINES:
        raise ConfigError(f"sigma: engine must be one of {', '.join(ENGINES)}")
    runnable = [r for r in rules.rules if r.runs]
    if not runnable:
        return []
    sources = [s for s in SOURCES if s.name in {r.source for r in runnable}]
    required = {f for r in runnable for f in r.required}
    findings: list[dict[str, Any]] = []
    # whether each event is of a source's datasets, read by both engines
    datasets = _Coded.of(events["event.dataset"])
    carries = {s.name: datasets.among(s.datasets) for s in sources}
    on_sqlite = [r for r in runnable if r.plan is not None or engine == "sqlite"]
    if engine == "duckdb":
        events_only = [r for r in runnable if r.plan is None]
        findings, refused = _on_duckdb(events_only, events, sources, carries)
        on_sqlite += refused
    # a rule whose source carries no event here finds nothing: SQLite is spared it
    on_sqlite = [r for r in on_sqlite if r.source is not None and carries[r.source].any()]
    if on_sqlite:
        needed = [s for s in sources if s.name in {r.source for r in on_sqlite}]
        keep = np.logical_or.reduce([carries[s.name] for s in needed])
        con_sqlite = _sqlite(_logs(events, needed, keep), needed, required)
        try:
            for rule in on_sqlite:
                if rule.plan is not None:
                    findings.extend(_correlation(con_sqlite, rule))
                    continue
                lite = con_sqlite.execute(rule.sql)
                columns = [d[0] for d in lite.description]
                findings.extend(_grouped(rule, (dict(zip(columns, v, strict=True)) for v in lite)))
        finally:
            con_sqlite.close()
    return sorted(findings, key=lambda f: (f["first_seen"], f["title"], f["id"]))


def _correlation(con: sqlite3.Connection, rule: LoadedRule) -> list[dict[str, Any]]:
    """One finding per group and run of overlapping windows.

    The backend reports every sliding window that meets the condition (60
    failures in 10 minutes give 11 windows of 50); windows of one group that
    overlap are one episode, reported once with the union of their events.
    """
    from sigma.backends.sqlite.runtime import execute_plan

    assert rule.plan is not None
    alerts, _ = execute_plan(con, dict(rule.plan), include_events=True)  # type: ignore[no-untyped-call]
    episodes: dict[str, list[dict[str, Any]]] = {}
    for alert in sorted(alerts, key=lambda a: (a["window_start"], a["window_end"])):
        group = json.dumps(alert["group_keys"], sort_keys=True)
        runs = episodes.setdefault(group, [])
        if runs and alert["window_start"] <= runs[-1]["end"]:
            runs[-1]["end"] = max(runs[-1]["end"], alert["window_end"])
            runs[-1]["windows"] += 1
        else:
            runs.append(
                {
                    "end": alert["window_end"],
                    "windows": 1,
                    "group": alert["group_keys"],
                    "events": {},
                }
            )
        for event in alert["evidence"]:
            identity = str(event["event_id"])
            runs[-1]["events"][identity] = dict(event["event"]) | {
                _ID: int(identity.split(":", 1)[1])
            }
    return [
        _finding(
            rule,
            list(run["events"].values()),
            {"group": run["group"], "windows": run["windows"]},
        )
        for runs in episodes.values()
        for run in runs
        if run["events"]
    ]


#: the shipped rules as loaded and converted, with their DuckDB conditions: pySigma's
#: conversion and sqlglot's take most of a second per process, this file milliseconds
COMPILED = _RULES / "compiled.json"


def _compiled_key() -> str:
    """What the compiled file is derived from: the rule files, this module's code and
    the converters' versions. A file whose key differs is not read."""
    from importlib.metadata import version

    digest = hashlib.sha256(b"confiance-sigma-compiled/1\n")
    for path in [Path(__file__), *sorted((_RULES / "rules").rglob("*.yml"))]:
        name = path.name if path == Path(__file__) else path.relative_to(_RULES).as_posix()
        content = path.read_bytes()
        digest.update(f"{name}\n{len(content)}\n".encode() + content)
    for dist in ("pysigma", "pysigma-backend-sqlite", "sqlglot"):
        digest.update(f"{dist}=={version(dist)}\n".encode())
    return digest.hexdigest()


def write_compiled() -> Path:
    """Compile the shipped rules and write :data:`COMPILED` (after changing a rule file,
    this module or a converter: a test says when)."""
    rules = load_rules([_RULES / "rules"])
    entries = []
    for rule in rules.rules:
        entry = asdict(rule)
        entry["path"] = Path(rule.path).relative_to(_RULES).as_posix()
        if rule.runs and rule.plan is None:
            condition, columns = _compile_condition(rule.sql)
            entry["condition"] = [condition, sorted(columns)]
        entries.append(entry)
    body = {
        "key": _compiled_key(),
        "rules": entries,
        "errors": [asdict(e) for e in rules.errors],
    }
    COMPILED.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return COMPILED


def _read_compiled() -> RuleSet | None:
    """The shipped rules from :data:`COMPILED`, or None when it is missing, stale or
    not what :func:`write_compiled` writes."""
    try:
        body = json.loads(COMPILED.read_text(encoding="utf-8"))
        if not isinstance(body, dict) or body.get("key") != _compiled_key():
            return None
        rules, conditions = [], {}
        for entry in body["rules"]:
            condition = entry.pop("condition", None)
            entry["path"] = str(_RULES / entry["path"])
            for name in ("techniques", "notes", "required"):
                entry[name] = tuple(entry[name])
            rule = LoadedRule(**entry)
            if condition is not None:
                conditions[rule.sql] = (str(condition[0]), frozenset(condition[1]))
            rules.append(rule)
        errors = [RuleError(**e) for e in body["errors"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError):
        return None
    _PRECOMPILED.update(conditions)
    return RuleSet(rules, errors)


@functools.cache
def shipped_rules() -> RuleSet:
    """The SigmaHQ rules shipped with the package (loaded once per process): from their
    compiled file when it is current, else loaded and converted."""
    return _read_compiled() or load_rules([_RULES / "rules"])


def sigma_rules(
    con: duckdb.DuckDBPyConnection, p: Mapping[str, Any], *, events: pa.Table
) -> list[dict[str, Any]]:
    """Detector: the shipped SigmaHQ rules at or above ``min_level``, less ``exclude`` (ids),
    event rules on ``engine`` (``duckdb``, or ``sqlite`` as the reference)."""
    if p["min_level"] not in LEVELS:
        raise ConfigError(f"sigma: min_level must be one of {', '.join(LEVELS)}")
    floor = LEVELS.index(str(p["min_level"]))
    excluded = {str(i) for i in p["exclude"]}
    shipped = shipped_rules()
    chosen = RuleSet(
        [r for r in shipped.rules if LEVELS.index(r.level) >= floor and r.id not in excluded]
    )
    return run_rules(chosen, events, engine=str(p["engine"]))
