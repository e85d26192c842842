"""The streaming agent: files and syslog collected into an encrypted spool,
shipped to the platform once and only once, through restarts, crashes,
platform outages and a full spool."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.ingest.netflow import capture, free_udp_port

from confiance.consortium import Home, operations
from confiance.consortium.agent import Agent, AgentConfig, LocalPlatform, Spool, agent_status
from confiance.errors import ConfigError, KeyStoreError
from confiance.ingest.reader import QuarantinedLine

TENANT = "lycees"


def ssh_lines(start: int, count: int) -> bytes:
    return b"".join(
        b"Nov 22 10:%02d:%02d bastion sshd[%d]: Failed password for eleve%d from 95.165.3.%d "
        b"port 52211 ssh2\n" % (i // 60 % 60, i % 60, 1000 + i, i, i % 250)
        for i in range(start, start + count)
    )


class Recording:
    """A platform that keeps what it is given, and can be down."""

    def __init__(self, home: Home, down: int = 0) -> None:
        self.inner = LocalPlatform(home, TENANT)
        self.down = down
        self.batches: list[tuple[str, str, bytes, list[QuarantinedLine]]] = []

    def ship(self, **batch: Any) -> dict[str, Any]:
        if self.down:
            self.down -= 1
            raise ConnectionError("platform unreachable")
        self.batches.append(
            (batch["source"], batch["log_format"], batch["data"], batch["quarantined"])
        )
        return self.inner.ship(**batch)

    def data(self) -> bytes:
        return b"".join(b[2] for b in self.batches)


def _agent(home: Home, tmp_path: Path, platform: Recording, **extra: Any) -> Agent:
    document = {
        "tenant": TENANT,
        "files": [{"path": "auth.log", "format": "openssh", "source": "bastion"}],
        "batch": {"bytes": 4096, "seconds": 0.01},
        **extra,
    }
    (tmp_path / "agent.yaml").write_text(json.dumps(document))
    config = AgentConfig.load(tmp_path / "agent.yaml")
    return Agent(
        config,
        tenant=TENANT,
        state=tmp_path / "state",
        keystore=home.kek_store(TENANT),
        platform=platform,
    )


def test_lines_are_shipped_once_across_restarts(home: Home, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(ssh_lines(0, 100))
    platform = Recording(home)
    first = _agent(home, tmp_path, platform)
    first.run_once()
    assert first.shipped.lines == 100 and first.shipped.events == 100
    with log.open("ab") as f:
        f.write(ssh_lines(100, 50))
    second = _agent(home, tmp_path, platform)  # a restart
    second.run_once()
    assert second.shipped.lines == 50
    assert platform.data() == ssh_lines(0, 150)  # every line once, in order
    assert {b[0] for b in platform.batches} == {"bastion"}
    assert second.spool.segments() == []


def test_an_outage_of_the_platform_loses_nothing(home: Home, tmp_path: Path) -> None:
    (tmp_path / "auth.log").write_bytes(ssh_lines(0, 300))
    platform = Recording(home, down=3)
    agent = _agent(home, tmp_path, platform)
    agent.run_once()  # the platform refuses: everything stays in the spool
    waiting = agent.spool.segments()
    assert len(waiting) > 1 and agent.shipped.failures == 1
    assert "platform unreachable" in (agent.shipped.last_error or "")
    # the spool is encrypted: no account name or address in clear on disk
    for segment in waiting:
        raw = segment.path.read_bytes()
        assert b"eleve1" not in raw and b"95.165.3." not in raw
    agent.ship()
    agent.ship()
    assert agent.ship() == len(waiting) and agent.spool.segments() == []
    assert platform.data() == ssh_lines(0, 300)


def test_a_batch_spooled_before_a_crash_is_rolled_forward_not_read_again(
    home: Home, tmp_path: Path
) -> None:
    (tmp_path / "auth.log").write_bytes(ssh_lines(0, 20))
    platform = Recording(home, down=1)
    agent = _agent(home, tmp_path, platform)
    agent.collect_files(final=True)
    state = tmp_path / "state" / "spool" / "state.json"
    # the crash: the batch is durable, its positions never reached the state file
    state.write_text(json.dumps({"seq": 0, "positions": {}}))
    restarted = _agent(home, tmp_path, platform)
    restarted.run_once()
    restarted.ship()
    assert platform.data() == ssh_lines(0, 20)


def test_a_full_spool_stops_reading_until_the_platform_takes_batches(
    home: Home, tmp_path: Path
) -> None:
    (tmp_path / "auth.log").write_bytes(ssh_lines(0, 20_000))  # ~2 MB
    platform = Recording(home, down=1)
    agent = _agent(
        home, tmp_path, platform, spool={"max_bytes": 2**20}, batch={"bytes": 65536, "seconds": 1}
    )
    agent.collect_files(final=True)
    assert agent.backpressure
    assert 2**20 <= agent.spool.size() < 2**20 + 2 * 65536 * 2
    lag = agent_status(agent.config, tmp_path / "state")["files"][0]["lag_bytes"]
    assert lag > 0
    agent.ship()  # refused: still full
    assert agent.spool.full()
    agent.run_once()  # the platform is back
    while agent.collect_files(final=True):
        agent.ship()
    agent.ship()
    assert not agent.backpressure
    assert platform.data() == ssh_lines(0, 20_000)
    assert agent_status(agent.config, tmp_path / "state")["files"][0]["lag_bytes"] == 0


def test_an_altered_spool_segment_is_refused(home: Home, tmp_path: Path) -> None:
    spool = Spool(
        tmp_path / "spool", tenant=TENANT, keystore=home.kek_store(TENANT), max_bytes=2**20
    )
    spool.append(source="s", log_format="openssh", name="f", data=b"secret line\n", lines=1)
    (segment,) = spool.segments()
    raw = bytearray(segment.path.read_bytes())
    raw[-1] ^= 1
    segment.path.write_bytes(bytes(raw))
    with pytest.raises(KeyStoreError):
        spool.read(segment)
    # a header moved to another tenant or source is refused as well
    raw[-1] ^= 1  # the blob as it was
    header, _, blob = bytes(raw).partition(b"\n")
    moved = json.loads(header) | {"source": "other"}
    segment.path.write_bytes(json.dumps(moved).encode() + b"\n" + blob)
    with pytest.raises(KeyStoreError):
        spool.read(spool.segments()[0])


def test_syslog_over_tcp_and_udp_is_spooled_and_shipped(home: Home, tmp_path: Path) -> None:
    platform = Recording(home)
    agent = _agent(
        home,
        tmp_path,
        platform,
        files=[],
        syslog={"listen": ["tcp://127.0.0.1:0", "udp://127.0.0.1:0"], "source": "syslog-lycee"},
        poll_seconds=0.05,
    )
    ready = threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(agent.run(duration=3.0, on_ready=ready.set))
    )
    thread.start()
    assert ready.wait(10)
    assert agent.receiver is not None
    ports = {e.transport: e.port for e in agent.receiver.bound}
    message = (
        b"<38>1 2026-11-22T10:15:32Z bastion sshd 24680 - - Failed password for root "
        b"from 95.165.3.4 port 52211 ssh2"
    )
    with socket.create_connection(("127.0.0.1", ports["tcp"])) as s:
        s.sendall(b"%d %s" % (len(message), message) * 5)
        s.sendall(b"<13>Nov 22 10:15:33 h app: " + b"L" * 70_000 + b"\n")  # too long
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"<13>no header from a printer", ("127.0.0.1", ports["udp"]))
    thread.join(20)
    assert agent.shipped.events == 5
    shipped = platform.data().decode()
    assert shipped.count("sshd 24680") == 5
    # the relay gave the headerless datagram the sender's address
    assert " 127.0.0.1 no header from a printer" in shipped
    quarantined = [q for b in platform.batches for q in b[3]]
    assert [q.reason for q in quarantined] == ["message longer than the receiver's limit"]
    assert quarantined[0].raw.startswith("<13>Nov 22 10:15:33 h app: LLL")
    assert {b[0] for b in platform.batches} == {"syslog-lycee"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("files: [{path: a.log, format: nope}]", "field files.0.format: Value error, unknown"),
        ("syslog: {listen: ['tcp://:514']}", "field syslog.listen: Value error, listen address"),
        ("files: []", "nothing to collect"),
        ("files: [{path: a.log}]\nbogus: 1", "field bogus: Extra inputs are not permitted"),
        ("files: [a", "agent.yaml:1: not valid YAML"),
        (
            "files: [{path: a.log, format: squid, options: {log_format: x}}]",
            "format squid: unknown option 'log_format'",
        ),
        ("files: [{path: a.log, options: {log_format: x}}]", "options need the format"),
        ("flows: {listen: 'tcp://127.0.0.1:2055'}", "flows arrive over UDP"),
        ("flows: {listen: 'udp://127.0.0.1:2055', rotate_seconds: 1}", "greater than or equal"),
    ],
)
def test_bad_configurations_name_the_file_and_field(
    tmp_path: Path, document: str, message: str
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(document)
    with pytest.raises(ConfigError, match=message):
        AgentConfig.load(path)


def test_quarantined_lines_keep_their_line_number_in_the_file(home: Home, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(ssh_lines(0, 100) + b"garbage line\n" + ssh_lines(100, 100))
    platform = Recording(home)
    agent = _agent(home, tmp_path, platform)  # 4 KiB batches: the bad line is in a later one
    agent.run_once()
    assert len(platform.batches) >= 2 and b"garbage" not in platform.batches[0][2]
    assert agent.shipped.quarantined == 1 and agent.shipped.events == 200
    (entry,) = [q for q in operations.read_quarantine(home, TENANT) if q["file"] == str(log)]
    assert (entry["file"], entry["line"], entry["raw"]) == (str(log), 101, "garbage line")
    assert entry["source"] == "bastion" and entry["reason"] == "not an sshd syslog line"


def test_a_batch_refused_as_a_whole_goes_to_quarantine_not_back_to_the_spool(
    home: Home, tmp_path: Path
) -> None:
    (tmp_path / "auth.log").write_bytes(b"".join(b"not ssh at all %d\n" % i for i in range(30)))
    platform = Recording(home)
    agent = _agent(home, tmp_path, platform)
    agent.run_once()
    assert agent.spool.segments() == []
    assert agent.shipped.quarantined == 30 and agent.shipped.failures == 0
    refused = [q for b in platform.batches for q in b[3]]
    assert [q.line for q in refused] == list(range(1, 31))
    assert "no line is in the openssh format" in refused[0].reason


@pytest.mark.slow
def test_netflow_collected_by_nfcapd_is_spooled_and_shipped(home: Home, tmp_path: Path) -> None:
    port = free_udp_port()
    platform = Recording(home)
    agent = _agent(
        home,
        tmp_path,
        platform,
        files=[],
        flows={"listen": f"udp://127.0.0.1:{port}", "source": "netflow-core", "rotate_seconds": 2},
        poll_seconds=0.1,
    )
    capture(tmp_path / "scan.pcap")
    ready = threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(agent.run(duration=5.0, on_ready=ready.set))
    )
    thread.start()
    assert ready.wait(10)
    subprocess.run(
        [shutil.which("softflowd") or "/usr/sbin/softflowd", "-r", str(tmp_path / "scan.pcap"),
         "-n", f"127.0.0.1:{port}", "-v", "9"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    thread.join(30)
    assert agent.shipped.events == 41
    assert {b[0] for b in platform.batches} == {"netflow-core"}
    assert {b[1] for b in platform.batches} == {"nfdump-csv"}
    # nothing left in clear: capture files are removed once spooled
    assert list((tmp_path / "state" / "flows").glob("nfcapd.2*")) == []


def test_a_rotated_file_keeps_its_own_name_and_line_numbers(home: Home, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(ssh_lines(0, 3))
    platform = Recording(home)
    agent = _agent(home, tmp_path, platform)
    agent.run_once()
    with log.open("ab") as f:
        f.write(b"bad line before rotation\n")
    log.rename(tmp_path / "auth.log.1")
    log.write_bytes(b"bad line after rotation\n" + ssh_lines(3, 2))
    agent.run_once()
    refused = [
        (q["file"], q["line"], q["raw"])
        for q in operations.read_quarantine(home, TENANT)
        if q["raw"].startswith("bad line")
    ]
    assert sorted(refused) == [
        (str(log), 1, "bad line after rotation"),
        (str(tmp_path / "auth.log.1"), 4, "bad line before rotation"),
    ]
    assert platform.data().count(b"sshd[") == 5
