"""The streaming agent on a data owner's side: tails log files and receives
syslog, keeps what it collected in an encrypted local spool, and ships the
spool to the platform, oldest first.

Nothing is lost and nothing is read twice:

* a batch is first written to the spool (encrypted under the tenant's KEK,
  fsynced) together with the file positions after it; the positions become
  the restart point only once their batch is durable, and a batch whose
  positions were not yet recorded when the agent stopped is rolled forward
  at the next start, never read again;
* a batch leaves the spool only once the platform has taken it; while the
  platform is down the spool grows, up to its limit (sized for an hour's
  outage by default);
* when the spool is full, files stop being read (they are their own buffer),
  the syslog receiver stops reading TCP and TLS connections (their senders
  wait), and UDP datagrams are dropped and counted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from confiance.consortium.home import Home
from confiance.errors import ConfigError, IngestError
from confiance.ingest.flows import FlowCollector
from confiance.ingest.parsers import PARSERS, check_options
from confiance.ingest.reader import QUARANTINE_KEEP, QuarantinedLine
from confiance.ingest.receiver import Endpoint, ReceivedBatch, SyslogReceiver, tls_context
from confiance.ingest.recognition import recognise
from confiance.ingest.syslog import relay_lines
from confiance.ingest.tail import FileTail, TailPosition
from confiance.keys import KeyStore, decrypt_blob, encrypt_blob, new_dek, zero

logger = logging.getLogger(__name__)

SPOOL_FORMAT = "confiance-spool/1"
#: a spool segment of messages refused before parsing (over-long syslog messages)
QUARANTINE = "quarantine"


# -- configuration ---------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(_Strict):
    path: Path
    #: recognised from the file's first lines when omitted
    format: str | None = None
    #: dataset name; the format's name when omitted
    source: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    #: the format's options (a web server's log_format …)
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("format")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in PARSERS:
            raise ValueError(f"unknown format {value!r} (see `confiance formats`)")
        return value

    @model_validator(mode="after")
    def _options(self) -> FileSource:
        if self.options:
            if self.format is None:
                raise ValueError("options need the format to be named")
            try:
                check_options(self.format, self.options)
            except IngestError as exc:
                raise ValueError(str(exc)) from None
        return self


class SyslogTls(_Strict):
    certificate: Path
    key: Path
    #: senders must present a certificate issued by this CA
    client_ca: Path | None = None


class SyslogSource(_Strict):
    listen: list[str] = Field(min_length=1)
    source: str = Field(default="syslog", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    tls: SyslogTls | None = None

    @field_validator("listen")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                Endpoint.parse(text)
            except IngestError as exc:
                raise ValueError(str(exc)) from None
        return value


class FlowSource(_Strict):
    """NetFlow v5/v9 / IPFIX on a UDP port, collected by nfcapd (Debian package nfdump)."""

    listen: str
    source: str = Field(default="netflow", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    #: seconds per nfcapd capture file: flows reach the spool after at most this
    rotate_seconds: int = Field(default=60, ge=2, le=3600)

    @field_validator("listen")
    @classmethod
    def _udp(cls, value: str) -> str:
        try:
            endpoint = Endpoint.parse(value)
        except IngestError as exc:
            raise ValueError(str(exc)) from None
        if endpoint.transport != "udp":
            raise ValueError("flows arrive over UDP: udp://HOST:PORT")
        return value


class Batching(_Strict):
    #: a batch is closed at this size …
    bytes: int = Field(default=4 * 2**20, ge=1024)
    #: … or after this many seconds
    seconds: float = Field(default=5.0, gt=0)


class SpoolLimits(_Strict):
    #: spool size beyond which reading stops (backpressure)
    max_bytes: int = Field(default=2**30, ge=2**20)


class AgentConfig(_Strict):
    tenant: str | None = None
    #: where positions, the spool and the status live (relative to the config file)
    state: Path | None = None
    files: list[FileSource] = Field(default_factory=list)
    syslog: SyslogSource | None = None
    flows: FlowSource | None = None
    batch: Batching = Batching()
    spool: SpoolLimits = SpoolLimits()
    #: seconds between two looks at the files
    poll_seconds: float = Field(default=0.5, gt=0)

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        """Parse an agent.yaml; errors name the file, the line and the field."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such agent configuration") from None
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{line}: not valid YAML") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: an agent configuration is a YAML mapping")
        try:
            config = cls.model_validate(document)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(document)"
            raise ConfigError(f"{path}: field {where}: {first['msg']}") from None
        if not config.files and config.syslog is None and config.flows is None:
            raise ConfigError(f"{path}: nothing to collect (no files, syslog or flows)")
        return config.relative_to(path.parent)

    def relative_to(self, base: Path) -> AgentConfig:
        """Paths of the configuration taken from the directory of its file."""

        def at(p: Path | None) -> Path | None:
            return None if p is None else (p if p.is_absolute() else base / p)

        files = [f.model_copy(update={"path": at(f.path)}) for f in self.files]
        syslog = self.syslog
        if syslog is not None and syslog.tls is not None:
            tls = syslog.tls.model_copy(
                update={
                    "certificate": at(syslog.tls.certificate),
                    "key": at(syslog.tls.key),
                    "client_ca": at(syslog.tls.client_ca),
                }
            )
            syslog = syslog.model_copy(update={"tls": tls})
        return self.model_copy(update={"files": files, "syslog": syslog, "state": at(self.state)})


# -- the spool ------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A spooled batch: its clear header (no log content) and where it lies."""

    seq: int
    path: Path
    source: str
    log_format: str
    name: str
    lines: int
    size: int
    created: str
    positions: dict[str, dict[str, Any]]
    #: the number of the batch's first line in its file
    first_line: int
    #: the format's options
    options: dict[str, str]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace ``path`` atomically; with ``sync``, durably (fsynced) as well."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        out.write(data)
        if sync:
            out.flush()
            os.fsync(out.fileno())
    tmp.replace(path)
    if sync:
        _fsync_directory(path.parent)


class Spool:
    """Encrypted batches on the owner's disk, in order, each with the file
    positions after it; ``state.json`` records the positions of the batches
    written (a cache: the segments themselves are the truth)."""

    def __init__(self, directory: Path, *, tenant: str, keystore: KeyStore, max_bytes: int):
        self.directory = directory
        self.tenant = tenant
        self.keystore = keystore
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        self.state_path = directory / "state.json"
        state = self._load_state()
        self.seq = int(state.get("seq", 0))
        self.positions: dict[str, dict[str, Any]] = dict(state.get("positions", {}))
        for tmp in directory.glob("*.tmp"):  # a write cut short: never visible
            tmp.unlink()
        #: bytes of the segments on disk, kept as they are written and removed
        self.bytes = 0
        for segment in self.segments():
            self.bytes += segment.size
            if segment.seq > self.seq:  # durable, but its positions not yet recorded
                self.seq = segment.seq
                self.positions.update(segment.positions)
        self._save_state()

    def _load_state(self) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError:
            raise ConfigError(f"{self.state_path}: damaged agent state") from None
        return loaded

    def _save_state(self) -> None:
        body = {"format": SPOOL_FORMAT, "seq": self.seq, "positions": self.positions}
        _write_durably(self.state_path, json.dumps(body, sort_keys=True).encode())

    def _context(self, header: dict[str, Any]) -> bytes:
        return (
            f"{SPOOL_FORMAT}|{self.tenant}|".encode() + json.dumps(header, sort_keys=True).encode()
        )

    def append(
        self,
        *,
        source: str,
        log_format: str,
        name: str,
        data: bytes,
        lines: int,
        first_line: int = 1,
        positions: dict[str, dict[str, Any]] | None = None,
        options: dict[str, str] | None = None,
    ) -> int:
        """Write one batch durably, then record its positions; its sequence number."""
        with self.lock:
            seq = self.seq + 1
            header = {
                "seq": seq,
                "tenant": self.tenant,
                "source": source,
                "format": log_format,
                "name": name,
                "lines": lines,
                "first_line": first_line,
                "options": options or {},
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "positions": positions or {},
            }
            context = self._context(header)
            dek = new_dek()
            try:
                blob = encrypt_blob(data, dek, aad=context)
                wrapped = self.keystore.wrap_key(dek, context=context)
            finally:
                zero(dek)
            envelope = header | {"wrapped_key": base64.b64encode(wrapped).decode()}
            content = json.dumps(envelope, sort_keys=True).encode() + b"\n" + blob
            _write_durably(self.directory / f"{seq:012d}.seg", content)
            self.bytes += len(content)
            self.seq = seq
            self.positions.update(positions or {})
            self._save_state()
            return seq

    def segments(self) -> list[Segment]:
        """Batches waiting to be shipped, oldest first."""
        found = []
        for path in sorted(self.directory.glob("*.seg")):
            with path.open("rb") as f:
                header = json.loads(f.readline())
            found.append(
                Segment(
                    int(header["seq"]),
                    path,
                    str(header["source"]),
                    str(header["format"]),
                    str(header["name"]),
                    int(header["lines"]),
                    path.stat().st_size,
                    str(header["created"]),
                    dict(header["positions"]),
                    int(header["first_line"]),
                    dict(header.get("options") or {}),
                )
            )
        return found

    def read(self, segment: Segment) -> bytes:
        """The batch's lines, decrypted (an altered segment is refused)."""
        raw = segment.path.read_bytes()
        line, _, blob = raw.partition(b"\n")
        envelope = json.loads(line)
        wrapped = base64.b64decode(envelope.pop("wrapped_key"))
        context = self._context(envelope)
        dek = self.keystore.unwrap_key(wrapped, context=context)
        try:
            return decrypt_blob(blob, dek, aad=context)
        finally:
            zero(dek)

    def remove(self, segment: Segment) -> None:
        with self.lock:
            if segment.path.exists():
                segment.path.unlink()
                self.bytes -= segment.size

    def size(self) -> int:
        return self.bytes

    def full(self) -> bool:
        return self.size() >= self.max_bytes


# -- shipping --------------------------------------------------------------------


class Platform(Protocol):
    """Where spooled batches go; raises when it cannot take one (it is retried)."""

    def ship(
        self,
        *,
        source: str,
        log_format: str,
        name: str,
        data: bytes,
        first_line: int,
        quarantined: list[QuarantinedLine],
        options: dict[str, str],
    ) -> dict[str, Any]: ...


class LocalPlatform:
    """The platform of the embedded default: the consortium home on this machine
    (parse, pseudonymise, encrypt, erasure-code, record)."""

    def __init__(self, home: Home, tenant: str) -> None:
        self.home, self.tenant = home, tenant

    def ship(
        self,
        *,
        source: str,
        log_format: str,
        name: str,
        data: bytes,
        first_line: int,
        quarantined: list[QuarantinedLine],
        options: dict[str, str],
    ) -> dict[str, Any]:
        from confiance.consortium import operations

        report = operations.ingest_data(
            self.home,
            self.tenant,
            source=source,
            log_format=log_format,
            data=data,
            name=name,
            first_line=first_line,
            quarantined=quarantined,
            options=options,
        )
        return {"lines": report.lines, "events": report.events, "quarantined": report.quarantined}


@dataclass
class ShipStats:
    segments: int = 0
    lines: int = 0
    events: int = 0
    quarantined: int = 0
    failures: int = 0
    last_ok: str | None = None
    last_error: str | None = None


def _refused(segment: Segment, data: bytes, reason: str) -> list[QuarantinedLine]:
    """Every line of a batch the platform refused as a whole, for the quarantine."""
    return [
        QuarantinedLine(
            segment.name,
            segment.first_line + i,
            reason,
            line[:QUARANTINE_KEEP].decode("utf-8", "replace"),
        )
        for i, line in enumerate(data.splitlines())
    ]


# -- the agent ---------------------------------------------------------------------


@dataclass
class _FileState:
    config: FileSource
    tail: FileTail
    log_format: str | None = None
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    pending_lines: int = 0
    first_line: int = 1
    #: the file the pending lines came from (a rotated file keeps its own batch)
    pending_path: Path | None = None
    position: TailPosition | None = None
    since: float = field(default_factory=time.monotonic)


class Agent:
    """Collects, spools and ships one tenant's logs (see the module's docstring)."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        tenant: str,
        state: Path,
        keystore: KeyStore,
        platform: Platform,
    ) -> None:
        self.config = config
        self.tenant = tenant
        self.state = state
        self.platform = platform
        self.spool = Spool(
            state / "spool", tenant=tenant, keystore=keystore, max_bytes=config.spool.max_bytes
        )
        self.files = [
            _FileState(
                f,
                FileTail(f.path, self._position(f.path)),
                log_format=f.format,
            )
            for f in config.files
        ]
        self.shipped = ShipStats()
        self.receiver: SyslogReceiver | None = None
        self.flows: FlowCollector | None = None
        if config.flows is not None:
            self.flows = FlowCollector(
                Endpoint.parse(config.flows.listen),
                state / "flows",
                rotate_seconds=config.flows.rotate_seconds,
            )
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.backpressure = False
        self._stop = threading.Event()

    def _position(self, path: Path) -> TailPosition | None:
        saved = self.spool.positions.get(str(path))
        return None if saved is None else TailPosition.from_json(saved)

    # -- files ---------------------------------------------------------------

    def collect_files(self, *, final: bool = False) -> int:
        """Read what the files have gained; spool every batch that is full, old
        enough, or (``final``) anything pending. Lines read."""
        total = 0
        for state in self.files:
            while True:
                if self.spool.full():
                    self.backpressure = True
                    break
                self.backpressure = False
                room = self.config.batch.bytes - state.pending_bytes
                chunk = state.tail.read(max(room, 4096))
                if chunk is None:
                    break
                if state.pending and chunk.path != state.pending_path:
                    self._spool_file(state)  # line numbers restart in the next file
                if not state.pending:
                    state.first_line, state.pending_path = chunk.first_line, chunk.path
                state.pending.append(chunk.data)
                state.pending_bytes += len(chunk.data)
                lines = chunk.data.count(b"\n")
                state.pending_lines += lines
                state.position = chunk.position
                total += lines
                if state.pending_bytes >= self.config.batch.bytes:
                    self._spool_file(state)
            old = time.monotonic() - state.since >= self.config.batch.seconds
            if state.pending and (final or old):
                self._spool_file(state)
        return total

    def _spool_file(self, state: _FileState) -> None:
        if not state.pending:
            return
        path = state.config.path
        if state.log_format is None:
            state.log_format = recognise(path)
        assert state.position is not None
        self.spool.append(
            source=state.config.source or state.log_format,
            log_format=state.log_format,
            name=str(state.pending_path or path),
            data=b"".join(state.pending),
            lines=state.pending_lines,
            first_line=state.first_line,
            positions={str(path): state.position.to_json()},
            options=state.config.options,
        )
        state.pending, state.pending_bytes, state.pending_lines = [], 0, 0
        state.since = time.monotonic()

    # -- syslog --------------------------------------------------------------------

    def take_syslog(self, batch: ReceivedBatch) -> None:
        """The receiver's sink: relay and spool a batch; wait while the spool is
        full (the receiver then stops reading its TCP and TLS connections)."""
        assert self.config.syslog is not None
        while self.spool.full() and not self._stop.is_set():
            self.backpressure = True
            time.sleep(0.2)
        source = self.config.syslog.source
        if batch.messages:
            texts = pa.array([m.decode("utf-8", "replace") for m in batch.messages], pa.string())
            lines = relay_lines(texts, pa.array(batch.peers, pa.string()), received=batch.received)
            data = "\n".join(lines.to_pylist()).encode() + b"\n"
            self.spool.append(
                source=source,
                log_format="syslog",
                name=f"syslog:{batch.received:%Y-%m-%dT%H:%M:%S}",
                data=data,
                lines=len(batch.messages),
            )
        if batch.oversize:
            refused = [
                {
                    "file": f"syslog from {peer}",
                    "line": 0,
                    "reason": "message longer than the receiver's limit",
                    "raw": head[:QUARANTINE_KEEP].decode("utf-8", "replace"),
                }
                for peer, head in batch.oversize
            ]
            self.spool.append(
                source=source,
                log_format=QUARANTINE,
                name="syslog",
                data="\n".join(json.dumps(r) for r in refused).encode(),
                lines=len(refused),
            )

    # -- flows ---------------------------------------------------------------------

    def collect_flows(self) -> int:
        """Spool nfcapd's completed capture files as nfdump CSV, oldest first, and
        remove each once spooled (the spool keeps it encrypted). Files spooled."""
        if self.flows is None or self.config.flows is None:
            return 0
        key = f"flows:{self.flows.directory}"
        done = str(self.spool.positions.get(key, {}).get("last", ""))
        spooled = 0
        for capture in self.flows.completed():
            if capture.name <= done:  # spooled before a crash, not yet removed
                capture.unlink(missing_ok=True)
                continue
            if self.spool.full():
                self.backpressure = True
                break
            data = self.flows.csv(capture)
            self.spool.append(
                source=self.config.flows.source,
                log_format="nfdump-csv",
                name=str(capture),
                data=data,
                lines=data.count(b"\n"),
                positions={key: {"last": capture.name}},
            )
            capture.unlink()
            spooled += 1
        return spooled

    # -- shipping --------------------------------------------------------------------

    def ship(self) -> int:
        """Ship the spooled batches, oldest first; stops at the first the
        platform refuses (kept for the next try). Batches shipped."""
        shipped = 0
        for segment in self.spool.segments():
            if segment.seq > self.spool.seq:
                break  # still being written
            data = self.spool.read(segment)
            quarantined: list[QuarantinedLine] = []
            log_format = segment.log_format
            if log_format == QUARANTINE:
                quarantined = [QuarantinedLine(**json.loads(line)) for line in data.splitlines()]
                data, log_format = b"", "syslog"
            try:
                try:
                    result = self.platform.ship(
                        source=segment.source,
                        log_format=log_format,
                        name=segment.name,
                        data=data,
                        first_line=segment.first_line,
                        quarantined=quarantined,
                        options=segment.options,
                    )
                except IngestError as exc:
                    # the platform read the batch and refused its content (no
                    # line in its format, binary): kept in quarantine, never
                    # retried forever
                    result = self.platform.ship(
                        source=segment.source,
                        log_format=log_format,
                        name=segment.name,
                        data=b"",
                        first_line=segment.first_line,
                        quarantined=_refused(segment, data, str(exc)),
                        options=segment.options,
                    )
            except Exception as exc:  # the platform is down or refuses: keep and retry
                self.shipped.failures += 1
                self.shipped.last_error = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {exc}"
                logger.warning("shipping batch %d failed: %s", segment.seq, exc)
                return shipped
            self.spool.remove(segment)
            shipped += 1
            self.shipped.segments += 1
            self.shipped.lines += int(result.get("lines", 0))
            self.shipped.events += int(result.get("events", 0))
            self.shipped.quarantined += int(result.get("quarantined", 0))
            self.shipped.last_ok = datetime.now(UTC).isoformat(timespec="seconds")
        return shipped

    # -- running -------------------------------------------------------------------

    def run_once(self) -> None:
        """Read the files to their end, spool and ship everything, and return."""
        while self.collect_files(final=True):
            pass
        self.collect_flows()
        self.ship()
        self.write_status()

    def stop(self) -> None:
        self._stop.set()

    async def run(
        self, *, duration: float | None = None, on_ready: Callable[[], None] | None = None
    ) -> None:
        """Collect, spool and ship until stopped (a signal, or ``duration`` seconds)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):  # not the main thread
                break
        if self.config.syslog is not None:
            syslog = self.config.syslog
            context = None
            if syslog.tls is not None:
                context = tls_context(
                    syslog.tls.certificate, syslog.tls.key, client_ca=syslog.tls.client_ca
                )
            self.receiver = SyslogReceiver(
                [Endpoint.parse(e) for e in syslog.listen],
                sink=self.take_syslog,
                tls=context,
                batch_seconds=min(1.0, self.config.batch.seconds),
            )
            await self.receiver.start()
        if self.flows is not None:
            await asyncio.to_thread(self.flows.start)
        if on_ready is not None:
            on_ready()
        deadline = None if duration is None else time.monotonic() + duration
        backoff = 1.0
        next_ship = 0.0
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                await asyncio.to_thread(self.collect_files)
                await asyncio.to_thread(self.collect_flows)
                if time.monotonic() >= next_ship:
                    failures = self.shipped.failures
                    await asyncio.to_thread(self.ship)
                    if self.shipped.failures > failures:  # refused: wait longer each time
                        next_ship = time.monotonic() + backoff
                        backoff = min(backoff * 2, 60.0)
                    else:
                        backoff = 1.0
                await asyncio.to_thread(self.write_status)
                await asyncio.sleep(self.config.poll_seconds)
        finally:
            if self.receiver is not None:
                await self.receiver.stop()
            if self.flows is not None:
                await asyncio.to_thread(self.flows.stop)
            await asyncio.to_thread(self.collect_files, final=True)
            await asyncio.to_thread(self.collect_flows)
            await asyncio.to_thread(self.ship)
            await asyncio.to_thread(self.write_status)
            for state in self.files:
                state.tail.close()

    # -- status -----------------------------------------------------------------------

    def write_status(self) -> None:
        status = {
            "tenant": self.tenant,
            "pid": os.getpid(),
            "started": self.started,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "backpressure": self.backpressure,
            "shipped": self.shipped.__dict__,
            "files": {
                str(s.config.path): {
                    "rotations": s.tail.rotations,
                    "truncations": s.tail.truncations,
                    "lost_files": s.tail.lost_files,
                    "pending_bytes": s.pending_bytes,
                }
                for s in self.files
            },
            "receiver": None if self.receiver is None else self.receiver.stats.__dict__,
            "listening": ([] if self.receiver is None else [str(e) for e in self.receiver.bound])
            + ([] if self.flows is None else [f"{self.flows.endpoint} (nfcapd)"]),
        }
        # written every poll: atomic for readers, not worth an fsync each time
        data = json.dumps(status, indent=1).encode()
        _write_durably(self.state / "status.json", data, sync=False)


def agent_status(config: AgentConfig, state: Path) -> dict[str, Any]:
    """Lag per file, spool size and age, and what the running agent last reported."""
    spool_dir = state / "spool"
    saved: dict[str, Any] = {}
    segments: list[dict[str, Any]] = []
    if spool_dir.is_dir():
        state_file = spool_dir / "state.json"
        if state_file.exists():
            saved = json.loads(state_file.read_text(encoding="utf-8")).get("positions", {})
        for path in sorted(spool_dir.glob("*.seg")):
            with path.open("rb") as f:
                header = json.loads(f.readline())
            segments.append({"created": header["created"], "size": path.stat().st_size})
    files = []
    for source in config.files:
        position = saved.get(str(source.path))
        try:
            size: int | None = source.path.stat().st_size
        except FileNotFoundError:
            size = None
        offset = None if position is None else int(position["offset"])
        lag = None if size is None else size - (offset or 0)
        files.append({"path": str(source.path), "size": size, "offset": offset, "lag_bytes": lag})
    oldest = segments[0]["created"] if segments else None
    reported: dict[str, Any] = {}
    status_file = state / "status.json"
    if status_file.exists():
        reported = json.loads(status_file.read_text(encoding="utf-8"))
    age = None
    if oldest is not None:
        age = round((datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds())
    return {
        "files": files,
        "spool": {
            "segments": len(segments),
            "bytes": sum(s["size"] for s in segments),
            "oldest": oldest,
            "oldest_age_s": age,
            "max_bytes": config.spool.max_bytes,
        },
        "agent": reported,
    }
