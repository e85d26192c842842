"""The ledger store: appends, verification, and every kind of tampering named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confiance.errors import LedgerError, LedgerVerificationError
from confiance.ledger import Entry, Ledger, NoteSigner, NoteVerifier, SplitViewError
from confiance.ledger.merkle import leaf_hash, root_hash, verify_consistency, verify_inclusion

ORIGIN = "test.example/ledger"


@pytest.fixture
def parties() -> dict[str, Ed25519PrivateKey]:
    return {name: Ed25519PrivateKey.generate() for name in ("alice", "bob", "op")}


def _keys(parties: dict) -> dict:
    return {k: v.public_key() for k, v in parties.items()}


def _ledger(tmp_path: Path, parties: dict, n: int = 6) -> Ledger:
    ledger = Ledger(tmp_path / "ledger", origin=ORIGIN)
    ledger.create()
    operator = NoteSigner(ORIGIN, parties["op"])
    for i in range(n):
        actor = "alice" if i % 2 else "bob"
        ledger.record(
            kind="test", actor=actor, body={"i": i}, signer=parties[actor], operator=operator
        )
    return ledger


def _verify(ledger: Ledger, parties: dict) -> None:
    ledger.verify(
        actor_keys=_keys(parties), operator=NoteVerifier(ORIGIN, parties["op"].public_key())
    )


def _sql(ledger: Ledger, *statements: str) -> None:
    """Tamper as an attacker with file access would: triggers dropped first."""
    con = sqlite3.connect(ledger.path)
    with con:
        for trigger in (
            "entries_append_only_update",
            "entries_append_only_delete",
            "nodes_append_only_update",
            "nodes_append_only_delete",
        ):
            con.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in statements:
            con.execute(statement)
    con.close()


def test_a_fresh_ledger_verifies_and_proves(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    _verify(ledger, parties)
    leaves = [e.leaf() for e in ledger.entries()]
    assert ledger.root() == root_hash(leaves) and ledger.size == 6
    size, proof = ledger.inclusion_proof(3)
    verify_inclusion(index=3, size=size, leaf=leaves[3], proof=proof, root=ledger.root())
    new, proof = ledger.consistency_proof(2)
    verify_consistency(
        old=2, new=new, old_root=root_hash(leaves[:2]), new_root=ledger.root(), proof=proof
    )
    with pytest.raises(LedgerError, match="already exists"):
        ledger.create()


def test_batches_share_one_checkpoint(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties, n=1)
    batch = [
        Entry.sign(kind="k", actor="bob", body={"i": i}, key=parties["bob"]) for i in range(50)
    ]
    assert ledger.append(
        batch, actor_keys=_keys(parties), operator=NoteSigner(ORIGIN, parties["op"])
    ) == list(range(1, 51))
    report = ledger.verify(
        actor_keys=_keys(parties), operator=NoteVerifier(ORIGIN, parties["op"].public_key())
    )
    assert (report.entries, report.checkpoints) == (51, 2)


def test_unsigned_or_unknown_entries_are_refused_at_append(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties, n=0)
    operator = NoteSigner(ORIGIN, parties["op"])
    forged = Entry.sign(kind="k", actor="alice", body={}, key=parties["bob"])
    with pytest.raises(LedgerError, match="entry by alice: signature does not verify"):
        ledger.append([forged], actor_keys=_keys(parties), operator=operator)
    stranger = Entry.sign(kind="k", actor="eve", body={}, key=parties["bob"])
    with pytest.raises(LedgerError, match="unknown actor 'eve'"):
        ledger.append([stranger], actor_keys=_keys(parties), operator=operator)
    assert ledger.size == 0


def test_the_store_refuses_updates_and_deletes(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    con = sqlite3.connect(ledger.path)
    for statement in (
        "UPDATE entries SET data = x'00' WHERE idx = 1",
        "DELETE FROM entries WHERE idx = 1",
        "DELETE FROM nodes",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(statement)
    con.close()


def test_modified_entry_is_named(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    _sql(ledger, "UPDATE entries SET data = replace(data, '\"i\":3', '\"i\":9') WHERE idx = 3")
    with pytest.raises(LedgerVerificationError, match="entry 3: signature of alice"):
        _verify(ledger, parties)


def test_deleted_entry_is_named(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    _sql(ledger, "DELETE FROM entries WHERE idx = 2")
    with pytest.raises(LedgerVerificationError, match="entry 2: missing") as info:
        _verify(ledger, parties)
    assert info.value.index == 2


def test_reordered_entries_are_named(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    _sql(
        ledger,
        "UPDATE entries SET idx = -1 WHERE idx = 1",
        "UPDATE entries SET idx = 1 WHERE idx = 4",
        "UPDATE entries SET idx = 4 WHERE idx = -1",
    )
    with pytest.raises(LedgerVerificationError, match="entry 1:"):
        _verify(ledger, parties)


def test_truncation_is_detected_by_the_checkpoints(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    _sql(
        ledger,
        "DELETE FROM entries WHERE idx >= 4",
        "DELETE FROM nodes WHERE ((idx + 1) << level) > 4",
    )
    with pytest.raises(LedgerVerificationError, match="entry 4: missing") as info:
        _verify(ledger, parties)
    assert info.value.index == 4


def test_a_forged_entry_appended_without_checkpoint(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    forged = Entry.sign(kind="test", actor="bob", body={"i": 99}, key=parties["bob"])
    _sql(
        ledger,
        f"INSERT INTO entries VALUES (6, x'{forged.line().hex()}')",
        f"INSERT INTO nodes VALUES (0, 6, x'{leaf_hash(forged.line()).hex()}')",
    )
    with pytest.raises(LedgerVerificationError, match="entry 6: not covered"):
        _verify(ledger, parties)


def test_a_substituted_signed_entry_breaks_the_checkpoint(tmp_path: Path, parties: dict) -> None:
    # An actor re-signs a different statement in place: only the signed tree shows it.
    ledger = _ledger(tmp_path, parties)
    other = Entry.sign(kind="test", actor="bob", body={"i": 99}, key=parties["bob"])
    _sql(ledger, f"UPDATE entries SET data = x'{other.line().hex()}' WHERE idx = 2")
    with pytest.raises(LedgerVerificationError, match="entry 2: does not match the signed"):
        _verify(ledger, parties)


def test_a_tampered_tree_node_is_named(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    _sql(ledger, "UPDATE nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 1")
    with pytest.raises(LedgerVerificationError, match=r"entry 2: stored tree node \(1, 1\)"):
        _verify(ledger, parties)


def test_unknown_actor_and_forged_checkpoint(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    with pytest.raises(LedgerVerificationError, match="unknown actor"):
        ledger.verify(
            actor_keys={"alice": parties["alice"].public_key()},
            operator=NoteVerifier(ORIGIN, parties["op"].public_key()),
        )
    with pytest.raises(LedgerVerificationError, match="checkpoint"):
        ledger.verify(
            actor_keys=_keys(parties),
            operator=NoteVerifier(ORIGIN, Ed25519PrivateKey.generate().public_key()),
        )


def test_verify_against_a_saved_checkpoint(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    operator = NoteVerifier(ORIGIN, parties["op"].public_key())
    saved = ledger.checkpoint()
    for i in range(3):
        ledger.record(
            kind="later",
            actor="bob",
            body={"i": i},
            signer=parties["bob"],
            operator=NoteSigner(ORIGIN, parties["op"]),
        )
    assert ledger.verify_against(saved, operator=operator).size == 6
    # A rewritten history (entry 1 changed, everything re-signed by the operator)
    # is not an extension of what the auditor saved.
    rewritten = _ledger(tmp_path / "rewritten", parties, n=9)
    with pytest.raises(SplitViewError, match="split view") as info:
        rewritten.verify_against(saved, operator=operator)
    assert info.value.evidence[0] == saved


def test_the_spliced_line_is_the_canonical_json_of_the_entry() -> None:
    import base64

    import rfc8785
    from hypothesis import given
    from hypothesis import strategies as st

    key = Ed25519PrivateKey.generate()
    values = st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )

    @given(
        body=st.dictionaries(
            st.sampled_from(["time", "sig", "a", "é", '"', 't,"time":']), values, max_size=4
        ),
        kind=st.text(min_size=1, max_size=10),
    )
    def check(body: dict, kind: str) -> None:
        entry = Entry.sign(kind=kind, actor="alice", body=body, key=key)
        document = entry.statement() | {"sig": base64.b64encode(entry.signature).decode()}
        assert entry.line() == rfc8785.dumps(document)
        assert Entry.parse(entry.line(), 0) == entry

    check()
    with pytest.raises(LedgerError, match="cannot be canonicalised"):
        Entry.sign(kind="k", actor="alice", body={"n": 2**53}, key=key)


def _batch(parties: dict, n: int, actor: str = "alice") -> list[Entry]:
    return Entry.sign_batch(
        [("agent.batch", actor, {"i": i}) for i in range(n)], key=parties[actor]
    )


def test_a_batch_signed_once_verifies_entry_by_entry(tmp_path: Path, parties: dict) -> None:
    import base64

    import rfc8785

    ledger = _ledger(tmp_path, parties, n=2)
    batch = _batch(parties, 13)
    assert len({e.signature for e in batch}) == 1  # one signature for the whole batch
    operator = NoteSigner(ORIGIN, parties["op"])
    indices = ledger.append(batch, actor_keys=_keys(parties), operator=operator)
    assert indices == list(range(2, 15))
    _verify(ledger, parties)
    for entry in batch:
        entry.verify(parties["alice"].public_key())  # each one alone, as a receipt does
        document = entry.statement() | {
            "sig": base64.b64encode(entry.signature).decode(),
            "batch": {
                "path": [base64.b64encode(p).decode() for p in entry.batch.path],
                "position": entry.batch.position,
                "root": base64.b64encode(entry.batch.root).decode(),
                "size": entry.batch.size,
            },
        }
        assert entry.line() == rfc8785.dumps(document)
    stored = ledger.entry(7)
    assert stored.batch is not None and stored.body == {"i": 5}


def test_a_batch_entry_that_was_changed_or_moved_is_refused(tmp_path: Path, parties: dict) -> None:
    from dataclasses import replace

    ledger = _ledger(tmp_path, parties, n=1)
    operator = NoteSigner(ORIGIN, parties["op"])
    batch = _batch(parties, 4)
    altered = [*batch[:2], replace(batch[2], body={"i": 99}), batch[3]]
    with pytest.raises(LedgerError, match="entry by alice: signature does not verify"):
        ledger.append(altered, actor_keys=_keys(parties), operator=operator)
    other = _batch(parties, 4)
    spliced = [batch[0], replace(batch[1], batch=other[1].batch)]
    with pytest.raises(LedgerError, match="signature does not verify"):
        ledger.append(spliced, actor_keys=_keys(parties), operator=operator)
    forged = [replace(e, actor="bob") for e in batch]
    with pytest.raises(LedgerError, match="entry by bob: signature does not verify"):
        ledger.append(forged, actor_keys=_keys(parties), operator=operator)
    ledger.append(batch, actor_keys=_keys(parties), operator=operator)
    _sql(ledger, "UPDATE entries SET data = replace(data, '\"i\":2', '\"i\":3') WHERE idx = 3")
    with pytest.raises(LedgerVerificationError, match="entry 3: not in the batch alice signed"):
        _verify(ledger, parties)


def test_batches_are_one_actors_and_never_empty(parties: dict) -> None:
    with pytest.raises(LedgerError, match="empty batch"):
        Entry.sign_batch([], key=parties["alice"])
    with pytest.raises(LedgerError, match="signed by one actor"):
        Entry.sign_batch([("k", "alice", {}), ("k", "bob", {})], key=parties["alice"])


@pytest.mark.parametrize(
    "member",
    [
        '{"path":[],"position":1,"root":"AA==","size":1}',
        '{"path":[],"position":0,"root":"AA==","size":1,"x":1}',
        '{"path":[],"position":"0","root":"AA==","size":1}',
        '"batch"',
    ],
)
def test_a_malformed_batch_member_is_refused(parties: dict, member: str) -> None:
    line = _batch(parties, 1)[0].line()
    start = line.index(b'"batch":') + len(b'"batch":')
    end = line.index(b',"body":')
    with pytest.raises(LedgerVerificationError, match="not a well-formed entry"):
        Entry.parse(line[:start] + member.encode() + line[end:], 0)


def test_canonical_json_is_rfc8785_on_every_document() -> None:
    import rfc8785
    from hypothesis import given
    from hypothesis import strategies as st

    from confiance.ledger.log import canonical_json

    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-(2**60), 2**60)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    documents = st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=12,
    )

    @given(documents)
    def check(document: object) -> None:
        try:
            expected = rfc8785.dumps(document)
        except rfc8785.CanonicalizationError:
            with pytest.raises(LedgerError, match="cannot be canonicalised"):
                canonical_json(document)
            return
        assert canonical_json(document) == expected

    check()
    with pytest.raises(LedgerError, match="cannot be canonicalised"):
        canonical_json({"lone surrogate": "\udc00"})
    nested: list[object] = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(LedgerError, match="cannot be canonicalised"):
        canonical_json({"deep": nested})


def test_all_inclusion_proofs_at_once_match_one_by_one() -> None:
    from confiance.ledger.merkle import inclusion_proof, inclusion_proofs

    for size in range(1, 70):
        leaves = [leaf_hash(bytes([i % 256, i // 256])) for i in range(size)]
        root, proofs = inclusion_proofs(leaves)
        assert root == root_hash(leaves)
        assert proofs == [inclusion_proof(i, leaves) for i in range(size)]
    with pytest.raises(LedgerError, match="no leaves"):
        inclusion_proofs([])
