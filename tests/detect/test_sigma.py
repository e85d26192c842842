"""Sigma rules: SigmaHQ rules load and run unchanged, correlations keep their windows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from confiance.detect import jobs, sigma
from confiance.detect.registry import detector, detector_code_digest
from confiance.errors import ConfigError
from confiance.events import EVENT_SCHEMA
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
#: the accounts the SigmaHQ sshd brute-force base rule lists (correlation_lnx_sshd_…yml)
TARGETED = ("root", "admin", "ubuntu", "user", "test", "guest", "postgres", "pi", "oracle",
            "deploy", "git", "gitlab", "mysql", "ftpuser", "support", "ubnt", "debian", "nagios",
            "apache", "tomcat", "usuario", "1234", "ftp", "operator", "hadoop", "ts3")  # fmt: skip
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _events(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def _failures(
    count: int, *, every_s: float, ip: str = "203.0.113.9", host: str = "srv1", start: int = 0
) -> list[dict[str, Any]]:
    return [
        {
            "@timestamp": T0 + dt.timedelta(seconds=start + every_s * i),
            "tenant": "lycee",
            "event.dataset": "openssh",
            "ocsf.class_uid": 3002,
            "event.category": "authentication",
            "event.action": "ssh_password",
            "event.outcome": "failure",
            "user.name": "root",
            "source.ip": ip,
            "source.port": 40000 + i,
            "service.name": host,
        }
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def sshd_rules() -> sigma.RuleSet:
    return sigma.load_rules([sigma._RULES / "rules" / "linux"])


def test_every_shipped_sigmahq_rule_loads_unchanged() -> None:
    shipped = sigma.shipped_rules()
    assert shipped.errors == []
    assert len(shipped.rules) == 75
    assert len({r.id for r in shipped.rules}) == 75
    kinds = {r.kind for r in shipped.rules}
    assert kinds == {"event", "correlation"}
    # every rule whose log source we ingest runs; the others say why not
    for rule in shipped.rules:
        if rule.source is None:
            assert not rule.runs
            assert "no dataset of ours carries its log source" in rule.notes[0]
        elif not rule.runs:
            assert "so it would match nearly every event: loaded, not run" in rule.notes[0]
    assert sum(r.runs for r in shipped.rules) == 60
    assert {r.source for r in shipped.rules if r.runs} == {
        "sshd",
        "proxy",
        "webserver",
        "dns",
        "zeek_dns",
        "zeek_http",
    }
    # the Detection Rule License: every rule keeps its author
    assert all(r.author for r in shipped.rules)


def test_the_sigma_detector_digest_covers_every_rule_file() -> None:
    found = detector("sigma")
    assert len([p for p in found.data_paths if p.suffix == ".yml"]) == 75
    assert sigma.COMPILED in found.data_paths  # the SQL that runs is pinned too
    assert (
        detector_code_digest("sigma")
        != "sha256:" + hashlib.sha256(found.module_path.read_bytes()).hexdigest()
    )


def test_the_compiled_rules_are_the_shipped_rules_compiled_now() -> None:
    """The compiled file spares each run pySigma's and sqlglot's work: it must say what
    compiling the rule files now says, conditions included."""
    key = json.loads(sigma.COMPILED.read_text(encoding="utf-8"))["key"]
    assert key == sigma._compiled_key(), (
        "stale: python -c 'from confiance.detect.sigma import write_compiled; write_compiled()'"
    )
    cached = sigma._read_compiled()
    assert cached is not None and cached == sigma.load_rules([sigma._RULES / "rules"])
    for rule in cached.rules:
        if rule.runs and rule.plan is None:
            assert sigma._PRECOMPILED[rule.sql] == sigma._compile_condition(rule.sql)


def test_a_stale_or_broken_compiled_file_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.loads(sigma.COMPILED.read_text(encoding="utf-8"))
    stale = tmp_path / "compiled.json"
    monkeypatch.setattr(sigma, "COMPILED", stale)
    shapeless = json.dumps({"key": body["key"], "rules": [{"id": 1}], "errors": []})
    for text in (json.dumps(body | {"key": "0" * 64}), "{not json", "[]", shapeless):
        stale.write_text(text, encoding="utf-8")
        assert sigma._read_compiled() is None
    stale.unlink()
    assert sigma._read_compiled() is None


def test_bad_rule_files_are_errors_naming_the_file_and_the_rest_still_loads(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.yml"
    good.write_text(
        "title: Telegram\nid: 0f4c1a3e-0000-4000-8000-000000000001\nstatus: test\n"
        "logsource: {category: dns}\n"
        "detection: {sel: {query|endswith: api.telegram.org}, condition: sel}\n"
        "level: medium\nauthor: us\n"
    )
    (tmp_path / "v1.yml").write_text(
        "title: Old scan\nlogsource: {category: firewall}\n"
        "detection: {sel: {action: denied}, condition: sel | count(dst_ip) by src_ip > 10}\n"
    )
    (tmp_path / "broken.yml").write_text("title: [unclosed\n")
    (tmp_path / "latin1.yml").write_bytes(b"title: caf\xe9\n")
    loaded = sigma.load_rules([tmp_path])
    assert [r.title for r in loaded.rules] == ["Telegram"]
    by_file = {Path(e.path).name: e.message for e in loaded.errors}
    assert set(by_file) == {"v1.yml", "broken.yml", "latin1.yml"}
    assert "pipe syntax" in by_file["v1.yml"]
    with pytest.raises(ConfigError, match="no such rule file"):
        sigma.load_rules([tmp_path / "missing.yml"])


def _correlated(rules: sigma.RuleSet, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in sigma.run_rules(rules, _events(rows)) if "Brute Force" in f["title"]]


@pytest.mark.parametrize(
    ("count", "every_s", "fires"),
    [
        (50, 10, True),  # 50 in 8 min 10 s
        (49, 10, False),  # one short of the threshold
        (50, 18.3, True),  # 50 in 896.7 s: inside 15 min
        (50, 18.4, False),  # 50 in 901.6 s: no 15-minute window holds them all
    ],
)
def test_event_count_correlation_keeps_its_15_minute_window(
    sshd_rules: sigma.RuleSet, count: int, every_s: float, fires: bool
) -> None:
    found = _correlated(sshd_rules, _failures(count, every_s=every_s))
    assert bool(found) is fires
    if fires:
        (f,) = found
        assert f["evidence"]["events"] == count
        assert f["evidence"]["group"] == {"client_ip": "203.0.113.9", "host": "srv1"}
        assert f["evidence"]["author"] == "Joseph Brennan"
        assert f["attack_technique"] == "T1110.001" and f["severity"] == "medium"


def test_overlapping_windows_are_one_finding_and_episodes_are_apart(
    sshd_rules: sigma.RuleSet,
) -> None:
    (one,) = _correlated(sshd_rules, _failures(60, every_s=10))
    assert one["evidence"]["events"] == 60 and one["evidence"]["windows"] == 11
    rows = _failures(60, every_s=10) + _failures(60, every_s=10, start=7200)
    first, second = _correlated(sshd_rules, rows)
    assert first["id"] != second["id"]
    assert first["last_seen"] < second["first_seen"]


def test_correlation_groups_by_address_and_host_and_spares_private_addresses(
    sshd_rules: sigma.RuleSet,
) -> None:
    split = _failures(30, every_s=5, host="a") + _failures(30, every_s=5, host="b", start=2)
    assert _correlated(sshd_rules, split) == []
    both = _failures(50, every_s=5, host="a") + _failures(50, every_s=5, host="b", start=2)
    assert len(_correlated(sshd_rules, both)) == 2
    assert _correlated(sshd_rules, _failures(80, every_s=5, ip="10.1.2.3")) == []
    accepted = [r | {"event.outcome": "success"} for r in _failures(80, every_s=5)]
    assert _correlated(sshd_rules, accepted) == []


def _windows_reference(table: pa.Table) -> set[str]:
    """Addresses with ≥ 50 qualifying failures within 900 s, computed apart from SQL."""
    import ipaddress

    times: dict[str, list[float]] = {}
    for row in table.to_pylist():
        user, ip = row["user.name"] or "", row["source.ip"]
        if row["event.outcome"] != "failure" or not any(t in user.lower() for t in TARGETED):
            continue
        if ipaddress.ip_address(ip).is_private:
            continue
        times.setdefault(ip, []).append(row["@timestamp"].timestamp())
    hits = set()
    for ip, stamps in times.items():
        stamps.sort()
        if any(stamps[i + 49] - stamps[i] <= 900 for i in range(len(stamps) - 49)):
            hits.add(ip)
    return hits


def test_the_sshd_brute_force_correlation_on_a_real_openssh_log(
    sshd_rules: sigma.RuleSet,
) -> None:
    context = ParseContext(
        tenant="lycee", service="srv", geo=DEMO_GEO, now=dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    )
    table = parse_file(DATA / "OpenSSH_2k.log", format="openssh", context=context).table
    found = _correlated(sshd_rules, table.to_pylist())
    expected = _windows_reference(table)
    assert expected  # the sample holds real brute force
    assert {f["entity"]["value"] for f in found} == expected
    assert len(found) == len(expected)  # one finding per episode, not per window


def _event(dataset: str, **fields: Any) -> dict[str, Any]:
    return {
        "@timestamp": T0,
        "tenant": "college",
        "event.dataset": dataset,
        "ocsf.class_uid": 4002,
        "source.ip": "192.0.2.10",
    } | fields


def test_event_rules_run_on_proxy_dns_and_web_server_views() -> None:
    rows = [
        _event(
            "squid",
            **{"url.domain": "example.org", "url.path": "/", "user_agent.original": "sqlmap/1.7"},
        ),
        _event(
            "squid",
            **{
                "url.domain": "example.org",
                "url.path": "/",
                "user_agent.original": FIREFOX,
            },
        ),
        _event(
            "bind-querylog", **{"dns.question.name": "pool.minexmr.com", "dns.question.type": "A"}
        ),
        _event(
            "bind-querylog",
            **{"dns.question.name": "www.ac-normandie.fr", "dns.question.type": "A"},
        ),
        _event(
            "apache-combined",
            **{
                "http.request.method": "GET",
                "url.path": "/index.php",
                "user_agent.original": "Nikto/2.5",
            },
        ),
    ]
    found = sigma.run_rules(sigma.shipped_rules(), _events(rows))
    titles = {f["title"] for f in found}
    assert "Hack Tool User Agent" in titles
    assert "Monero Crypto Coin Mining Pool Lookup" in titles
    assert "Suspicious User-Agents Related To Recon Tools" in titles
    # one finding per rule and entity, its events counted, the author kept
    assert all(f["evidence"]["events"] >= 1 and f["evidence"]["author"] for f in found)
    assert len({f["id"] for f in found}) == len(found)
    benign = sigma.run_rules(sigma.shipped_rules(), _events([rows[1], rows[3]]))
    assert benign == []
    # a bare "Mozilla/5.0" is Metasploit's update agent to SigmaHQ
    bare = rows[1] | {"user_agent.original": "Mozilla/5.0"}
    (metasploit,) = sigma.run_rules(sigma.shipped_rules(), _events([bare]))
    assert metasploit["title"] == "Exploit Framework User Agent"


def test_the_sigma_analysis_runs_in_the_job_with_its_parameters() -> None:
    rows = [
        *_failures(60, every_s=10),
        _event(
            "squid",
            **{"url.domain": "example.org", "url.path": "/", "user_agent.original": "sqlmap/1.7"},
        ),
    ]
    events = _events(rows)
    found = jobs.run(events, analyses=["sigma"], parameters={})
    assert {f["detector"] for f in found} == {"sigma"}
    assert len(found) == 2
    high = jobs.run(events, analyses=["sigma"], parameters={"sigma": {"min_level": "high"}})
    assert [f["title"] for f in high] == ["Hack Tool User Agent"]
    rule = high[0]["evidence"]["rule"]
    none = jobs.run(
        events, analyses=["sigma"], parameters={"sigma": {"min_level": "high", "exclude": [rule]}}
    )
    assert none == []
    with pytest.raises(ConfigError, match="min_level"):
        jobs.run(events, analyses=["sigma"], parameters={"sigma": {"min_level": "loud"}})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confiance.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
        timeout=120,
        check=False,
    )


def test_rules_test_on_a_real_log_as_a_rule_author_runs_it(tmp_path: Path) -> None:
    rule = sigma._RULES / "rules/linux/builtin/sshd/correlation_lnx_sshd_brute_force_attempt.yml"
    result = _cli("rules", "test", str(rule), "--events", str(DATA / "OpenSSH_2k.log"),
                  "--format", "openssh", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["events"] > 0 and report["errors"] == []
    assert {f["entity"]["value"] for f in report["findings"]} == {
        "187.141.143.180",
        "183.62.140.253",
    }
    plain = _cli("rules", "test", str(rule), "--events", str(DATA / "OpenSSH_2k.log"),
                 "--format", "openssh")  # fmt: skip
    assert plain.returncode == 0 and "Potential Brute Force" in plain.stdout
    no_format = _cli("rules", "test", str(rule), "--events", str(DATA / "OpenSSH_2k.log"))
    assert no_format.returncode == 2 and "--format" in no_format.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("title: x\nlogsource: {category: dns}\ndetection: {condition: sel}\n")
    listed = _cli("rules", "list", str(tmp_path))
    assert listed.returncode == 1 and "bad.yml" in listed.stderr


# -- the DuckDB engine against the SQLite reference ------------------------------------

#: the event column to put a rule's literal in, per Sigma field (the rest: the text)
_CARRIER = {
    "c-useragent": "user_agent.original",
    "cs-user-agent": "user_agent.original",
    "cs-host": "url.domain",
    "query": "dns.question.name",
    "cs-method": "http.request.method",
    "host": "url.domain",
    "user_agent": "user_agent.original",
    "method": "http.request.method",
    "qtype_name": "dns.question.type",
}
_DATASET = {
    "proxy": "squid",
    "webserver": "apache-combined",
    "dns": "bind-querylog",
    "zeek_dns": "zeek-dns",
    "zeek_http": "zeek-http",
}


def _events_from_the_rules_own_literals() -> pa.Table:
    """For every event rule, events carrying each of its literals as written, upper-cased,
    and cut short: matches and near misses for both engines to agree on."""
    import sqlglot
    from sqlglot import exp

    rows = []
    for rule in sigma.shipped_rules().rules:
        if not rule.runs or rule.plan is not None or rule.source not in _DATASET:
            continue
        tree = sqlglot.parse_one(rule.sql, read="sqlite")
        for node in tree.find_all(exp.Like, exp.EQ):
            column, value = node.this, node.expression
            if not isinstance(column, exp.Column) or not isinstance(value, exp.Literal):
                continue
            text = value.this.replace("\\%", "%").replace("%", "").replace("\\\\", "\\")
            field = _CARRIER.get(column.name, "url.path")
            for variant in (text, text.upper(), text[: len(text) // 2]):
                rows.append(
                    _event(
                        _DATASET[rule.source],
                        **{field: variant, "http.request.method": "GET", "url.domain": "x.fr"}
                        | ({"url.path": "/"} if field != "url.path" else {}),
                    )
                )
    return _events(rows)


def test_the_duckdb_engine_finds_exactly_what_the_sqlite_reference_finds() -> None:
    events = _events_from_the_rules_own_literals()
    assert events.num_rows > 500
    fast = sigma.run_rules(sigma.shipped_rules(), events, engine="duckdb")
    reference = sigma.run_rules(sigma.shipped_rules(), events, engine="sqlite")
    assert len({f["evidence"]["rule"] for f in reference}) >= 20  # most rules fire
    assert fast == reference
    context = ParseContext(tenant="lycee", service="lycee", geo=DEMO_GEO)
    openssh = parse_file(DATA / "OpenSSH_2k.log", format="openssh", context=context).table
    assert sigma.run_rules(sigma.shipped_rules(), openssh, engine="duckdb") == sigma.run_rules(
        sigma.shipped_rules(), openssh, engine="sqlite"
    )
    with pytest.raises(ConfigError, match="engine must be one of duckdb, sqlite"):
        sigma.run_rules(sigma.shipped_rules(), events, engine="oracle")


def test_duckdb_tests_each_distinct_tuple_once_whatever_the_chunks_and_dictionaries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The events three times over (another tenant, a week later, a source address of
    their own), in chunks of 7 rows whose agents and paths are dictionaries of their
    own: every condition is tested on the same distinct tuples as for one copy, and
    the findings are the SQLite reference's (event ids, groups, first sightings)."""
    once = _events_from_the_rules_own_literals()
    copies = [once]
    for n in (1, 2):
        later = [t + dt.timedelta(days=7 * n) for t in once["@timestamp"].to_pylist()]
        copy = once
        for name, values in (
            ("@timestamp", later),
            ("tenant", [f"tenant{n}"] * once.num_rows),
            ("source.ip", [f"192.0.2.{n}"] * once.num_rows),
        ):
            index = copy.column_names.index(name)
            field = copy.schema.field(index)
            copy = copy.set_column(index, field, pa.array(values, field.type))
        copies.append(copy)
    chunks = []
    for batch in pa.concat_tables(copies).to_batches(max_chunksize=7):
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        for name in ("url.path", "user_agent.original"):
            columns[name] = pc.dictionary_encode(pc.cast(columns[name], pa.string()))
        chunks.append(pa.table(columns))
    events = pa.concat_tables(chunks, promote_options="permissive")
    assert events["user_agent.original"].num_chunks > 100

    tested: list[int] = []
    tuples = sigma._tuples

    def counted(codes: Any, rows: int) -> tuple[Any, Any]:
        found = tuples(codes, rows)
        tested.append(found[1].size)
        return found

    monkeypatch.setattr(sigma, "_tuples", counted)
    found = sigma.run_rules(sigma.shipped_rules(), events)
    three = list(tested)
    tested.clear()
    sigma.run_rules(sigma.shipped_rules(), once)
    assert 0 < sum(three) <= sum(tested)  # three copies: no more tuples to test than one
    assert found == sigma.run_rules(sigma.shipped_rules(), events, engine="sqlite")
    assert {f["tenants"][0] for f in found} == {"college", "tenant1", "tenant2"}


def test_a_rule_duckdb_refuses_runs_on_sqlite_beside_its_source_s_other_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pySigma already refuses what RE2 cannot compile; should DuckDB still refuse a
    rule (here a look-ahead put in its condition), that rule runs on SQLite as
    pySigma wrote it and the source's other rule stays in the DuckDB pass."""
    for name, words in (("ahead", "['sqlmap/']"), ("plain", "['nikto', 'masscan']")):
        (tmp_path / f"{name}.yml").write_text(
            f"title: {name}\nid: 7b1a0c8e-0d57-4f0e-9f55-2f1f3b1d1a{len(name):02d}\n"
            "logsource: {category: proxy}\ndetection:\n"
            f"  selection: {{c-useragent|contains: {words}}}\n"
            "  condition: selection\nlevel: high\n"
        )
    rules = sigma.load_rules([tmp_path])
    assert not rules.errors and len(rules.rules) == 2
    ahead = next(r for r in rules.rules if r.title == "ahead")
    condition = sigma._condition

    def refused(sql: str) -> tuple[str, frozenset[str]]:
        if sql == ahead.sql:
            return """regexp_matches("c-useragent", 'sqlmap(?=/)')""", frozenset({"c-useragent"})
        return condition(sql)

    monkeypatch.setattr(sigma, "_condition", refused)
    events = _events(
        [
            _event("squid", **{"url.domain": "x.fr", "url.path": "/", "user_agent.original": ua})
            for ua in ("sqlmap/1.7", "Nikto/2.5", "sqlmapper", FIREFOX)
        ]
    )
    found = sigma.run_rules(rules, events)
    assert {f["title"]: f["evidence"]["event_ids"] for f in found} == {"ahead": [1], "plain": [2]}
    assert found == sigma.run_rules(rules, events, engine="sqlite")


def test_a_rule_tests_lowered_copies_and_one_alternation_per_column() -> None:
    condition, read = sigma._condition(
        "SELECT * FROM t WHERE (x LIKE '%a.b%' ESCAPE '\\' OR x LIKE '%C(%' ESCAPE '\\' "
        "OR y = 'Get' COLLATE NOCASE) AND (x LIKE 'p%' ESCAPE '\\' OR x LIKE 's%' ESCAPE '\\')"
    )
    assert condition == (
        """("cf_lower:y" = 'get' OR REGEXP_MATCHES("cf_lower:x", '(?:a\\.b|c\\()')) """
        """AND (REGEXP_MATCHES("cf_lower:x", '^(?:p|s)'))"""
    )
    assert read == {"cf_lower:x", "cf_lower:y"}


@pytest.mark.parametrize(
    ("sqlite", "duckdb"),
    [
        ("x LIKE '%a\\%b%' ESCAPE '\\'", "CONTAINS(LOWER(x), 'a%b')"),
        ("x LIKE 'Pre%' ESCAPE '\\'", "STARTS_WITH(LOWER(x), 'pre')"),
        ("x LIKE '%.PHP' ESCAPE '\\'", "ENDS_WITH(LOWER(x), '.php')"),
        ("x LIKE 'get'", "LOWER(x) = 'get'"),
        ("x LIKE '%a_b%' ESCAPE '\\'", "x ILIKE '%a_b%' ESCAPE '\\'"),
        ("x LIKE '%a%b%' ESCAPE '\\'", "x ILIKE '%a%b%' ESCAPE '\\'"),
        ("x REGEXP '(?i)ipfs'", "REGEXP_MATCHES(x, '(?i)ipfs')"),
    ],
)
def test_rule_sql_is_carried_to_duckdb_with_sqlite_semantics(sqlite: str, duckdb: str) -> None:
    assert sigma.duckdb_sql(f"SELECT * FROM t WHERE {sqlite}") == f"SELECT * FROM t WHERE {duckdb}"


def test_zeek_dns_and_http_rules_run_unchanged_on_parsed_zeek_logs(tmp_path: Path) -> None:
    """SigmaHQ's Zeek rules over what our Zeek parsers read, not over hand-made rows."""
    context = ParseContext(tenant="reseau", service="zeek", geo=DEMO_GEO)
    dns = tmp_path / "dns.log"
    dns.write_text(
        '{"ts":1789370531.1,"id.orig_h":"10.3.14.22","id.orig_p":5353,"id.resp_h":"10.3.0.53",'
        '"id.resp_p":53,"proto":"udp","query":"seed7.nkn.org","qtype_name":"A"}\n'
        '{"ts":1789370532.1,"id.orig_h":"10.3.14.23","id.orig_p":5354,"id.resp_h":"10.3.0.53",'
        '"id.resp_p":53,"proto":"udp","query":"www.ac-normandie.fr","qtype_name":"A"}\n'
    )
    http = tmp_path / "http.log"
    http.write_text(
        '{"ts":1789370533.1,"id.orig_h":"10.3.14.24","id.orig_p":50000,"id.resp_h":"198.51.100.7",'
        '"id.resp_p":80,"method":"GET","host":"cdn.example.top","uri":"/update.exe?x=1",'
        '"user_agent":"Mozilla/5.0","status_code":200}\n'
    )
    events = pa.concat_tables(
        [
            parse_file(dns, format="zeek-dns", context=context).table,
            parse_file(http, format="zeek-http", context=context).table,
        ]
    )
    found = sigma.run_rules(sigma.shipped_rules(), events)
    by_title = {f["title"]: f for f in found}
    assert "New Kind of Network (NKN) Detection" in by_title
    assert "HTTP Request to Low Reputation TLD or Suspicious File Extension" in by_title
    # Zeek's Z bit is not carried: its rule, which negates it, would fire on every query
    assert "Suspicious DNS Z Flag Bit Set" not in by_title and len(found) == 2
    assert by_title["New Kind of Network (NKN) Detection"]["entity"]["value"] == "10.3.14.22"
    reference = sigma.run_rules(sigma.shipped_rules(), events, engine="sqlite")
    assert sorted(reference, key=lambda f: f["id"]) == sorted(found, key=lambda f: f["id"])


def test_duckdb_first_seen_keeps_microseconds_like_sqlite() -> None:
    """Regression: DuckDB's strftime dropped sub-second times, so a finding's first
    sighting (and hence its id) differed between the two engines."""
    row = _event(
        "squid",
        **{"url.domain": "example.org", "url.path": "/", "user_agent.original": "sqlmap/1.7"},
    ) | {"@timestamp": T0 + dt.timedelta(microseconds=123456)}
    fast = sigma.run_rules(sigma.shipped_rules(), _events([row]), engine="duckdb")
    reference = sigma.run_rules(sigma.shipped_rules(), _events([row]), engine="sqlite")
    assert fast == reference
    assert fast[0]["first_seen"] == "2026-11-02T10:00:00.123456+00:00"


def test_a_rule_negating_a_field_we_never_carry_does_not_run_but_a_filter_on_one_does(
    tmp_path: Path,
) -> None:
    essential = tmp_path / "z.yml"
    essential.write_text(
        "title: Z set\nid: 7b1a0c8e-0d57-4f0e-9f55-2f1f3b1d1a01\n"
        "logsource: {product: zeek, service: dns}\n"
        "detection:\n  unset: {Z: 0}\n  named: {query|contains: '.'}\n"
        "  condition: not unset and named\nlevel: medium\n"
    )
    filtered = tmp_path / "f.yml"
    filtered.write_text(
        "title: Pool\nid: 7b1a0c8e-0d57-4f0e-9f55-2f1f3b1d1a02\n"
        "logsource: {product: zeek, service: dns}\n"
        "detection:\n  selection: {query|endswith: 'minexmr.com'}\n"
        "  exclude_sinkhole: {answers: '0.0.0.0'}\n"
        "  condition: selection and not exclude_sinkhole\nlevel: high\n"
    )
    loaded = {r.title: r for r in sigma.load_rules([tmp_path]).rules}
    assert not loaded["Z set"].runs
    assert loaded["Z set"].notes == (
        "negates fields we never carry (Z) outside its filters, so it would match nearly "
        "every event: loaded, not run",
    )
    assert loaded["Pool"].runs
    assert loaded["Pool"].notes[-1] == "its filters on answers never apply: it may match more"
