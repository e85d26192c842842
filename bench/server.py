"""The HTTP API under load: 100 concurrent clients over mutual TLS 1.3 on loopback.

The server runs in its own process (`confiance serve`), the clients in this
one (asyncio, one keep-alive TLS connection each, with a client certificate;
a lean HTTP/1.1 client for the figures, httpx for comparison: the clients
share the machine's cores with the server). Figures, side by side in one run:

* the alert list of a tenant (`GET /v1/alerts`, 50 per page): p50 and p99
  latency and requests/s;
* the floor of the same stack: `GET /v1/whoami` (TLS, certificate check,
  routing, no data);
* batch upload (`POST /v1/batches`, Squid lines): events/s through parsing,
  pseudonymisation, encryption and erasure coding.

    python bench/server.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx

from confiance.consortium import access, operations
from confiance.consortium.home import TENANTS
from confiance.detect import generate
from machine import describe

PASSPHRASE = "bench passphrase"
CLIENTS = 100
SQUID = (
    "1789370531.112    187 10.3.14.{n} TCP_MISS/200 18234 GET http://www.education.gouv.fr/ "
    "- HIER_DIRECT/185.161.45.10 text/html\n"
)


def _home(root: Path) -> tuple[dict[str, access.PersonCredentials], Path]:
    home = operations.init_consortium(root)
    generate(home.inputs_dir(), events=12_000, seed=3)
    for tenant in TENANTS:
        operations.ingest_tenant(home, tenant)
    operations.new_contract(home, "soc-commun")
    for tenant in TENANTS:
        operations.sign_contract(home, "soc-commun", tenant)
    operations.run_contract(home, "soc-commun")
    people = {
        "analyst": access.issue(
            home, tenant="soc-commun", role="analyst", name="bench", passphrase=PASSPHRASE
        ),
        "admin": access.issue(
            home, tenant="lycees", role="tenant-admin", name="bench", passphrase=PASSPHRASE
        ),
    }
    access.server_credentials(home)
    home.close()
    return people, root / "pki" / "ca.pem"


def _context(ca: Path, person: access.PersonCredentials) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(person.certificate, person.key, password=PASSPHRASE)
    return context


#: one client's session: opened (connected, TLS handshake done), it yields a call
#: that sends the request once and reads its whole response
Session = Callable[[], AbstractAsyncContextManager[Callable[[], Awaitable[None]]]]


async def _load(session: Session, total: int) -> tuple[list[float], float]:
    """``CLIENTS`` sessions, all connected and warmed up before any measured request
    (the steady state of 100 clients, not 100 handshakes at once), ``total``
    requests in all; their latencies and the time from the start to the last."""
    latencies: list[float] = []
    left, go = CLIENTS, asyncio.Event()
    released = 0.0

    async def client() -> None:
        nonlocal left, released
        async with session() as call:
            await call()  # handshake and warm-up, not measured
            left -= 1
            if left == 0:
                released = time.perf_counter()
                go.set()
            await go.wait()
            for _ in range(total // CLIENTS):
                start = time.perf_counter()
                await call()
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return latencies, time.perf_counter() - released


def _httpx(base: str, context: ssl.SSLContext, path: str) -> Session:
    """httpx clients: what an integrator's script would use (heavy on the client side)."""

    @asynccontextmanager
    async def session() -> AsyncIterator[Callable[[], Awaitable[None]]]:
        async with httpx.AsyncClient(base_url=base, verify=context, timeout=60) as http:

            async def call() -> None:
                (await http.get(path)).raise_for_status()

            yield call

    return session


_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


def _lean(base: str, context: ssl.SSLContext, path: str) -> Session:
    """Keep-alive HTTP/1.1 over mutual TLS written on asyncio streams: the same requests
    and whole responses as httpx, at a fraction of its client-side CPU, which shares
    the two cores with the server here (as wrk or h2load would; neither presents a
    client certificate)."""
    host, port = base.removeprefix("https://").rsplit(":", 1)
    request = f"GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n".encode()

    @asynccontextmanager
    async def session() -> AsyncIterator[Callable[[], Awaitable[None]]]:
        reader, writer = await asyncio.open_connection(host, int(port), ssl=context)

        async def call() -> None:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            if not head.startswith(b"HTTP/1.1 200") or length is None:
                raise RuntimeError(head.decode(errors="replace"))
            await reader.readexactly(int(length.group(1)))

        try:
            yield call
        finally:
            writer.close()

    return session


def _upload(base: str, context: ssl.SSLContext, batches: int, lines: int) -> float:
    body = "".join(SQUID.format(n=i % 250) for i in range(lines))
    with httpx.Client(base_url=base, verify=context, timeout=300) as http:
        start = time.perf_counter()
        events = 0
        for _ in range(batches):
            response = http.post(
                "/v1/batches", params={"source": "proxy", "format": "squid"}, content=body
            )
            response.raise_for_status()
            events += int(response.json()["events"])
    return events / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (< 60 s)")
    args = parser.parse_args()
    total = 3_000 if args.quick else 20_000
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "home"
        people, ca = _home(root)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "confiance.cli",
                "--home",
                str(root),
                "serve",
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(os.environ),
        )
        base = f"https://127.0.0.1:{port}"
        try:
            analyst = _context(ca, people["analyst"])
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/v1/whoami", verify=analyst).raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            listing = "/v1/alerts?limit=50"
            alerts, alerts_s = asyncio.run(_load(_lean(base, analyst, listing), total))
            floor, floor_s = asyncio.run(_load(_lean(base, analyst, "/v1/whoami"), total))
            heavy, heavy_s = asyncio.run(_load(_httpx(base, analyst, listing), total))
            upload = _upload(base, _context(ca, people["admin"]), 3 if args.quick else 10, 5_000)
        finally:
            server.terminate()
            server.wait(timeout=30)

    def ms(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] * 1000

    figures = {
        "alerts_p50_ms": round(ms(alerts, 50), 2),
        "alerts_p99_ms": round(ms(alerts, 99), 2),
        "alerts_req_per_s": round(len(alerts) / alerts_s),
        "whoami_p50_ms": round(ms(floor, 50), 2),
        "whoami_p99_ms": round(ms(floor, 99), 2),
        "whoami_req_per_s": round(len(floor) / floor_s),
        "upload_events_per_s": round(upload),
        "httpx_alerts_p50_ms": round(ms(heavy, 50), 2),
        "httpx_alerts_p99_ms": round(ms(heavy, 99), 2),
        "httpx_alerts_req_per_s": round(len(heavy) / heavy_s),
        "clients": CLIENTS,
        "requests": len(alerts),
    }
    print(f"machine: {json.dumps(describe())}")
    print(
        f"alert list: p50 {figures['alerts_p50_ms']} ms, p99 {figures['alerts_p99_ms']} ms, "
        f"{figures['alerts_req_per_s']:,} requests/s with {CLIENTS} clients over mutual TLS 1.3"
    )
    print(
        f"floor (whoami): p50 {figures['whoami_p50_ms']} ms, p99 {figures['whoami_p99_ms']} ms, "
        f"{figures['whoami_req_per_s']:,} requests/s; upload {figures['upload_events_per_s']:,} "
        "events/s (server and clients share the 2 cores)"
    )
    print(
        f"the alert list again with httpx clients: p50 {figures['httpx_alerts_p50_ms']} ms, "
        f"p99 {figures['httpx_alerts_p99_ms']} ms, {figures['httpx_alerts_req_per_s']:,} "
        "requests/s (the client's own CPU taken from the server's two cores)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
