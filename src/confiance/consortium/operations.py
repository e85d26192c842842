"""Operations on a consortium home: what `confiance <command>` does."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import confiance
from confiance.alerts import Alert, open_alert
from confiance.consortium.home import (
    DEFAULT_NODES,
    OPERATOR,
    OPRF_EVALUATORS,
    OPRF_THRESHOLD,
    RUNTIME,
    SOC,
    TENANTS,
    Home,
)
from confiance.consortium.metadata import Metadata
from confiance.contracts import (
    Contract,
    ContractClass,
    contract_digest,
    contract_state,
    sign_revocation,
)
from confiance.contracts import sign_contract as _sign
from confiance.detect.registry import default_parameters, detector_code_digest, detectors_of
from confiance.errors import (
    AccessDenied,
    AlertError,
    ConfigError,
    ContractError,
    KeyReleaseDenied,
    KeyStoreError,
    RuntimeJobError,
    SealError,
)
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext, check_options, parser_for
from confiance.ingest.reader import (
    ParsedBatch,
    QuarantinedLine,
    count_reasons,
    iter_parse,
    parse_bytes,
)
from confiance.ingest.recognition import recognise
from confiance.keys import (
    KeyStore,
    SecretName,
    SoftwareKeyStore,
    dataset_aad,
    decrypt_blob,
    encrypt_blob,
    new_dek,
    zero,
)
from confiance.keys.pkcs11 import Pkcs11KeyStore, TokenConfig, create_kek
from confiance.keys.pki import ConsortiumCA, certify_signing_key
from confiance.ledger import CosignatureVerifier, NoteVerifier, VerifyReport
from confiance.ledger.cosignature import verify_cosignatures
from confiance.ledger.witness import WitnessError
from confiance.pseudonym import (
    Evaluator,
    Pseudonymiser,
    ReidentificationTable,
    ThresholdPseudonymService,
    apply_policy,
    split_key,
)
from confiance.pseudonym import oprf as _oprf
from confiance.pseudonym.keyed import IdentifierKind
from confiance.runtime import (
    SIMULATED,
    DatasetKey,
    KeyService,
    RuntimeHost,
    SimulatedVerifier,
    measure_image,
)
from confiance.runtime.seal import RecipientPrivateKey, SealSuite
from confiance.store import ObjectStore

logger = logging.getLogger(__name__)

#: Per tenant: its sources, as the generator writes them.
DEFAULT_SOURCES = {
    "academie": [
        {
            "source": "sso",
            "format": "keycloak-json",
            "file": "inputs/academie/ent-sso.jsonl",
            "service": "ent",
        },
        {
            "source": "mail",
            "format": "postfix",
            "file": "inputs/academie/mail.log",
            "service": "messagerie",
        },
        {
            "source": "dmarc",
            "format": "dmarc-aggregate",
            "file": "inputs/academie/dmarc-aggregate.xml",
            "service": "messagerie",
        },
    ],
    "region": [
        {
            "source": "web",
            "format": "apache-combined",
            "file": "inputs/region/portail-access.log",
            "service": "portail-region",
        }
    ],
    "lycees": [
        {
            "source": "proxy",
            "format": "squid",
            "file": "inputs/lycees/squid-access.log",
            "service": "proxy-lycees",
        }
    ],
    "reseau": [
        {
            "source": "dns",
            "format": "bind-querylog",
            "file": "inputs/reseau/resolver-query.log",
            "service": "resolveur",
        },
        {
            "source": "flows",
            "format": "nfdump-csv",
            "file": "inputs/reseau/flows.csv",
            "service": "coeur-reseau",
        },
    ],
}
RUNTIME_JOB = "confiance.detect.jobs"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- init -------------------------------------------------------------------


def init_consortium(root: Path) -> Home:
    """Create a consortium home: keys, nodes, metadata, an empty ledger."""
    if (root / "config.yaml").exists():
        raise ConfigError(f"{root}: already a confiance home; refusing to overwrite it")
    root.mkdir(parents=True, exist_ok=True)
    home = Home(root)
    public: dict[str, dict[str, str]] = {}
    # The OPRF key is made here, split 2-of-3 into the evaluators' keystores,
    # and forgotten: from now on no single party can compute a pseudonym.
    oprf_key = bytearray(_oprf.random_scalar())
    shares = split_key(
        bytes(oprf_key), threshold=OPRF_THRESHOLD, indices=[i for _, i in OPRF_EVALUATORS]
    )
    zero(oprf_key)
    share_of = {name: shares[index] for name, index in OPRF_EVALUATORS}
    for owner in (*TENANTS, SOC, OPERATOR):
        secrets: tuple[SecretName, ...] = (SecretName.SIGNING,)
        if owner in TENANTS:
            secrets = (SecretName.KEK, SecretName.SIGNING, SecretName.RECIPIENT, SecretName.WITNESS)
        elif owner == SOC:
            secrets = (SecretName.SIGNING, SecretName.RECIPIENT, SecretName.RECIPIENT_PQ)
        elif owner == OPERATOR:  # its KEK seals the storage manifests
            secrets = (SecretName.SIGNING, SecretName.KEK)
        given = {SecretName.OPRF_SHARE: share_of[owner]} if owner in share_of else None
        store = SoftwareKeyStore.create(
            home.keystore_path(owner),
            owner=owner,
            passphrase=home.passphrase(owner, create=True),
            secrets=secrets,
            given=given,
        )
        public[owner] = store.public_keys()
        store.close()
    attestation = Ed25519PrivateKey.generate()
    home.attestation_key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(home.attestation_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            attestation.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    public[RUNTIME] = {
        "signing": base64.b64encode(
            attestation.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        ).decode(),
        "attestation": SIMULATED,
    }
    ca = ConsortiumCA(root / "pki")
    ca.create(passphrase=home.passphrase(OPERATOR))
    for tenant in TENANTS:
        certify_signing_key(
            ca,
            tenant,
            Ed25519PublicKey.from_public_bytes(base64.b64decode(public[tenant]["signing"])),
            ca_passphrase=home.passphrase(OPERATOR),
            directory=home.tenant_dir(tenant),
        )
        ca.issue(
            tenant,
            ca_passphrase=home.passphrase(OPERATOR),
            member_passphrase=home.passphrase(tenant),
            directory=home.tenant_dir(tenant),
        )
    for name, *_ in DEFAULT_NODES:
        (root / "nodes" / name).mkdir(parents=True, exist_ok=True)
    origin = "confiance.example/ledger"
    operator_key = SoftwareKeyStore.open(
        home.keystore_path(OPERATOR), passphrase=home.passphrase(OPERATOR)
    )
    vkey = NoteVerifier(origin, operator_key.signing_key().public_key()).vkey()
    operator_key.close()
    witness_vkeys = {
        tenant: CosignatureVerifier(
            f"{tenant}.witness.confiance.example",
            Ed25519PublicKey.from_public_bytes(base64.b64decode(public[tenant]["witness"])),
        ).vkey()
        for tenant in TENANTS
    }
    config: dict[str, Any] = {
        "format": "confiance-home/1",
        "tenants": list(TENANTS),
        "sources": DEFAULT_SOURCES,
        "store": {
            "k": 4,
            "m": 2,
            "backend": "isa_l_rs_cauchy",
            "nodes": [
                {
                    "name": n,
                    "path": f"nodes/{n}",
                    "datacenter": dc,
                    "operator": op,
                    "jurisdiction": j,
                }
                for n, dc, op, j in DEFAULT_NODES
            ],
        },
        "ledger": {
            "origin": origin,
            "operator_vkey": vkey,
            # A checkpoint is final once this many tenant witnesses cosigned it.
            "witnesses": {"threshold": 3, "vkeys": witness_vkeys},
        },
        "runtime": {
            "attestation": SIMULATED,
            "job": RUNTIME_JOB,
            "parameters": default_parameters(),
        },
        "pseudonyms": {
            "accounts": "threshold OPRF, RFC 9497 ristretto255-SHA512",
            "addresses": "Crypto-PAn, key = threshold-OPRF output on a fixed label",
            "threshold": OPRF_THRESHOLD,
            "evaluators": [{"name": n, "index": i} for n, i in OPRF_EVALUATORS],
            # Evaluations a requester may ask for per day, per evaluator: the brake on
            # dictionary attacks. "evaluation" is the scoring harness of the demo.
            "declared_daily_volume": {**dict.fromkeys(TENANTS, 2_000_000), "evaluation": 1_000},
        },
        # Where each tenant's data may live; enforced at write and repair.
        "residency": {t: {"jurisdiction_in": ["FR"]} for t in TENANTS},
        "public_keys": public,
    }
    home.save_config(config)
    home.meta.create()
    home.ledger().create()
    home.record(
        OPERATOR, "consortium.created", {"tenants": list(TENANTS), "nodes": len(DEFAULT_NODES)}
    )
    return home


# -- ingest -----------------------------------------------------------------


@dataclass
class IngestReport:
    tenant: str
    lines: int = 0
    events: int = 0
    datasets: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    quarantine_files: list[str] = field(default_factory=list)
    stored_bytes: int = 0
    oprf_evaluations: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    #: per file: the format it was read as (given or recognised)
    formats: dict[str, str] = field(default_factory=dict)


def _pseudonym_service(home: Home, requester: str) -> ThresholdPseudonymService:
    evaluators = (
        home.evaluators() if requester == "evaluation" else home.evaluator_clients(requester)
    )
    return ThresholdPseudonymService(
        tenant=requester,
        evaluators=evaluators,
        threshold=int(home.config["pseudonyms"]["threshold"]),
    )


def pseudonyms_of(home: Home, tenant: str, kind: str, values: Sequence[str]) -> dict[str, str]:
    """The pseudonyms the pool gives a tenant's own identifiers (for allow-lists).

    The same computation as at ingest, through the OPRF evaluators for accounts
    (counted against the tenant's declared daily volume like any other).
    """
    if tenant not in home.config["tenants"]:
        raise ConfigError(f"unknown tenant {tenant!r}")
    try:
        identifier = IdentifierKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in IdentifierKind)
        raise ConfigError(f"--kind: unknown identifier kind {kind!r} (known: {known})") from None
    service = Pseudonymiser(_pseudonym_service(home, tenant))
    return {value: service.one(identifier, value) for value in values}


def import_intel(home: Home, tenant: str, path: Path) -> dict[str, Any]:
    """A tenant's threat-intelligence feed (MISP JSON or STIX 2.1), stored as its
    reference dataset: addresses pseudonymised like its logs, encrypted, erasure-coded.
    The next joint-SOC contract names it; the ledger records the import."""
    from confiance.detect import intel

    home.require_tenant(tenant)
    indicators = intel.load_feed(path)
    service = Pseudonymiser(_pseudonym_service(home, tenant))
    now = _now()
    table = intel.reference_table(
        indicators,
        feed=path.name,
        pseudonymise_ip=lambda value: service.one(IdentifierKind.IP, value),
        created=now,
    )
    day = now[:10]
    size = _store_dataset(home, home.object_store(), tenant, intel.REFERENCE, day, table)
    counts = {k: sum(1 for i in indicators if i.kind == k) for k in ("ip", "domain")}
    home.record(tenant, "intel.imported", {"feed": path.name, "day": day, **counts})
    return {
        "tenant": tenant,
        "feed": path.name,
        "indicators": len(indicators),
        "bytes": size,
    } | counts


def _intel_datasets(home: Home) -> list[dict[str, str]]:
    from confiance.detect import intel

    with home.meta.connect() as con:
        rows = con.execute(
            "SELECT DISTINCT tenant FROM datasets WHERE source = ? ORDER BY tenant",
            (intel.REFERENCE,),
        ).fetchall()
    return [{"tenant": str(t), "source": intel.REFERENCE} for (t,) in rows]


def _quarantine(home: Home, tenant: str, source: str, records: list[dict[str, Any]]) -> Path:
    """Keep bad lines encrypted under the tenant's KEK, readable by the tenant only."""
    keystore = home.kek_store(tenant)
    name = f"{source}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    context = f"confiance-quarantine/1|{tenant}|{name}".encode()
    dek = new_dek()
    try:
        blob = encrypt_blob("\n".join(json.dumps(r) for r in records).encode(), dek, aad=context)
        wrapped = keystore.wrap_key(dek, context=context)
    finally:
        zero(dek)
    path = home.tenant_dir(tenant) / "quarantine" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "format": "confiance-quarantine/1",
                "tenant": tenant,
                "name": name,
                "lines": len(records),
                "wrapped_key": base64.b64encode(wrapped).decode(),
                "blob": base64.b64encode(blob).decode(),
            }
        ),
        encoding="utf-8",
    )
    return path


def read_quarantine(home: Home, tenant: str) -> list[dict[str, Any]]:
    """A tenant's quarantined lines, decrypted with its KEK, oldest first: for
    its own administrators to see what was refused and why."""
    home.require_tenant(tenant)
    keystore = home.kek_store(tenant)
    records: list[dict[str, Any]] = []
    with home.meta.connect() as con:
        rows = con.execute(
            "SELECT source, path FROM quarantine WHERE tenant = ? ORDER BY created, path",
            (tenant,),
        ).fetchall()
    for source, relative in rows:
        document = json.loads((home.root / relative).read_text(encoding="utf-8"))
        context = f"confiance-quarantine/1|{tenant}|{document['name']}".encode()
        dek = keystore.unwrap_key(base64.b64decode(document["wrapped_key"]), context=context)
        try:
            text = decrypt_blob(base64.b64decode(document["blob"]), dek, aad=context)
        finally:
            zero(dek)
        records.extend({"source": source} | json.loads(line) for line in text.splitlines())
    return records


def own_events(
    home: Home, tenant: str, *, source: str | None = None, day: str | None = None
) -> Iterator[pa.Table]:
    """A tenant's own stored events (pseudonymised as ingested), dataset by
    dataset, decrypted with its KEK on its side: no runtime, no contract, since
    they are its data. Each export is written to the ledger."""
    from confiance.detect import intel

    home.require_tenant(tenant)
    keystore = home.kek_store(tenant)
    store = home.object_store()
    query = "SELECT id, source, day, manifest_digest, wrapped_dek, rows FROM datasets"
    query += " WHERE tenant = ? AND source != ?"
    parameters: list[str] = [tenant, intel.REFERENCE]
    if source is not None:
        query += " AND source = ?"
        parameters.append(source)
    if day is not None:
        query += " AND day = ?"
        parameters.append(day)
    with home.meta.connect() as con:
        rows = con.execute(query + " ORDER BY day, created, id", parameters).fetchall()
    if not rows:
        raise ConfigError(
            f"tenant {tenant}: no stored events"
            + (f" of source {source}" if source else "")
            + (f" on {day}" if day else "")
        )
    home.record(
        tenant,
        "events.exported",
        {
            "tenant": tenant,
            "source": source,
            "day": day,
            "datasets": len(rows),
            "rows": sum(int(r[5]) for r in rows),
        },
    )
    for dataset_id, dataset_source, _, digest, wrapped, _ in rows:
        key = DatasetKey(str(dataset_id), tenant, str(dataset_source), bytes(wrapped))
        dek = keystore.unwrap_key(bytes(wrapped), context=key.wrap_context())
        try:
            blob = store.get(str(dataset_id), manifest_digest=str(digest))
            plaintext = decrypt_blob(blob, dek, aad=dataset_aad(tenant, str(dataset_id)))
        finally:
            zero(dek)
        yield pq.read_table(pa.BufferReader(plaintext))


def ingest_tenant(
    home: Home,
    tenant: str,
    *,
    files: Sequence[tuple[str, str, Path]] | None = None,
    progress: Callable[[str], None] | None = None,
    on_batch: Callable[[Path, ParsedBatch], None] | None = None,
    options: Mapping[str, str] | None = None,
) -> IngestReport:
    """Parse, pseudonymise, encrypt, erasure-code and record a tenant's logs.

    ``files`` is a list of (source, format, path); by default the tenant's
    configured sources. An empty format is recognised from the file's head; an
    empty source is named after the format; ``options`` are the given files'
    format options (a configured source's own by default). Files are read batch by batch; a
    dataset holds one source's events of one UTC day (a large file's day is
    split over several). ``on_batch`` sees every batch as it is read.
    """
    home.require_tenant(tenant)
    configured = home.config["sources"].get(tenant, [])
    configured_options = {s["source"]: dict(s.get("options") or {}) for s in configured}
    if files is None:
        files = [(s["source"], s["format"], home.root / s["file"]) for s in configured]
    if not files:
        raise ConfigError(f"tenant {tenant}: no source configured and no file given")
    run = _TenantIngest(home, tenant)
    for given_source, given_format, path in files:
        fmt = given_format or recognise(path)
        source = given_source or fmt
        chosen = dict(options) if options is not None else configured_options.get(source, {})
        check_options(fmt, chosen)
        if progress:
            progress(f"{tenant}: parsing {path.name} ({fmt})")
        context = run.context(source, chosen)
        batches = iter_parse(path, format=fmt, context=context)
        run.add(source, path, fmt, batches, on_batch=on_batch)
        if progress:
            progress(f"{tenant}: stored {source}")
    return run.finish()


def ingest_data(
    home: Home,
    tenant: str,
    *,
    source: str,
    log_format: str,
    data: bytes,
    name: str,
    first_line: int = 1,
    quarantined: Sequence[QuarantinedLine] = (),
    options: Mapping[str, str] | None = None,
) -> IngestReport:
    """Parse, pseudonymise, encrypt, erasure-code and record lines already in
    memory (an agent's batch), as if they were the file ``name`` from its line
    ``first_line`` on; with lines the sender already refused (``quarantined``),
    kept like the parser's own."""
    home.require_tenant(tenant)
    parser_for(log_format)
    check_options(log_format, options or {})
    run = _TenantIngest(home, tenant)
    path = Path(name)
    context = run.context(source, options or {})
    batches: Iterable[ParsedBatch] = (
        parse_bytes(data, path=path, format=log_format, context=context) if data else ()
    )
    run.add(source, path, log_format, batches, quarantined=quarantined, line_offset=first_line - 1)
    return run.finish()


class _TenantIngest:
    """One ingest run of a tenant: its pseudonymiser, and the report of every
    file or batch added to it."""

    def __init__(self, home: Home, tenant: str) -> None:
        self.home, self.tenant = home, tenant
        configured = home.config["sources"].get(tenant, [])
        self.services = {s["source"]: s.get("service", s["source"]) for s in configured}
        self.reid = ReidentificationTable(
            home.tenant_dir(tenant) / "reid.json", home.kek_store(tenant)
        )
        self.pseudonymiser = Pseudonymiser(
            _pseudonym_service(home, tenant), known=self.reid.entries()
        )
        self.store = home.object_store()
        self.report = IngestReport(tenant)

    def context(self, source: str, options: Mapping[str, str]) -> ParseContext:
        return ParseContext(
            tenant=self.tenant,
            service=self.services.get(source, source),
            geo=DEMO_GEO,
            options=dict(options),
        )

    def add(
        self,
        source: str,
        path: Path,
        fmt: str,
        batches: Iterable[ParsedBatch],
        *,
        on_batch: Callable[[Path, ParsedBatch], None] | None = None,
        quarantined: Sequence[QuarantinedLine] = (),
        line_offset: int = 0,
    ) -> None:
        report = self.report
        writer = _DatasetWriter(self.home, self.store, self.tenant, source, report)
        refused = list(quarantined)
        lines = 0
        for batch in batches:
            report.events += batch.table.num_rows
            for reason, count in batch.ignored.items():
                report.ignored[reason] = report.ignored.get(reason, 0) + count
            refused.extend(
                dataclasses.replace(q, line=q.line + line_offset) if line_offset else q
                for q in batch.quarantined
            )
            if batch.table.num_rows:
                writer.add(apply_policy(batch.table, self.pseudonymiser))
            lines = batch.lines
            if on_batch:
                on_batch(path, batch)
        writer.flush()
        report.lines += lines + len(quarantined)
        report.formats[str(path)] = fmt
        if refused:
            _record_quarantine(self.home, self.tenant, source, refused, report)

    def finish(self) -> IngestReport:
        self.reid.update(self.pseudonymiser.mapping)
        self.report.oprf_evaluations = self.pseudonymiser.evaluated
        return self.report


def _record_quarantine(
    home: Home, tenant: str, source: str, quarantined: list[QuarantinedLine], report: IngestReport
) -> None:
    """Keep a file's refused lines encrypted in quarantine, counted in the report and the ledger."""
    reasons = count_reasons(quarantined)
    report.quarantined += len(quarantined)
    for reason, count in reasons.items():
        report.reasons[reason] = report.reasons.get(reason, 0) + count
    qpath = _quarantine(
        home,
        tenant,
        source,
        [{"file": q.file, "line": q.line, "reason": q.reason, "raw": q.raw} for q in quarantined],
    )
    relative = str(qpath.relative_to(home.root))
    report.quarantine_files.append(relative)
    with home.meta.connect() as con:
        con.execute(
            "INSERT INTO quarantine (tenant, source, lines, path, created) VALUES (?,?,?,?,?)",
            (tenant, source, len(quarantined), relative, _now()),
        )
    home.record(
        tenant,
        "ingest.quarantined",
        {"tenant": tenant, "source": source, "lines": len(quarantined), "reasons": reasons},
    )


class _DatasetWriter:
    """Pseudonymised batches gathered per UTC day and stored as datasets of up to
    ``FLUSH_ROWS`` events, so that a file of any size is stored in bounded memory."""

    FLUSH_ROWS = 500_000

    def __init__(
        self, home: Home, store: ObjectStore, tenant: str, source: str, report: IngestReport
    ) -> None:
        self.home, self.store, self.tenant, self.source = home, store, tenant, source
        self.report = report
        self.days: dict[str, list[pa.Table]] = {}
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        days = pc.strftime(table.column("@timestamp"), format="%Y-%m-%d")
        for day in pc.unique(days).to_pylist():
            self.days.setdefault(day, []).append(table.filter(pc.equal(days, day)))
        self.rows += table.num_rows
        if self.rows >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for day in sorted(self.days):
            part = pa.concat_tables(self.days[day])
            self.report.stored_bytes += _store_dataset(
                self.home, self.store, self.tenant, self.source, day, part
            )
            self.report.datasets += 1
        self.days.clear()
        self.rows = 0


def _store_dataset(
    home: Home, store: ObjectStore, tenant: str, source: str, day: str, table: pa.Table
) -> int:
    keystore = home.kek_store(tenant)
    dataset_id = uuid.uuid4().hex
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    dek = new_dek()
    try:
        blob = encrypt_blob(buffer.getvalue(), dek, aad=dataset_aad(tenant, dataset_id))
        key = DatasetKey(dataset_id, tenant, source, b"")
        wrapped = keystore.wrap_key(dek, context=key.wrap_context())
    finally:
        zero(dek)
    digest = hashlib.sha256(blob).hexdigest()  # the ciphertext, as the ledger commits to it
    manifest = store.put(
        dataset_id,
        blob,
        policy=home.residency(tenant),
        owner=tenant,
        attributes={"tenant": tenant, "source": source, "day": day},
    )
    with home.meta.connect() as con:
        con.execute(
            "INSERT INTO datasets VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                dataset_id,
                tenant,
                source,
                day,
                table.num_rows,
                len(blob),
                digest,
                manifest.digest(),
                wrapped,
                _now(),
            ),
        )
    home.record(
        tenant,
        "dataset.ingested",
        {
            "dataset": dataset_id,
            "tenant": tenant,
            "source": source,
            "day": day,
            "rows": table.num_rows,
            "sha256": digest,
            "manifest": manifest.digest(),
            "codec": f"{manifest.backend} {manifest.k}+{manifest.m}",
        },
    )
    return len(blob)


# -- contracts ----------------------------------------------------------------


def runtime_config(home: Home) -> dict[str, Any]:
    runtime = home.config["runtime"]
    return {"job": runtime["job"], "parameters": runtime["parameters"]}


def new_contract(home: Home, contract_id: str = "soc-commun", *, today: date | None = None) -> Path:
    """Write the default joint-SOC contract for every tenant's datasets."""
    today = today or datetime.now(UTC).date()
    path = home.contract_path(contract_id)
    if path.exists():
        raise ContractError(f"{path}: already exists")
    analyses = detectors_of()  # every standard analysis: behavioural, then the Sigma rules
    keys = home.config["public_keys"]
    document = {
        "id": contract_id,
        "version": 1,
        "purpose": (
            "Joint detection of cyber-attacks against the digital services of the "
            "Académie, the Région, the lycées and the regional network."
        ),
        "legal_basis": {
            "article": "GDPR Art. 6(1)(e) and Art. 32",
            "text": "Task carried out in the public interest: security of the information "
            "systems of the parties (NIS 2 Directive, Art. 21).",
        },
        "parties": [{"tenant": t, "role": "data-owner"} for t in home.config["tenants"]],
        "datasets": [
            {"tenant": t, "source": s["source"]}
            for t in home.config["tenants"]
            for s in home.config["sources"].get(t, [])
        ]
        + _intel_datasets(home),  # the threat-intelligence feeds members imported
        "analyses": [{"detector": a, "code_digest": detector_code_digest(a)} for a in analyses],
        "runtime_measurement": measure_image(Path(confiance.__file__).parent, runtime_config(home)),
        "recipients": [
            {
                "name": f"rssi-{t}",
                "tenant": t,
                "public_key": keys[t]["recipient"],
                "scope": "own-data",
                "analyses": analyses,
            }
            for t in home.config["tenants"]
        ]
        + [
            {
                # The joint SOC keeps results longest: sealed post-quantum (hybrid KEM).
                "name": SOC,
                "suite": "mlkem768-x25519",
                "public_key": keys[SOC]["recipient_hybrid"],
                "scope": "all",
                "analyses": analyses,
            }
        ],
        "retention_days": 365,
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=365)).isoformat(),
    }
    return write_draft(home, Contract.model_validate(document))


def _history(home: Home, contract_id: str) -> Path:
    return home.root / "contracts" / "history" / contract_id


def archive_version(home: Home, contract: Contract) -> Path:
    """Keep a copy of this version (by version and digest) so later ones can be compared."""
    digest = contract_digest(contract).removeprefix("sha256:")[:16]
    path = _history(home, contract.id) / f"v{contract.version}-{digest}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(contract.to_yaml(), encoding="utf-8")
    return path


def contract_diff(home: Home, contract_id: str) -> dict[str, Any]:
    """The contract as it is now against the last other version kept: field by field."""
    from confiance.contracts.diff import changes, unified

    current = load_contract(home, contract_id)
    digest = contract_digest(current)
    older = []
    for path in _history(home, contract_id).glob("v*.yaml"):
        kept = Contract.load(path)
        if contract_digest(kept) != digest and kept.version <= current.version:
            older.append((kept.version, path.stat().st_mtime, kept))
    if not older:
        return {"contract": contract_id, "current": digest, "previous": None, "changes": []}
    previous = max(older, key=lambda item: (item[0], item[1]))[2]
    return {
        "contract": contract_id,
        "current": digest,
        "previous": contract_digest(previous),
        "previous_version": previous.version,
        "changes": changes(previous, current),
        "unified": unified(
            previous,
            current,
            old_name=f"{contract_id} v{previous.version}",
            new_name=f"{contract_id} v{current.version}",
        ),
    }


def write_draft(home: Home, contract: Contract, *, drafted_by: str | None = None) -> Path:
    """Write a drafted contract to the home and record the draft (its digest) in the ledger."""
    path = home.contract_path(contract.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    archive_version(home, contract)
    path.write_text(
        f"# Data-use contract of class {contract.contract_class.value}. "
        "Any change voids every signature.\n" + contract.to_yaml(),
        encoding="utf-8",
    )
    home.record(
        OPERATOR,
        "contract.drafted",
        {
            "contract": contract.id,
            "version": contract.version,
            "digest": contract_digest(contract),
            "owners": list(contract.data_owners),
            "class": contract.contract_class.value,
            "drafted_by": drafted_by,
        },
    )
    return path


def draft_contract(home: Home, text: str, *, drafter: str) -> dict[str, Any]:
    """A data owner proposes a contract, or a new version of one (YAML).

    The drafter must be a data owner of the draft and, for a new version, of
    the version in force, whose number it must raise. Any signature of an
    earlier version does not cover the draft: every owner signs again.
    """
    contract = Contract.from_yaml(text, where="draft")

    def refused(reason: str, message: str) -> AccessDenied:
        body = {"contract": contract.id, "drafter": drafter, "reason": reason}
        home.record(OPERATOR, "contract.draft-denied", body)
        return AccessDenied(f"contract {contract.id}: {drafter} is not {message}")

    if drafter not in contract.data_owners:
        raise refused("not a data owner of it", "one of its data owners")
    path = home.contract_path(contract.id)
    if path.exists():
        current = Contract.load(path)
        if drafter not in current.data_owners:
            raise refused("not an owner in force", f"a data owner of version {current.version}")
        if contract.version <= current.version:
            raise ContractError(
                f"draft: field version: {contract.version} must be above the version in "
                f"force ({current.version})"
            )
    write_draft(home, contract, drafted_by=drafter)
    return {
        "id": contract.id,
        "version": contract.version,
        "digest": contract_digest(contract),
        "state": state_of(home, contract),
        "missing": sorted(set(contract.data_owners) - set(signatures(home, contract))),
    }


def contract_states(home: Home) -> list[dict[str, Any]]:
    """Every contract of the home: version, who signed, and its state."""
    rows: list[dict[str, Any]] = []
    for path in sorted((home.root / "contracts").glob("*.yaml")):
        contract = load_contract(home, path.stem)
        signed = sorted(signatures(home, contract))
        rows.append(
            {
                "id": contract.id,
                "version": contract.version,
                "signed_by": signed,
                "complete": set(signed) >= set(contract.data_owners),
                "state": state_of(home, contract),
            }
        )
    return rows


def list_runs(home: Home) -> list[dict[str, Any]]:
    """Every run: contract, start, status, attestation, measurement, counts, reason."""
    with home.meta.connect() as con:
        rows = con.execute(
            "SELECT id, contract, started, status, attestation, measurement, events, findings, "
            "reason FROM runs ORDER BY started, rowid"
        ).fetchall()
    names = ("id", "contract", "started", "status", "attestation", "measurement", "events")
    return [dict(zip((*names, "findings", "reason"), row, strict=True)) for row in rows]


def latest_run(home: Home, contract_id: str) -> str | None:
    """The id of the contract's latest completed run, if any."""
    with home.meta.connect() as con:
        row = con.execute(
            "SELECT id FROM runs WHERE contract = ? AND status = 'done' "
            "ORDER BY started DESC, rowid DESC LIMIT 1",
            (contract_id,),
        ).fetchone()
    return None if row is None else str(row[0])


def load_contract(home: Home, contract_id: str) -> Contract:
    return Contract.load(home.contract_path(contract_id))


def _owner_signatures(home: Home, table: str, contract: Contract) -> dict[str, bytes]:
    assert table in ("signatures", "revocations")
    with home.meta.connect() as con:
        rows = con.execute(
            f"SELECT tenant, signature FROM {table} WHERE contract = ? AND digest = ?",
            (contract.id, contract_digest(contract)),
        ).fetchall()
    return {tenant: bytes(sig) for tenant, sig in rows}


def signatures(home: Home, contract: Contract) -> dict[str, bytes]:
    """The owners' signatures of this exact version of the contract."""
    return _owner_signatures(home, "signatures", contract)


def revocations(home: Home, contract: Contract) -> dict[str, bytes]:
    """The owners' signed withdrawals from this version of the contract."""
    return _owner_signatures(home, "revocations", contract)


def revoke_contract(home: Home, contract_id: str, tenant: str, *, reason: str) -> str:
    """An owner withdraws its participation; no key of any owner is released after."""
    home.require_owner(tenant)
    if len(reason.strip()) < 5:
        raise ConfigError("--reason: say why the participation is withdrawn")
    contract = load_contract(home, contract_id)
    signature = sign_revocation(contract, tenant=tenant, key=home.keystore(tenant).signing_key())
    digest = contract_digest(contract)
    with home.meta.connect() as con:
        con.execute(
            "INSERT OR REPLACE INTO revocations VALUES (?,?,?,?,?)",
            (contract.id, digest, tenant, signature, reason[:200]),
        )
    home.record(
        tenant,
        "contract.revoked",
        {
            "contract": contract.id,
            "version": contract.version,
            "digest": digest,
            "signature": base64.b64encode(signature).decode(),
            "reason": reason[:200],
        },
    )
    return digest


def _rewrap_all(
    home: Home, tenant: str, rewrap: Callable[[bytes, bytes], bytes], target: KeyStore
) -> dict[str, int]:
    """Re-wrap every data key of ``tenant`` (datasets, quarantine, its table) with ``rewrap``."""
    with home.meta.connect() as con:
        rows = con.execute(
            "SELECT id, source, wrapped_dek FROM datasets WHERE tenant = ?", (tenant,)
        ).fetchall()
        for dataset_id, source, wrapped in rows:
            context = DatasetKey(dataset_id, tenant, source, b"").wrap_context()
            con.execute(
                "UPDATE datasets SET wrapped_dek = ? WHERE id = ?",
                (rewrap(bytes(wrapped), context), dataset_id),
            )
    files = 0
    for path in sorted((home.tenant_dir(tenant) / "quarantine").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        context = f"confiance-quarantine/1|{tenant}|{document['name']}".encode()
        document["wrapped_key"] = base64.b64encode(
            rewrap(base64.b64decode(document["wrapped_key"]), context)
        ).decode()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document), encoding="utf-8")
        tmp.replace(path)
        files += 1
    table_path = home.tenant_dir(tenant) / "reid.json"
    entries = ReidentificationTable(table_path, home.kek_store(tenant)).entries()
    table_path.unlink(missing_ok=True)
    ReidentificationTable(table_path, target).update(entries)  # fresh key under the target
    return {"datasets": len(rows), "quarantine_files": files, "tables": 1}


def rotate_kek(home: Home, tenant: str) -> dict[str, int]:
    """Give the tenant a new KEK and re-wrap every key under it; no data is re-encrypted.

    Crash-safe: the keystore holds both KEKs until every wrapped key is
    re-wrapped, so whatever is interrupted still opens; run it again to finish.
    """
    home.require_tenant(tenant)
    if home.kek_store(tenant) is not home.keystore(tenant):
        raise ConfigError(
            f"{tenant}: its KEK is in an HSM; rotate it there (keys use-hsm with "
            "a new label re-wraps everything under the new key)"
        )
    keystore, passphrase = home.keystore(tenant), home.passphrase(tenant)
    if not keystore.rotation_under_way():
        keystore.begin_kek_rotation(passphrase=passphrase)
    counts = _rewrap_all(home, tenant, lambda w, c: keystore.rewrap_key(w, context=c), keystore)
    keystore.finish_kek_rotation(passphrase=passphrase)
    home.record(tenant, "keys.kek-rotated", {"tenant": tenant, **counts})
    return counts


def use_hsm(home: Home, tenant: str, *, module: str, token: str, label: str) -> dict[str, int]:
    """Move a tenant's KEK into a PKCS#11 token: every data key re-wrapped by the token."""
    home.require_tenant(tenant)
    config = TokenConfig(module, token, label)
    pin = home.pkcs11_pin(tenant)
    create_kek(config, pin=pin)
    target = Pkcs11KeyStore(config, pin=pin, software=home.keystore(tenant))
    source = home.kek_store(tenant)

    def rewrap(wrapped: bytes, context: bytes) -> bytes:
        key = source.unwrap_key(wrapped, context=context)
        try:
            return target.wrap_key(key, context=context)
        finally:
            zero(key)

    try:
        counts = _rewrap_all(home, tenant, rewrap, target)
    finally:
        target.close()
    settings = home.config
    settings.setdefault("keystores", {})[tenant] = {
        "backend": "pkcs11",
        "module": module,
        "token": token,
        "kek_label": label,
    }
    home.save_config(settings)
    home.forget_kek_store(tenant)
    home.record(tenant, "keys.kek-moved-to-hsm", {"tenant": tenant, "token": token, **counts})
    return counts


def state_of(home: Home, contract: Contract) -> str:
    return contract_state(
        contract,
        signatures=signatures(home, contract),
        revocations=revocations(home, contract),
        keys=home.signing_public_keys(),
        today=datetime.now(UTC).date(),
    )


def sign_contract(home: Home, contract_id: str, tenant: str) -> str:
    """The owner signs the contract as it is on disk now; returns its digest."""
    home.require_owner(tenant)
    contract = load_contract(home, contract_id)
    archive_version(home, contract)
    signature = _sign(contract, tenant=tenant, key=home.keystore(tenant).signing_key())
    digest = contract_digest(contract)
    already_active = state_of(home, contract) == "active"
    with home.meta.connect() as con:
        con.execute(
            "INSERT OR REPLACE INTO signatures VALUES (?,?,?,?)",
            (contract.id, digest, tenant, signature),
        )
    home.record(
        tenant,
        "contract.signed",
        {
            "contract": contract.id,
            "version": contract.version,
            "digest": digest,
            "signature": base64.b64encode(signature).decode(),
        },
    )
    if not already_active and state_of(home, contract) == "active":
        home.record(
            OPERATOR,
            "contract.activated",
            {
                "contract": contract.id,
                "version": contract.version,
                "digest": digest,
            },
        )
    return digest


# -- runs ---------------------------------------------------------------------


@dataclass
class RunReport:
    run: str
    contract: str
    attestation: str
    measurement: str
    events: int
    findings: int
    sealed: int
    recipients: dict[str, int]


def _ledger_writer(home: Home, actor: str) -> Callable[[str, Mapping[str, Any]], None]:
    def write(kind: str, body: Mapping[str, Any]) -> None:
        home.record(actor, kind, dict(body))

    return write


def _recipient_names(contract: Contract) -> set[str]:
    return {r.name for r in contract.recipients}


def run_contract(
    home: Home,
    contract_id: str,
    *,
    image: Path | None = None,
    recipients: Sequence[str] = (),
) -> RunReport:
    """Run a contract's analyses in the runtime; results sealed to its recipients."""
    contract = load_contract(home, contract_id)
    run_id = uuid.uuid4().hex[:16]
    unknown = sorted(set(recipients) - _recipient_names(contract))
    if unknown:
        home.record(
            OPERATOR,
            "results.denied",
            {
                "run": run_id,
                "contract": contract.id,
                "recipients": unknown,
                "reason": "recipient not named in the contract",
            },
        )
        raise AccessDenied(
            f"contract {contract.id}: recipient {', '.join(unknown)} is not named in it; "
            "no result will be sealed to it"
        )
    sigs = signatures(home, contract)
    revoked = revocations(home, contract)
    verifier = SimulatedVerifier(home.signing_public_keys()[RUNTIME])
    # Owners' keys come from their certificates, checked against the consortium CA.
    try:
        public_keys = home.certified_signing_keys()
    except KeyStoreError as exc:
        home.record(OPERATOR, "run.failed", {"contract": contract.id, "reason": str(exc)})
        raise KeyReleaseDenied(f"no key released: {exc}") from None
    with home.meta.connect() as con:
        con.execute(
            "INSERT INTO runs (id, contract, started, status, attestation) VALUES (?,?,?,?,?)",
            (run_id, contract.id, _now(), "started", SIMULATED),
        )
        rows = con.execute(
            "SELECT id, tenant, source, manifest_digest, wrapped_dek, day FROM datasets ORDER BY id"
        ).fetchall()
    home.record(
        OPERATOR,
        "run.requested",
        {
            "run": run_id,
            "contract": contract.id,
            "digest": contract_digest(contract),
            "attestation": SIMULATED,
        },
    )

    def release(evidence: Any, nonce: bytes) -> list[dict[str, str]]:
        described = []
        for tenant in contract.data_owners:
            mine = [
                DatasetKey(r[0], r[1], r[2], bytes(r[4]), date.fromisoformat(r[5]))
                for r in rows
                if r[1] == tenant and contract.covers(r[1], r[2], date.fromisoformat(r[5]))
            ]
            if not mine:
                continue
            service = KeyService(
                tenant=tenant,
                keystore=home.kek_store(tenant),
                verifier=verifier,
                signing_keys=public_keys,
                ledger=_ledger_writer(home, tenant),
            )
            sealed = service.release(
                contract=contract,
                signatures=sigs,
                revocations=revoked,
                evidence=evidence,
                nonce=nonce,
                run_id=run_id,
                datasets=mine,
            )
            digests = {r[0]: r[3] for r in rows}
            store = home.object_store()
            described += [
                {
                    "id": d.dataset_id,
                    "tenant": d.tenant,
                    "source": d.source,
                    "manifest_digest": digests[d.dataset_id],
                    # opened here: the runtime holds no key to the sealed manifests
                    "manifest": base64.b64encode(
                        store.manifest(d.dataset_id, digest=digests[d.dataset_id]).to_bytes()
                    ).decode(),
                    "sealed_dek": base64.b64encode(sealed[d.dataset_id]).decode(),
                }
                for d in mine
            ]
        if not described:
            raise KeyReleaseDenied(f"contract {contract.id}: no dataset of it has been ingested")
        return described

    host = RuntimeHost(
        config=runtime_config(home),
        attestation_key_path=home.attestation_key_path,
        verifier=verifier,
        image=image,
    )
    try:
        outcome = host.run(
            contract=contract, run_id=run_id, store=home.store_descriptor(), release=release
        )
    except (KeyReleaseDenied, RuntimeJobError) as exc:
        with home.meta.connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, reason = ? WHERE id = ?", ("refused", str(exc), run_id)
            )
        home.record(
            OPERATOR, "run.failed", {"run": run_id, "contract": contract.id, "reason": str(exc)}
        )
        raise
    receipt = outcome.receipt
    per_recipient: dict[str, int] = {}
    with home.meta.connect() as con:
        for sealed in outcome.sealed:
            con.execute(
                "INSERT INTO results VALUES (?,?,?,?,?)",
                (run_id, sealed.recipient, sealed.result_id, sealed.detector, sealed.ciphertext),
            )
            per_recipient[sealed.recipient] = per_recipient.get(sealed.recipient, 0) + 1
        con.execute(
            "UPDATE runs SET status = ?, measurement = ?, events = ?, findings = ? WHERE id = ?",
            ("done", receipt["measurement"], receipt["events"], receipt["findings"], run_id),
        )
    home.record(
        OPERATOR,
        "run.receipt",
        {
            "receipt": receipt,
            "runtime_signature": base64.b64encode(outcome.receipt_signature).decode(),
        },
    )
    return RunReport(
        run_id,
        contract.id,
        outcome.evidence.backend,
        receipt["measurement"],
        int(receipt["events"]),
        int(receipt["findings"]),
        len(outcome.sealed),
        per_recipient,
    )


def dry_run(home: Home, contract_id: str, *, events: int = 20_000, seed: int = 1) -> dict[str, Any]:
    """What a contract would release, computed on synthetic data of the same schema.

    Nothing real is read: logs come from the generator, pseudonyms from a
    throwaway key (no evaluator is asked), no key is released and nothing is
    sealed; signatures are not needed, so owners can run it before signing.
    """
    import tempfile

    from confiance.detect import generate
    from confiance.detect.synthetic import SOURCES
    from confiance.runtime.job import enforce_output_constraints, recipients_for

    contract = load_contract(home, contract_id)
    shares = split_key(_oprf.random_scalar(), threshold=2, indices=[1, 2])
    evaluators = [Evaluator(f"dry-run-{i}", i, shares[i], {"dry-run": 10**9}) for i in (1, 2)]
    service = ThresholdPseudonymService(tenant="dry-run", evaluators=evaluators, threshold=2)
    pseudonymiser = Pseudonymiser(service)
    wanted = {(d.tenant, d.source) for d in contract.datasets}
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), events=events, seed=seed)
        for source, (tenant, name, fmt, _share) in SOURCES.items():
            if (tenant, source) not in wanted:
                continue
            context = ParseContext(tenant=tenant, service=source, geo=DEMO_GEO)
            parsed = parse_file(Path(tmp) / tenant / name, format=fmt, context=context)
            tables.append(apply_policy(parsed.table, pseudonymiser))
    job = importlib.import_module(runtime_config(home)["job"])
    findings = job.run(
        pa.concat_tables(tables) if tables else pa.table({}),
        analyses=[a.detector for a in contract.analyses],
        parameters=runtime_config(home)["parameters"],
    )
    released, withheld = enforce_output_constraints(contract, findings)
    per_recipient: dict[str, dict[str, Any]] = {
        r.name: {"results": 0, "detectors": set(), "fields": set()} for r in contract.recipients
    }
    for finding in released:
        for recipient in recipients_for(contract, finding):
            entry = per_recipient[recipient.name]
            entry["results"] += 1
            entry["detectors"].add(finding["detector"])
            entry["fields"] |= set(finding) | {f"evidence.{k}" for k in finding["evidence"]}
    return {
        "contract": contract.id,
        "mode": "DRY RUN on synthetic data",
        "events": sum(t.num_rows for t in tables),
        "findings": len(findings),
        "withheld": withheld,
        "recipients": {
            name: {
                "results": v["results"],
                "detectors": sorted(v["detectors"]),
                "fields": sorted(v["fields"]),
            }
            for name, v in per_recipient.items()
        },
    }


# -- alerts and re-identification ---------------------------------------------


def _recipient_of(home: Home, contract: Contract, who: str) -> tuple[str, SoftwareKeyStore]:
    """Map ``--as`` (a tenant or a recipient name) to its recipient entry and keystore."""
    for recipient in contract.recipients:
        if who in (recipient.name, recipient.tenant):
            owner = recipient.tenant or recipient.name
            return recipient.name, home.keystore(owner)
    raise AccessDenied(f"contract {contract.id}: {who!r} is not a recipient of its results")


def list_alerts(
    home: Home, who: str, *, contract_id: str = "soc-commun", run: str | None = None
) -> list[Alert]:
    """Open every result sealed to ``who`` (latest run by default)."""
    contract = load_contract(home, contract_id)
    if contract.contract_class is not ContractClass.STANDARD:
        home.record(
            OPERATOR,
            "results.denied",
            {"contract": contract.id, "requester": who, "reason": "review queue only"},
        )
        raise AccessDenied(
            f"contract {contract.id} is of class {contract.contract_class.value}: its results "
            "are read in the review queue (`confiance review`), where every view is recorded"
        )
    recipient, keystore = recipient_or_denied(home, contract, who)
    return open_results(home, contract, recipient, keystore, run=run)


def recipient_or_denied(home: Home, contract: Contract, who: str) -> tuple[str, SoftwareKeyStore]:
    """The recipient entry and keystore of ``who``; a refusal is written to the ledger."""
    try:
        return _recipient_of(home, contract, who)
    except AccessDenied as exc:
        actor = who if who in home.config["public_keys"] else OPERATOR
        home.record(
            actor, "results.denied", {"contract": contract.id, "requester": who, "reason": str(exc)}
        )
        raise


def opening_key(
    contract: Contract, recipient: str, keystore: SoftwareKeyStore
) -> tuple[SealSuite, RecipientPrivateKey]:
    """The HPKE suite the contract seals ``recipient``'s results with, and its private key."""
    suite = SealSuite(contract.recipient(recipient).suite.value)
    key = keystore.recipient_key() if suite is SealSuite.X25519 else keystore.recipient_hybrid_key()
    return suite, key


def open_results(
    home: Home,
    contract: Contract,
    recipient: str,
    keystore: SoftwareKeyStore,
    *,
    run: str | None = None,
    every_run: bool = False,
) -> list[Alert]:
    """Open the results sealed to ``recipient``: of one run (latest by default) or of all."""
    with home.meta.connect() as con:
        runs = con.execute(
            "SELECT id, attestation FROM runs WHERE contract = ? AND status = 'done' "
            "AND (? IS NULL OR id = ?) ORDER BY started DESC, rowid DESC",
            (contract.id, run, run),
        ).fetchall()
        if not runs:
            if run is not None:
                raise AlertError(f"contract {contract.id}: no completed run {run}")
            return []
        chosen = runs if every_run else runs[:1]
        rows = [
            (str(run_id), str(attestation), bytes(ct))
            for run_id, attestation in chosen
            for (ct,) in con.execute(
                "SELECT ciphertext FROM results WHERE run = ? AND recipient = ? ORDER BY result",
                (run_id, recipient),
            ).fetchall()
        ]
    suite, key = opening_key(contract, recipient, keystore)
    alerts = [
        open_alert(
            ciphertext,
            key,
            contract=contract.id,
            run=run_id,
            recipient=recipient,
            attestation=attestation,
            suite=suite,
        )
        for run_id, attestation, ciphertext in rows
    ]
    return sorted(alerts, key=lambda a: (a.first_seen, a.id))


def reveal(
    home: Home, alert_id: str, *, owner: str, reason: str, contract_id: str = "soc-commun"
) -> dict[str, str]:
    """The owner resolves the pseudonyms of an alert that it contributed, and only those."""
    if len(reason.strip()) < 5:
        raise ConfigError("--reason: say why re-identification is needed (5 characters at least)")
    contract = load_contract(home, contract_id)
    if owner in home.config["tenants"] and not contract.may_reidentify(owner):
        home.record(
            owner,
            "reveal.denied",
            {"alert": alert_id, "requester": owner, "reason": "contract does not allow it"},
        )
        raise AccessDenied(f"contract {contract.id}: {owner} may not re-identify under it")
    if owner not in home.config["tenants"]:
        home.record(
            OPERATOR,
            "reveal.denied",
            {"alert": alert_id, "requester": owner, "reason": "not a data owner"},
        )
        raise AccessDenied(f"{owner!r} is not a data owner: only owners re-identify their own data")
    try:
        alerts = {a.id: a for a in list_alerts(home, owner, contract_id=contract_id)}
    except (AccessDenied, SealError, AlertError) as exc:
        raise AccessDenied(str(exc)) from None
    alert = alerts.get(alert_id)
    if alert is None:
        home.record(
            owner,
            "reveal.denied",
            {"alert": alert_id, "requester": owner, "reason": "alert not sealed to this owner"},
        )
        raise AccessDenied(f"alert {alert_id}: not among the results sealed to {owner}")
    table = ReidentificationTable(home.tenant_dir(owner) / "reid.json", home.kek_store(owner))
    resolved = table.resolve(alert.pseudonyms)
    home.record(
        owner,
        "reveal.requested",
        {
            "alert": alert_id,
            "run": alert.run,
            "requester": owner,
            "reason": reason[:200],
            "pseudonyms_asked": len(alert.pseudonyms),
            "pseudonyms_resolved": len(resolved),
        },
    )
    return resolved


# -- ledger and store ----------------------------------------------------------


def verify_ledger(home: Home) -> VerifyReport:
    return home.ledger().verify(
        actor_keys=home.signing_public_keys(),
        operator=home.operator_verifier(),
        witnesses=list(home.witness_verifiers().values()),
        threshold=home.witness_threshold(),
        tsa_roots=home.tsa_roots(),
    )


def timestamp_checkpoint(home: Home) -> tuple[int, datetime]:
    """Ask the configured RFC 3161 authority to stamp the latest checkpoint."""
    from confiance.ledger.checkpoint import split_note
    from confiance.ledger.timestamp import verify_timestamp

    tsa = home.tsa()
    if tsa is None:
        raise ConfigError("no timestamp authority configured (config.yaml: ledger.tsa)")
    ledger = home.ledger()
    text, _ = split_note(ledger.checkpoint())
    size = int(text.split("\n")[1])
    token = tsa.stamp(text.encode())
    ledger.add_timestamp(size, token)
    return size, verify_timestamp(token, text.encode(), roots=tsa.roots)


def witness(home: Home, tenant: str) -> tuple[int, int]:
    """The tenant's witness checks and cosigns the latest checkpoint.

    Returns (checkpoint size, cosignatures now on it). The witness refuses a
    checkpoint that does not extend the last one it cosigned.
    """
    ledger = home.ledger()
    witness = home.witness(tenant)
    note = ledger.checkpoint()
    size = int(note.split("\n")[1])
    old = witness.last_size(ledger.origin)
    proof: list[bytes] = []
    if 0 < old <= size:
        _, proof = ledger.consistency_proof(old, size)
    try:
        line = witness.add(old=old, proof=proof, note=note)
    except WitnessError as exc:
        home.record(tenant, "witness.refused", {"size": size, "reason": str(exc)})
        raise
    ledger.add_cosignatures(size, line)
    cosigned = verify_cosignatures(ledger.checkpoint(size), list(home.witness_verifiers().values()))
    return size, len(cosigned)


def ground_truth_scores(home: Home, alerts: Sequence[Alert]) -> Mapping[str, Any]:
    from confiance.detect import load_ground_truth, score_findings

    attacks = load_ground_truth(home.inputs_dir() / "ground-truth.json")
    service = Pseudonymiser(_pseudonym_service(home, "evaluation"))
    findings = [a.model_dump(mode="json") for a in alerts]
    return score_findings(
        findings, attacks, pseudonym=lambda kind, value: service.one(IdentifierKind(kind), value)
    )


# -- triage and statistics ----------------------------------------------------------

TRIAGE_STATES = ("new", "acknowledged", "investigating", "closed", "false-positive")
_TRIAGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS triage (
    alert TEXT NOT NULL, time TEXT NOT NULL, status TEXT NOT NULL, comment TEXT,
    by_serial TEXT NOT NULL
);
"""


def triage_path(home: Home, tenant: str) -> Path:
    """Triage notes stay on the tenant's side (its own directory), not in shared metadata."""
    return home.tenant_dir(tenant) / "triage.sqlite"


def triage(
    home: Home, tenant: str, alert_id: str, *, status: str, comment: str | None, by_serial: str
) -> dict[str, Any]:
    """Record an analyst's status and comment; the ledger gets the status and a digest."""
    if status not in TRIAGE_STATES:
        raise ConfigError(f"status must be one of {', '.join(TRIAGE_STATES)}")
    if comment is not None and len(comment) > 4000:
        raise ConfigError("comment: at most 4000 characters")
    path = triage_path(home, tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Metadata(path).connect() as con:
        con.executescript(_TRIAGE_SCHEMA)
        con.execute(
            "INSERT INTO triage VALUES (?,?,?,?,?)",
            (alert_id, _now(), status, comment, by_serial),
        )
    digest = hashlib.sha256((comment or "").encode()).hexdigest() if comment else None
    home.record(
        tenant,
        "alert.triaged",
        {"alert": alert_id, "status": status, "comment_sha256": digest, "by_serial": by_serial},
    )
    return {"alert": alert_id, "status": status}


def triage_history(home: Home, tenant: str) -> dict[str, list[dict[str, Any]]]:
    """Every alert's triage steps for a tenant, oldest first."""
    path = triage_path(home, tenant)
    if not path.exists():
        return {}
    with Metadata(path).connect() as con:
        rows = con.execute(
            "SELECT alert, time, status, comment, by_serial FROM triage ORDER BY rowid"
        ).fetchall()
    history: dict[str, list[dict[str, Any]]] = {}
    for alert, time, status, comment, by in rows:
        history.setdefault(str(alert), []).append(
            {"time": time, "status": status, "comment": comment, "by_serial": by}
        )
    return history


def ingestion_volumes(home: Home) -> list[dict[str, Any]]:
    """Events stored per tenant and day (metadata the operator sees anyway)."""
    with home.meta.connect() as con:
        rows = con.execute(
            "SELECT tenant, day, sum(rows) FROM datasets GROUP BY tenant, day ORDER BY day, tenant"
        ).fetchall()
    return [{"tenant": t, "day": d, "events": int(n)} for t, d, n in rows]
