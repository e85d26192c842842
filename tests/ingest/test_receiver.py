"""The syslog receiver over real loopback sockets: UDP, TCP with both RFC 6587
framings, TLS (RFC 5425), over-long messages, and backpressure."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from confiance.errors import IngestError
from confiance.ingest.receiver import (
    Endpoint,
    ReceivedBatch,
    StreamFramer,
    SyslogReceiver,
    tls_context,
)

MESSAGE = b"<38>1 2026-11-22T10:15:32Z bastion sshd 24680 - - Failed password for root"


def _receive(
    endpoints: list[str],
    send: Callable[[dict[str, int]], None],
    *,
    expect: int,
    tls: ssl.SSLContext | None = None,
    sink_delay: float = 0.0,
    **options: int,
) -> tuple[list[ReceivedBatch], SyslogReceiver]:
    """Run a receiver on loopback, call ``send`` with the bound ports, and
    return the batches once ``expect`` messages arrived (or 10 s passed)."""
    batches: list[ReceivedBatch] = []
    ready, sent = threading.Event(), threading.Event()
    ports: dict[str, int] = {}

    def sink(batch: ReceivedBatch) -> None:
        time.sleep(sink_delay)
        batches.append(batch)

    async def main() -> SyslogReceiver:
        receiver = SyslogReceiver(
            [Endpoint.parse(e) for e in endpoints],
            sink=sink,
            tls=tls,
            batch_seconds=0.05,
            **options,  # type: ignore[arg-type]
        )
        for bound in await receiver.start():
            ports[bound.transport] = bound.port
        ready.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            total = sum(len(b.messages) + len(b.oversize) for b in batches)
            if sent.is_set() and total >= expect and not receiver._messages:
                break
            await asyncio.sleep(0.02)
        await receiver.stop()
        return receiver

    result: list[SyslogReceiver] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(main())))
    thread.start()
    ready.wait(5)
    try:
        send(ports)
    finally:
        sent.set()
    thread.join(15)
    return batches, result[0]


def _messages(batches: list[ReceivedBatch]) -> list[bytes]:
    return [m for b in batches for m in b.messages]


def test_udp_datagrams_arrive_with_their_sender() -> None:
    def send(ports: dict[str, int]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(50):
                s.sendto(MESSAGE + b" %d\n" % i, ("127.0.0.1", ports["udp"]))

    batches, receiver = _receive(["udp://127.0.0.1:0"], send, expect=50)
    got = _messages(batches)
    assert sorted(got) == sorted(MESSAGE + b" %d" % i for i in range(50))  # trailing LF dropped
    assert {p for b in batches for p in b.peers} == {"127.0.0.1"}
    assert receiver.stats.received["udp"] == 50
    assert all(b.received.tzinfo is datetime.UTC for b in batches)


def test_tcp_reads_octet_counting_and_newline_framing_on_one_connection() -> None:
    multi = b"<13>1 2026-11-22T10:15:32Z h app - - - first line\nsecond line"
    stream = (
        b"%d %s" % (len(multi), multi)  # octet counting: a line feed inside is content
        + MESSAGE
        + b"\r\n"  # newline framing, CR LF
        + b"%d %s" % (len(MESSAGE), MESSAGE)
        + b"<13>Nov 22 10:15:33 h app: last, without a line feed"
    )

    def send(ports: dict[str, int]) -> None:
        with socket.create_connection(("127.0.0.1", ports["tcp"])) as s:
            for i in range(0, len(stream), 7):  # frames cut anywhere
                s.sendall(stream[i : i + 7])

    batches, receiver = _receive(["tcp://127.0.0.1:0"], send, expect=4)
    assert _messages(batches) == [
        multi,
        MESSAGE,
        MESSAGE,
        b"<13>Nov 22 10:15:33 h app: last, without a line feed",
    ]
    assert receiver.stats.connections == 1


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_carries_octet_counted_messages(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)

    def send(ports: dict[str, int]) -> None:
        client = ssl.create_default_context(cafile=str(cert))
        with (
            socket.create_connection(("127.0.0.1", ports["tls"])) as raw,
            client.wrap_socket(raw, server_hostname="localhost") as s,
        ):
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            for _ in range(20):
                s.sendall(b"%d %s" % (len(MESSAGE), MESSAGE))

    batches, receiver = _receive(["tls://127.0.0.1:0"], send, expect=20, tls=tls_context(cert, key))
    assert _messages(batches) == [MESSAGE] * 20
    assert receiver.stats.received["tls"] == 20


def test_tls_with_client_ca_refuses_a_sender_without_certificate(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    refused: list[Exception] = []

    def send(ports: dict[str, int]) -> None:
        client = ssl.create_default_context(cafile=str(cert))
        try:
            with (
                socket.create_connection(("127.0.0.1", ports["tls"])) as raw,
                client.wrap_socket(raw, server_hostname="localhost") as s,
            ):
                s.sendall(b"%d %s" % (len(MESSAGE), MESSAGE))
                # TLS 1.3 reports the refusal on the next read, or closes
                if s.recv(1) == b"":
                    refused.append(ConnectionError("closed"))
        except (ssl.SSLError, ConnectionError) as exc:
            refused.append(exc)

    batches, _ = _receive(
        ["tls://127.0.0.1:0"], send, expect=0, tls=tls_context(cert, key, client_ca=cert)
    )
    assert refused and _messages(batches) == []


def test_an_overlong_message_is_counted_with_its_head_and_the_stream_goes_on() -> None:
    long = b"<13>Nov 22 10:15:33 h app: " + b"A" * 5000

    def send(ports: dict[str, int]) -> None:
        with socket.create_connection(("127.0.0.1", ports["tcp"])) as s:
            s.sendall(b"%d %s" % (len(long), long) + long + b"\n" + MESSAGE + b"\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.sendto(long, ("127.0.0.1", ports["udp"]))

    batches, receiver = _receive(
        ["tcp://127.0.0.1:0", "udp://127.0.0.1:0"], send, expect=4, max_message_bytes=1024
    )
    assert _messages(batches) == [MESSAGE]
    heads = [head for b in batches for _, head in b.oversize]
    assert len(heads) == 3 and all(h.startswith(b"<13>Nov 22") and len(h) == 256 for h in heads)
    assert receiver.stats.oversize == 3


def test_a_slow_sink_pauses_tcp_senders_and_loses_nothing() -> None:
    def send(ports: dict[str, int]) -> None:
        with socket.create_connection(("127.0.0.1", ports["tcp"])) as s:
            s.sendall(b"".join(MESSAGE + b" %d\n" % i for i in range(5000)))

    batches, receiver = _receive(
        ["tcp://127.0.0.1:0"],
        send,
        expect=5000,
        sink_delay=0.05,
        batch_messages=100,
        max_pending=200,
    )
    got = _messages(batches)
    assert got == [MESSAGE + b" %d" % i for i in range(5000)]  # in order, none lost
    assert receiver.stats.paused >= 1


def test_framer_refuses_a_length_that_is_not_a_number() -> None:
    framer = StreamFramer()
    with pytest.raises(IngestError, match="octet-counted frame with a malformed length"):
        framer.feed(b"12x4 <13>hello\n")
    with pytest.raises(IngestError, match="octet-counted frame without a length"):
        StreamFramer().feed(b"1234567890123 <13>hello")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("udp://:514", "expected udp|tcp|tls://HOST:PORT"),
        ("http://127.0.0.1:514", "expected udp|tcp|tls://HOST:PORT"),
        ("tcp://127.0.0.1:99999", "port above 65535"),
    ],
)
def test_bad_listen_addresses_are_refused(text: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        Endpoint.parse(text)


def test_tls_without_a_certificate_is_refused() -> None:
    with pytest.raises(IngestError, match="needs a certificate and key"):
        SyslogReceiver([Endpoint.parse("tls://127.0.0.1:0")], sink=lambda b: None)


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        async def main() -> None:
            receiver = SyslogReceiver(
                [Endpoint.parse(f"tcp://127.0.0.1:{port}")], sink=lambda b: None
            )
            await receiver.start()

        with pytest.raises(IngestError, match=f"cannot listen on tcp://127.0.0.1:{port}"):
            asyncio.run(main())
