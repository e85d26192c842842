"""Scoring the detections on labelled data: the synthetic week and public datasets.

Each dataset gives the events the detectors run on and, read by its own small
reader (never by the parser under test), one label per record: its source
address, its time and whether it is malicious. Scores are computed at two
levels, as intrusion-detection papers report them:

* per flow (per record): a record is flagged by a detection when one of its
  findings names the record's source address and the record falls within the
  finding's first and last event;
* per source address: an address is malicious when any of its records is, and
  flagged when any finding names it.

On the synthetic week the attack level is added: an injected attack is found
when a finding of its detector names its entity in its time (see
:mod:`confiance.detect.evaluation`).
"""

from __future__ import annotations

import bisect
import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from confiance.detect.evaluation import CORROBORATING, score_findings
from confiance.detect.finding import finding_sources
from confiance.detect.synthetic import SOURCES, Attack, load_ground_truth
from confiance.errors import ConfigError, IngestError
from confiance.events import OcsfClass, conform
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext
from confiance.ingest.reader import open_text

FORMATS = ("synthetic", "stratosphere-zeek", "cicids2017", "ssh-auth")


@dataclass
class Labelled:
    """Events to run the detections on, and the truth per record."""

    events: pa.Table
    sources: list[str]
    times: list[float]  # epoch seconds, UTC
    malicious: list[bool]
    attacks: list[Attack] = field(default_factory=list)
    #: per record, the attack types it belongs to (synthetic only; a campaign's scan
    #: is both a port scan and part of an incident): each detection is then scored
    #: against its own attacks' records
    kinds: list[frozenset[str]] = field(default_factory=list)
    #: reference tables of the run (a threat-intelligence feed)
    references: dict[str, pa.Table] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- datasets -------------------------------------------------------------------------


def load(path: Path, fmt: str, *, labels: Path | None = None) -> Labelled:
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown dataset format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "ssh-auth":
        if labels is None:
            raise ConfigError("--labels: the ssh-auth format needs a CSV of source_ip,label")
        return _ssh_auth(path, labels)
    loader = {"synthetic": _synthetic, "stratosphere-zeek": _stratosphere, "cicids2017": _cicids}
    return loader[fmt](path)


def _epochs(events: pa.Table) -> list[float]:
    micros = pc.cast(events["@timestamp"], pa.int64())
    return [m / 1e6 for m in micros.to_pylist()]


def _synthetic(path: Path) -> Labelled:
    """A directory written by ``confiance generate`` (its ground truth included)."""
    truth = path / "ground-truth.json"
    if not truth.is_file():
        raise ConfigError(f"{path}: no ground-truth.json (write one with `confiance generate`)")
    attacks = load_ground_truth(truth)
    tables = []
    for tenant, name, fmt, _share in SOURCES.values():
        context = ParseContext(tenant=tenant, service=tenant, geo=DEMO_GEO)
        tables.append(parse_file(path / tenant / name, format=fmt, context=context).table)
    events = pa.concat_tables(tables)
    sources = events["source.ip"].to_pylist()
    times = _epochs(events)
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for attack in attacks:
        start = datetime.fromisoformat(attack.start).timestamp()
        end = datetime.fromisoformat(attack.end).timestamp()
        for source in attack.sources:
            spans.setdefault(source, []).append((start, end, attack.type))
    kinds = [
        frozenset(kind for a, b, kind in spans.get(s or "", ()) if a <= t <= b)
        for s, t in zip(sources, times, strict=True)
    ]
    malicious = [bool(k) for k in kinds]
    return Labelled(
        events,
        [s or "" for s in sources],
        times,
        malicious,
        attacks,
        kinds=kinds,
        references=synthetic_references(path),
    )


def synthetic_references(path: Path) -> dict[str, pa.Table]:
    """The week's threat-intelligence feed, as the run sees it (in clear here)."""
    from confiance.detect import intel
    from confiance.detect.synthetic import INTEL_FEED

    feed = path / INTEL_FEED[0] / INTEL_FEED[1]
    if not feed.is_file():
        return {}
    table = intel.reference_table(
        intel.load_feed(feed), feed=feed.name, pseudonymise_ip=lambda ip: ip, created=""
    )
    return {intel.REFERENCE: table}


def _zeek_records(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a Zeek log, TSV under its ``#fields`` line or JSON lines.

    Stratosphere's IoT-23 files separate their last three columns
    (``tunnel_parents label detailedlabel``) with three spaces, not a tab: both are read.
    """
    names: list[str] | None = None
    with open_text(path) as handle:
        for number, terminated in enumerate(handle, start=1):
            line = terminated.rstrip("\r\n")
            if not line:
                continue
            if line.startswith("#fields"):
                names = [n for f in line.split("\t")[1:] for n in f.split("   ")]
                continue
            if line.startswith("#"):
                continue
            if names is None:
                try:
                    record = json.loads(line)
                except ValueError:
                    raise ConfigError(
                        f"{path}:{number}: neither a #fields header nor JSON"
                    ) from None
                if not isinstance(record, dict):
                    raise ConfigError(f"{path}:{number}: not a JSON object")
                yield {k: str(v) for k, v in record.items()}
            else:
                values = [v for f in line.split("\t") for v in f.split("   ")]
                yield dict(zip(names, values, strict=False))


def _stratosphere(path: Path) -> Labelled:
    """A Stratosphere labelled conn.log: ``label`` Malicious, Benign or Background."""
    sources, times, malicious = [], [], []
    for number, record in enumerate(_zeek_records(path), start=1):
        if "label" not in record:
            raise ConfigError(
                f"{path}: record {number} has no label field (not a labelled conn.log)"
            )
        try:
            times.append(float(record["ts"]))
        except (KeyError, ValueError):
            raise ConfigError(f"{path}: record {number}, field ts: not an epoch time") from None
        sources.append(record.get("id.orig_h", ""))
        malicious.append(record["label"].strip().lower().startswith("malicious"))
    context = ParseContext(tenant="dataset", service="dataset", geo=DEMO_GEO)
    parsed = parse_file(path, format="zeek-conn", context=context)
    notes = (
        [f"{len(parsed.quarantined)} record(s) quarantined by the parser"]
        if parsed.quarantined
        else []
    )
    return Labelled(parsed.table, sources, times, malicious, notes=notes)


# CIC-IDS2017 (Sharafaldin et al., ICISSP 2018) as published by CIC: MachineLearningCVE /
# GeneratedLabelledFlows CSVs, headers with leading spaces; the re-labelled release of
# Engelen et al. (2021) names them Src IP, Dst IP … Both are accepted.
_CIC_COLUMNS = {
    "src": ("Source IP", "Src IP"),
    "sport": ("Source Port", "Src Port"),
    "dst": ("Destination IP", "Dst IP"),
    "dport": ("Destination Port", "Dst Port"),
    "proto": ("Protocol",),
    "time": ("Timestamp",),
    "duration": ("Flow Duration",),
    "packets": ("Total Fwd Packets", "Total Fwd Packet"),
    "bytes": ("Total Length of Fwd Packets", "Total Length of Fwd Packet"),
    "syn": ("SYN Flag Count",),
    "ack": ("ACK Flag Count",),
    "label": ("Label",),
}
_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp"}


def _cic_time(text: str) -> datetime:
    """CIC-IDS2017 times: local (UTC−3 in July 2017), and in the original CSVs on a
    12-hour clock without AM/PM; captures ran 8:00–17:00, so 1–7 o'clock is afternoon."""
    text = text.strip()
    for form in (
        "%Y-%m-%d %H:%M:%S.%f",
        "%Y-%m-%d %H:%M:%S",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
    ):
        try:
            local = datetime.strptime(text, form)
        except ValueError:
            continue
        if form.startswith("%d") and local.hour < 8:
            local += timedelta(hours=12)
        return (local + timedelta(hours=3)).replace(tzinfo=UTC)
    raise ValueError(text)


def _cicids(path: Path) -> Labelled:
    sources: list[str] = []
    times: list[float] = []
    malicious: list[bool] = []
    rows: dict[str, list[Any]] = {k: [] for k in _CIC_COLUMNS}
    with open_text(path) as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ConfigError(f"{path}: empty file") from None
        index: dict[str, int] = {}
        for key, names in _CIC_COLUMNS.items():
            found = next((header.index(n) for n in names if n in header), None)
            if found is None:
                raise ConfigError(f"{path}: no {names[0]!r} column (not a CIC-IDS2017 flow CSV)")
            index[key] = found
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                value = {k: row[i].strip() for k, i in index.items()}
                when = _cic_time(value["time"])
                numbers = {k: int(float(value[k])) for k in ("packets", "bytes", "syn", "ack")}
            except (IndexError, ValueError):
                raise ConfigError(f"{path}:{number}: not a CIC-IDS2017 flow row") from None
            flags = ("A" if numbers["ack"] else ".") + ("S" if numbers["syn"] else ".")
            for key, item in (
                ("src", value["src"]),
                ("dst", value["dst"]),
                ("sport", int(value["sport"] or 0)),
                ("dport", int(value["dport"] or 0)),
                ("proto", _PROTOCOLS.get(value["proto"], value["proto"])),
                ("time", when),
                ("duration", int(float(value["duration"] or 0)) * 1000),  # µs → ns
                ("packets", numbers["packets"]),
                ("bytes", numbers["bytes"]),
                ("syn", flags),
            ):
                rows[key].append(item)
            sources.append(value["src"])
            times.append(when.timestamp())
            malicious.append(value["label"].upper() != "BENIGN")
    n = len(sources)
    events = conform(
        pa.table(
            {
                "@timestamp": pa.array(rows["time"], pa.timestamp("us", tz="UTC")),
                "tenant": pa.array(["dataset"] * n),
                "event.dataset": pa.array(["cicids2017"] * n),
                "event.category": pa.array(["network"] * n),
                "event.action": pa.array(rows["syn"], pa.string()),
                "ocsf.class_uid": pa.array([int(OcsfClass.NETWORK_ACTIVITY)] * n, pa.int32()),
                "source.ip": pa.array(rows["src"], pa.string()),
                "source.port": pa.array(rows["sport"], pa.int32()),
                "destination.ip": pa.array(rows["dst"], pa.string()),
                "destination.port": pa.array(rows["dport"], pa.int32()),
                "network.transport": pa.array(rows["proto"], pa.string()),
                "network.packets": pa.array(rows["packets"], pa.int64()),
                "source.bytes": pa.array(rows["bytes"], pa.int64()),
                "event.duration": pa.array(rows["duration"], pa.int64()),
            }
        )
    )
    return Labelled(events, sources, times, malicious)


def _ssh_auth(path: Path, labels: Path) -> Labelled:
    """An OpenSSH log, with a CSV naming each attacking source (``source_ip,label``)."""
    attackers: set[str] = set()
    with open_text(labels) as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"source_ip", "label"} <= set(reader.fieldnames):
            raise ConfigError(f"{labels}: needs the columns source_ip,label")
        for row in reader:
            if row["label"].strip().lower() not in ("benign", "normal", ""):
                attackers.add(row["source_ip"].strip())
    context = ParseContext(tenant="dataset", service="dataset", geo=DEMO_GEO)
    parsed = parse_file(path, format="openssh", context=context)
    events = parsed.table
    sources = [s or "" for s in events["source.ip"].to_pylist()]
    return Labelled(events, sources, _epochs(events), [s in attackers for s in sources])


# -- scoring --------------------------------------------------------------------------


def _ratios(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "f1": None if f1 is None else round(f1, 4),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
    }


def _flagged(data: Labelled, findings: Iterable[Mapping[str, Any]]) -> tuple[list[bool], set[str]]:
    spans: dict[str, list[tuple[float, float]]] = {}
    for f in findings:
        first = datetime.fromisoformat(f["first_seen"]).timestamp()
        last = datetime.fromisoformat(f["last_seen"]).timestamp()
        for source in finding_sources(f):
            spans.setdefault(source, []).append((first, last))
    for each in spans.values():
        each.sort()
    flags = []
    for source, t in zip(data.sources, data.times, strict=True):
        listed = spans.get(source, [])
        # spans starting at or before t; any of them still open at t
        i = bisect.bisect_right(listed, (t, float("inf")))
        flags.append(any(end >= t for _start, end in listed[:i]))
    return flags, set(spans)


def _levels(
    data: Labelled, findings: Sequence[Mapping[str, Any]], detection: str | None = None
) -> dict[str, Any]:
    """Flow and source scores; a detection is held to its own attacks' records when
    the dataset says which attack each record belongs to (another attack's record
    it flags is then neither a hit nor a false alarm)."""
    flags, named = _flagged(data, findings)
    truth: list[bool | None] = list(data.malicious)
    if detection is not None and data.kinds and detection not in CORROBORATING:
        truth = [None if k and detection not in k else bool(k) for k in data.kinds]
    tp = sum(1 for f, m in zip(flags, truth, strict=True) if f and m)
    fp = sum(1 for f, m in zip(flags, truth, strict=True) if f and m is False)
    fn = sum(1 for f, m in zip(flags, truth, strict=True) if m and not f)
    bad = {s for s, m in zip(data.sources, truth, strict=True) if m}
    named -= {s for s, m in zip(data.sources, truth, strict=True) if m is None} - bad
    seen = set(data.sources)
    named &= seen  # an address the dataset never shows cannot be scored
    return {
        "flow": _ratios(tp, fp, fn),
        "source": _ratios(len(named & bad), len(named - bad), len(bad - named)),
    }


def score(
    data: Labelled, findings: Sequence[Mapping[str, Any]], analyses: Sequence[str]
) -> dict[str, Any]:
    """Per detection and overall, at flow and source-address level (and attack level)."""
    attack_scores = (
        score_findings(findings, data.attacks, pseudonym=lambda _kind, value: value)
        if data.attacks
        else {}
    )
    detections: dict[str, Any] = {}
    for name in analyses:
        own = [f for f in findings if f["detector"] == name]
        result = {"findings": len(own)} | _levels(data, own, name)
        if name in attack_scores and (attack_scores[name].attacks or name in CORROBORATING):
            s = attack_scores[name]
            result["attack"] = {
                "attacks": s.attacks,
                "detected": s.detected,
                "findings": s.findings,
                "precision": round(s.precision, 4),
                "recall": round(s.recall, 4) if s.attacks else None,
                "f1": round(s.f1, 4) if s.attacks else None,
            }
        detections[name] = result
    overall = {"findings": len(findings)} | _levels(data, findings)
    if data.attacks:
        hunted = [s for s in attack_scores.values() if s.attacks]
        overall["attack"] = {
            "attacks": sum(s.attacks for s in hunted),
            "detected": sum(s.detected for s in hunted),
            "min_recall": round(min(s.recall for s in hunted), 4),
            "min_precision": round(min(s.precision for s in attack_scores.values()), 4),
        }
    return {
        "records": len(data.sources),
        "malicious_records": sum(data.malicious),
        "malicious_sources": len(
            {s for s, m in zip(data.sources, data.malicious, strict=True) if m}
        ),
        "detections": detections,
        "overall": overall,
        "notes": data.notes,
    }


def evaluate(
    path: Path,
    fmt: str,
    *,
    labels: Path | None = None,
    analyses: Sequence[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Load a labelled dataset, run the detections on it (in clear, here), score them."""
    from confiance.detect import jobs
    from confiance.detect.registry import detectors_of

    try:
        data = load(path, fmt, labels=labels)
    except IngestError as exc:
        raise ConfigError(str(exc)) from None
    except (OSError, EOFError) as exc:  # a truncated or corrupt compressed file
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    names = list(analyses) if analyses else detectors_of()
    findings = jobs.run(
        data.events, analyses=names, parameters=parameters or {}, references=data.references
    )
    return {"dataset": str(path), "format": fmt, "events": data.events.num_rows} | score(
        data, findings, names
    )
