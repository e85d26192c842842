"""Re-identification as a request and an answer: the last step of the design's data path.

A recipient that opened an alert (the joint SOC, a member's CISO) asks the
data owners behind it who its pseudonyms are; each owner decides, and only
an owner resolves, with its own re-identification table, the pseudonyms it
made. Both steps are in the ledger (who asked whom about which alert, why,
what was decided, how many pseudonyms: never a pseudonym or a value).

The platform's metadata keeps ciphertexts only: the pseudonyms asked are
sealed (HPKE) to the owner's recipient key, the answer to the requester's
recipient key of the contract, each bound to its request. The operator sees
that a request exists, not what it asks or what it was told.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from confiance.consortium.home import OPERATOR, Home
from confiance.consortium.operations import (
    _recipient_of,
    list_alerts,
    load_contract,
    opening_key,
)
from confiance.errors import AccessDenied, AlertError, ConfigError
from confiance.pseudonym import ReidentificationTable
from confiance.runtime.seal import SealSuite, open_sealed, seal

DECISIONS = ("approve", "refuse")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS reidentifications (
    id TEXT PRIMARY KEY, asked TEXT NOT NULL, contract TEXT NOT NULL, alert TEXT NOT NULL,
    run TEXT NOT NULL, requester TEXT NOT NULL, recipient TEXT NOT NULL, owner TEXT NOT NULL,
    reason TEXT NOT NULL, asked_by TEXT, question BLOB NOT NULL, status TEXT NOT NULL,
    answered TEXT, answer_reason TEXT, answered_by TEXT, answer BLOB
);
"""
_COLUMNS = (
    "id, asked, contract, alert, run, requester, recipient, owner, reason, asked_by, "
    "question, status, answered, answer_reason, answered_by, answer"
)


def _info(kind: str, request_id: str, party: str) -> bytes:
    """HPKE ``info`` binding a sealed question or answer to its request and reader."""
    return f"confiance/reidentification/v1|{kind}|{request_id}|{party}".encode()


def _reason(reason: str) -> str:
    text = reason.strip()
    if len(text) < 5 or len(text) > 500:
        raise ConfigError("reason: say why, in 5 to 500 characters (it goes to the ledger)")
    return text


def _actor(home: Home, party: str) -> str:
    return party if party in home.config["public_keys"] else OPERATOR


def _denied(home: Home, party: str, body: dict[str, Any], message: str) -> AccessDenied:
    home.record(_actor(home, party), "reidentification.denied", body)
    return AccessDenied(message)


def ask(
    home: Home,
    *,
    requester: str,
    alert_id: str,
    reason: str,
    contract_id: str = "soc-commun",
    pseudonyms: Sequence[str] | None = None,
    by_serial: str | None = None,
) -> list[dict[str, Any]]:
    """Ask the owners behind an alert sealed to ``requester`` who its pseudonyms are.

    ``pseudonyms`` narrows the question to some of the alert's (all by
    default). One request per owner the contract lets re-identify; an owner
    already asked the same and not yet answering is not asked twice.
    """
    reason = _reason(reason)
    contract = load_contract(home, contract_id)
    opened = list_alerts(home, requester, contract_id=contract_id)  # ledgers a refusal
    recipient, _ = _recipient_of(home, contract, requester)
    alert = next((a for a in opened if a.id == alert_id), None)
    if alert is None:
        raise _denied(
            home,
            requester,
            {"alert": alert_id, "requester": requester, "reason": "alert not sealed to requester"},
            f"alert {alert_id}: not among the results sealed to {requester}",
        )
    asked = sorted(set(alert.pseudonyms if pseudonyms is None else pseudonyms))
    if not asked or not set(asked) <= set(alert.pseudonyms):
        raise ConfigError("pseudonyms: name one or more of the alert's own pseudonyms")
    owners = [
        t for t in alert.tenants if t in home.config["tenants"] and contract.may_reidentify(t)
    ]
    if not owners:
        raise _denied(
            home,
            requester,
            {"alert": alert_id, "requester": requester, "reason": "no owner may re-identify"},
            f"contract {contract.id}: no owner of alert {alert_id} may re-identify under it",
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    made = []
    with home.meta.connect() as con:
        con.executescript(_SCHEMA)
        for owner in owners:
            open_one = con.execute(
                "SELECT id FROM reidentifications WHERE contract = ? AND alert = ? "
                "AND requester = ? AND owner = ? AND status = 'pending'",
                (contract.id, alert_id, requester, owner),
            ).fetchone()
            if open_one is not None:
                made.append({"id": open_one[0], "owner": owner, "status": "pending"})
                continue
            request_id = secrets.token_hex(8)
            owner_key = base64.b64decode(home.config["public_keys"][owner]["recipient"])
            question = seal(
                json.dumps(asked).encode(), owner_key, info=_info("question", request_id, owner)
            )
            con.execute(
                f"INSERT INTO reidentifications ({_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,'pending',NULL,NULL,NULL,NULL)",
                (request_id, now, contract.id, alert_id, alert.run, requester, recipient, owner,
                 reason, by_serial, question),
            )  # fmt: skip
            made.append({"id": request_id, "owner": owner, "status": "pending", "new": True})
    for item in made:
        if item.pop("new", False):
            home.record(
                _actor(home, requester),
                "reidentification.requested",
                {
                    "request": item["id"],
                    "contract": contract.id,
                    "alert": alert_id,
                    "run": alert.run,
                    "requester": requester,
                    "owner": item["owner"],
                    "reason": reason[:200],
                    "pseudonyms_asked": len(asked),
                    "by_serial": by_serial,
                },
            )
    return made


def _row(home: Home, request_id: str) -> dict[str, Any]:
    with home.meta.connect() as con:
        con.executescript(_SCHEMA)
        found = con.execute(
            f"SELECT {_COLUMNS} FROM reidentifications WHERE id = ?", (request_id,)
        ).fetchone()
    if found is None:
        raise AlertError(f"no re-identification request {request_id}")
    return dict(zip(_COLUMNS.split(", "), found, strict=True))


def answer(
    home: Home,
    request_id: str,
    *,
    owner: str,
    decision: str,
    reason: str,
    by_serial: str | None = None,
) -> dict[str, Any]:
    """The owner's decision; on approval, what its table resolves, sealed to the requester."""
    if decision not in DECISIONS:
        raise ConfigError(f"decision must be one of {', '.join(DECISIONS)}")
    reason = _reason(reason)
    row = _row(home, request_id)
    if row["owner"] != owner:
        raise _denied(
            home,
            owner,
            {"request": request_id, "owner": owner, "reason": "request addressed to another"},
            f"request {request_id} is not addressed to {owner}",
        )
    if row["status"] != "pending":
        raise ConfigError(f"request {request_id} was already answered ({row['status']})")
    contract = load_contract(home, row["contract"])
    sealed = None
    resolved: dict[str, str] = {}
    if decision == "approve":
        if not contract.may_reidentify(owner):
            raise _denied(
                home,
                owner,
                {"request": request_id, "owner": owner, "reason": "contract does not allow it"},
                f"contract {contract.id}: {owner} may not re-identify under it",
            )
        asked = _asked(home, row)
        table = ReidentificationTable(home.tenant_dir(owner) / "reid.json", home.kek_store(owner))
        resolved = table.resolve(asked)
        entry = contract.recipient(row["recipient"])
        suite = SealSuite(entry.suite.value)
        sealed = seal(
            json.dumps(resolved).encode(),
            base64.b64decode(entry.public_key),
            info=_info("answer", request_id, row["recipient"]),
            suite=suite,
        )
    status = "answered" if decision == "approve" else "refused"
    with home.meta.connect() as con:
        con.execute(
            "UPDATE reidentifications SET status = ?, answered = ?, answer_reason = ?, "
            "answered_by = ?, answer = ? WHERE id = ? AND status = 'pending'",
            (status, datetime.now(UTC).isoformat(timespec="seconds"), reason, by_serial, sealed,
             request_id),
        )  # fmt: skip
    home.record(
        owner,
        "reidentification.answered",
        {
            "request": request_id,
            "contract": contract.id,
            "alert": row["alert"],
            "requester": row["requester"],
            "owner": owner,
            "decision": decision,
            "reason": reason[:200],
            "pseudonyms_resolved": len(resolved),
            "by_serial": by_serial,
        },
    )
    return {"id": request_id, "status": status, "resolved": len(resolved)}


def requests(home: Home, party: str) -> list[dict[str, Any]]:
    """Requests ``party`` made or must answer, newest first; its answers opened for the asker."""
    with home.meta.connect() as con:
        con.executescript(_SCHEMA)
        rows = con.execute(
            f"SELECT {_COLUMNS} FROM reidentifications WHERE requester = ? OR owner = ? "
            "ORDER BY asked DESC, rowid DESC",
            (party, party),
        ).fetchall()
    listed = []
    for values in rows:
        row = dict(zip(_COLUMNS.split(", "), values, strict=True))
        item = {
            k: row[k]
            for k in ("id", "asked", "contract", "alert", "run", "requester", "owner", "reason")
        } | {
            "status": row["status"],
            "answered": row["answered"],
            "answer_reason": row["answer_reason"],
        }
        if row["requester"] == party and row["answer"] is not None:
            item["resolved"] = _opened(home, row)
        if row["owner"] == party:  # what the owner decides on
            item["pseudonyms"] = _asked(home, row)
        listed.append(item)
    return listed


def _opened(home: Home, row: dict[str, Any]) -> dict[str, str]:
    contract = load_contract(home, row["contract"])
    _, keystore = _recipient_of(home, contract, row["requester"])
    suite, key = opening_key(contract, row["recipient"], keystore)
    info = _info("answer", row["id"], row["recipient"])
    plain = open_sealed(row["answer"], key, info=info, suite=suite)
    resolved: dict[str, str] = json.loads(plain)
    return resolved


def _asked(home: Home, row: dict[str, Any]) -> list[str]:
    """The pseudonyms a request asks about, opened with the owner's recipient key."""
    key = home.keystore(row["owner"]).recipient_key()
    plain = open_sealed(row["question"], key, info=_info("question", row["id"], row["owner"]))
    asked: list[str] = json.loads(plain)
    return asked
