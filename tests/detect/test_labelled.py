"""`confiance eval` on labelled data: the synthetic week and the public datasets' formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from confiance.detect import generate
from confiance.detect.finding import finding_sources
from confiance.detect.labelled import evaluate
from confiance.errors import ConfigError

DATA = Path(__file__).parent.parent / "data"


def _eval(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "confiance.cli", "eval", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inputs = tmp_path_factory.mktemp("week")
    generate(inputs, events=30_000, seed=3)
    return inputs


def test_synthetic_week_scores_every_detection_at_three_levels(week: Path) -> None:
    report = _eval("--format", "synthetic", "--dataset", str(week))
    attack = report["overall"]["attack"]
    assert (attack["min_recall"], attack["min_precision"]) == (1.0, 1.0)
    assert attack["detected"] == attack["attacks"] == 61
    for name, scores in report["detections"].items():
        for level in ("flow", "source"):
            assert {"precision", "recall", "f1"} <= set(scores[level]), name
    # each detection is held to its own attack's records: a port scan finds scanners only
    # (four: three scans and the campaign's)
    scan = report["detections"]["port_scan"]
    assert scan["source"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "true_positives": 4,
        "false_positives": 0,
        "false_negatives": 0,
    }
    assert report["overall"]["source"]["recall"] == 1.0
    # the stuffing from 40 addresses, the SYN flood 100, the portal's flood 30
    assert report["malicious_sources"] == 209
    # a campaign's scan is a port scan and part of an incident: each detection gets it
    assert report["detections"]["incidents"]["source"]["recall"] == 1.0


def test_stratosphere_labelled_conn_log() -> None:
    """CTU-Malware-Capture-Botnet-230-1 (NjRAT): 244 malicious flows from one host."""
    report = _eval(
        "--format",
        "stratosphere-zeek",
        "--dataset",
        str(DATA / "001-zeek-scenario-malicious_labeled-conn.log"),
    )
    assert (report["records"], report["malicious_records"], report["malicious_sources"]) == (
        992,
        244,
        1,
    )
    beacon = report["detections"]["beaconing"]
    assert beacon["source"]["precision"] == beacon["source"]["recall"] == 1.0
    # the host's own DNS lookups during the beaconing are flagged too: flow precision says so
    assert beacon["flow"]["recall"] > 0.95 and beacon["flow"]["precision"] < 0.9
    assert report["detections"]["port_scan"]["flow"]["precision"] is None  # never fired


def test_an_unlabelled_zeek_log_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"002-zeek.*has no label field"):
        evaluate(DATA / "002-zeek-scenario-port-scanning_conn.log", "stratosphere-zeek")
    with pytest.raises(ConfigError, match="unknown dataset format 'kdd99'"):
        evaluate(tmp_path, "kdd99")


# CIC-IDS2017 GeneratedLabelledFlows header (columns as published, leading spaces included)
CIC_HEADER = (
    "Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, Timestamp,"
    " Flow Duration, Total Fwd Packets, Total Backward Packets,Total Length of Fwd Packets,"
    " Total Length of Bwd Packets, FIN Flag Count, SYN Flag Count, RST Flag Count,"
    " PSH Flag Count, ACK Flag Count, Label"
)


def _cic_row(src: str, dst: str, dport: int, when: str, syn: int, ack: int, label: str) -> str:
    flow = f"{dst}-{src}-{dport}-40000-6"
    return f"{flow},{src},40000,{dst},{dport},6,{when},35,1,1,0,0,0,{syn},0,0,{ack},{label}"


def test_cicids2017_flows(tmp_path: Path) -> None:
    rows = [CIC_HEADER]
    # the PortScan of Friday afternoon, written on a 12-hour clock: 1:55 is 13:55
    rows += [
        _cic_row("172.16.0.1", "192.168.10.50", port, "7/7/2017 1:55", 1, 0, "PortScan")
        for port in range(1, 121)
    ]
    rows += [
        _cic_row("192.168.10.5", f"104.16.{i}.1", 443, "7/7/2017 1:56", 1, 1, "BENIGN")
        for i in range(80)
    ]
    rows += [_cic_row("192.168.10.8", "192.168.10.3", 53, "7/7/2017 9:10", 0, 0, "BENIGN")]
    path = tmp_path / "Friday-WorkingHours-Afternoon-PortScan.pcap_ISCX.csv"
    path.write_bytes("\n".join(rows).encode() + b"\n")
    report = evaluate(path, "cicids2017")
    assert (report["records"], report["malicious_records"]) == (201, 120)
    scan = report["detections"]["port_scan"]
    assert scan["source"]["precision"] == scan["source"]["recall"] == 1.0
    assert scan["flow"]["recall"] == 1.0
    # the re-labelled release (Engelen et al.) names the columns Src IP, Dst IP …
    relabelled = CIC_HEADER.replace("Source", "Src").replace("Destination", "Dst")
    path.write_text("\n".join([relabelled, *rows[1:]]) + "\n")
    assert evaluate(path, "cicids2017")["detections"]["port_scan"]["findings"] == 1


def test_cicids2017_bad_rows_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    good = _cic_row("10.0.0.1", "10.0.0.2", 80, "3/7/2017 9:00", 1, 1, "BENIGN")
    path.write_text(f"{CIC_HEADER}\n{good}\n{good.replace('9:00', 'lunchtime')}\n")
    with pytest.raises(ConfigError, match=r"flows.csv:3: not a CIC-IDS2017 flow row"):
        evaluate(path, "cicids2017")
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ConfigError, match="no 'Source IP' column"):
        evaluate(path, "cicids2017")


def test_ssh_auth_log_with_labelled_sources() -> None:
    report = _eval(
        "--format",
        "ssh-auth",
        "--dataset",
        str(DATA / "OpenSSH_2k.log"),
        "--labels",
        str(DATA / "OpenSSH_2k.labels.csv"),
    )
    # 523 authentication records; all but the one accepted login come from attackers
    assert (report["records"], report["malicious_records"], report["malicious_sources"]) == (
        523,
        522,
        24,
    )
    overall = report["overall"]["source"]
    # four sources are loud enough for any threshold; twenty tried a handful of passwords
    assert (overall["precision"], overall["true_positives"]) == (1.0, 4)
    assert report["detections"]["sigma"]["source"]["true_positives"] == 2
    with pytest.raises(ConfigError, match="needs a CSV of source_ip,label"):
        evaluate(DATA / "OpenSSH_2k.log", "ssh-auth")


def test_a_finding_names_its_attacking_addresses() -> None:
    def finding(field: str, value: str, evidence: dict) -> dict:
        return {"entity": {"field": field, "value": value}, "evidence": evidence}

    assert finding_sources(finding("source.ip", "1.2.3.4", {})) == {"1.2.3.4"}
    assert finding_sources(finding("user.name", "u_1", {"sources": ["5.6.7.8"]})) == {"5.6.7.8"}
    travel = {"hops": [{"sources": ["86.192.1.1", "113.160.2.2"]}]}
    assert finding_sources(finding("user.name", "u_1", travel)) == {"113.160.2.2"}
    # out and back: the way home is the owner's address, not the intruder's
    there = {"from": "FR AS3215", "to": "BR AS26599", "sources": ["86.192.1.1", "177.32.2.2"]}
    back = {"from": "BR AS26599", "to": "FR AS3215", "sources": ["177.32.2.2", "86.192.1.1"]}
    trip = {"hops": [there, back]}
    assert finding_sources(finding("user.name", "u_1", trip)) == {"177.32.2.2"}
