"""Starts the runtime as a separate process and drives one run through it."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confiance.contracts import Contract
from confiance.errors import AttestationError, RuntimeJobError
from confiance.runtime.attestation import Evidence, SimulatedVerifier
from confiance.runtime.protocol import receive, send

logger = logging.getLogger(__name__)

#: Called with the runtime's evidence and the run's nonce; returns, for each
#: dataset, its description for the runtime (id, tenant, manifest digest and
#: the DEK sealed to the runtime). Raises ``KeyReleaseDenied`` to stop the run.
KeyReleaser = Callable[[Evidence, bytes], Sequence[Mapping[str, str]]]


@dataclass(frozen=True)
class SealedResult:
    recipient: str
    result_id: str
    detector: str
    ciphertext: bytes


@dataclass(frozen=True)
class RunOutcome:
    evidence: Evidence
    receipt: dict[str, Any]
    receipt_signature: bytes
    sealed: list[SealedResult]


class RuntimeHost:
    """The untrusted side: moves messages and ciphertext, sees no plaintext."""

    def __init__(
        self,
        *,
        config: Mapping[str, Any],
        attestation_key_path: Path,
        verifier: SimulatedVerifier,
        image: Path | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self._config = dict(config)
        self._key_path = attestation_key_path
        self._verifier = verifier
        self._image = image
        self._timeout_s = timeout_s

    def _command_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self._image is not None:
            if not (self._image / "confiance" / "__init__.py").is_file():
                raise RuntimeJobError(f"runtime image {self._image}: holds no confiance package")
            env["PYTHONPATH"] = str(self._image)
        else:
            env.pop("PYTHONPATH", None)
        return env

    def run(
        self,
        *,
        contract: Contract,
        run_id: str,
        store: Mapping[str, Any],
        release: KeyReleaser,
    ) -> RunOutcome:
        nonce = os.urandom(32)
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                [sys.executable, "-m", "confiance.runtime.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=self._command_env(),
            )
            assert process.stdin is not None and process.stdout is not None
            try:
                send(
                    process.stdin,
                    {
                        "type": "challenge",
                        "nonce": base64.b64encode(nonce).decode(),
                        "config": self._config,
                        "contract": contract.canonical(),
                        "attestation_key_path": str(self._key_path),
                    },
                )
                evidence = Evidence.from_json(
                    receive(process.stdout, expect="evidence")["evidence"]
                )
                datasets = release(evidence, nonce)
                send(
                    process.stdin,
                    {
                        "type": "job",
                        "run": run_id,
                        "contract": contract.canonical(),
                        "datasets": [dict(d) for d in datasets],
                        "store": dict(store),
                    },
                )
                result = receive(process.stdout, expect="result")
                process.wait(timeout=self._timeout_s)
            except RuntimeJobError:
                process.kill()
                process.wait()
                errors.seek(0)
                tail = errors.read()[-2000:].decode(errors="replace").strip()
                if tail:
                    logger.debug("runtime process stderr: %s", tail)
                raise
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        receipt = result["receipt"]
        signature = base64.b64decode(result["receipt_signature"])
        try:
            self._verifier.verify_receipt(receipt, signature)
        except AttestationError as exc:
            raise RuntimeJobError(str(exc)) from None
        if receipt.get("measurement") != evidence.measurement:
            raise RuntimeJobError("run receipt names another measurement than the evidence")
        sealed = [
            SealedResult(
                recipient=str(s["recipient"]),
                result_id=str(s["result"]),
                detector=str(s["detector"]),
                ciphertext=base64.b64decode(s["ciphertext"]),
            )
            for s in result["sealed"]
        ]
        return RunOutcome(evidence, receipt, signature, sealed)
