"""Key release and sealing costs, side by side.

* key release round trip per dataset with the software keystore: contract
  signatures checked (4 owners), evidence checked, the release written to the
  ledger (a durable, signed, checkpointed append), the DEK unwrapped and
  re-sealed to the runtime's key;
* sealing throughput, alerts/s, HPKE X25519 against the ML-KEM-768 + X25519
  hybrid suite (opening too).

With SoftHSM2 installed (scripts/system-deps.sh), the same round trip with
the KEK in a PKCS#11 token (``key_release_ms_pkcs11``); null without it.

    python bench/runtime.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confiance.contracts import Contract, sign_contract
from confiance.keys import SecretName, SoftwareKeyStore
from confiance.keys.keystore import public_bytes
from confiance.keys.pkcs11 import SOFTHSM2_MODULE, Pkcs11KeyStore, TokenConfig, create_kek
from confiance.ledger import Ledger, NoteSigner
from confiance.runtime import (
    DatasetKey,
    KeyService,
    SimulatedAttester,
    SimulatedVerifier,
    open_sealed,
    seal,
)
from confiance.runtime.seal import SealSuite
from machine import describe

OWNERS = ("academie", "region", "lycees", "reseau")


def _token(tmp: Path) -> TokenConfig | None:
    """A SoftHSM2 token with a KEK in it, or None where SoftHSM2 is not installed."""
    import shutil
    import subprocess

    if shutil.which("softhsm2-util") is None:
        return None
    (tmp / "tokens").mkdir()
    conf = tmp / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--so-pin",
            "87654321",
            "--pin",
            "123456",
        ],
        check=True,
        capture_output=True,
    )
    config = TokenConfig(SOFTHSM2_MODULE, "bench", "kek")
    create_kek(config, pin="123456")
    return config


def key_release_ms(tmp: Path, rounds: int, *, token: TokenConfig | None = None) -> float:
    stores: dict[str, Any] = {
        t: SoftwareKeyStore.create(tmp / f"{t}.json", owner=t, passphrase="p") for t in OWNERS
    }
    if token is not None:
        stores["academie"] = Pkcs11KeyStore(token, pin="123456", software=stores["academie"])
    recipient = stores["region"].public_keys()["recipient"]
    contract = Contract.model_validate(
        {
            "id": "bench",
            "version": 1,
            "purpose": "Benchmark of key release.",
            "legal_basis": {"article": "GDPR Art. 6(1)(e)", "text": "Public interest task."},
            "parties": [{"tenant": t, "role": "data-owner"} for t in OWNERS],
            "datasets": [{"tenant": t, "source": "s"} for t in OWNERS],
            "analyses": [{"detector": "brute_force", "code_digest": "sha256:" + "a" * 64}],
            "runtime_measurement": "sha256:" + "b" * 64,
            "recipients": [
                {
                    "name": "soc",
                    "public_key": recipient,
                    "scope": "all",
                    "analyses": ["brute_force"],
                }
            ],
            "retention_days": 30,
            "valid_from": "2026-01-01",
            "valid_until": "2027-12-31",
        }
    )
    signatures = {
        t: sign_contract(contract, tenant=t, key=s.signing_key()) for t, s in stores.items()
    }
    keys = {t: s.signing_key().public_key() for t, s in stores.items()}
    attestation = Ed25519PrivateKey.generate()
    operator = NoteSigner("bench.example/ledger", Ed25519PrivateKey.generate())
    ledger = Ledger(tmp / "ledger", origin="bench.example/ledger")
    ledger.create()
    store = stores["academie"]
    service = KeyService(
        tenant="academie",
        keystore=store,
        verifier=SimulatedVerifier(attestation.public_key()),
        signing_keys=keys,
        ledger=lambda kind, body: ledger.record(
            kind=kind,
            actor="academie",
            body=dict(body),
            signer=store.signing_key(),
            operator=operator,
        ),
        today=lambda: date(2026, 11, 22),
    )
    runtime_key = stores["region"].recipient_key()
    times = []
    for i in range(rounds):
        dataset = DatasetKey(f"d{i}", "academie", "s", b"")
        dataset = DatasetKey(
            dataset.dataset_id,
            "academie",
            "s",
            store.wrap_key(os.urandom(32), context=dataset.wrap_context()),
        )
        nonce = os.urandom(32)
        evidence = SimulatedAttester(attestation).attest(
            measurement=contract.runtime_measurement,
            nonce=nonce,
            public_key=public_bytes(runtime_key.public_key()),
        )
        start = time.perf_counter()
        service.release(
            contract=contract,
            signatures=signatures,
            evidence=evidence,
            nonce=nonce,
            run_id=f"r{i}",
            datasets=[dataset],
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def sealing(tmp: Path, n: int) -> dict[str, float]:
    store = SoftwareKeyStore.create(
        tmp / "soc.json",
        owner="soc",
        passphrase="p",
        secrets=(SecretName.RECIPIENT, SecretName.RECIPIENT_PQ),
    )
    import base64

    classic = base64.b64decode(store.public_keys()["recipient"])
    hybrid = base64.b64decode(store.public_keys()["recipient_hybrid"])
    alert = json.dumps(
        {
            "id": "0" * 16,
            "detector": "password_spraying",
            "evidence": {"accounts_sample": ["u_" + "a" * 24] * 20},
        }
    ).encode()
    figures = {}
    for label, suite, key, private in (
        ("x25519", SealSuite.X25519, classic, store.recipient_key()),
        ("hybrid", SealSuite.MLKEM768_X25519, hybrid, store.recipient_hybrid_key()),
    ):
        start = time.perf_counter()
        sealed = [seal(alert, key, info=b"bench", suite=suite) for _ in range(n)]
        figures[f"seal_per_s_{label}"] = n / (time.perf_counter() - start)
        start = time.perf_counter()
        for ciphertext in sealed:
            open_sealed(ciphertext, private, info=b"bench", suite=suite)
        figures[f"open_per_s_{label}"] = n / (time.perf_counter() - start)
        figures[f"sealed_bytes_{label}"] = len(sealed[0])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    machine = describe()
    print(f"machine: {machine}")
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        rounds = 50 if args.quick else 300
        (tmp / "hsm").mkdir()
        token = _token(tmp / "hsm")
        figures: dict[str, float | None] = {
            "key_release_ms_software": key_release_ms(tmp / "sw", rounds),
            "key_release_ms_pkcs11": None
            if token is None
            else key_release_ms(tmp / "hsm-run", rounds, token=token),
        }
        figures |= sealing(tmp, 2_000 if args.quick else 10_000)
    for name, value in figures.items():
        shown = "not measured (SoftHSM2 missing)" if value is None else f"{value:>14,.2f}"
        print(f"{name:<28}{shown}")
    print(
        json.dumps(
            {k: (None if v is None else round(v, 3)) for k, v in figures.items()}
            | {"machine": machine["cpu"]}
        )
    )


if __name__ == "__main__":
    main()
