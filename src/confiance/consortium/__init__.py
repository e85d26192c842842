"""The consortium as one home directory, and the operations on it.

This is the public API that the CLI and the server are thin layers over. It
sits above every component package and composes them: ingestion on the owner's
side, contracts, runs through the runtime, alerts, re-identification, ledger.
"""

from confiance.consortium.home import TENANTS, Home
from confiance.consortium.operations import (
    IngestReport,
    RunReport,
    ingest_tenant,
    init_consortium,
    list_alerts,
    new_contract,
    reveal,
    run_contract,
    sign_contract,
    verify_ledger,
    witness,
)
from confiance.consortium.storage import store_status

__all__ = [
    "TENANTS",
    "Home",
    "IngestReport",
    "RunReport",
    "ingest_tenant",
    "init_consortium",
    "list_alerts",
    "new_contract",
    "reveal",
    "run_contract",
    "sign_contract",
    "store_status",
    "verify_ledger",
    "witness",
]
