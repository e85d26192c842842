"""Detections on the synthetic week: every injected attack found, the noise left alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from confiance.detect import (
    Score,
    detectors_of,
    engine,
    generate,
    jobs,
    load_ground_truth,
    score_findings,
)
from confiance.detect.finding import merge_windows
from confiance.detect.labelled import synthetic_references
from confiance.detect.synthetic import SOURCES
from confiance.errors import ConfigError
from confiance.events import read_events
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext

#: the behavioural detectors (Sigma rules and protection of minors have their own tests)
CYBER = [d for d in detectors_of() if d != "sigma"]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, Path]:
    inputs = tmp_path_factory.mktemp("inputs")
    generate(inputs, events=30_000, seed=3)
    tables = []
    for tenant, name, fmt, _share in SOURCES.values():
        context = ParseContext(tenant=tenant, service=tenant, geo=DEMO_GEO)
        tables.append(parse_file(inputs / tenant / name, format=fmt, context=context).table)
    return pa.concat_tables(tables), inputs


def test_every_detector_finds_its_attacks_without_false_positives(week: tuple) -> None:
    events, inputs = week
    findings = jobs.run(
        events, analyses=CYBER, parameters={}, references=synthetic_references(inputs)
    )
    scores = score_findings(
        findings,
        load_ground_truth(inputs / "ground-truth.json"),
        pseudonym=lambda kind, value: value,
    )
    assert set(scores) == set(CYBER)
    for score in scores.values():
        assert (score.recall, score.precision) == (1.0, 1.0), score


def test_the_sigmahq_rules_fire_only_on_injected_attackers(week: tuple) -> None:
    events, inputs = week
    attackers = {a.entity for a in load_ground_truth(inputs / "ground-truth.json")}
    findings = jobs.run(events, analyses=["sigma"], parameters={})
    assert findings and {f["entity"]["value"] for f in findings} <= attackers
    scores = score_findings(
        findings, load_ground_truth(inputs / "ground-truth.json"), pseudonym=lambda k, v: v
    )
    assert scores["sigma"].precision == 1.0  # corroborates attacks of other types


def test_the_runtime_reads_vocabulary_columns_as_dictionaries_and_finds_the_same(
    week: tuple,
) -> None:
    """The worker reads each dataset with read_events: less memory, the same findings."""
    events, inputs = week
    buffer = pa.BufferOutputStream()
    pq.write_table(events, buffer, compression="zstd")
    compact = read_events(buffer.getvalue())
    plain = pq.read_table(pa.BufferReader(buffer.getvalue()))  # how the worker read them
    assert compact.to_pylist() == events.to_pylist()
    assert pa.types.is_dictionary(compact.schema.field("user_agent.original").type)
    assert not pa.types.is_dictionary(compact.schema.field("source.ip").type)
    assert compact.get_total_buffer_size() < 0.85 * plain.get_total_buffer_size()
    references = synthetic_references(inputs)
    analyses = detectors_of()
    assert jobs.run(compact, analyses=analyses, parameters={}, references=references) == (
        jobs.run(events, analyses=analyses, parameters={}, references=references)
    )


def test_the_worker_allocates_events_with_the_c_library() -> None:
    """return_freed_memory (called first by the worker) swaps Arrow's pool for malloc's."""
    code = (
        "import pyarrow as pa; from confiance.events import return_freed_memory; "
        "return_freed_memory(); print(pa.default_memory_pool().backend_name)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "system"


def test_detections_never_spill_decrypted_events_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB writes past its memory limit to ./.tmp: the runtime's engine fails instead."""
    monkeypatch.chdir(tmp_path)
    con = engine.connect()
    assert con.execute("SELECT current_setting('temp_directory')").fetchone() == ("",)
    con.execute("SET memory_limit = '32MB'")
    with pytest.raises(duckdb.OutOfMemoryException):
        con.execute("SELECT md5(i::VARCHAR) AS h FROM range(4000000) t(i) ORDER BY h").fetchall()
    assert list(tmp_path.iterdir()) == []


def test_a_school_nat_address_is_not_a_password_sprayer(week: tuple) -> None:
    events, _ = week
    findings = jobs.run(events, analyses=["password_spraying"], parameters={})
    assert findings and not any(f["entity"]["value"].startswith("193.48.") for f in findings)
    cross = [f for f in findings if len(f["tenants"]) > 1]
    assert cross and all(f["severity"] == "high" for f in cross)


def test_parameters_from_the_contract_config_apply(week: tuple) -> None:
    events, _ = week
    strict = jobs.run(
        events, analyses=["brute_force"], parameters={"brute_force": {"min_failures": 10_000}}
    )
    assert strict == []
    with pytest.raises(ConfigError, match="unknown detector 'magic'"):
        jobs.run(events, analyses=["magic"], parameters={})


def test_findings_carry_pseudonymisable_fields_only(week: tuple) -> None:
    events, _ = week
    for finding in jobs.run(events, analyses=CYBER, parameters={}):
        assert set(finding) == {
            "id",
            "detector",
            "title",
            "severity",
            "attack_technique",
            "tenants",
            "entity",
            "first_seen",
            "last_seen",
            "evidence",
            "pseudonyms",
        }
        # a tenant under credential stuffing, a phishing sender's domain and a newly
        # seen domain are no pseudonyms; every other entity is
        entity_is_pseudonym = finding["entity"]["field"] not in (
            "service.tenant",
            "email.from.domain",
            "dns.question.registered_domain",
        )
        assert (finding["entity"]["value"] in finding["pseudonyms"]) is entity_is_pseudonym
        json.dumps(finding)


def test_empty_input_gives_no_findings() -> None:
    assert jobs.run(pa.table({}), analyses=CYBER, parameters={}) == []


def test_generator_is_deterministic_and_exact(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", events=10_000, seed=5)
    b = generate(tmp_path / "b", events=10_000, seed=5)
    assert a.events == 10_000 and a.per_source == b.per_source
    for tenant, name, _f, _s in SOURCES.values():
        assert (tmp_path / "a" / tenant / name).read_bytes() == (
            tmp_path / "b" / tenant / name
        ).read_bytes()
    kinds = {attack.type for attack in a.attacks}
    assert kinds == set(CYBER), "every behavioural detector has its attack injected"
    both = [x for x in a.attacks if x.type == "password_spraying" and len(x.tenants) == 2]
    assert both, "a spraying campaign hits both the Académie and the Région"
    with pytest.raises(ConfigError, match="at least 10000 events"):
        generate(tmp_path / "c", events=100, seed=1)


def test_score_arithmetic_and_window_merging() -> None:
    score = Score("x", attacks=4, detected=3, findings=5, true_positives=3)
    assert (score.recall, score.precision) == (0.75, 0.6)
    assert round(score.f1, 4) == round(2 * 0.75 * 0.6 / 1.35, 4)
    assert Score("y", 0, 0, 0, 0).f1 == 1.0
    from datetime import datetime, timedelta

    t = datetime(2026, 1, 1)
    spans = merge_windows(
        [("a", t), ("a", t + timedelta(hours=1)), ("a", t + timedelta(hours=3)), ("b", t)],
        width=timedelta(hours=1),
    )
    assert [(e, s.hour, end.hour) for e, s, end in spans] == [("a", 0, 2), ("a", 3, 4), ("b", 0, 1)]
