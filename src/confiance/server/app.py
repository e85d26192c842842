"""The HTTP API (``/v1``): every request authorised on the tenant and role of its certificate.

Roles (from the client certificate, see :mod:`confiance.keys.pki`):
tenant-admin (its tenant's contracts and uploads), analyst (alerts sealed to
its tenant), reviewer (the protection-of-minors queue), auditor (ledger and
contracts, no data), operator (storage health, no data). Every denial is
logged and written to the ledger (certificate serial, tenant, role, path:
no name). Errors are RFC 9457 ``application/problem+json``.

The server opens sealed results with the keys of the recipients it holds:
run it where those keys are (the recipient's side); the embedded default
holds every key, for the demo.
"""

from __future__ import annotations

import atexit
import base64
import gc
import logging
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from confiance.alerts import Alert
from confiance.consortium import Home, operations, reidentification, safeguarding, storage
from confiance.consortium.home import OPERATOR, SOC
from confiance.contracts import contract_digest
from confiance.detect.incidents import DETECTOR as INCIDENTS
from confiance.errors import (
    AccessDenied,
    AlertError,
    ConfianceError,
    ConfigError,
    ContractError,
    KeyStoreError,
    LedgerError,
)
from confiance.keys.pki import ConsortiumCA, Identity, identity_of, revoked_serials
from confiance.ledger import export_receipt
from confiance.server.tls import PEER

logger = logging.getLogger(__name__)
atexit.register(gc.unfreeze)  # what the alert cache froze is collected at exit
PROBLEM = "application/problem+json"
#: the web console: static files, every asset local (no CDN)
CONSOLE = FilePath(__file__).parent / "console"
_STATUS = (
    (AccessDenied, 403, "forbidden"),
    (KeyStoreError, 403, "forbidden"),
    (AlertError, 404, "not-found"),
    (LedgerError, 404, "not-found"),
    (ContractError, 422, "invalid-contract"),
    (ConfigError, 400, "bad-request"),
)


def problem(status: int, kind: str, detail: str, instance: str) -> JSONResponse:
    """An RFC 9457 problem document."""
    return JSONResponse(
        {
            "type": f"https://confiance.example/problems/{kind}",
            "title": kind.replace("-", " "),
            "status": status,
            "detail": detail,
            "instance": instance,
        },
        status_code=status,
        media_type=PROBLEM,
    )


class _Revocations:
    """The CA's CRL, re-read when the file changes: a revocation applies to the next request."""

    def __init__(self, ca: ConsortiumCA) -> None:
        self._ca = ca
        self._stamp: float | None = None
        self._serials: frozenset[int] = frozenset()
        self._lock = threading.Lock()

    def __contains__(self, serial: int) -> bool:
        path = self._ca.directory / "crl.pem"
        stamp = path.stat().st_mtime if path.exists() else None
        with self._lock:
            if stamp != self._stamp:
                self._serials, self._stamp = revoked_serials(self._ca), stamp
            return serial in self._serials


class _AlertCache:
    """Opened alerts of the latest run per recipient and contract, and triage histories.

    Sealed results never change, so a recipient's alerts are opened again
    only when a newer run completed (the metadata file changed); a tenant's
    triage history is read again only when its file changed.
    """

    def __init__(self, home: Home) -> None:
        self._home = home
        self._alerts: dict[tuple[str, str], tuple[str, list[Alert], list[dict[str, Any]]]] = {}
        self._runs: dict[str, tuple[float, str | None]] = {}
        self._triage: dict[str, tuple[float | None, dict[str, list[dict[str, Any]]]]] = {}
        #: summaries with their triage status, and the stamps they were made at
        self._triaged: dict[
            tuple[str, str, str], tuple[tuple[float, float | None], list[dict[str, Any]]]
        ] = {}

    def latest_run(self, contract: str) -> str | None:
        stamp = (self._home.root / "meta.sqlite").stat().st_mtime
        known = self._runs.get(contract)
        if known is None or known[0] != stamp:
            known = (stamp, operations.latest_run(self._home, contract))
            self._runs[contract] = known
        return known[1]

    def get(self, recipient: str, contract: str) -> tuple[list[Alert], list[dict[str, Any]]]:
        run = self.latest_run(contract) or ""
        known = self._alerts.get((recipient, contract))
        if known is None or known[0] != run:
            alerts = operations.list_alerts(self._home, recipient, contract_id=contract)
            known = (run, alerts, [a.summary() for a in alerts])
            self._alerts[(recipient, contract)] = known
        return known[1], known[2]

    def stamps(self, tenant: str) -> tuple[float, float | None]:
        """What a tenant's triaged summaries depend on: the metadata and its triage file."""
        path = operations.triage_path(self._home, tenant)
        try:
            triage: float | None = path.stat().st_mtime
        except FileNotFoundError:
            triage = None
        return (self._home.root / "meta.sqlite").stat().st_mtime, triage

    def ready(self, key: tuple[str, str, str]) -> list[dict[str, Any]] | None:
        """The triaged summaries for (recipient, contract, tenant) if nothing they
        depend on changed since they were made; two stats, no lock, no query."""
        known = self._triaged.get(key)
        if known is None or known[0] != self.stamps(key[2]):
            return None
        return known[1]

    def triaged(self, key: tuple[str, str, str]) -> list[dict[str, Any]]:
        """The summaries of (recipient, contract)'s alerts, each with the latest
        triage status of ``tenant``; kept for :meth:`ready`. Call under the lock."""
        recipient, contract, tenant = key
        stamps = self.stamps(tenant)  # before reading: a change meanwhile is seen next time
        _, summaries = self.get(recipient, contract)
        history = self.triage(tenant)
        if history:
            summaries = [
                s | {"status": history[s["id"]][-1]["status"]} if s["id"] in history else s
                for s in summaries
            ]
        self._triaged[key] = (stamps, summaries)
        # the opened alerts live until the next run: out of the collector's full
        # passes, which otherwise walk them all and stall every request in flight
        # (frozen objects are still freed by reference counting when a newer run
        # replaces them; they hold no reference cycles; unfrozen at exit)
        gc.freeze()
        return summaries

    def triage(self, tenant: str) -> dict[str, list[dict[str, Any]]]:
        path = operations.triage_path(self._home, tenant)
        stamp = path.stat().st_mtime if path.exists() else None
        known = self._triage.get(tenant)
        if known is None or known[0] != stamp:
            known = (stamp, operations.triage_history(self._home, tenant))
            self._triage[tenant] = known
        return known[1]


class _State:
    """What the handlers share: the home, a lock around it, the CRL, opened alerts."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.lock = threading.RLock()  # Home and its keystores are shared by worker threads
        self.revoked = _Revocations(ConsortiumCA(home.root / "pki"))
        self.cache = _AlertCache(home)
        self.identities: dict[bytes, Identity] = {}


def _state(request: Request) -> _State:
    state: _State = request.app.state.confiance
    return state


def _deny(request: Request, who: Identity | None, reason: str) -> AccessDenied:
    """Log and ledger a denial (serial, tenant, role, path: never a name); the error to raise."""
    record = {
        "method": request.method,
        "path": request.url.path,
        "reason": reason,
        "serial": f"{who.serial:x}" if who else None,
        "tenant": who.tenant if who else None,
        "role": who.role if who else None,
    }
    logger.warning("denied: %s", record)
    state = _state(request)
    with state.lock:
        state.home.record(OPERATOR, "api.denied", record)
    return AccessDenied(reason)


async def _denied(request: Request, who: Identity | None, reason: str) -> AccessDenied:
    """:func:`_deny` from the event loop: the ledger is written in a worker thread."""
    return await run_in_threadpool(_deny, request, who, reason)


async def identity(request: Request) -> Identity:
    """The person of the verified client certificate, unless it was revoked since.

    A coroutine, as the role check below: both run on the event loop (a cached
    lookup and a stat of the CRL), not in a worker thread each.
    """
    der = request.scope.get("state", {}).get(PEER)
    if not der:
        raise await _denied(request, None, "no client certificate")
    state = _state(request)
    who = state.identities.get(der)
    if who is None:
        try:
            who = identity_of(der)
        except KeyStoreError as exc:
            raise await _denied(request, None, str(exc)) from None
        state.identities[der] = who
    if who.serial in state.revoked:
        raise await _denied(request, who, "certificate revoked")
    return who


def allow(*roles: str) -> Callable[[Request, Identity], Awaitable[Identity]]:
    async def check(request: Request, who: Annotated[Identity, Depends(identity)]) -> Identity:
        if who.role not in roles:
            raise await _denied(request, who, f"role {who.role} may not {request.method} this")
        return who

    return check


def _tenant_mismatch(who: Identity, tenant: str | None) -> str | None:
    if tenant is not None and tenant != who.tenant:
        return f"tenant {who.tenant} may not act for {tenant}"
    return None


def _same_tenant(request: Request, who: Identity, tenant: str | None) -> None:
    reason = _tenant_mismatch(who, tenant)
    if reason:
        raise _deny(request, who, reason)


Limit = Annotated[int, Query(ge=1, le=500)]
#: bounded so that a page's body always serialises (JSON has no integers past 64 bits)
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
Someone = Annotated[Identity, Depends(identity)]
Anyone = Annotated[
    Identity, Depends(allow("auditor", "tenant-admin", "analyst", "reviewer", "operator"))
]
Analyst = Annotated[Identity, Depends(allow("analyst", "tenant-admin"))]
Auditor = Annotated[Identity, Depends(allow("auditor", "tenant-admin"))]
Admin = Annotated[Identity, Depends(allow("tenant-admin"))]
Operator = Annotated[Identity, Depends(allow("operator", "tenant-admin"))]
Overseer = Annotated[Identity, Depends(allow("auditor", "operator"))]

router = APIRouter(prefix="/v1")


def _page(items: Sequence[Any], *, limit: int, offset: int, request: Request) -> dict[str, Any]:
    following = offset + limit
    return {
        "items": list(items[offset:following]),
        "total": len(items),
        "limit": limit,
        "offset": offset,
        "next": str(request.url.include_query_params(offset=following))
        if following < len(items)
        else None,
    }


def _alerts(
    request: Request, who: Identity, contract: str
) -> tuple[list[Alert], list[dict[str, Any]]]:
    """The alerts sealed to the caller's tenant, and their summaries."""
    state = _state(request)
    with state.lock:
        return state.cache.get(_recipient(who), contract)


@router.get("/whoami")
async def whoami(who: Someone) -> dict[str, Any]:
    """The person, tenant and role the client certificate names."""
    return {"name": who.name, "tenant": who.tenant, "role": who.role, "serial": f"{who.serial:x}"}


def _triaged_summaries(request: Request, who: Identity, contract: str) -> list[dict[str, Any]]:
    """The summaries of the caller's alerts, each with its latest triage status."""
    state = _state(request)
    with state.lock:
        return state.cache.triaged((_recipient(who), contract, who.tenant))


def _recipient(who: Identity) -> str:
    return SOC if who.tenant == SOC else who.tenant


@router.get("/alerts")
async def list_alerts(
    request: Request,
    who: Analyst,
    contract: str = "soc-commun",
    tenant: str | None = None,
    severity: str | None = None,
    detector: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Alerts sealed to the caller's tenant (the joint SOC's for tenant soc-commun).

    The triage console's busiest call: served from the event loop when nothing
    changed since the last call (two stats), else from a worker thread (the
    cache and its lock); orjson for the body.
    """
    reason = _tenant_mismatch(who, tenant)
    if reason:
        raise await _denied(request, who, reason)
    summaries = _state(request).cache.ready((_recipient(who), contract, who.tenant))
    if summaries is None:
        summaries = await run_in_threadpool(_triaged_summaries, request, who, contract)
    chosen = [
        s
        for s in summaries
        if (severity is None or s["severity"] == severity)
        and (detector is None or s["detector"] == detector)
    ]
    page = _page(chosen, limit=limit, offset=offset, request=request)
    return Response(orjson.dumps(page), media_type="application/json")


def _chosen(alerts: Sequence[Alert], severity: str | None, detector: str | None) -> list[Alert]:
    return [
        a
        for a in alerts
        if (severity is None or a.severity == severity)
        and (detector is None or a.detector == detector)
    ]


#: export formats: media type of each (STIX 2.1 names its own, with the version)
_EXPORTS = {
    "json": "application/json",
    "stix": "application/stix+json;version=2.1",
    "cef": "text/plain; charset=utf-8",
}


@router.get("/alerts/export")
def export_alerts(
    request: Request,
    who: Analyst,
    export_format: Annotated[Literal["json", "stix", "cef"], Query(alias="format")],
    contract: str = "soc-commun",
    severity: str | None = None,
    detector: str | None = None,
) -> Response:
    """The caller's alerts (filtered as the list) for a SIEM or a threat-intelligence
    platform: a JSON document, a STIX 2.1 bundle, or CEF lines for syslog.
    Identifiers stay pseudonyms, and every format says so."""
    from confiance.alerts import export

    alerts, _ = _alerts(request, who, contract)
    chosen = _chosen(alerts, severity, detector)
    if export_format == "json":
        text = export.to_json(chosen, recipient=_recipient(who))
    elif export_format == "stix":
        text = export.to_stix(chosen)
    else:
        text = "\n".join(export.to_cef(chosen)) + ("\n" if chosen else "")
    return Response(text, media_type=_EXPORTS[export_format])


#: what an incident's evidence says of it, shown beside its summary
_INCIDENT_EVIDENCE = ("findings", "detectors", "techniques", "shared", "timeline")


def _incidents(request: Request, who: Identity, contract: str) -> list[dict[str, Any]]:
    """The caller's incidents: the list's summaries (triage status included) with
    their timeline and what links their findings."""
    alerts, _ = _alerts(request, who, contract)
    found = {a.id: a for a in alerts if a.detector == INCIDENTS}
    return [
        {"status": "new"}
        | s
        | {"last_seen": found[s["id"]].last_seen.isoformat()}
        | {k: found[s["id"]].evidence.get(k, []) for k in _INCIDENT_EVIDENCE}
        for s in _triaged_summaries(request, who, contract)
        if s["id"] in found
    ]


@router.get("/incidents")
def incidents(
    request: Request,
    who: Analyst,
    contract: str = "soc-commun",
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Incidents: findings at several tenants linked by a source or an account, each
    with its timeline (what happened where, when) and its triage status."""
    return _page(_incidents(request, who, contract), limit=limit, offset=offset, request=request)


@router.get("/incidents/{incident_id}")
def incident_detail(
    request: Request, incident_id: str, who: Analyst, contract: str = "soc-commun"
) -> dict[str, Any]:
    """One incident with its timeline; its findings are alerts of their own."""
    for item in _incidents(request, who, contract):
        if item["id"] == incident_id:
            return item
    raise AlertError(f"no incident {incident_id} for {who.tenant}")


@router.get("/alerts/{alert_id}")
def alert_detail(
    request: Request, alert_id: str, who: Analyst, contract: str = "soc-commun"
) -> dict[str, Any]:
    """One alert with its evidence (pseudonymised) and its triage history."""
    alerts, _ = _alerts(request, who, contract)
    for alert in alerts:
        if alert.id == alert_id:
            state = _state(request)
            with state.lock:
                history = operations.triage_history(state.home, who.tenant).get(alert_id, [])
            return alert.model_dump(mode="json") | {"triage": history}
    raise AlertError(f"no alert {alert_id} for {who.tenant}")


class TriageRequest(BaseModel):
    status: Literal["new", "acknowledged", "investigating", "closed", "false-positive"]
    comment: Annotated[str | None, Field(max_length=4000)] = None


@router.post("/alerts/{alert_id}/triage", status_code=201)
def triage_alert(
    request: Request,
    alert_id: str,
    body: TriageRequest,
    who: Analyst,
    contract: str = "soc-commun",
) -> dict[str, Any]:
    """Set an alert's status (and comment) for the caller's tenant; the step is in the ledger."""
    alerts, _ = _alerts(request, who, contract)
    if alert_id not in {a.id for a in alerts}:
        raise AlertError(f"no alert {alert_id} for {who.tenant}")
    state = _state(request)
    with state.lock:
        return operations.triage(
            state.home,
            who.tenant if who.tenant != SOC else SOC,
            alert_id,
            status=body.status,
            comment=body.comment,
            by_serial=f"{who.serial:x}",
        )


@router.get("/stats")
def stats(request: Request, who: Anyone) -> dict[str, Any]:
    """Events ingested per tenant and day; alerts of the caller's tenant per detector and day."""
    state = _state(request)
    with state.lock:
        volumes = operations.ingestion_volumes(state.home)
    per_detector: dict[str, int] = {}
    per_day: dict[str, int] = {}
    if who.role in ("analyst", "tenant-admin"):
        _, summaries = _alerts(request, who, "soc-commun")
        for s in summaries:
            per_detector[s["detector"]] = per_detector.get(s["detector"], 0) + 1
            day = s["first_seen"][:10]
            per_day[day] = per_day.get(day, 0) + 1
    return {
        "ingestion": volumes,
        "alerts_per_detector": per_detector,
        "alerts_per_day": dict(sorted(per_day.items())),
    }


@router.get("/contracts")
def contracts(request: Request, who: Auditor) -> list[dict[str, Any]]:
    """Every contract and its state."""
    state = _state(request)
    with state.lock:
        return operations.contract_states(state.home)


class ContractDraft(BaseModel):
    yaml: Annotated[str, Field(min_length=1, max_length=1_000_000)]


@router.post("/contracts", status_code=201)
def draft(request: Request, body: ContractDraft, who: Admin) -> dict[str, Any]:
    """The caller's tenant proposes a contract or a new version (YAML): it must be
    one of its data owners, and a new version raises the number; every owner then
    signs it (earlier signatures do not cover it). The draft is in the ledger."""
    state = _state(request)
    with state.lock:
        return operations.draft_contract(state.home, body.yaml, drafter=who.tenant)


@router.get("/contracts/{contract_id}")
def contract_detail(request: Request, contract_id: str, who: Auditor) -> dict[str, Any]:
    """Exactly what each party signs: the canonical document and its digest, and who signed."""
    state = _state(request)
    with state.lock:
        contract = operations.load_contract(state.home, contract_id)
        signed = sorted(operations.signatures(state.home, contract))
        status = operations.state_of(state.home, contract)
    return {
        "id": contract.id,
        "digest": contract_digest(contract),
        "document": contract.canonical(),
        "yaml": contract.to_yaml(),
        "signed_by": signed,
        "missing": sorted(set(contract.data_owners) - set(signed)),
        "state": status,
    }


@router.get("/contracts/{contract_id}/diff")
def contract_changes(request: Request, contract_id: str, who: Auditor) -> dict[str, Any]:
    """What changed against the previous version kept, field by field and as a unified diff."""
    state = _state(request)
    with state.lock:
        return operations.contract_diff(state.home, contract_id)


@router.post("/contracts/{contract_id}/signatures", status_code=201)
def sign(request: Request, contract_id: str, who: Admin) -> dict[str, str]:
    """The caller's tenant signs the contract as it is now."""
    state = _state(request)
    with state.lock:
        digest = operations.sign_contract(state.home, contract_id, who.tenant)
    return {"contract": contract_id, "tenant": who.tenant, "digest": digest}


@router.get("/ledger/checkpoint")
def checkpoint(request: Request, who: Anyone) -> dict[str, Any]:
    """The latest signed checkpoint (C2SP note), cosignatures included."""
    state = _state(request)
    with state.lock:
        ledger = state.home.ledger()
        return {"size": ledger.size, "note": ledger.checkpoint()}


@router.get("/ledger/entries/{index}/receipt")
def receipt(
    request: Request, index: Annotated[int, Path(ge=0, le=2**62)], who: Anyone
) -> dict[str, Any]:
    """A self-contained receipt of one entry: checkable offline with public keys."""
    state = _state(request)
    with state.lock:
        return export_receipt(state.home.ledger(), index, trust=state.home.trust())


@router.get("/ledger/proofs/inclusion")
def inclusion(
    request: Request,
    who: Anyone,
    index: Annotated[int, Query(ge=0, le=2**62)],
    size: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> dict[str, Any]:
    """An RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` (latest)."""
    state = _state(request)
    with state.lock:
        ledger = state.home.ledger()
        tree, proof = ledger.inclusion_proof(index, size)
        line = ledger.entry(index).line()
    return {
        "index": index,
        "size": tree,
        "leaf_line": line.decode(),
        "proof": [base64.b64encode(p).decode() for p in proof],
    }


@router.get("/ledger/proofs/consistency")
def consistency(
    request: Request,
    who: Anyone,
    old: Annotated[int, Query(ge=1, le=2**62)],
    new: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> dict[str, Any]:
    """An RFC 9162 consistency proof between two tree sizes (``new``: latest)."""
    state = _state(request)
    with state.lock:
        size, proof = state.home.ledger().consistency_proof(old, new)
    return {"old": old, "new": size, "proof": [base64.b64encode(p).decode() for p in proof]}


@router.get("/runs")
def runs(
    request: Request, who: Annotated[Identity, Depends(allow("auditor", "operator"))]
) -> list[dict[str, Any]]:
    """Runs of every contract: when, attestation, measurement, counts, refusals."""
    state = _state(request)
    with state.lock:
        return operations.list_runs(state.home)


class RevocationRequest(BaseModel):
    reason: Annotated[str, Field(min_length=5, max_length=500)]


@router.post("/contracts/{contract_id}/revocations", status_code=201)
def revoke(
    request: Request, contract_id: str, body: RevocationRequest, who: Admin
) -> dict[str, str]:
    """The caller's tenant withdraws from the contract; no key is released for it after."""
    state = _state(request)
    with state.lock:
        digest = operations.revoke_contract(state.home, contract_id, who.tenant, reason=body.reason)
    return {"contract": contract_id, "tenant": who.tenant, "digest": digest}


class ReidentificationRequest(BaseModel):
    alert: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    reason: Annotated[str, Field(min_length=5, max_length=500)]
    contract: str = "soc-commun"
    pseudonyms: Annotated[list[str] | None, Field(min_length=1, max_length=1000)] = None


@router.post("/reidentifications", status_code=201)
def ask_reidentification(
    request: Request, body: ReidentificationRequest, who: Analyst
) -> dict[str, Any]:
    """Ask the data owners behind an alert sealed to the caller's tenant who its
    pseudonyms are (all, or those listed); one request per owner, in the ledger."""
    state = _state(request)
    with state.lock:
        made = reidentification.ask(
            state.home,
            requester=_recipient(who),
            alert_id=body.alert,
            reason=body.reason,
            contract_id=body.contract,
            pseudonyms=body.pseudonyms,
            by_serial=f"{who.serial:x}",
        )
    return {"alert": body.alert, "requests": made}


@router.get("/reidentifications")
def reidentifications(
    request: Request, who: Analyst, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """Requests the caller's tenant made (with the answers, opened) or must answer."""
    state = _state(request)
    with state.lock:
        listed = reidentification.requests(state.home, _recipient(who))
    return _page(listed, limit=limit, offset=offset, request=request)


class ReidentificationAnswer(BaseModel):
    decision: Literal["approve", "refuse"]
    reason: Annotated[str, Field(min_length=5, max_length=500)]


@router.post("/reidentifications/{request_id}/answer", status_code=201)
def answer_reidentification(
    request: Request,
    request_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
    body: ReidentificationAnswer,
    who: Admin,
) -> dict[str, Any]:
    """The owner's decision on a request addressed to its tenant; approved, its table
    resolves the pseudonyms it made, sealed to the requester; in the ledger."""
    state = _state(request)
    with state.lock:
        return reidentification.answer(
            state.home,
            request_id,
            owner=who.tenant,
            decision=body.decision,
            reason=body.reason,
            by_serial=f"{who.serial:x}",
        )


def _reviewer_name(request: Request, who: Identity, contract_id: str) -> str:
    """The recipient a person reviews as: a named reviewer of its tenant, or its authority."""
    state = _state(request)
    contract = operations.load_contract(state.home, contract_id)
    reviewers = set(contract.safeguarding.reviewers) if contract.safeguarding else set()
    for recipient in contract.recipients:
        if recipient.tenant != who.tenant:
            continue
        if who.role == "reviewer" and recipient.name in reviewers:
            return recipient.name
        if who.role == "tenant-admin" and recipient.name not in reviewers:
            return recipient.name
    raise _deny(request, who, f"no recipient of {contract_id} for {who.tenant} ({who.role})")


Reviewer = Annotated[Identity, Depends(allow("reviewer", "tenant-admin"))]


@router.get("/review")
def review_queue(
    request: Request, who: Reviewer, contract: str = "protection-mineurs"
) -> list[dict[str, Any]]:
    """Signals waiting for the caller (protection of minors); the view goes to the ledger."""
    state = _state(request)
    with state.lock:
        name = _reviewer_name(request, who, contract)
        queue = safeguarding.review_queue(state.home, name, contract_id=contract)
    return [q.alert.model_dump(mode="json") | {"status": q.status} for q in queue]


class Decision(BaseModel):
    decision: Literal["confirm", "dismiss"]
    suppress: bool = False


@router.post("/review/{signal_id}/decision", status_code=201)
def review_decision(
    request: Request,
    signal_id: str,
    body: Decision,
    who: Reviewer,
    contract: str = "protection-mineurs",
) -> dict[str, str]:
    """A person's decision on a signal (never an automatic action); in the ledger."""
    state = _state(request)
    with state.lock:
        name = _reviewer_name(request, who, contract)
        done = safeguarding.decide(
            state.home,
            name,
            signal_id,
            decision=body.decision,
            suppress=body.suppress,
            contract_id=contract,
        )
    return {"signal": signal_id, "status": done.status}


@router.get("/ledger/trust")
def trust(request: Request, who: Anyone) -> dict[str, Any]:
    """The public keys a verifier needs."""
    state = _state(request)
    with state.lock:
        return state.home.trust_bundle()


@router.get("/store/health")
def store_health(request: Request, who: Operator) -> dict[str, Any]:
    """Per node and datacenter: reachable, fragments, bytes; per object: fragments present."""
    state = _state(request)
    with state.lock:
        return storage.store_status(state.home)


@router.post("/batches", status_code=201)
async def upload(
    request: Request,
    who: Admin,
    source: Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")],
    log_format: Annotated[str, Query(alias="format")],
) -> dict[str, Any]:
    """A batch of log lines of the caller's tenant: parsed, pseudonymised, stored."""
    body = await request.body()
    if not body:
        raise ConfigError("empty batch")
    state = _state(request)
    with tempfile.TemporaryDirectory() as directory:
        path = FilePath(directory) / f"{source}.log"
        path.write_bytes(body)
        with state.lock:
            report = operations.ingest_tenant(
                state.home, who.tenant, files=[(source, log_format, path)]
            )
    return {
        "tenant": who.tenant,
        "lines": report.lines,
        "events": report.events,
        "quarantined": report.quarantined,
        "reasons": report.reasons,
        "datasets": report.datasets,
    }


async def _confiance_error(request: Request, exc: Exception) -> JSONResponse:
    for kind, status, name in _STATUS:
        if isinstance(exc, kind):
            return problem(status, name, str(exc), request.url.path)
    return await _unexpected(request, exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, "http-error", str(exc.detail), request.url.path)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    detail = f"{where}: {first.get('msg', 'invalid')}"
    return problem(422, "invalid-request", detail, request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("internal error on %s (%s)", request.url.path, type(exc).__name__)
    return problem(500, "internal-error", "the request could not be completed", request.url.path)


def create_app(home: Home) -> FastAPI:
    """The API over a consortium home; serve it with :mod:`confiance.server.tls`."""
    app = FastAPI(
        title="confiance",
        version="1",
        description="Pooled security analytics under contracts; mutual TLS only.",
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.confiance = _State(home)
    app.include_router(router)
    app.mount("/console", StaticFiles(directory=CONSOLE, html=True), name="console")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    app.add_exception_handler(ConfianceError, _confiance_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)
    return app
