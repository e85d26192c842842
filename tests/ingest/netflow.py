"""A packet capture for flow exporters, and a free UDP port for a collector."""

from __future__ import annotations

import socket
import struct
from pathlib import Path


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + payload


def capture(path: Path) -> None:
    """A pcap: one source sends a SYN to 40 ports of one host, and one DNS query."""
    ethernet = bytes.fromhex("00163e00000100163e0000020800")
    packets = [
        _ipv4("203.0.113.5", "10.3.0.1", 6, struct.pack("!HHIIBBHHH", 40000 + i, port, 1, 0,
                                                         0x50, 0x02, 8192, 0, 0))
        for i, port in enumerate(range(20, 60))
    ]  # fmt: skip
    packets.append(_ipv4("10.3.14.22", "10.3.0.53", 17, struct.pack("!HHHH", 5353, 53, 28, 0)))
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, packet in enumerate(packets):
            frame = ethernet + packet
            out.write(struct.pack("<IIII", 1795420800, i * 10_000, len(frame), len(frame)))
            out.write(frame)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
