"""URL canonicalisation and host-suffix / path-prefix expressions.

The rules are those of Google Safe Browsing (v4, "URLs and hashing"), which
lists of known illegal content also follow: an entry is an expression such
as ``example.org/`` (the whole site) or ``example.org/dir/page.html``, and a
URL matches when one of its expressions is on the list. The published
examples are checked in ``tests/vectors/safe-browsing/``.

Work is done on bytes so that a URL that is not valid UTF-8 is still
canonicalised byte for byte, as the published examples require.
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass

from confiance.errors import DetectError

_SCHEME = re.compile(rb"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_NUMERIC_HOST = re.compile(rb"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$")
_PORT = re.compile(rb":[0-9]*$")
_DOTS = re.compile(rb"\.{2,}")
_SLASHES = re.compile(rb"/{2,}")
_MAX_UNESCAPE_ROUNDS = 1024
_MAX_HOST_SUFFIXES = 5
_MAX_PATH_PREFIXES = 4
_TO_ESCAPE = frozenset(range(33)) | frozenset(range(127, 256)) | {ord("#"), ord("%")}


@dataclass(frozen=True)
class CanonicalUrl:
    """A canonical URL split into the parts expressions are built from."""

    scheme: str
    host: str
    path: str
    #: None when the URL had no ``?``; "" when it ended with one
    query: str | None
    is_ip: bool

    def __str__(self) -> str:
        query = "" if self.query is None else "?" + self.query
        return f"{self.scheme}://{self.host}{self.path}{query}"


def _unescape(data: bytes) -> bytes:
    """Percent-unescape until nothing changes (bounded, as browsers do)."""
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        decoded = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
        if decoded == data:
            break
        data = decoded
    return data


def _escape(data: bytes) -> str:
    return "".join(f"%{b:02X}" if b in _TO_ESCAPE else chr(b) for b in data)


def canonical_host(raw: bytes) -> tuple[bytes, bool]:
    """The canonical form of an (unescaped) host, and whether it is an IPv4 address.

    Leading and trailing dots go, runs of dots become one, IPv4 addresses in
    any inet_aton form (decimal, octal, hex, fewer than four parts) become
    dotted decimal, names are lower-cased and internationalised names become
    their ASCII (punycode) form.
    """
    host = _DOTS.sub(b".", raw.strip(b".")).lower()
    if _NUMERIC_HOST.match(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host.decode("ascii"))).encode(), True
        except OSError:
            pass
    if any(b >= 0x80 for b in host):
        # not a valid international name: kept as bytes, escaped later
        with contextlib.suppress(UnicodeError):
            host = host.decode("utf-8").encode("idna")
    return host, False


def _canonical_path(path: bytes) -> bytes:
    if not path:
        return b"/"
    segments: list[bytes] = []
    parts = _SLASHES.sub(b"/", path).split(b"/")[1:]
    for segment in parts:
        if segment == b"..":
            if segments:
                segments.pop()
        elif segment != b".":
            segments.append(segment)
    trailing = parts[-1] in (b"", b".", b"..")
    joined = b"/" + b"/".join(s for s in segments if s)
    if trailing and joined != b"/":
        joined += b"/"
    return joined


def canonicalize(url: str | bytes) -> CanonicalUrl:
    """Canonicalise a URL the way Safe Browsing does; raises DetectError if it has no host."""
    data = url.encode("utf-8", "surrogateescape") if isinstance(url, str) else url
    data = data.strip(b" \t\r\n\x0b\x0c").translate(None, b"\t\r\n")
    data = data.split(b"#", 1)[0]
    if not _SCHEME.match(data):
        data = b"http://" + data
    data = _unescape(data)
    scheme, rest = data.split(b"://", 1)
    end = len(rest)
    for delimiter in (b"/", b"?"):
        found = rest.find(delimiter)
        if found != -1:
            end = min(end, found)
    authority, rest = rest[:end], rest[end:]
    authority = _PORT.sub(b"", authority.rsplit(b"@", 1)[-1])
    host, is_ip = canonical_host(authority)
    if not host:
        raise DetectError("URL has no host")
    path, question, query = rest.partition(b"?")
    return CanonicalUrl(
        scheme=scheme.lower().decode("ascii", "replace"),
        host=_escape(host),
        path=_escape(_canonical_path(path)),
        query=_escape(query) if question else None,
        is_ip=is_ip,
    )


def host_suffixes(host: str, *, is_ip: bool) -> list[str]:
    """The exact host, then up to four suffixes from the last five labels (never the TLD)."""
    if is_ip:
        return [host]
    labels = host.split(".")
    found = [host]
    for start in range(max(0, len(labels) - _MAX_HOST_SUFFIXES), len(labels) - 1):
        suffix = ".".join(labels[start:])
        if suffix not in found:
            found.append(suffix)
    return found[:_MAX_HOST_SUFFIXES]


def path_prefixes(path: str, query: str | None) -> list[str]:
    """The exact path with and without its query, then up to four prefixes from the root."""
    prefixes = ["/"]
    for segment in path.split("/")[1:-1]:  # the last segment is the exact path itself
        if len(prefixes) == _MAX_PATH_PREFIXES:
            break
        prefixes.append(f"{prefixes[-1]}{segment}/")
    found = [] if query is None else [f"{path}?{query}"]
    for candidate in (path, *prefixes):
        if candidate not in found:
            found.append(candidate)
    return found


def expressions(url: str | bytes | CanonicalUrl) -> list[str]:
    """Every host-suffix / path-prefix expression of a URL (at most 30)."""
    canonical = url if isinstance(url, CanonicalUrl) else canonicalize(url)
    paths = path_prefixes(canonical.path, canonical.query)
    return [
        host + path
        for host in host_suffixes(canonical.host, is_ip=canonical.is_ip)
        for path in paths
    ]
