"""The syslog receiver: messages over UDP (RFC 5426), TCP (RFC 6587, octet
counting or newline framing, told apart message by message) and TLS
(RFC 5425), gathered into batches by count and time and handed to a sink.

The receiver does no parsing: it frames messages and hands them on, so that
a burst costs little per message. The sink runs in a worker thread, one batch
at a time; while it is busy, messages wait in memory up to a limit, beyond
which TCP and TLS connections stop being read (their senders slow down: TCP
carries the backpressure) and UDP datagrams are dropped and counted, since
UDP has no way to push back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from confiance.errors import IngestError

logger = logging.getLogger(__name__)

Transport = Literal["udp", "tcp", "tls"]

#: A message longer than this is counted and its head kept, never held whole
#: (RFC 5425 asks receivers to take at least 2048 octets; rsyslog's default is 8 KiB).
MAX_MESSAGE_BYTES = 64 * 1024
#: Kernel receive buffer asked for UDP sockets.
UDP_BUFFER_BYTES = 8 * 2**20
#: Kept of an over-long message for the quarantine.
OVERSIZE_KEEP = 256


@dataclass(frozen=True)
class Endpoint:
    """Where the receiver listens: ``udp://HOST:PORT``, ``tcp://…`` or ``tls://…``."""

    transport: Transport
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        scheme, sep, rest = text.partition("://")
        host, _, port = rest.rpartition(":")
        host = host.strip("[]")
        if not sep or scheme not in ("udp", "tcp", "tls") or not host or not port.isdigit():
            raise IngestError(f"listen address {text!r}: expected udp|tcp|tls://HOST:PORT")
        if int(port) > 65535:
            raise IngestError(f"listen address {text!r}: port above 65535")
        return cls(cast(Transport, scheme), host, int(port))

    def __str__(self) -> str:
        return f"{self.transport}://{self.host}:{self.port}"


class StreamFramer:
    """Messages of a TCP/TLS byte stream (RFC 6587): a frame that starts with a
    digit is ``LENGTH SP MESSAGE`` (octet counting), any other runs to the
    next line feed. A message over the limit is skipped as it streams; its
    head is kept in :attr:`oversize`."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max = max_message_bytes
        self.buffer = b""
        #: bytes still to skip of an over-long message (-1: up to the next line feed)
        self.skip = 0
        self.oversize: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self.buffer + data if self.buffer else data
        messages: list[bytes] = []
        start = 0
        end = len(buffer)
        while start < end:
            if self.skip:
                if self.skip < 0:
                    newline = buffer.find(b"\n", start)
                    if newline < 0:
                        start = end
                        break
                    start, self.skip = newline + 1, 0
                else:
                    taken = min(self.skip, end - start)
                    start += taken
                    self.skip -= taken
                continue
            if 0x30 <= buffer[start] <= 0x39:  # octet counting
                space = buffer.find(b" ", start, start + 12)
                if space < 0:
                    if end - start >= 12:
                        raise IngestError("octet-counted frame without a length")
                    break
                digits = buffer[start:space]
                if not digits.isdigit():
                    raise IngestError("octet-counted frame with a malformed length")
                length = int(digits)
                body = space + 1
                if length > self.max:
                    self.oversize.append(buffer[body : body + OVERSIZE_KEEP])
                    self.skip = length
                    start = body
                    continue
                if end - body < length:
                    break
                messages.append(buffer[body : body + length])
                start = body + length
            else:
                newline = buffer.find(b"\n", start)
                if newline < 0:
                    if end - start > self.max:
                        self.oversize.append(buffer[start : start + OVERSIZE_KEEP])
                        self.skip = -1
                        start = end
                    break
                message = buffer[start:newline]
                if message.endswith(b"\r"):
                    message = message[:-1]
                if len(message) > self.max:
                    self.oversize.append(message[:OVERSIZE_KEEP])
                elif message:
                    messages.append(message)
                start = newline + 1
        self.buffer = buffer[start:]
        return messages


@dataclass(frozen=True)
class ReceivedBatch:
    """Messages as received, the sender of each, and when the batch was closed."""

    messages: list[bytes]
    peers: list[str]
    received: datetime.datetime
    #: (sender, head) of messages over the size limit
    oversize: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class ReceiverStats:
    received: dict[str, int] = field(default_factory=lambda: {"udp": 0, "tcp": 0, "tls": 0})
    #: UDP datagrams dropped while the receiver was full
    dropped: int = 0
    oversize: int = 0
    #: TCP/TLS streams closed for a framing error
    broken_streams: int = 0
    connections: int = 0
    batches: int = 0
    #: times the TCP/TLS connections were paused because the sink was behind
    paused: int = 0


class SyslogReceiver:
    """Listens on the given endpoints and hands batches of messages to ``sink``."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        *,
        sink: Callable[[ReceivedBatch], None],
        tls: ssl.SSLContext | None = None,
        batch_messages: int = 20_000,
        batch_seconds: float = 1.0,
        max_pending: int = 200_000,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        if not endpoints:
            raise IngestError("the syslog receiver needs at least one listen address")
        if any(e.transport == "tls" for e in endpoints) and tls is None:
            raise IngestError("a tls:// listen address needs a certificate and key")
        self.endpoints = endpoints
        self.sink = sink
        self.tls = tls
        self.batch_messages = batch_messages
        self.batch_seconds = batch_seconds
        self.max_pending = max_pending
        self.max_message_bytes = max_message_bytes
        self.stats = ReceiverStats()
        self.bound: list[Endpoint] = []
        self._messages: list[bytes] = []
        self._peers: list[str] = []
        self._oversize: list[tuple[str, bytes]] = []
        self._streams: set[asyncio.Transport] = set()
        self._paused = False
        self._closers: list[Callable[[], None]] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = False

    # -- listening ------------------------------------------------------------

    async def start(self) -> list[Endpoint]:
        """Bind every endpoint (port 0 picks a free one); the bound addresses."""
        loop = asyncio.get_running_loop()
        for endpoint in self.endpoints:
            try:
                if endpoint.transport == "udp":
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _Datagrams(self), local_addr=(endpoint.host, endpoint.port)
                    )
                    self._closers.append(transport.close)
                    port = transport.get_extra_info("sockname")[1]
                    # a larger kernel buffer absorbs bursts (capped by net.core.rmem_max)
                    sock = transport.get_extra_info("socket")
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER_BYTES)
                else:
                    context = self.tls if endpoint.transport == "tls" else None
                    server = await loop.create_server(
                        lambda t=endpoint.transport: _Stream(self, t),
                        endpoint.host,
                        endpoint.port,
                        ssl=context,
                    )
                    self._closers.append(server.close)
                    port = server.sockets[0].getsockname()[1]
            except OSError as exc:
                raise IngestError(f"cannot listen on {endpoint}: {exc.strerror or exc}") from None
            self.bound.append(Endpoint(endpoint.transport, endpoint.host, port))
        self._flusher = asyncio.create_task(self._flush_loop())
        return self.bound

    async def stop(self) -> None:
        """Stop listening and hand the last messages to the sink."""
        self._stopping = True
        for close in self._closers:
            close()
        for stream in list(self._streams):
            stream.close()
        self._full.set()
        if self._flusher is not None:
            await self._flusher

    # -- messages -------------------------------------------------------------

    def _take(self, messages: list[bytes], peer: str, transport: Transport) -> None:
        self._messages.extend(messages)
        self._peers.extend([peer] * len(messages))
        self.stats.received[transport] += len(messages)
        if len(self._messages) >= self.batch_messages:
            self._full.set()
        if len(self._messages) >= self.max_pending and not self._paused:
            self._paused = True
            self.stats.paused += 1
            for stream in self._streams:
                stream.pause_reading()

    def _accepting_datagrams(self) -> bool:
        return len(self._messages) < self.max_pending

    def _oversized(self, peer: str, head: bytes) -> None:
        self._oversize.append((peer, head))
        self.stats.oversize += 1

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.batch_seconds)
            self._full.clear()
            stopping = self._stopping
            if self._messages or self._oversize:
                batch = ReceivedBatch(
                    self._messages, self._peers, datetime.datetime.now(datetime.UTC), self._oversize
                )
                self._messages, self._peers, self._oversize = [], [], []
                self._resume()
                try:
                    await loop.run_in_executor(None, self.sink, batch)
                except Exception:
                    # The sink keeps its own record of what it could not take;
                    # the receiver must go on listening.
                    logger.exception("syslog sink failed on a batch of %d", len(batch.messages))
                self.stats.batches += 1
            if stopping:
                return

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            for stream in self._streams:
                stream.resume_reading()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        receiver = self.receiver
        if not receiver._accepting_datagrams():
            receiver.stats.dropped += 1
            return
        peer = str(addr[0])
        if len(data) > receiver.max_message_bytes:
            receiver._oversized(peer, data[:OVERSIZE_KEEP])
            return
        data = data.rstrip(b"\r\n\x00")
        if data:
            receiver._take([data], peer, "udp")


class _Stream(asyncio.Protocol):
    def __init__(self, receiver: SyslogReceiver, transport_kind: Transport) -> None:
        self.receiver = receiver
        self.kind = transport_kind
        self.framer = StreamFramer(receiver.max_message_bytes)
        self.peer = "-"
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "-"
        self.receiver._streams.add(self.transport)
        self.receiver.stats.connections += 1
        if self.receiver._paused:
            self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except IngestError as exc:
            logger.warning("syslog stream from %s closed: %s", self.peer, exc)
            self.receiver.stats.broken_streams += 1
            assert self.transport is not None
            self.transport.close()
            return
        if self.framer.oversize:
            for head in self.framer.oversize:
                self.receiver._oversized(self.peer, head)
            self.framer.oversize = []
        if messages:
            self.receiver._take(messages, self.peer, self.kind)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.receiver._streams.discard(self.transport)
        rest = self.framer.buffer.rstrip(b"\r\n\x00")
        if rest and not self.framer.skip:
            # a last message without its line feed still counts (RFC 6587 §3.4.2)
            self.receiver._take([rest], self.peer, self.kind)


def tls_context(certificate: Path, key: Path, *, client_ca: Path | None = None) -> ssl.SSLContext:
    """A server context for RFC 5425: TLS 1.2 or later; with ``client_ca``,
    senders must present a certificate it issued (mutual authentication)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # No TLS 1.3 session tickets: senders keep one long connection, and a
    # ticket a sender never reads makes its kernel answer its close with a
    # reset that discards the messages still queued on our side.
    context.num_tickets = 0
    try:
        context.load_cert_chain(certificate, key)
        if client_ca is not None:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise IngestError(f"syslog TLS: cannot load certificate or key: {exc}") from None
    return context
