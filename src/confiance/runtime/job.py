"""What a job run inside the runtime must look like, and who receives its results."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa

from confiance.contracts import Contract, Recipient, RecipientScope


class Job(Protocol):
    """A module that turns pooled events into findings (plain JSON dicts).

    Each finding has at least ``id``, ``detector`` and ``tenants`` (the
    tenants whose data it involves). ``admit`` raises, with the reason, when
    the contract may not run the job's analyses; it is called before any key
    is asked for.
    """

    def admit(self, contract: Contract) -> None: ...

    def run(
        self,
        events: pa.Table,
        *,
        analyses: Sequence[str],
        parameters: Mapping[str, Any],
        references: Mapping[str, pa.Table] | None = None,
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


_PSEUDONYM = re.compile(
    r"^(u_[a-z2-7]{24}|n4_[0-9a-f]{8}|n6_[0-9a-f]{32}|m_[a-z2-7]{24}|e_[a-z2-7]{24})$"
)


def enforce_output_constraints(
    contract: Contract, findings: Sequence[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[dict[str, str]]]:
    """Split findings into those the contract lets out and those it withholds.

    Withheld: an aggregate over fewer people than ``min_group_size``; a
    finding whose entity, for a field that must stay pseudonymised, or any of
    whose listed pseudonyms, is not a pseudonym. Reasons name the rule and the
    result, never the value.
    """
    rules = contract.output_constraints
    released: list[Mapping[str, Any]] = []
    withheld: list[dict[str, str]] = []
    for finding in findings:
        reason = None
        group = finding.get("group_size")
        entity = finding.get("entity", {})
        if group is not None and int(group) < rules.min_group_size:
            reason = f"group of {int(group)} below the minimum of {rules.min_group_size}"
        elif entity.get("field") in rules.pseudonymised_fields and not _PSEUDONYM.match(
            str(entity.get("value", ""))
        ):
            reason = f"field {entity.get('field')} is not pseudonymised"
        elif any(not _PSEUDONYM.match(str(p)) for p in finding.get("pseudonyms", [])):
            reason = "a listed identifier is not a pseudonym"
        if reason is None:
            released.append(finding)
        else:
            withheld.append({"result": str(finding.get("id")), "reason": reason})
    return released, withheld


def result_info(contract_id: str, run_id: str, recipient: str) -> bytes:
    """HPKE ``info`` binding a sealed result to contract, run and recipient."""
    return f"confiance-result/1|{contract_id}|{run_id}|{recipient}".encode()
