"""The runtime process. Started by :class:`~confiance.runtime.host.RuntimeHost`.

It measures its own code, presents SIMULATED evidence bound to the host's
nonce and to a fresh ephemeral X25519 key, receives data keys sealed to that
key, reads k of n fragments of each dataset, decrypts in memory only, runs
the job, and seals every finding to the recipients the contract names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import sys
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import confiance
from confiance.contracts import Contract, contract_digest
from confiance.errors import ConfianceError, RuntimeJobError
from confiance.events import read_events, return_freed_memory
from confiance.keys import dataset_aad, decrypt_blob, zero
from confiance.keys.keystore import public_bytes
from confiance.runtime.attestation import SIMULATED, SimulatedAttester
from confiance.runtime.job import Job, enforce_output_constraints, recipients_for, result_info
from confiance.runtime.keyrelease import dek_info
from confiance.runtime.measurement import measure_image
from confiance.runtime.protocol import receive, send
from confiance.runtime.seal import SealSuite, open_sealed, seal
from confiance.store import Manifest, ObjectStore, node_from_config


def _load_attester(path: str) -> SimulatedAttester:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfianceError("simulated attestation key is not Ed25519")
    return SimulatedAttester(key)


#: schema metadata key that marks a dataset as a reference table (not events), by name
REFERENCE_KEY = b"confiance.reference"


def _job_module(config: dict[str, Any]) -> Job:
    return cast(Job, importlib.import_module(config["job"]))


def _manifest(dataset: dict[str, Any]) -> Manifest:
    """The manifest the platform opened for us, checked against the digest it recorded."""
    raw = base64.b64decode(dataset["manifest"])
    if not hmac.compare_digest(hashlib.sha256(raw).hexdigest(), str(dataset["manifest_digest"])):
        raise RuntimeJobError(f"dataset {dataset['id']}: manifest does not match its digest")
    return Manifest.from_bytes(raw, where=f"dataset {dataset['id']}")


def _run_job(job: dict[str, Any], ephemeral: X25519PrivateKey) -> dict[str, Any]:
    contract = Contract.model_validate(job["contract"])
    run_id = str(job["run"])
    store_cfg = job["store"]
    store = ObjectStore(
        [node_from_config(n, base=Path.cwd()) for n in store_cfg["nodes"]],
        k=int(store_cfg["k"]),
        m=int(store_cfg["m"]),
    )
    tables = []
    # per reference name and owner, the newest version (two members may each
    # bring a threat-intelligence feed: both count, each in its latest version)
    newest: dict[tuple[str, str], tuple[str, pa.Table]] = {}
    inputs = []
    for dataset in job["datasets"]:
        dek = bytearray(
            open_sealed(
                base64.b64decode(dataset["sealed_dek"]),
                ephemeral,
                info=dek_info(run_id, dataset["id"]),
            )
        )
        blob = store.read(_manifest(dataset))
        plaintext = decrypt_blob(blob, dek, aad=dataset_aad(dataset["tenant"], dataset["id"]))
        zero(dek)
        table = read_events(plaintext)
        metadata = table.schema.metadata or {}
        reference = metadata.get(REFERENCE_KEY)
        if reference is None:
            tables.append(table)
        else:
            # A reference table is taken only from a dataset of the same source,
            # which the signed contract names (a tenant cannot pass its data off
            # as another's list); of several versions, the newest one counts.
            name = reference.decode()
            if name != dataset["source"]:
                raise RuntimeJobError(
                    f"dataset {dataset['id']}: reference {name!r} "
                    f"in a {dataset['source']!r} dataset"
                )
            created = metadata.get(b"created", b"").decode()
            key = (name, str(dataset["tenant"]))
            if key not in newest or created > newest[key][0]:
                newest[key] = (created, table)
        inputs.append({"dataset": dataset["id"], "sha256": hashlib.sha256(blob).hexdigest()})
    events = pa.concat_tables(tables) if tables else pa.table({})
    references: dict[str, pa.Table] = {}
    for (name, _owner), (_created, table) in sorted(newest.items()):
        references[name] = (
            pa.concat_tables([references[name], table], promote_options="default")
            if name in references
            else table
        )
    module = _job_module(job["config"])
    module.admit(contract)
    defaults = job["config"].get("parameters", {})
    findings = module.run(
        events,
        analyses=[a.detector for a in contract.analyses],
        # thresholds the owners signed in the contract override the runtime's defaults
        parameters={
            a.detector: {**defaults.get(a.detector, {}), **a.parameters} for a in contract.analyses
        },
        references=references,
    )
    released, withheld = enforce_output_constraints(contract, findings)
    sealed = []
    outputs = []
    for finding in released:
        body = json.dumps(finding, sort_keys=True).encode()
        for recipient in recipients_for(contract, finding):
            ciphertext = seal(
                body,
                base64.b64decode(recipient.public_key),
                info=result_info(contract.id, run_id, recipient.name),
                suite=SealSuite(recipient.suite.value),
            )
            sealed.append(
                {
                    "recipient": recipient.name,
                    "result": finding["id"],
                    "detector": finding["detector"],
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                }
            )
            outputs.append(
                {
                    "recipient": recipient.name,
                    "result": finding["id"],
                    "sha256": hashlib.sha256(ciphertext).hexdigest(),
                }
            )
    receipt = {
        "run": run_id,
        "contract": contract.id,
        "contract_digest": contract_digest(contract),
        "attestation": SIMULATED,
        "inputs": inputs,
        "events": events.num_rows,
        "findings": len(released),
        "withheld": withheld,
        "outputs": outputs,
    }
    return {"sealed": sealed, "receipt": receipt}


def main() -> int:
    """Serve one run over stdin/stdout."""
    return_freed_memory()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        challenge = receive(stdin, expect="challenge")
        config = challenge["config"]
        # The runtime refuses a contract that may not run its analyses before it
        # presents evidence, so no owner is ever asked for a key.
        _job_module(config).admit(Contract.model_validate(challenge["contract"]))
        attester = _load_attester(challenge["attestation_key_path"])
        measurement = measure_image(Path(confiance.__file__).parent, config)
        ephemeral = X25519PrivateKey.generate()
        evidence = attester.attest(
            measurement=measurement,
            nonce=base64.b64decode(challenge["nonce"]),
            public_key=public_bytes(ephemeral.public_key()),
        )
        send(stdout, {"type": "evidence", "evidence": evidence.to_json()})
        job = receive(stdin, expect="job")
        job["config"] = config
        result = _run_job(job, ephemeral)
        result["receipt"]["measurement"] = measurement
        signature = attester.sign_receipt(result["receipt"])
        send(
            stdout,
            {
                "type": "result",
                **result,
                "receipt_signature": base64.b64encode(signature).decode(),
            },
        )
        return 0
    except ConfianceError as exc:
        send(stdout, {"type": "error", "message": str(exc)})
        return 1
    except Exception as exc:  # report the kind of failure, never data
        send(stdout, {"type": "error", "message": f"internal error ({type(exc).__name__})"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
