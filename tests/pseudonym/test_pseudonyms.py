"""Owner-side pseudonyms over the threshold service: stable across tenants, typed,
prefix-preserving for addresses, cached, and reversible only by their owner."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pyarrow as pa
import pytest

from confiance.errors import PseudonymError
from confiance.keys import SoftwareKeyStore
from confiance.pseudonym import (
    Evaluator,
    IdentifierKind,
    Pseudonymiser,
    ReidentificationTable,
    ThresholdPseudonymService,
    oprf,
    split_key,
)


def _service(
    tenant: str, key: bytes, evaluators: list[Evaluator] | None = None
) -> ThresholdPseudonymService:
    if evaluators is None:
        shares = split_key(key, threshold=2, indices=[1, 2, 3])
        evaluators = [
            Evaluator(f"e{i}", i, shares[i], {"academie": 10**6, "region": 10**6})
            for i in (1, 2, 3)
        ]
    return ThresholdPseudonymService(tenant=tenant, evaluators=evaluators, threshold=2)


@pytest.fixture(scope="module")
def key() -> bytes:
    return oprf.random_scalar()


def test_same_identifier_same_pseudonym_at_every_tenant(key: bytes) -> None:
    academie = Pseudonymiser(_service("academie", key))
    region = Pseudonymiser(_service("region", key))  # other shares of the same key
    a = academie.column(IdentifierKind.ACCOUNT, pa.array(["Lea.Martin", None, "paul.roux"]))
    r = region.column(IdentifierKind.ACCOUNT, pa.array([" lea.martin "]))
    assert a[0].as_py() == r[0].as_py() and a[0].as_py().startswith("u_")
    assert a[1].as_py() is None
    ip = academie.one(IdentifierKind.IP, "2001:DB8:0:0::1")
    assert ip == region.one(IdentifierKind.IP, "2001:db8::1") and ip.startswith("n6_")
    other = Pseudonymiser(_service("academie", oprf.random_scalar()))
    assert other.one(IdentifierKind.ACCOUNT, "lea.martin") != a[0].as_py()


def test_addresses_keep_their_shared_prefixes(key: bytes) -> None:
    owner = Pseudonymiser(_service("academie", key))
    addresses = ["193.48.10.1", "193.48.10.200", "193.48.11.7", "10.0.0.1"]
    pseudonyms = owner.column(IdentifierKind.IP, pa.array(addresses)).to_pylist()
    assert all(p.startswith("n4_") for p in pseudonyms)
    values = [int(p[3:], 16) for p in pseudonyms]
    raw = [int(ipaddress.IPv4Address(a)) for a in addresses]

    def common(u: int, v: int) -> int:
        return 32 - (u ^ v).bit_length()

    for i in range(4):
        for j in range(4):
            assert common(values[i], values[j]) == common(raw[i], raw[j])


def test_the_reidentification_table_is_the_cache(key: bytes, tmp_path: Path) -> None:
    owner = SoftwareKeyStore.create(tmp_path / "a.json", owner="academie", passphrase="p")
    table = ReidentificationTable(tmp_path / "reid.json", owner)
    first = Pseudonymiser(_service("academie", key))
    first.column(IdentifierKind.ACCOUNT, pa.array(["a.b", "c.d"]))
    first.column(IdentifierKind.IP, pa.array(["10.0.0.1"]))
    table.update(first.mapping)
    warm = Pseudonymiser(_service("academie", key), known=table.entries())
    warm.column(IdentifierKind.ACCOUNT, pa.array(["a.b", "c.d", "e.f"]))
    assert warm.evaluated == 1  # only the new identifier was evaluated


def test_bad_input_is_refused_without_echoing_it(key: bytes) -> None:
    with pytest.raises(PseudonymError, match="not an IP address: 9-character value") as info:
        Pseudonymiser(_service("academie", key)).one(IdentifierKind.IP, "lea.roux!")
    assert "lea.roux" not in str(info.value)
    with pytest.raises(PseudonymError, match="no OPRF evaluator"):
        ThresholdPseudonymService(tenant="academie", evaluators=[], threshold=2)
    with pytest.raises(PseudonymError, match="not a pseudonym"):
        IdentifierKind.of("lea.martin")


def test_reidentification_table_is_encrypted_and_owner_only(tmp_path: Path) -> None:
    owner = SoftwareKeyStore.create(tmp_path / "a.json", owner="academie", passphrase="p")
    other = SoftwareKeyStore.create(tmp_path / "b.json", owner="region", passphrase="p")
    table = ReidentificationTable(tmp_path / "reid.json", owner)
    table.update({"u_abc": "lea.martin"})
    assert b"lea.martin" not in (tmp_path / "reid.json").read_bytes()
    reopened = ReidentificationTable(tmp_path / "reid.json", owner)
    assert reopened.resolve(["u_abc", "u_other"]) == {"u_abc": "lea.martin"}
    with pytest.raises(Exception, match="cannot unwrap"):
        ReidentificationTable(tmp_path / "reid.json", other)


def test_the_field_policy_touches_every_identifying_field(key: bytes) -> None:
    from confiance.events import FIELD_POLICY, FieldTreatment, conform
    from confiance.pseudonym import apply_policy

    table = conform(
        pa.table(
            {
                "@timestamp": pa.array([0, 0], pa.timestamp("us", tz="UTC")),
                "tenant": ["t", "t"],
                "event.dataset": ["d", "d"],
                "ocsf.class_uid": pa.array([4009, 4009], pa.int32()),
                "user.name": ["lea.martin", None],
                "source.ip": ["10.0.0.1", "2001:db8::5"],
                "destination.ip": ["172.16.0.2", None],
                "url.domain": ["193.48.10.1", "www.ac.fr"],
                "source.mac": ["00-1A-2B-3C-4D-5E", "00:1a:2b:3c:4d:5e"],
                "email.from.address": ["Lea.Martin@ac-normandie.fr", None],
                "email.to.address": ["proviseur@lycee.example", "x@y.z"],
            }
        )
    )
    out = apply_policy(table, Pseudonymiser(_service("academie", key))).to_pydict()
    assert out["user.name"][0].startswith("u_") and out["user.name"][1] is None
    assert out["source.ip"][0].startswith("n4_") and out["source.ip"][1].startswith("n6_")
    assert out["url.domain"][0].startswith("n4_") and out["url.domain"][1] == "www.ac.fr"
    assert out["source.mac"][0] == out["source.mac"][1] and out["source.mac"][0].startswith("m_")
    assert out["email.from.address"][0].startswith("e_")
    assert all(v.startswith("e_") for v in out["email.to.address"])
    kept = {FieldTreatment.GENERALISED, FieldTreatment.RESTRICTED}
    identifying = {f for f, t in FIELD_POLICY.items() if t not in kept}
    assert identifying == {
        "user.name",
        "source.ip",
        "destination.ip",
        "url.domain",
        "source.mac",
        "email.from.address",
        "email.to.address",
    }
