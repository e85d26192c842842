"""What a job run inside the runtime must look like, and who receives its results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa

from confiance.contracts import Contract, Recipient, RecipientScope


class Job(Protocol):
    """A module that turns pooled events into findings (plain JSON dicts).

    Each finding has at least ``id``, ``detector`` and ``tenants`` (the
    tenants whose data it involves).
    """

    def run(
        self,
        events: pa.Table,
        *,
        analyses: Sequence[str],
        parameters: Mapping[str, Any],
    ) -> list[dict[str, Any]]: ...


def recipients_for(contract: Contract, finding: Mapping[str, Any]) -> list[Recipient]:
    """Exactly the recipients the contract names for this finding, never more."""
    detector = finding["detector"]
    tenants = set(finding["tenants"])
    chosen = []
    for recipient in contract.recipients:
        if detector not in recipient.analyses:
            continue
        if recipient.scope is RecipientScope.ALL or recipient.tenant in tenants:
            chosen.append(recipient)
    return chosen


def result_info(contract_id: str, run_id: str, recipient: str) -> bytes:
    """HPKE ``info`` binding a sealed result to contract, run and recipient."""
    return f"confiance-result/1|{contract_id}|{run_id}|{recipient}".encode()
