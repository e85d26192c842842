"""NetFlow v5/v9 and IPFIX collection through nfdump's own collector.

``nfcapd`` listens on the flow port and writes a capture file per interval
(``nfcapd.YYYYMMDDhhmm[ss]``; the one being written is ``nfcapd.current.*``);
each completed file is read back with ``nfdump -r FILE -o csv`` and parsed as
``nfdump-csv``. We do not decode flow packets ourselves: nfcapd is the
collector network operators already run, and it handles templates, sampling
and every exporter quirk.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

from confiance.errors import IngestError
from confiance.ingest.receiver import Endpoint

logger = logging.getLogger(__name__)

#: a completed capture file (the current one is ``nfcapd.current.<pid>``)
_COMPLETED = re.compile(r"^nfcapd\.\d{12}(?:\d{2})?$")


def _tool(name: str, given: str | None) -> str:
    found = given or shutil.which(name)
    if found is None:
        raise IngestError(f"flow collection needs {name} (Debian package nfdump)")
    return found


class FlowCollector:
    """Runs nfcapd on ``endpoint`` (UDP) writing to ``directory``, and turns
    its completed capture files into nfdump CSV."""

    def __init__(
        self,
        endpoint: Endpoint,
        directory: Path,
        *,
        rotate_seconds: int = 60,
        nfcapd: str | None = None,
        nfdump: str | None = None,
    ) -> None:
        if endpoint.transport != "udp":
            raise IngestError(f"flows arrive over UDP, not {endpoint.transport}: {endpoint}")
        self.endpoint = endpoint
        self.directory = directory
        self.rotate_seconds = rotate_seconds
        self.nfcapd = _tool("nfcapd", nfcapd)
        self.nfdump = _tool("nfdump", nfdump)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            self.nfcapd,
            "-b",
            self.endpoint.host,
            "-p",
            str(self.endpoint.port),
            "-w",
            str(self.directory),
            "-t",
            str(self.rotate_seconds),
        ]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self._process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return  # listening
        error = (self._process.stderr.read() if self._process.stderr else b"").decode(
            "utf-8", "replace"
        )
        raise IngestError(f"nfcapd could not listen on {self.endpoint}: {error.strip()[-200:]}")

    def stop(self) -> None:
        """Stop the collector; it closes its current file as a completed one."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def completed(self) -> list[Path]:
        """Capture files nfcapd has finished, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if _COMPLETED.match(p.name))

    def csv(self, capture: Path) -> bytes:
        """A capture file as nfdump CSV."""
        done = subprocess.run(
            [self.nfdump, "-r", str(capture), "-o", "csv"],
            capture_output=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            reason = done.stderr.decode("utf-8", "replace").strip()[-200:]
            raise IngestError(f"{capture}: nfdump could not read it: {reason}")
        return done.stdout
