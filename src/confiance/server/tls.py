"""TLS 1.3 with client certificates for the HTTP server, and the peer certificate per request.

uvicorn does not put the client certificate into the ASGI scope, so the
protocol is extended: each connection's verified peer certificate (DER) is
added to the request scope's ``state`` as ``confiance.peer``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from confiance.errors import ConfigError

PEER = "confiance.peer"
logger = logging.getLogger(__name__)


class _PeerCertificate:
    """Mixed into a uvicorn HTTP protocol: adds the peer certificate to each request."""

    app_state: dict[str, Any]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.app_state = {**self.app_state, PEER: der}


class PeerCertificateProtocol(_PeerCertificate, HttpToolsProtocol):
    """HTTP/1.1 (httptools' C parser) over TLS, with the client certificate per request."""


class _CrlFollower:
    """Switches each new handshake to a context built with the CRL as it is now."""

    def __init__(self, build: Callable[[], ssl.SSLContext], crl: Path) -> None:
        self._build, self._crl = build, crl
        self._current = build()
        self._seen = self._stamp()

    def _stamp(self) -> int | None:
        try:
            return self._crl.stat().st_mtime_ns
        except OSError:
            return None

    def pick(self, connection: ssl.SSLObject, _name: str | None, _context: ssl.SSLContext) -> None:
        stamp = self._stamp()
        if stamp != self._seen:
            try:
                self._current, self._seen = self._build(), stamp
            except (OSError, ssl.SSLError, ValueError) as exc:  # keep the CRL it has
                logger.error("CRL %s could not be loaded (%s)", self._crl, type(exc).__name__)
        connection.context = self._current


def following_crl(build: Callable[[], ssl.SSLContext], crl: Path) -> ssl.SSLContext:
    """A server context whose handshakes always check the CRL file as it is now.

    OpenSSL keeps the CRL a context was built with; a running server would
    accept on new connections a certificate revoked since it started, and
    refuse everyone once that CRL expires (``confiance ca crl`` re-signs it
    weekly). The SNI callback, called on every handshake (with or without a
    server name), hands the connection to a context rebuilt when the CRL
    file changed.
    """
    front = build()
    front.sni_callback = _CrlFollower(build, crl).pick
    return front


def uvicorn_server(app: Any, *, host: str, port: int, context: ssl.SSLContext) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=PeerCertificateProtocol,
        loop="auto",
        lifespan="off",
        log_level="warning",
        access_log=False,
        ssl_context_factory=lambda _config, _default: context,
    )
    return uvicorn.Server(config)


class BackgroundServer:
    """The server in a thread of this process (tests, benchmarks, the demo)."""

    def __init__(self, app: Any, *, host: str, port: int, context: ssl.SSLContext) -> None:
        self.server = uvicorn_server(app, host=host, port=port, context=context)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def port(self) -> int:
        sockets = [s for server in self.server.servers for s in server.sockets]
        return int(sockets[0].getsockname()[1])

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise ConfigError("the HTTP server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
