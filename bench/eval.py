"""Detection quality, side by side in one run: our detections against the SigmaHQ rules alone.

* the synthetic week (fixed seed), every attack type injected amid its noise:
  per detection, precision and recall per injected attack, per flow and per
  source address;
* the reference, on the same data: the SigmaHQ rules for our log families run
  alone (what a Zircolite-style Sigma pipeline gives);
* the public labelled data in the repository: Stratosphere's NjRAT capture
  (CTU-Malware-Capture-Botnet-230-1, first 1,000 lines) and loghub's OpenSSH
  sample, its 24 failing sources labelled attackers (tests/data/README.md).

    python bench/eval.py [--quick] [--seed S]

Last line: JSON with ``min_recall`` and ``min_precision`` over the detections
(synthetic, per injected attack), and the other figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from confiance.detect import generate
from confiance.detect.labelled import evaluate
from machine import describe

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _fmt(value: Any) -> str:
    return "  —  " if value is None else f"{value:5.2f}"


def _table(title: str, report: dict[str, Any]) -> None:
    print(f"\n{title}: {report['records']} records, {report['malicious_records']} malicious "
          f"from {report['malicious_sources']} source(s)")  # fmt: skip
    print(f"  {'detection':22} {'found':>7} {'P':>6} {'R':>6}   flow P/R/F1{'':7} source P/R/F1")
    rows = [*report["detections"].items(), ("overall", report["overall"])]
    for name, r in rows:
        attack = r.get("attack", {})
        found = f"{attack['detected']}/{attack['attacks']}" if "detected" in attack else ""
        ap = _fmt(attack.get("precision")) if "precision" in attack else "     "
        ar = _fmt(attack.get("recall")) if "recall" in attack else "     "
        flow = " ".join(_fmt(r["flow"][k]) for k in ("precision", "recall", "f1"))
        source = " ".join(_fmt(r["source"][k]) for k in ("precision", "recall", "f1"))
        print(f"  {name:22} {found:>7} {ap:>6} {ar:>6}   {flow}   {source}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 60,000-event week")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    events = 60_000 if args.quick else 500_000
    print("machine:", json.dumps(describe()))
    with tempfile.TemporaryDirectory() as tmp:
        week = Path(tmp) / "week"
        t0 = time.perf_counter()
        generate(week, events=events, seed=args.seed)
        t1 = time.perf_counter()
        ours = evaluate(week, "synthetic")
        t2 = time.perf_counter()
        sigma_only = evaluate(week, "synthetic", analyses=["sigma"])
        model = evaluate(week, "synthetic", analyses=["anomaly"])  # opt-in, alone
    print(f"synthetic week: {events} events, seed {args.seed} (generated in {t1 - t0:.1f} s, "
          f"detected and scored in {t2 - t1:.1f} s)")  # fmt: skip
    _table("our detections (synthetic)", ours)
    _table("reference: the SigmaHQ rules alone (synthetic)", sigma_only)
    _table("opt-in: the anomaly model alone (synthetic)", model)

    labels = DATA / "OpenSSH_2k.labels.csv"  # every failing source is an attacker
    stratosphere = evaluate(
        DATA / "001-zeek-scenario-malicious_labeled-conn.log", "stratosphere-zeek"
    )
    ssh = evaluate(DATA / "OpenSSH_2k.log", "ssh-auth", labels=labels)
    _table("Stratosphere CTU-Malware-Capture-Botnet-230-1 (NjRAT), first 1,000 lines", stratosphere)
    _table("loghub OpenSSH_2k, 24 attacking sources, 1 benign", ssh)
    print(
        "\nPublished baselines: none exists for these two small excerpts; on the full public "
        "sets (CIC-IDS2017, CTU-13) run `confiance eval --format cicids2017|stratosphere-zeek` "
        "on the files you download."
    )

    attack = ours["overall"]["attack"]
    per_detection = {
        name: {
            "recall": r["attack"]["recall"],
            "precision": r["attack"]["precision"],
            "flow_f1": r["flow"]["f1"],
            "source_f1": r["source"]["f1"],
        }
        for name, r in ours["detections"].items()
        if "attack" in r and r["attack"]["attacks"]
    }
    figures = {
        "min_recall": attack["min_recall"],
        "min_precision": attack["min_precision"],
        "attacks": attack["attacks"],
        "attacks_detected": attack["detected"],
        "synthetic_events": events,
        "seed": args.seed,
        "flow_f1": ours["overall"]["flow"]["f1"],
        "source_f1": ours["overall"]["source"]["f1"],
        "sigma_only_source_recall": sigma_only["overall"]["source"]["recall"],
        "sigma_only_flow_recall": sigma_only["overall"]["flow"]["recall"],
        "anomaly_alone_findings": model["overall"]["findings"],
        "anomaly_alone_source_precision": model["overall"]["source"]["precision"],
        "stratosphere_source_f1": stratosphere["overall"]["source"]["f1"],
        "stratosphere_flow_f1": stratosphere["overall"]["flow"]["f1"],
        "openssh_source_f1": ssh["overall"]["source"]["f1"],
        "openssh_source_recall": ssh["overall"]["source"]["recall"],
        "detections": per_detection,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
