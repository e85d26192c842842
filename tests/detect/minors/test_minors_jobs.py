"""Protection-of-minors analyses as the runtime runs them, and the contract gate before them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from confiance.contracts import Contract
from confiance.detect import jobs
from confiance.detect.minors import KeyedBlocklist
from confiance.errors import ConfigError, ContractError, DetectError
from confiance.events import conform

KEY = base64.b64encode(
    X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()
PUPIL, OTHER = "u_" + "a" * 24, "u_" + "b" * 24


def _events() -> pa.Table:
    at = [datetime(2026, 11, 2, 10, m, tzinfo=UTC) for m in range(6)]
    return conform(
        pa.table(
            {
                "@timestamp": at,
                "tenant": ["lycees"] * 6,
                "event.dataset": ["squid"] * 6,
                "ocsf.class_uid": [4002] * 6,
                "user.name": [PUPIL, PUPIL, PUPIL, OTHER, OTHER, None],
                "source.ip": ["n4_0a000001"] * 6,
                "url.domain": [
                    "www.interdit.example",
                    "www.google.fr",
                    "www.google.fr",
                    "www.google.fr",
                    "www.education.gouv.fr",
                    "www.google.fr",
                ],
                "url.path": ["/galerie/1.jpg", "/search", "/search", "/search", "/", "/search"],
                "url.search_terms": [
                    None,
                    "je veux mourir",
                    "comment se suicider sans douleur",
                    "paroles je veux mourir chanson",
                    None,
                    "je suis harcelée au collège",
                ],
            }
        )
    )


@pytest.fixture(scope="module")
def listed() -> tuple[pa.Table, str]:
    blocklist, index = KeyedBlocklist.prepare(["interdit.example"], where="liste")
    return blocklist.to_table(), index[0].entry_id


def test_list_hits_and_text_signals(listed) -> None:
    table, entry = listed
    findings = jobs.run(
        _events(),
        analyses=["blocklist_access", "search_signals"],
        parameters={},
        references={"blocklist": table},
    )
    hits = [f for f in findings if f["detector"] == "blocklist_access"]
    assert [(h["entity"]["value"], h["evidence"]["list_entry"]) for h in hits] == [(PUPIL, entry)]
    assert "interdit" not in json.dumps(hits)  # the list entry is named by its keyed id only
    signals = {
        (f["entity"]["value"], f["evidence"]["signal_class"]): f
        for f in findings
        if f["detector"] == "search_signals"
    }
    assert set(signals) == {(PUPIL, "distress"), ("n4_0a000001", "harassment")}
    distress = signals[(PUPIL, "distress")]
    assert distress["severity"] == "critical" and distress["evidence"]["searches"] == 2
    assert distress["evidence"]["reasons"] == ["distress.method", "distress.want-to-die"]
    assert distress["evidence"]["review"] == "required"


def test_the_list_must_be_among_the_datasets() -> None:
    with pytest.raises(DetectError, match="needs the authority's list"):
        jobs.run(_events(), analyses=["blocklist_access"], parameters={})


def test_other_analyses_never_see_search_terms() -> None:
    kept = jobs._restricted_fields_withheld(_events(), ["search_signals"])
    blanked = jobs._restricted_fields_withheld(_events(), ["brute_force"])
    assert kept.column("url.search_terms").null_count == 2
    assert blanked.column("url.search_terms").null_count == 6
    assert blanked.column("url.domain") == kept.column("url.domain")


def minors_contract(**changes) -> Contract:
    document = {
        "id": "protection-mineurs",
        "version": 1,
        "purpose": "Protection of pupils: known illegal content and distress signals.",
        "legal_basis": {
            "article": "Code de l'éducation, L. 121-4-1; CASF L. 226-3",
            "text": "Protection of children in schools; duty to report children at risk.",
        },
        "parties": [
            {"tenant": "lycees", "role": "data-owner"},
            {"tenant": "autorite", "role": "data-owner"},
        ],
        "datasets": [
            {"tenant": "lycees", "source": "proxy"},
            {"tenant": "autorite", "source": "blocklist"},
        ],
        "analyses": [
            {"detector": "blocklist_access", "code_digest": "sha256:" + "a" * 64},
            {"detector": "search_signals", "code_digest": "sha256:" + "c" * 64},
        ],
        "runtime_measurement": "sha256:" + "b" * 64,
        "recipients": [
            {
                "name": "autorite",
                "tenant": "autorite",
                "public_key": KEY,
                "scope": "all",
                "analyses": ["blocklist_access"],
            },
            {
                "name": "referent-lycees",
                "tenant": "lycees",
                "public_key": KEY,
                "scope": "own-data",
                "analyses": ["blocklist_access", "search_signals"],
            },
        ],
        "output_constraints": {"min_group_size": 10},
        "retention_days": 30,
        "valid_from": "2026-01-01",
        "valid_until": "2027-01-01",
        "contract_class": "protection-of-minors",
        "safeguarding": {
            "reviewer_role": "référent protection de l'enfance",
            "reviewers": ["referent-lycees"],
        },
    }
    for key, value in changes.items():
        if value is None:
            document.pop(key)
        else:
            document[key] = value
    return Contract.model_validate(document)


def test_a_contract_of_the_right_class_is_admitted() -> None:
    jobs.admit(minors_contract())


SOC = {"name": "soc-commun", "public_key": KEY, "scope": "all", "analyses": ["search_signals"]}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"contract_class": None}, "needs a contract of class protection-of-minors"),
        ({"safeguarding": None}, "needs a safeguarding section naming its reviewers"),
        ({"retention_days": 365}, "retention of 365 days exceeds the 90 allowed"),
        ({"output_constraints": {"min_group_size": 5}}, "minimum group size 5 is below the 10"),
        (
            {"recipients": [*minors_contract().canonical()["recipients"], SOC]},
            "recipient soc-commun is not a party's own recipient",
        ),
        (
            {"safeguarding": {"reviewer_role": "référent", "reviewers": ["autorite"]}},
            "recipient referent-lycees is not a named reviewer",
        ),
        (
            {"safeguarding": {"reviewer_role": "référent", "reviewers": ["referent-lycees", "x"]}},
            "reviewers \\['x'\\] are not recipients",
        ),
    ],
)
def test_the_runtime_refuses_with_the_reason(changes, reason) -> None:
    with pytest.raises(ContractError, match=reason):
        jobs.admit(minors_contract(**changes))


def test_dns_queries_are_matched_against_the_list(listed) -> None:
    table, entry = listed
    dns = conform(
        pa.table(
            {
                "@timestamp": [datetime(2026, 11, 2, 11, 0, tzinfo=UTC)] * 2,
                "tenant": ["lycees"] * 2,
                "event.dataset": ["bind-querylog"] * 2,
                "ocsf.class_uid": [4003] * 2,
                "source.ip": ["n4_0a000002", "n4_0a000003"],
                "dns.question.name": ["cdn.interdit.example", "www.education.gouv.fr"],
            }
        )
    )
    findings = jobs.run(
        dns, analyses=["blocklist_access"], parameters={}, references={"blocklist": table}
    )
    assert [(f["entity"]["value"], f["evidence"]["list_entry"]) for f in findings] == [
        ("n4_0a000002", entry)
    ]


def test_the_runtime_refuses_a_parameter_no_analysis_takes() -> None:
    document = minors_contract().canonical()
    document["analyses"][0]["parameters"] = {"min_severty": "high"}
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) min_severty"):
        jobs.admit(Contract.model_validate(document))
