"""Keyed pseudonyms: deterministic across tenants, typed, and reversible only by owners."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from confiance.errors import PseudonymError
from confiance.keys import SoftwareKeyStore
from confiance.pseudonym import (
    IdentifierKind,
    KeyedPseudonymService,
    Pseudonymiser,
    ReidentificationTable,
)

KEY = bytes(range(32))


def test_same_identifier_same_pseudonym_at_every_tenant() -> None:
    service = KeyedPseudonymService(KEY)
    academie, region = Pseudonymiser(service), Pseudonymiser(service)
    a = academie.column(IdentifierKind.ACCOUNT, pa.array(["Lea.Martin", None, "paul.roux"]))
    r = region.column(IdentifierKind.ACCOUNT, pa.array([" lea.martin "]))
    assert a[0].as_py() == r[0].as_py() and a[0].as_py().startswith("u_")
    assert a[1].as_py() is None
    ip = academie.one(IdentifierKind.IP, "2001:DB8:0:0::1")
    assert ip == region.one(IdentifierKind.IP, "2001:db8::1") and ip.startswith("h_")
    assert academie.one(IdentifierKind.ACCOUNT, "10.0.0.1") != academie.one(
        IdentifierKind.IP, "10.0.0.1"
    )  # kinds are separate domains
    assert Pseudonymiser(KeyedPseudonymService(bytes(32))).one(IdentifierKind.IP, "10.0.0.1") != (
        academie.one(IdentifierKind.IP, "10.0.0.1")
    )


def test_the_service_is_asked_once_per_distinct_identifier() -> None:
    calls: list[int] = []

    class Counting(KeyedPseudonymService):
        def pseudonymise(self, kind: IdentifierKind, values: object) -> list[str]:  # type: ignore[override]
            calls.append(len(values))  # type: ignore[arg-type]
            return super().pseudonymise(kind, values)  # type: ignore[arg-type]

    owner = Pseudonymiser(Counting(KEY))
    owner.column(IdentifierKind.IP, pa.array(["10.0.0.1"] * 1000 + ["10.0.0.2"]))
    owner.column(IdentifierKind.IP, pa.array(["10.0.0.2", "10.0.0.3"]))
    assert calls == [2, 1]


def test_bad_input_is_refused_without_echoing_it() -> None:
    with pytest.raises(PseudonymError, match="at least 32 bytes"):
        KeyedPseudonymService(b"short")
    with pytest.raises(PseudonymError, match="not an IP address: 9-character value") as info:
        Pseudonymiser(KeyedPseudonymService(KEY)).one(IdentifierKind.IP, "lea.roux!")
    assert "lea.roux" not in str(info.value)
    assert "key" not in repr(KeyedPseudonymService(KEY)).replace("<key hidden>", "")


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
