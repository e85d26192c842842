"""Protection of minors in a consortium: the authority, its list, the contract that gates both.

The authority (e.g. the body that distributes the list of known child-abuse
URLs) is enrolled as an owner of its own: its keystore, KEK and certificate.
Its clear list never leaves its side; what is stored is the keyed list,
encrypted under its KEK like any dataset, released only to a runtime that
runs a contract the authority signed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import confiance
from confiance.alerts import Alert
from confiance.consortium.home import OPERATOR, Home
from confiance.consortium.operations import (
    _store_dataset,
    load_contract,
    open_results,
    recipient_or_denied,
    runtime_config,
    write_draft,
)
from confiance.contracts import Contract, ContractClass
from confiance.detect.minors import KeyedBlocklist
from confiance.detect.registry import detector_code_digest
from confiance.errors import AccessDenied, AlertError, ConfigError, ContractError, DetectError
from confiance.keys import SecretName, SoftwareKeyStore
from confiance.keys.pki import ConsortiumCA, certify_signing_key
from confiance.runtime.measurement import measure_image

BLOCKLIST_SOURCE = "blocklist"
CONTRACT_ID = "protection-mineurs"


def enrol_authority(home: Home, name: str) -> None:
    """Give an authority its keystore (KEK, signing, recipient keys) and certificates."""
    if name in home.config["tenants"] or name in home.authorities:
        raise ConfigError(f"{name!r} is already a member of this consortium")
    config = home.config
    config["authorities"] = [*home.authorities, name]
    home.save_config(config)  # keystore_path places an authority beside the tenants
    store = SoftwareKeyStore.create(
        home.keystore_path(name),
        owner=name,
        passphrase=home.passphrase(name, create=True),
        secrets=(SecretName.KEK, SecretName.SIGNING, SecretName.RECIPIENT),
    )
    public = store.public_keys()
    store.close()
    ca = ConsortiumCA(home.root / "pki")
    certify_signing_key(
        ca,
        name,
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public["signing"])),
        ca_passphrase=home.passphrase(OPERATOR),
        directory=home.tenant_dir(name),
    )
    config["public_keys"][name] = public
    config.setdefault("residency", {})[name] = {"jurisdiction_in": ["FR"]}
    home.save_config(config)
    home.record(OPERATOR, "authority.enrolled", {"authority": name})


@dataclass(frozen=True)
class ListImport:
    dataset_bytes: int
    entries: int
    index_path: Path


def import_blocklist(home: Home, authority: str, path: Path) -> ListImport:
    """Key the authority's list on its side, store it encrypted, keep the index at home.

    The index (keyed id -> line of the clear list) stays in the authority's
    own directory under ``inputs/``, the owner's side, like a
    re-identification table: it is how the authority reads a hit.
    """
    home.require_authority(authority)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DetectError(f"{path}: cannot read the list ({type(exc).__name__})") from None
    blocklist, index = KeyedBlocklist.prepare(lines, where=str(path))
    day = datetime.now(UTC).date().isoformat()
    size = _store_dataset(
        home,
        home.object_store(),
        authority,
        BLOCKLIST_SOURCE,
        day,
        blocklist.to_table(),
    )
    index_path = home.inputs_dir() / authority / f"blocklist-index-{day}.tsv"
    index_path.parent.mkdir(parents=True, exist_ok=True)
    index_path.write_text(
        "entry_id\tline\texpression\n"
        + "".join(f"{e.entry_id}\t{e.line}\t{e.expression}\n" for e in index),
        encoding="utf-8",
    )
    home.record(authority, "blocklist.imported", {"entries": len(index), "day": day})
    return ListImport(size, len(index), index_path)


def new_minors_contract(
    home: Home,
    *,
    school: str = "lycees",
    authority: str = "autorite",
    source: str = "proxy",
    retention_days: int = 30,
    today: date | None = None,
) -> Path:
    """Draft the protection-of-minors contract between a school tenant and the authority.

    List hits go to the authority and to the school's head; text signals only
    to the school's named reviewer. Never to the joint SOC.
    """
    home.require_tenant(school)
    home.require_authority(authority)
    today = today or datetime.now(UTC).date()
    path = home.contract_path(CONTRACT_ID)
    if path.exists():
        raise ContractError(f"{path}: already exists")
    keys = home.config["public_keys"]
    analyses = ["blocklist_access", "search_signals"]
    reviewer = f"referent-{school}"
    document = {
        "id": CONTRACT_ID,
        "version": 1,
        "contract_class": ContractClass.PROTECTION_OF_MINORS.value,
        "purpose": (
            "Protection of pupils: detect access to known child-abuse content and searches "
            "that may signal distress, radicalisation or harassment, for review by a person."
        ),
        "legal_basis": {
            "article": "Code de l'éducation L. 121-4-1 and L. 542-1; CASF L. 226-2-1",
            "text": "Protection of children at school and the duty to pass on information "
            "about a child at risk; no automated decision (GDPR Art. 22).",
        },
        "parties": [
            {"tenant": school, "role": "data-owner"},
            {"tenant": authority, "role": "data-owner"},
        ],
        "datasets": [
            {"tenant": school, "source": source},
            {"tenant": authority, "source": BLOCKLIST_SOURCE},
        ],
        "analyses": [{"detector": a, "code_digest": detector_code_digest(a)} for a in analyses],
        "runtime_measurement": measure_image(Path(confiance.__file__).parent, runtime_config(home)),
        "recipients": [
            {
                "name": authority,
                "tenant": authority,
                "public_key": keys[authority]["recipient"],
                "scope": "all",
                "analyses": ["blocklist_access"],
            },
            {
                "name": f"direction-{school}",
                "tenant": school,
                "public_key": keys[school]["recipient"],
                "scope": "own-data",
                "analyses": ["blocklist_access"],
            },
            {
                "name": reviewer,
                "tenant": school,
                "public_key": keys[school]["recipient"],
                "scope": "own-data",
                "analyses": ["search_signals"],
            },
        ],
        "safeguarding": {
            "reviewer_role": "référent protection de l'enfance",
            "reviewers": [reviewer],
        },
        "output_constraints": {"min_group_size": 10},
        # The authority decides what re-identification means for its hits; only
        # the school can re-identify its own pupils.
        "reidentification_by": [school],
        "retention_days": retention_days,
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=365)).isoformat(),
    }
    return write_draft(home, Contract.model_validate(document))


# -- review queue -------------------------------------------------------------

DECISIONS = ("confirm", "dismiss")


@dataclass(frozen=True)
class QueuedSignal:
    """A signal as a reviewer sees it: the alert and where it stands."""

    alert: Alert
    status: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _minors_contract(home: Home, contract_id: str) -> Contract:
    contract = load_contract(home, contract_id)
    if contract.contract_class is ContractClass.STANDARD:
        raise ConfigError(f"contract {contract.id} is not of a class with a review queue")
    return contract


def purge_expired(
    home: Home, contract_id: str = CONTRACT_ID, *, now: datetime | None = None
) -> int:
    """Delete the sealed signals of runs older than the contract's retention; ledger it."""
    contract = _minors_contract(home, contract_id)
    limit = (now or datetime.now(UTC)) - timedelta(days=contract.retention_days)
    with home.meta.connect() as con:
        runs = [
            str(r[0])
            for r in con.execute(
                "SELECT id FROM runs WHERE contract = ? AND started < ?",
                (contract.id, limit.isoformat(timespec="seconds")),
            ).fetchall()
        ]
        deleted = []
        for run in runs:
            deleted += [
                str(r[0])
                for r in con.execute("SELECT result FROM results WHERE run = ?", (run,)).fetchall()
            ]
            con.execute("DELETE FROM results WHERE run = ?", (run,))
            con.execute("DELETE FROM reviews WHERE run = ?", (run,))
    if deleted:
        home.record(
            OPERATOR,
            "minors.signals.deleted",
            {
                "contract": contract.id,
                "runs": runs,
                "results": sorted(set(deleted)),
                "reason": f"retention of {contract.retention_days} days ended",
            },
        )
    return len(set(deleted))


def _suppressed(home: Home) -> set[tuple[str, str]]:
    with home.meta.connect() as con:
        return {
            (str(t), str(p)) for t, p in con.execute("SELECT tenant, pattern FROM suppressions")
        }


def _owner(contract: Contract, recipient: str) -> str:
    """Who signs ledger entries for a recipient: its tenant (or itself if it has none)."""
    return contract.recipient(recipient).tenant or recipient


def _reasons(alert: Alert) -> list[str]:
    return [str(r) for r in alert.evidence.get("reasons", [])]


def review_queue(
    home: Home, who: str, *, contract_id: str = CONTRACT_ID, every_status: bool = False
) -> list[QueuedSignal]:
    """Open the signals sealed to ``who``; the view is written to the ledger.

    Expired signals are deleted first; signals whose every reason a reviewer
    of the same tenant suppressed are set aside (and that is in the ledger too).
    """
    contract = _minors_contract(home, contract_id)
    purge_expired(home, contract.id)
    recipient, keystore = recipient_or_denied(home, contract, who)
    alerts = open_results(home, contract, recipient, keystore, every_run=True)
    suppressed = _suppressed(home)
    queue: list[QueuedSignal] = []
    set_aside: list[str] = []
    with home.meta.connect() as con:
        for alert in alerts:
            con.execute(
                "INSERT OR IGNORE INTO reviews VALUES (?,?,?,?,?,?,?)",
                (contract.id, alert.run, recipient, alert.id, "pending", None, None),
            )
            reasons = _reasons(alert)
            if reasons and all((t, r) in suppressed for t in alert.tenants for r in reasons):
                con.execute(
                    "UPDATE reviews SET status = 'suppressed' WHERE contract = ? AND run = ? "
                    "AND recipient = ? AND result = ? AND status = 'pending'",
                    (contract.id, alert.run, recipient, alert.id),
                )
            (status,) = con.execute(
                "SELECT status FROM reviews WHERE contract = ? AND run = ? AND recipient = ? "
                "AND result = ?",
                (contract.id, alert.run, recipient, alert.id),
            ).fetchone()
            if status == "suppressed":
                set_aside.append(alert.id)
            elif every_status or status == "pending":
                queue.append(QueuedSignal(alert, str(status)))
    if set_aside:
        home.record(
            OPERATOR,
            "minors.signals.suppressed",
            {"contract": contract.id, "recipient": recipient, "results": sorted(set_aside)},
        )
    home.record(
        _owner(contract, recipient),
        "minors.signals.viewed",
        {"contract": contract.id, "by": who, "results": sorted({q.alert.id for q in queue})},
    )
    return queue


def decide(
    home: Home,
    who: str,
    result_id: str,
    *,
    decision: str,
    suppress: bool = False,
    contract_id: str = CONTRACT_ID,
) -> QueuedSignal:
    """A reviewer confirms or dismisses a signal; a dismissal may suppress its patterns.

    Only the contract's named reviewers decide on text signals; every
    recipient of a list hit decides on its own copy. Nothing is ever acted
    upon automatically: a confirmation records a person's judgement.
    """
    if decision not in DECISIONS:
        raise ConfigError(f"decision must be one of {DECISIONS}")
    contract = _minors_contract(home, contract_id)
    recipient, keystore = recipient_or_denied(home, contract, who)
    found = [
        a
        for a in open_results(home, contract, recipient, keystore, every_run=True)
        if a.id == result_id
    ]
    if not found:
        raise AlertError(f"contract {contract.id}: no signal {result_id} for {recipient}")
    alert = found[-1]
    assert contract.safeguarding is not None
    if alert.detector == "search_signals" and recipient not in contract.safeguarding.reviewers:
        raise AccessDenied(f"{recipient} is not a named reviewer of contract {contract.id}")
    status = "confirmed" if decision == "confirm" else "dismissed"
    with home.meta.connect() as con:
        con.execute(
            "INSERT OR REPLACE INTO reviews VALUES (?,?,?,?,?,?,?)",
            (contract.id, alert.run, recipient, alert.id, status, who, _now()),
        )
        if suppress and status == "dismissed":
            for tenant in alert.tenants:
                for reason in _reasons(alert):
                    con.execute(
                        "INSERT OR IGNORE INTO suppressions VALUES (?,?,?,?)",
                        (tenant, reason, who, _now()),
                    )
    home.record(
        _owner(contract, recipient),
        f"minors.signal.{status}",
        {"contract": contract.id, "run": alert.run, "result": alert.id, "by": who},
    )
    if suppress and status == "dismissed" and _reasons(alert):
        home.record(
            _owner(contract, recipient),
            "minors.patterns.suppressed",
            {"tenants": list(alert.tenants), "patterns": _reasons(alert), "by": who},
        )
    return QueuedSignal(alert, status)
