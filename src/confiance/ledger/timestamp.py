"""RFC 3161 time-stamp tokens on checkpoints, from a configured authority.

A token proves a checkpoint body (origin, size, root) existed at the time the
authority signed. Requests carry a nonce and ask for the TSA certificate; the
response is verified (chain to the configured roots, nonce, message imprint)
before it is stored, and again whenever the ledger is verified.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from confiance.errors import LedgerError


class TimestampError(LedgerError):
    """A time-stamp could not be obtained, or does not verify."""


def load_roots(path: Path) -> list[x509.Certificate]:
    try:
        roots = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TimestampError(f"{path}: no PEM certificate to trust") from exc
    return roots


@dataclass(frozen=True)
class TimestampAuthority:
    url: str
    roots: Sequence[x509.Certificate]
    timeout_s: float = 10.0

    def stamp(self, data: bytes) -> bytes:
        """A verified DER TimeStampResp over ``data``."""
        request = TimestampRequestBuilder(data=data, nonce=True, cert_req=True).build()
        http = urllib.request.Request(  # noqa: S310 - the operator configures the URL
            self.url,
            data=request.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout_s) as reply:  # noqa: S310
                body: bytes = reply.read()
        except (urllib.error.URLError, OSError) as exc:
            raise TimestampError(f"timestamp authority {self.url}: unreachable ({exc})") from None
        try:
            response = decode_timestamp_response(body)
        except ValueError:
            raise TimestampError(f"timestamp authority {self.url}: malformed reply") from None
        try:
            builder = VerifierBuilder.from_request(request)
            for root in self.roots:
                builder = builder.add_root_certificate(root)
            builder.build().verify_message(response, data)
        except (VerificationError, ValueError) as exc:
            raise TimestampError(
                f"timestamp authority {self.url}: reply does not verify ({exc})"
            ) from None
        return body


def verify_timestamp(token: bytes, data: bytes, *, roots: Sequence[x509.Certificate]) -> datetime:
    """The time a stored token attests for ``data``; raises if it does not verify."""
    if not roots:
        raise TimestampError("no timestamp authority root is trusted")
    try:
        response = decode_timestamp_response(token)
        builder = VerifierBuilder()
        for root in roots:
            builder = builder.add_root_certificate(root)
        builder.build().verify_message(response, data)
    except (VerificationError, ValueError) as exc:
        raise TimestampError(f"timestamp token does not verify ({exc})") from None
    gen_time: datetime = response.tst_info.gen_time
    return gen_time
