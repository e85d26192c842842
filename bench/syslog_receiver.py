"""The syslog receiver over loopback, side by side with a naive receiver.

* ours: `confiance.ingest.receiver.SyslogReceiver` in a child process (one
  core), octet-counted RFC 5424 messages over one TCP connection; every batch
  is relayed and read by the `syslog` parser (sshd messages become events),
  as the agent does before spooling;
* naive: a `socketserver` TCP server reading one line at a time and matching
  one regular expression per message into a dict (no framing choice, no
  batching, no event);
* UDP: datagrams offered at twice the rate ours sustained over TCP; the
  datagrams lost are counted (UDP has no backpressure; TCP loses none).

    python bench/syslog_receiver.py [--quick]

Last line: JSON with ``syslog_tcp_msgs_per_s``, ``syslog_tcp_lost``,
``naive_syslog_tcp_msgs_per_s``, ``syslog_udp_offered_per_s``,
``syslog_udp_lost``, ``syslog_udp_loss_ratio``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pyarrow as pa

from machine import describe

MESSAGE = (
    "<38>1 2026-11-22T10:15:32.123456+01:00 bastion sshd 24680 - - Failed password for "
    "user{n} from 95.165.{a}.{b} port 52211 ssh2"
)


def messages(count: int) -> list[bytes]:
    return [
        MESSAGE.format(n=i % 5000, a=(i // 250) % 250, b=i % 250).encode() for i in range(count)
    ]


# -- the receiver, in a child process ------------------------------------------


def serve(transport: str, expect: int, idle: float) -> None:
    """Receive until ``expect`` messages are read or ``idle`` seconds pass without one."""

    from confiance.ingest import DEMO_GEO
    from confiance.ingest.parsers import PARSERS, ParseContext
    from confiance.ingest.receiver import Endpoint, ReceivedBatch, SyslogReceiver
    from confiance.ingest.syslog import relay_lines

    pa.set_cpu_count(1)
    context = ParseContext(tenant="bench", service="syslog", geo=DEMO_GEO)
    done = {"messages": 0, "events": 0, "first": 0.0, "last": 0.0}

    def sink(batch: ReceivedBatch) -> None:
        texts = pa.array([m.decode("utf-8", "replace") for m in batch.messages], pa.string())
        lines = relay_lines(texts, pa.array(batch.peers, pa.string()), received=batch.received)
        table, _ = PARSERS["syslog"].parse(lines, context=context)
        done["messages"] += len(batch.messages)
        done["events"] += table.num_rows
        done["last"] = time.perf_counter()

    async def main() -> dict[str, object]:
        receiver = SyslogReceiver(
            [Endpoint(transport, "127.0.0.1", 0)],  # type: ignore[arg-type]
            sink=sink,
            batch_seconds=0.2,
        )
        (bound,) = await receiver.start()
        print(json.dumps({"port": bound.port}), flush=True)
        seen, quiet_since = 0, time.perf_counter()
        while done["messages"] < expect:
            await asyncio.sleep(0.01)
            total = sum(receiver.stats.received.values())
            if total and not done["first"]:
                done["first"] = time.perf_counter()
            if total != seen:
                seen, quiet_since = total, time.perf_counter()
            elif time.perf_counter() - quiet_since > idle:
                break
        await receiver.stop()
        return {**done, "dropped": receiver.stats.dropped, "received": seen}

    result = asyncio.run(main())
    print(json.dumps(result), flush=True)


def _child(transport: str, expect: int, idle: float) -> tuple[subprocess.Popen[str], int]:
    options = ["--expect", str(expect), "--idle", str(idle)]
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", transport, *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    port = json.loads(child.stdout.readline())["port"]
    return child, port


def _result(child: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = child.communicate(timeout=120)
    return dict(json.loads(out.strip().splitlines()[-1]))


def ours_tcp(payload: list[bytes]) -> dict[str, float]:
    child, port = _child("tcp", len(payload), idle=5.0)
    stream = b"".join(b"%d %s" % (len(m), m) for m in payload)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(stream)
    result = _result(child)
    seconds = result["last"] - result["first"]
    return {
        "msgs_per_s": result["messages"] / seconds,
        "lost": len(payload) - result["messages"],
        "events": result["events"],
    }


def ours_udp(payload: list[bytes], rate: float) -> dict[str, float]:
    """Offer datagrams at ``rate`` per second; count what the receiver read."""
    child, port = _child("udp", len(payload), idle=1.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", port))
        start = time.perf_counter()
        per_tick = max(1, int(rate / 1000))  # paced in 1 ms ticks
        for i in range(0, len(payload), per_tick):
            for m in payload[i : i + per_tick]:
                s.send(m)
            ahead = start + (i + per_tick) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        offered = len(payload) / (time.perf_counter() - start)
    result = _result(child)
    return {"offered_per_s": offered, "lost": len(payload) - result["messages"]}


# -- the naive reference -----------------------------------------------------------

_NAIVE = re.compile(
    r"^<(?P<pri>\d+)>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
    r"(?P<msgid>\S+) (?P<sd>-|\[.*?\]) (?P<msg>.*)$"
)


def naive_tcp(payload: list[bytes]) -> float:
    """Newline-framed messages, one readline and one regex per message."""
    got: list[dict[str, str]] = []
    times: list[float] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for raw in self.rfile:
                if not times:
                    times.append(time.perf_counter())
                match = _NAIVE.match(raw.decode("utf-8", "replace").rstrip("\n"))
                if match:
                    got.append(match.groupdict())
            times.append(time.perf_counter())

    with socketserver.TCPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.handle_request)
        thread.start()
        with socket.create_connection(server.server_address[:2]) as s:
            s.sendall(b"".join(m + b"\n" for m in payload))
        thread.join()
    assert len(got) == len(payload)
    return len(got) / (times[-1] - times[0])


def figures(quick: bool) -> dict[str, object]:
    count = 200_000 if quick else 1_000_000
    payload = messages(count)
    tcp = ours_tcp(payload)
    naive = naive_tcp(payload)
    udp = ours_udp(payload[: count // 2], 2 * tcp["msgs_per_s"])
    print(f"{'syslog receiver':24s} {'msgs/s':>12s} {'lost':>8s}")
    print(f"{'ours, TCP octet-counted':24s} {tcp['msgs_per_s']:12,.0f} {tcp['lost']:8,d}")
    print(f"{'naive, TCP readline':24s} {naive:12,.0f} {0:8,d}")
    print(
        f"{'ours, UDP at 2x':24s} {udp['offered_per_s']:12,.0f} {udp['lost']:8,d}"
        f"  ({udp['lost'] / (count // 2):.1%} of {count // 2:,} offered)"
    )
    return {
        "syslog_tcp_msgs_per_s": round(tcp["msgs_per_s"]),
        "syslog_tcp_lost": int(tcp["lost"]),
        "syslog_tcp_events": int(tcp["events"]),
        "naive_syslog_tcp_msgs_per_s": round(naive),
        "syslog_udp_offered_per_s": round(udp["offered_per_s"]),
        "syslog_udp_lost": int(udp["lost"]),
        "syslog_udp_loss_ratio": round(udp["lost"] / (count // 2), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200k messages (< 60 s)")
    parser.add_argument("--serve", choices=["tcp", "udp"], help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--idle", type=float, default=5.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.expect, args.idle)
        return
    print("machine:", json.dumps(describe()))
    print(json.dumps(figures(args.quick)))


if __name__ == "__main__":
    main()
