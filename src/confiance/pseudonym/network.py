"""OPRF evaluators over HTTPS with mutual TLS.

``POST /v1/evaluate`` with ``{"blinded": [base64 …]}`` returns
``{"evaluated": [base64 …]}``. The requesting tenant is the member named by
the client certificate, never a field of the request: the daily brake counts
against whoever holds the key. Refusals map to HTTP statuses (429 for the
brake, 400 for malformed or invalid elements) with a JSON ``detail``.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import http.server
import json
import logging
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from confiance.errors import ConfianceError, PseudonymError
from confiance.keys.pki import peer_member
from confiance.pseudonym.threshold import (
    DailyVolumeExceeded,
    Evaluator,
    EvaluatorUnavailable,
)

logger = logging.getLogger(__name__)
MAX_BATCH = 100_000
MAX_BODY = MAX_BATCH * 50


def serve(
    evaluator: Evaluator, *, host: str, port: int, context: ssl.SSLContext
) -> http.server.ThreadingHTTPServer:
    """Start serving in a background thread; call ``shutdown()`` to stop."""

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "confiance-evaluator/1"

        def _reply(self, status: int, document: dict[str, object]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/v1/evaluate":
                self._reply(404, {"detail": "unknown path"})
                return
            try:
                tenant = peer_member(self.connection.getpeercert())
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= MAX_BODY:
                    raise PseudonymError("request body missing or too large")
                document = json.loads(self.rfile.read(length))
                blinded = [base64.b64decode(x, validate=True) for x in document["blinded"]]
                if len(blinded) > MAX_BATCH:
                    raise PseudonymError(f"at most {MAX_BATCH} elements per request")
                evaluated = evaluator.evaluate(tenant, blinded)
            except DailyVolumeExceeded as exc:
                self._reply(429, {"detail": str(exc)})
                return
            except (ConfianceError, ValueError, KeyError, TypeError, binascii.Error) as exc:
                detail = str(exc) if isinstance(exc, ConfianceError) else "malformed request"
                self._reply(400, {"detail": detail})
                return
            self._reply(200, {"evaluated": [base64.b64encode(e).decode() for e in evaluated]})

        def log_message(self, format: str, *args: object) -> None:
            logger.info("evaluator %s: " + format, evaluator.name, *args)

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, daemon=True, name=f"evaluator-{evaluator.name}"
    ).start()
    return server


@dataclass
class HttpEvaluator:
    """An owner's view of a remote evaluator."""

    name: str
    index: int
    host: str
    port: int
    context: ssl.SSLContext
    timeout_s: float = 30.0

    def evaluate(self, tenant: str, blinded: Sequence[bytes]) -> list[bytes]:
        del tenant  # the server authorises on our certificate, not on a claim
        body = json.dumps({"blinded": [base64.b64encode(b).decode() for b in blinded]})
        connection = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=self.timeout_s
        )
        try:
            connection.request(
                "POST", "/v1/evaluate", body=body, headers={"Content-Type": "application/json"}
            )
            reply = connection.getresponse()
            payload = reply.read()
        except (OSError, http.client.HTTPException) as exc:
            raise EvaluatorUnavailable(
                f"evaluator {self.name} at {self.host}:{self.port}: unreachable ({exc})"
            ) from None
        finally:
            connection.close()
        try:
            document = json.loads(payload)
        except ValueError:
            raise EvaluatorUnavailable(f"evaluator {self.name}: malformed reply") from None
        if reply.status == 429:
            raise DailyVolumeExceeded(str(document.get("detail")))
        if reply.status != 200:
            raise PseudonymError(f"evaluator {self.name}: {document.get('detail')}")
        evaluated = [base64.b64decode(x) for x in document["evaluated"]]
        if len(evaluated) != len(blinded):
            raise PseudonymError(f"evaluator {self.name}: wrong number of elements")
        return evaluated
